/* memwrap: Memory Wrap image classifiers on any OpenCL device. Umbrella header: includes
 * every public header, so `#include <memwrap/memwrap.h>` is all a user needs (the ctest test
 * `headers` fails when a header in include/memwrap/ is missing here). Each header also
 * compiles on its own, for users who want fewer declarations in scope. */
#ifndef MEMWRAP_H
#define MEMWRAP_H

/* Errors, device, graphs: every call returns an mw_status; mw_error_message() says why. */
#include "memwrap/status.h"  /* mw_status, mw_error_message */
#include "memwrap/runtime.h" /* OpenCL devices, mw_runtime, mw_version */
#include "memwrap/graph.h"   /* graphs, autodiff, mw_exec (plan and run) */
#include "memwrap/ops.h"     /* one builder per op */

/* Models and training. */
#include "memwrap/layers.h"   /* encoder building blocks (conv, batch norm, pooling, SE) */
#include "memwrap/models.h"   /* Memory Wrap heads (mw_head_build), the paper's encoders */
#include "memwrap/train.h"    /* SGD */
#include "memwrap/schedule.h" /* learning-rate schedules */

/* Files, data and the paper's protocol. */
#include "memwrap/safetensors.h"    /* safetensors files */
#include "memwrap/checkpoint.h"     /* checkpoints under the reference's state_dict names */
#include "memwrap/data.h"           /* dataset readers */
#include "memwrap/protocol.h"       /* subsets, shuffling, memory draws, as pure functions */
#include "memwrap/config.h"         /* experiment grids from JSON */
#include "memwrap/results.h"        /* results.json and results.md */
#include "memwrap/collective.h"     /* sums and broadcasts for data-parallel training */
#include "memwrap/trainer.h"        /* one run of the protocol, resumable */
#include "memwrap/checkpoint_run.h" /* the run a checkpoint belongs to */

/* Explanations and pages. */
#include "memwrap/image.h"   /* RGB canvas, PNG files, heatmaps */
#include "memwrap/explain.h" /* memory samples, examples, counterfactuals, metrics */
#include "memwrap/report.h"  /* report.html */

#endif
