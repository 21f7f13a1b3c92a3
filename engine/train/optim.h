/* What the fused optimizers (sgd.c, adam.c) share. */
#ifndef MEMWRAP_TRAIN_OPTIM_H
#define MEMWRAP_TRAIN_OPTIM_H

#include "memwrap/graph.h"

/* One float of optimizer state per trainable float of `ex`'s parameter arena (at least one):
 * a device buffer in *dev when `ex` runs on OpenCL, else a zeroed host array in *host. `what`
 * names it in out-of-memory messages. The caller frees either on failure too. */
mw_status mw_optim_state_buffer(mw_exec *ex, const char *what, cl_mem *dev, float **host);

#endif
