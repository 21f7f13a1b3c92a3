/* memwrap: Memory Wrap image classifiers on any OpenCL device. Umbrella header. */
#ifndef MEMWRAP_H
#define MEMWRAP_H

#include "memwrap/status.h"
#include "memwrap/runtime.h"
#include "memwrap/graph.h"
#include "memwrap/ops.h"
#include "memwrap/safetensors.h"
#include "memwrap/models.h"
#include "memwrap/train.h"
#include "memwrap/schedule.h"
#include "memwrap/checkpoint.h"
#include "memwrap/image.h"
#include "memwrap/explain.h"

#endif
