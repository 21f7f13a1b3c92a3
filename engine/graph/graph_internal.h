/* Internal layout of graphs, nodes and the op table shared by engine/graph and engine/ops. */
#ifndef MEMWRAP_GRAPH_INTERNAL_H
#define MEMWRAP_GRAPH_INTERNAL_H

#include "memwrap/graph.h"

/* Batch norm reads six tensors (x, γ, β and three state tensors) and its backward writes
 * three (gx, gγ, gβ): the widest nodes. */
enum { MW_NODE_MAX_IN = 6, MW_NODE_MAX_OUT = 3 };

/* One row per op. Adding an op means a row here, a name and functions in its family file
 * (engine/ops/<family>.c) and an entry in engine/ops/op_table.c, checked by a static assert. */
typedef enum mw_op {
    MW_OP_NONE = 0,
    MW_OP_FILL,                /* out = value                                  (elementwise) */
    MW_OP_AFFINE,              /* out = alpha x + beta                         (elementwise) */
    MW_OP_ADD,                 /* out = a + b                                  (elementwise) */
    MW_OP_RELU,                /* out = max(x, 0)                              (elementwise) */
    MW_OP_RELU_BWD,            /* gx = gy [y > 0]; in: gy, y                   (elementwise) */
    MW_OP_MATMUL,              /* C = op(A) op(B)                              (matmul) */
    MW_OP_LINEAR,              /* y = x wᵀ + b                                 (matmul) */
    MW_OP_SUM_ROWS,            /* out[c] = Σ_r x[r, c] (bias gradient)         (matmul) */
    MW_OP_CONCAT_COLS,         /* [a, b] along columns                         (concat) */
    MW_OP_SLICE_COLS,          /* x[:, start:start+count]                      (concat) */
    MW_OP_PAD_COLS,            /* zeros [N, width] with x at columns start..   (concat) */
    MW_OP_ROW_NORMALIZE,       /* x / sqrt(Σx² + eps)                          (distance) */
    MW_OP_ROW_NORMALIZE_BWD,   /* in: g_out, x -> g_x                          (distance) */
    MW_OP_PAIRWISE_SQDIST,     /* D_ij = Σ_k (a_ik - b_jk)²                    (distance) */
    MW_OP_PAIRWISE_SQDIST_BWD, /* in: gD, a, b -> ga, gb                       (distance) */
    MW_OP_SPARSEMAX,           /* row-wise sparsemax                           (sparsemax) */
    MW_OP_SPARSEMAX_BWD,       /* in: gp, p -> gz                              (sparsemax) */
    MW_OP_SOFTMAX_CE,          /* in: logits, labels -> loss [1], probs        (loss) */
    MW_OP_SOFTMAX_CE_BWD,      /* in: gloss, probs, labels -> glogits          (loss) */
    MW_OP_CONV2D,              /* in: x, w[, b] -> y (x, y [C, N, H, W])       (conv) */
    MW_OP_CONV2D_BWD_INPUT,    /* in: gy, w -> gx                              (conv) */
    MW_OP_CONV2D_BWD_WEIGHT,   /* in: gy, x -> gw                              (conv) */
    MW_OP_CONV2D_BWD_BIAS,     /* in: gy -> gb                                 (conv) */
    MW_OP_IMAGES_TO_MAPS,      /* [N, C, H, W] -> [C, N, H, W]                 (layout) */
    MW_OP_MAPS_TO_IMAGES,      /* [C, N, H, W] -> [N, C, H, W]                 (layout) */
    MW_OP_MAPS_TO_ROWS,        /* [C, N, 1, 1] -> [N, C]                       (layout) */
    MW_OP_ROWS_TO_MAPS,        /* [N, C] -> [C, N, 1, 1]                       (layout) */
    MW_OP_BATCH_NORM,          /* in: x, γ, β, mean, var, count -> y, stats    (batchnorm) */
    MW_OP_BATCH_NORM_BWD,      /* in: gy, x, γ, β, stats -> gx, gγ, gβ         (batchnorm) */
    MW_OP_ACTIVATE,            /* swish or sigmoid                             (activation) */
    MW_OP_ACTIVATE_BWD,        /* in: gy, x -> gx                              (activation) */
    MW_OP_AVG_POOL,            /* k x k mean, stride k                         (pool) */
    MW_OP_AVG_POOL_BWD,        /* in: gy -> gx                                 (pool) */
    MW_OP_SCALE_CHANNELS,      /* x [C, N, H, W] · s [C, N, 1, 1]              (pool) */
    MW_OP_SCALE_CHANNELS_BWD,  /* in: gy, x, s -> gx, gs                       (pool) */
    MW_OP_DROPOUT,             /* in: x -> y, mask                             (dropout) */
    MW_OP_DROPOUT_BWD,         /* in: gy, mask -> gx                           (dropout) */
    MW_OP_COUNT
} mw_op;

typedef struct mw_tensor {
    char name[MW_NAME_MAX];
    mw_dtype dtype;
    mw_tensor_role role;
    int ndim;
    int64_t shape[MW_MAX_DIMS];
    size_t numel;
    int producer;       /* node index, -1 for inputs and parameters */
    int grad;           /* gradient tensor after mw_graph_backward, -1 if none */
    int grad_of;        /* the tensor this one is the final gradient of, -1 if none */
    bool keep;          /* read by the host after a run: never pooled */
    bool requires_grad; /* set by mw_graph_backward */
    mw_init init;       /* how mw_exec_init_params fills a parameter or state tensor */
} mw_tensor;

typedef union mw_node_attr {
    struct {
        bool transpose_a, transpose_b;
    } matmul;
    struct {
        float alpha, beta;
    } affine;
    struct {
        float value;
    } fill;
    struct {
        float eps;
    } normalize;
    struct {
        int start, count, width; /* width: columns of the padded output */
    } cols;
    struct {
        int stride, padding, groups;
    } conv;
    struct {
        float momentum, eps;
        int activation; /* mw_activation fused after the normalisation */
    } norm;
    struct {
        int activation; /* mw_activation */
    } act;
    struct {
        int k;
    } pool;
    struct {
        float p;
    } dropout;
} mw_node_attr;

typedef struct mw_node {
    mw_op op;
    int n_in, n_out;
    int in[MW_NODE_MAX_IN];
    int out[MW_NODE_MAX_OUT];
    int queue;
    bool backward; /* appended by mw_graph_backward */
    mw_node_attr attr;
} mw_node;

struct mw_graph {
    mw_tensor *tensors;
    int n_tensors, cap_tensors;
    mw_node *nodes;
    int n_nodes, cap_nodes;
    int *params; /* parameter tensor ids in creation order */
    int n_params, cap_params;
    int *states; /* state tensor ids in creation order */
    int n_states, cap_states;
    int queue; /* queue given to new nodes */
    bool has_backward;
    mw_status status;
    char error[1024];
};

/* True when every id is a valid tensor; otherwise records an error naming `op`. */
bool mw_graph_check_inputs(mw_graph *g, const char *op, const int *ids, int n);

/* Adds an activation tensor (producer set by mw_graph_add_node). */
int mw_graph_new_tensor(mw_graph *g, const char *name, mw_dtype dtype, int ndim,
                        const int64_t *shape);

/* Appends a node whose outputs are already-created tensors; returns its index or -1. */
int mw_graph_add_node(mw_graph *g, mw_op op, const int *in, int n_in, const int *out, int n_out,
                      mw_node_attr attr);

/* Creates output tensor(s) named "<op>:<node>" of the given shape and appends the node:
 * the common case of a single-output op. Returns the output tensor id or -1. */
int mw_graph_emit(mw_graph *g, mw_op op, const int *in, int n_in, int ndim, const int64_t *shape,
                  mw_node_attr attr);

static inline const mw_tensor *mw_graph_tensor(const mw_graph *g, int id) {
    return &g->tensors[id];
}

/* ---- the op table ---------------------------------------------------------------------- */

/* What a kernel-launching op sees while the OpenCL backend runs a node. */
typedef struct mw_cl_ctx {
    mw_runtime *rt;
    cl_command_queue queue;
    const mw_graph *g;
    cl_mem *mem;      /* per tensor */
    cl_mem scratch;   /* this queue's CLBlast GEMM temporary (mw_op_def.scratch_bytes) or NULL */
    cl_mem workspace; /* this queue's op workspace (mw_op_def.workspace_bytes) or NULL */
    bool training;    /* PyTorch train() mode: batch statistics, running-stat updates, dropout */
    uint64_t step;    /* runs so far: seeds per-run randomness (dropout masks) */
} mw_cl_ctx;

/* What the reference backend gives an op: host arrays per tensor (float or int32). */
typedef struct mw_cpu_ctx {
    const mw_graph *g;
    void **host;
    bool training;
    uint64_t step;
} mw_cpu_ctx;

/* Appends the backward of node `n` (a copy: appending may move g->nodes). gout[k] is the
 * gradient of output k or -1; for each input j with need[j] set, the op stores the tensor
 * holding its gradient contribution in gin[j] (or -1 when it contributes nothing). */
typedef void (*mw_backward_fn)(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                               int *gin);

typedef struct mw_op_def {
    const char *name;
    mw_status (*run_cl)(mw_cl_ctx *c, const mw_node *n);
    mw_status (*run_cpu)(mw_cpu_ctx *c, const mw_node *n);
    mw_backward_fn backward; /* NULL for ops that are only ever backward nodes */
    /* Device scratch a node needs while it runs (CLBlast's temporary GEMM buffer), so that a
     * steady-state step allocates nothing. NULL when the op needs none. */
    mw_status (*scratch_bytes)(mw_runtime *rt, const mw_graph *g, const mw_node *n, size_t *bytes);
    /* Device workspace a node needs while it runs (im2col columns, partial sums): one buffer
     * per queue sized for the largest node, shared by the nodes of that queue. NULL if none. */
    mw_status (*workspace_bytes)(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                 size_t *bytes);
} mw_op_def;

const mw_op_def *mw_op_get(mw_op op);

#endif
