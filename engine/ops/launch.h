/* Launching memwrap's own kernels: one call sets the arguments from a format string and
 * enqueues a 1-D range rounded up to the work-group size (kernels bound-check). */
#ifndef MEMWRAP_OPS_LAUNCH_H
#define MEMWRAP_OPS_LAUNCH_H

#include "graph/graph_internal.h"

/* fmt: one letter per argument: 'm' cl_mem, 'i' int (cl_int), 'u' unsigned (cl_uint),
 * 'f' double promoted from float (passed as cl_float). `global` work-items in total. */
mw_status mw_launch(mw_cl_ctx *c, const char *family, const char *kernel, size_t global,
                    const char *fmt, ...);

/* A single work-group of `group` items (kernels that reduce in local memory). */
mw_status mw_launch_group(mw_cl_ctx *c, const char *family, const char *kernel, size_t group,
                          const char *fmt, ...);

/* `groups` work-groups of `group` items each: one group per channel or row, reducing in
 * local memory. `group` should come from mw_group_size. */
mw_status mw_launch_groups(mw_cl_ctx *c, const char *family, const char *kernel, size_t groups,
                           size_t group, const char *fmt, ...);

/* Local size for a kernel that reduces a row per work-group with a tree in local memory.
 * CPU devices: 1 (a work-group runs on one core, its items one after another, so more items
 * only add barrier overhead; the kernels' vector types give the SIMD; PoCL measured 2-3x
 * faster). Other devices: the largest power of two <= cap that the device and this kernel
 * (register pressure can lower its limit) allow. */
mw_status mw_group_size(mw_cl_ctx *c, const char *family, const char *kernel, size_t cap,
                        size_t *out);

/* Tests only: when non-zero, mw_group_size uses this in place of the device policy (still
 * within the limits), so that the multi-item path GPUs take runs on a CPU device too. */
extern size_t mw_group_size_override;

/* For ops with several outputs: a float tensor named "<op>:<node>" (suffix NULL) or
 * "<op>:<node>:<suffix>", <node> being the index the op's next node will get. */
int mw_new_output(mw_graph *g, mw_op op, const char *suffix, int ndim, const int64_t *shape);

static inline cl_mem mw_mem(const mw_cl_ctx *c, int tensor) {
    return c->mem[tensor];
}

static inline float *mw_host_f32(const mw_cpu_ctx *c, int tensor) {
    return (float *)c->host[tensor];
}

static inline const mw_tensor *mw_t(const mw_graph *g, int tensor) {
    return &g->tensors[tensor];
}

/* Rows and columns of a tensor read as a matrix: the last dimension is the columns. */
static inline size_t mw_rows(const mw_graph *g, int tensor) {
    const mw_tensor *t = &g->tensors[tensor];
    return t->numel / (size_t)t->shape[t->ndim - 1];
}
static inline size_t mw_cols(const mw_graph *g, int tensor) {
    const mw_tensor *t = &g->tensors[tensor];
    return (size_t)t->shape[t->ndim - 1];
}

#endif
