/* Launching memwrap's kernels from ops: short forms of mw_runtime_launch, the one launcher
 * (runtime/internal.h), on the queue the node runs on; shared helpers for op files. */
#ifndef MEMWRAP_OPS_LAUNCH_H
#define MEMWRAP_OPS_LAUNCH_H

#include "graph/graph_internal.h"
#include "runtime/internal.h"

/* fmt: one letter per kernel argument: 'm' cl_mem, 'i' int (cl_int), 'u' unsigned (cl_uint),
 * 'f' double promoted from float (passed as cl_float), 'l' a size_t: a __local buffer of that
 * many bytes. */

/* `items` work-items of `kernel` (cl/<family>.cl, plain program) in groups of 64; kernels
 * check their index, the range being rounded up to whole groups. */
mw_status mw_launch(mw_cl_ctx *c, const char *family, const char *kernel, size_t items,
                    const char *fmt, ...);

/* `groups` work-groups of `group` items each (plain program): one group per channel or row,
 * reducing in local memory. `group` should come from mw_group_size. */
mw_status mw_launch_groups(mw_cl_ctx *c, const char *family, const char *kernel, size_t groups,
                           size_t group, const char *fmt, ...);

/* Any launch: a program variant, 2-D or 3-D ranges, a local size of the op's choosing (the
 * spec by value, so that it can be built in the call). */
mw_status mw_launch_kernel(mw_cl_ctx *c, mw_launch_spec spec, const char *fmt, ...);

/* Work-items per group for a kernel that reduces a row per work-group in local memory, at
 * most `cap` (the size of its local arrays). CPU devices: 1 (a work-group runs on one core,
 * its items one after another, so more items only add barrier overhead; the kernels' vector
 * types give the SIMD; PoCL measured 2-3x faster). Other devices: `cap`, which the launcher
 * halves where the kernel or the device allows less. A forced size (the override below, or
 * MEMWRAP_WORK_GROUP_SIZE) replaces the policy, at most `cap`, and need not be a power of two. */
size_t mw_group_size(const mw_cl_ctx *c, size_t cap);

/* Tests only: when non-zero, mw_group_size uses this in place of the device policy (at most
 * the cap), so that the multi-item path GPUs take runs on a CPU device too. */
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
