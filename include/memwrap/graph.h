/* Static computation graphs with reverse-mode autodiff, and their execution.
 *
 * A graph is built once per (architecture, batch shapes): tensors are small integer ids,
 * nodes are appended by the builder functions of memwrap/ops.h. mw_graph_backward appends
 * the backward nodes. mw_exec_create then plans memory (parameters and their gradients in
 * contiguous arenas, activations in one pool reused by liveness) and runs the graph on an
 * OpenCL runtime, or on the plain-C reference backend when the runtime is NULL.
 *
 * Builder functions return a tensor id >= 0, or -1 after recording the first error in the
 * graph (mw_graph_status); any builder given -1 returns -1, so a model can be built with no
 * error checks until the end. */
#ifndef MEMWRAP_GRAPH_H
#define MEMWRAP_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memwrap/runtime.h"
#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_MAX_DIMS = 4, MW_NAME_MAX = 160 /* tensor names, with their NUL */ };

typedef enum mw_dtype { MW_F32 = 0, MW_I32 } mw_dtype;

typedef enum mw_tensor_role {
    MW_ROLE_ACTIVATION = 0, /* produced by a node; pooled unless kept */
    MW_ROLE_INPUT,          /* written by the host before each run */
    MW_ROLE_PARAM,          /* trainable parameter: lives in the parameter arena */
    MW_ROLE_STATE,          /* non-trainable state updated by nodes (BN running stats) */
} mw_tensor_role;

typedef struct mw_graph mw_graph;

mw_graph *mw_graph_create(void);
void mw_graph_free(mw_graph *g);

/* First error recorded while building (MW_OK if none); the message is in the graph too. */
mw_status mw_graph_status(const mw_graph *g);
const char *mw_graph_error(const mw_graph *g);

/* Records an error while building (the first one wins; the graph is then poisoned, so every
 * later builder returns -1) and returns -1: how a layer or encoder of your own reports a
 * bad setting, e.g. `return mw_graph_fail(g, MW_ERR_INVALID_ARG, "my_block: %d", k);`. */
int mw_graph_fail(mw_graph *g, mw_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

int mw_graph_input(mw_graph *g, const char *name, mw_dtype dtype, int ndim, const int64_t *shape);
int mw_graph_param(mw_graph *g, const char *name, int ndim, const int64_t *shape);

/* Non-trainable state that nodes update in place (batch norm running statistics). Nodes
 * touching the same state tensor run in graph order, whatever queues they are on. */
int mw_graph_state(mw_graph *g, const char *name, mw_dtype dtype, int ndim, const int64_t *shape);

/* State tensors in creation order. */
int mw_graph_state_count(const mw_graph *g);
int mw_graph_state_at(const mw_graph *g, int i);

/* How mw_exec_init_params fills a parameter or state tensor (without a rule: zeros). */
typedef struct mw_init {
    enum { MW_INIT_ZERO = 0, MW_INIT_UNIFORM, MW_INIT_NORMAL, MW_INIT_CONSTANT } kind;
    float value; /* UNIFORM: bound b of U(−b, b); NORMAL: standard deviation; CONSTANT */
} mw_init;
void mw_graph_set_init(mw_graph *g, int tensor, mw_init init);

/* U(−1/√fan_in, 1/√fan_in): PyTorch's default for nn.Linear and nn.Conv2d weights and
 * biases (kaiming_uniform with a = √5 comes to the same bound). */
void mw_graph_param_init_uniform_fan_in(mw_graph *g, int param, int64_t fan_in);

/* Tensors whose value the host reads after a run: never pooled, never overwritten. */
void mw_graph_keep(mw_graph *g, int tensor);

/* Nodes added from now on run on queue `q` (0 or 1). Independent branches on different
 * queues overlap; the scheduler joins them with events. Backward nodes inherit the queue
 * of the forward node they differentiate. */
void mw_graph_set_queue(mw_graph *g, int q);

/* Appends the backward pass of scalar `loss`: gradients for every parameter and for the
 * `n_wrt` tensors in `wrt` (inputs included). Gradients of a tensor used by several nodes
 * are summed. Call once, after the forward graph is complete. */
mw_status mw_graph_backward(mw_graph *g, int loss, const int *wrt, int n_wrt);

/* Same, for a non-scalar `output` whose gradient is given by the input tensor `seed_grad`
 * (same shape): vector-Jacobian products, attributions of one logit. */
mw_status mw_graph_backward_from(mw_graph *g, int output, int seed_grad, const int *wrt,
                                 int n_wrt);

/* Same, with gradients for the `wrt` tensors only: parameters get none, so the backward
 * pass skips every weight gradient (attributions of a trained model, where only the input's
 * gradient is wanted). */
mw_status mw_graph_backward_inputs(mw_graph *g, int output, int seed_grad, const int *wrt,
                                   int n_wrt);

/* Gradient tensor of `tensor` after mw_graph_backward, or -1 if it has none. */
int mw_graph_grad(const mw_graph *g, int tensor);

int mw_graph_find(const mw_graph *g, const char *name);
int mw_graph_tensor_count(const mw_graph *g);
int mw_graph_node_count(const mw_graph *g);
const char *mw_tensor_name(const mw_graph *g, int tensor);
mw_tensor_role mw_tensor_get_role(const mw_graph *g, int tensor);
mw_dtype mw_tensor_dtype(const mw_graph *g, int tensor);
int mw_tensor_ndim(const mw_graph *g, int tensor);
int64_t mw_tensor_dim(const mw_graph *g, int tensor, int axis);
size_t mw_tensor_numel(const mw_graph *g, int tensor);
/* Renames a tensor (builders name outputs after their op; models give meaningful names). */
void mw_tensor_set_name(mw_graph *g, int tensor, const char *name);

/* Parameters in creation order. */
int mw_graph_param_count(const mw_graph *g);
int mw_graph_param_at(const mw_graph *g, int i);

/* ---- execution ---------------------------------------------------------------------- */

typedef struct mw_exec mw_exec;

/* What a run executes, and whether ops behave as in PyTorch's train() or eval() mode
 * (batch normalisation with batch statistics and running-stat updates, dropout on). */
typedef enum mw_run_mode {
    MW_RUN_FORWARD = 0,      /* eval mode, forward nodes only (evaluation, inference) */
    MW_RUN_FORWARD_BACKWARD, /* train mode, forward then backward nodes (training step) */
    MW_RUN_TRAIN_FORWARD,    /* train mode, forward nodes only */
    MW_RUN_EVAL_BACKWARD,    /* eval mode, forward then backward (attributions, heatmaps) */
} mw_run_mode;

/* Plans memory and allocates every device buffer the graph will ever need. rt == NULL runs
 * the graph on the plain-C reference backend (tests). The graph must outlive the exec. */
mw_status mw_exec_create(mw_graph *g, mw_runtime *rt, mw_exec **out);
void mw_exec_free(mw_exec *ex);

/* Initialises every parameter and state tensor by its recorded rule from a generator seeded
 * with `seed` (one stream per tensor, in creation order, so adding a layer at the end does
 * not change the others). */
mw_status mw_exec_init_params(mw_exec *ex, uint64_t seed);

mw_status mw_exec_write(mw_exec *ex, int tensor, const void *host, size_t bytes);
mw_status mw_exec_read(mw_exec *ex, int tensor, void *host, size_t bytes);
mw_status mw_exec_run(mw_exec *ex, mw_run_mode mode);

/* After a run that ended with a NaN or an infinity somewhere (a loss, a gradient): runs the
 * same run again (same mode, same dropout masks) node by node, reading each node's outputs
 * back, and writes into `where` the first node whose outputs hold a non-finite value, with
 * its op, output tensor and whether its inputs were already non-finite (a parameter or an
 * input given so). MW_OK with where = "" when every output is finite. Slow (a device round
 * trip per node): for diagnosing a failure, never for a normal step. The rerun changes what
 * a run changes (batch-norm running statistics, accumulated gradients). */
mw_status mw_exec_find_nonfinite(mw_exec *ex, mw_run_mode mode, char *where, size_t cap);

/* Runs completed so far; per-run randomness (dropout masks) derives from it, so a resumed
 * training restores it to draw the masks an uninterrupted one would. */
uint64_t mw_exec_run_count(const mw_exec *ex);
void mw_exec_set_run_count(mw_exec *ex, uint64_t runs);

typedef struct mw_exec_plan_stats {
    size_t pool_bytes;       /* activation pool after liveness reuse */
    size_t unpooled_bytes;   /* the transient activations without reuse (what they take
                              * where pooling is off: MEMWRAP_ACTIVATION_POOL) */
    size_t param_bytes;      /* parameter arena (gradient arena is the same size) */
    int pooled_tensors;
    int folded_batch_norms; /* eval-mode batch norms run inside their convolutions on
                             * MW_RUN_FORWARD runs (MEMWRAP_BN_FOLD=off: none) */
    int fused_dw_bn_forward;  /* train-mode batch norms run inside the depthwise convolution
                               * before them on training runs (MEMWRAP_BN_DW_FUSE=off: none) */
    int fused_bn_dw_backward; /* batch-norm backwards run with the backward of the depthwise
                               * convolution before them (MEMWRAP_BN_DW_FUSE=off: none) */
    int fused_bn_dw_bn_backward; /* of those, the ones that also run the backward of the batch
                                  * norm before the convolution */
} mw_exec_plan_stats;
mw_exec_plan_stats mw_exec_get_plan_stats(const mw_exec *ex);

/* The parameter and gradient arenas, for the fused optimizer. Parameters that received a
 * gradient come first: [0, trainable_floats) is what the optimizer updates. */
typedef struct mw_exec_arenas {
    cl_mem params, grads; /* OpenCL backend */
    float *host_params, *host_grads; /* reference backend */
    size_t total_floats, trainable_floats;
} mw_exec_arenas;
mw_exec_arenas mw_exec_get_arenas(const mw_exec *ex);
/* Reads or writes floats [first, first + n) of the parameter or gradient arena, blocking
 * (after mw_exec_run, which finishes its work): a data-parallel step sums the trainable
 * gradients over processes on the host and writes them back before the optimizer step. */
typedef enum mw_arena { MW_ARENA_PARAMS = 0, MW_ARENA_GRADS } mw_arena;
mw_status mw_exec_arena_read(mw_exec *ex, mw_arena arena, size_t first, size_t n, float *host);
mw_status mw_exec_arena_write(mw_exec *ex, mw_arena arena, size_t first, size_t n,
                              const float *host);
/* Per-op device time from OpenCL profiling events (the runtime must have been created with
 * profiling on): each node is bracketed by markers, and the time between them is charged to
 * its op. Profiling costs two markers per node; off by default. */
mw_status mw_exec_set_profiling(mw_exec *ex, bool on);
enum { MW_OP_TIME_MAX = 64 }; /* more than there are ops */
typedef struct mw_op_time {
    const char *op; /* op name */
    double ms;      /* total device time since the last reset */
    long nodes;     /* node executions counted */
} mw_op_time;
/* Fills up to `cap` entries, largest time first; returns how many ops have time. */
int mw_exec_profile(const mw_exec *ex, mw_op_time *out, int cap);
void mw_exec_profile_reset(mw_exec *ex);
/* The same time per node: which layer the time goes to. `what` names the node by the first
 * parameter it reads or whose gradient it makes (a layer's name, "layers.3.conv2.weight"),
 * else by its first input, and gives its input, weight and output shapes; `bytes` is what
 * the node must move at least (each input read and each output written once), so
 * bytes / ms says how near the memory bandwidth it runs; `flops`, for convolutions and
 * matrix products, 2 x their multiply-adds (0 for the other ops). */
typedef struct mw_node_time {
    int node;
    const char *op;
    bool backward;
    char what[200];
    double bytes, flops;
    double ms;  /* total device time since the last reset */
    long runs;  /* executions counted */
} mw_node_time;
/* Fills up to `cap` entries, largest time first; returns how many nodes have time. */
int mw_exec_profile_nodes(const mw_exec *ex, mw_node_time *out, int cap);

mw_runtime *mw_exec_runtime(const mw_exec *ex);
mw_graph *mw_exec_graph(const mw_exec *ex);

#ifdef __cplusplus
}
#endif
#endif
