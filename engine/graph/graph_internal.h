/* Internal layout of graphs, nodes and the op table shared by engine/graph and engine/ops. */
#ifndef MEMWRAP_GRAPH_INTERNAL_H
#define MEMWRAP_GRAPH_INTERNAL_H

#include "memwrap/graph.h"

/* Batch norm reads six tensors (x, γ, β and three state tensors) and its backward writes
 * three (gx, gγ, gβ): the widest nodes. */
enum { MW_NODE_MAX_IN = 6, MW_NODE_MAX_OUT = 3 };

/* The op list, written once. Row X(ID, name) gives the enum value MW_OP_<ID>, the op's name
 * "<name>" (mw_op_name: node and tensor names, errors, profiles) and its row in the op table
 * (engine/ops/op_table.c), which points at `const mw_op_def mw_op_def_<name>`, defined in
 * the op's family file engine/ops/<family>.c (named above each group of rows). Adding an
 * op is one row here: the enum, the names and the table all come from it, and a row whose
 * definition is missing fails to link, so no static assert is needed to keep them in step. */
#define MW_OP_LIST(X)                                                                              \
    /* elementwise: engine/ops/elementwise.c */                                                    \
    X(FILL, fill)         /* out = value */                                                        \
    X(AFFINE, affine)     /* out = alpha x + beta */                                               \
    X(ADD, add)           /* out = a + b */                                                        \
    X(RELU, relu)         /* out = max(x, 0) */                                                    \
    X(ADD_RELU, add_relu) /* out = max(a + b, 0): a residual block's end in one pass */            \
    X(RELU_BWD, relu_bwd) /* gx = gy [y > 0]; in: gy, y */                                         \
    X(CLAMP_LOG, clamp_log)         /* out = log(clamp(x, lo, hi)) */                              \
    X(CLAMP_LOG_BWD, clamp_log_bwd) /* gx = gy / x where lo <= x <= hi; in: gy, x */               \
    /* linear: engine/ops/linear.c */                                                              \
    X(MATMUL, matmul)     /* C = op(A) op(B) */                                                    \
    X(LINEAR, linear)     /* y = x wᵀ + b */                                                     \
    X(SUM_ROWS, sum_rows) /* out[c] = Σ_r x[r, c] (bias gradient) */                              \
    /* concat: engine/ops/concat.c */                                                              \
    X(CONCAT_COLS, concat_cols) /* [a, b] along columns */                                         \
    X(SLICE_COLS, slice_cols)   /* x[:, start:start+count] */                                      \
    X(PAD_COLS, pad_cols)       /* zeros [N, width], x at columns start.. */                       \
    /* distance: engine/ops/distance.c */                                                          \
    X(ROW_NORMALIZE, row_normalize)             /* x / sqrt(Σx² + eps) */                        \
    X(ROW_NORMALIZE_BWD, row_normalize_bwd)     /* in: g_out, x -> g_x */                          \
    X(PAIRWISE_SQDIST, pairwise_sqdist)         /* D_ij = Σ_k (a_ik - b_jk)² */                  \
    X(PAIRWISE_SQDIST_BWD, pairwise_sqdist_bwd) /* in: gD, a, b -> ga, gb */                       \
    X(NORM_DEFICIT, norm_deficit)       /* c_r = eps / (Σx² + eps) = 1 − ‖x̂_r‖² */                 \
    X(COSINE_DISTANCE, cosine_distance) /* in: â, b̂, c_a, c_b -> 1 − â b̂ᵀ */                     \
    /* softmax: engine/ops/softmax.c */                                                            \
    X(SOFTMAX, softmax)         /* row-wise softmax */                                             \
    X(SOFTMAX_BWD, softmax_bwd) /* in: gy, y -> gx */                                              \
    /* lstm: engine/ops/lstm.c */                                                                  \
    X(LSTM_CELL, lstm_cell)         /* in: gates [N,4H] (, c [N,H]) -> [h | c] */                 \
    X(LSTM_CELL_BWD, lstm_cell_bwd) /* in: g_out, gates (, c) -> g_gates (, g_c) */               \
    X(LSTM_SEQUENCE, lstm_sequence)         /* in: P, W_hh, b_hh -> [h | c] per step, gates */    \
    X(LSTM_SEQUENCE_BWD, lstm_sequence_bwd) /* in: gY, gates, Y, W_hh -> gP, gW_hh, gb_hh */      \
    /* sparsemax: engine/ops/sparsemax.c */                                                        \
    X(SPARSEMAX, sparsemax)         /* row-wise sparsemax */                                       \
    X(SPARSEMAX_BWD, sparsemax_bwd) /* in: gp, p -> gz */                                          \
    /* loss: engine/ops/loss.c */                                                                  \
    X(SOFTMAX_CE, softmax_ce)         /* in: logits, labels -> loss [1], probs */                  \
    X(SOFTMAX_CE_BWD, softmax_ce_bwd) /* in: gloss, probs, labels -> glogits */                    \
    X(MSE_LOSS, mse_loss)             /* in: a, b -> mean (a − b)² [1] */                          \
    X(MSE_LOSS_BWD, mse_loss_bwd)     /* in: gloss, a, b -> ±2 (a − b) gloss / n */                \
    /* conv: engine/ops/conv.c */                                                                  \
    X(CONV2D, conv2d)                       /* in: x, w[, b] -> y (x, y [C, N, H, W]) */           \
    X(CONV2D_BWD_INPUT, conv2d_bwd_input)   /* in: gy, w -> gx */                                  \
    X(CONV2D_BWD_WEIGHT, conv2d_bwd_weight) /* in: gy, x -> gw */                                  \
    X(CONV2D_BWD_BIAS, conv2d_bwd_bias)     /* in: gy -> gb */                                     \
    /* layout: engine/ops/layout.c */                                                              \
    X(IMAGES_TO_MAPS, images_to_maps)   /* [N, C, H, W] -> [C, N, H, W] */                         \
    X(MAPS_TO_IMAGES, maps_to_images)   /* [C, N, H, W] -> [N, C, H, W] */                         \
    X(MAPS_TO_ROWS, maps_to_rows)       /* [C, N, 1, 1] -> [N, C] */                               \
    X(ROWS_TO_MAPS, rows_to_maps)       /* [N, C] -> [C, N, 1, 1] */                               \
    X(CHANNEL_SHUFFLE, channel_shuffle) /* ShuffleNet's: channels [g, C/g] -> [C/g, g] */          \
    /* batchnorm: engine/ops/batchnorm.c */                                                        \
    X(BATCH_NORM, batch_norm)         /* in: x, γ, β, mean, var, count -> y, stats */            \
    X(BATCH_NORM_BWD, batch_norm_bwd) /* in: gy, x, γ, β, stats -> gx, gγ, gβ */               \
    /* activation: engine/ops/activation.c */                                                      \
    X(ACTIVATE, activate)         /* swish or sigmoid */                                           \
    X(ACTIVATE_BWD, activate_bwd) /* in: gy, x -> gx */                                            \
    /* pool: engine/ops/pool.c */                                                                  \
    X(AVG_POOL, avg_pool)                     /* k x k mean, stride k */                           \
    X(AVG_POOL_BWD, avg_pool_bwd)             /* in: gy -> gx */                                   \
    X(UPSAMPLE, upsample)                     /* nearest, by k: avg_pool_bwd's kernel, weight 1 */ \
    X(UPSAMPLE_BWD, upsample_bwd)             /* in: gy -> gx, avg_pool's kernel, weight 1 */      \
    X(SCALE_CHANNELS, scale_channels)         /* x [C, N, H, W] · s [C, N, 1, 1] */               \
    X(SCALE_CHANNELS_BWD, scale_channels_bwd) /* in: gy, x, s -> gx, gs */                         \
    X(MAX_POOL, max_pool)                     /* k x k max, stride, padding -> y, argmax */        \
    X(MAX_POOL_BWD, max_pool_bwd)             /* in: gy, argmax -> gx */                           \
    /* dropout: engine/ops/dropout.c */                                                            \
    X(DROPOUT, dropout)         /* in: x -> y, mask */                                             \
    X(DROPOUT_BWD, dropout_bwd) /* in: gy, mask -> gx */

typedef enum mw_op {
    MW_OP_NONE = 0,
#define MW_OP_ENUM_ROW(id, name) MW_OP_##id,
    MW_OP_LIST(MW_OP_ENUM_ROW)
#undef MW_OP_ENUM_ROW
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
        float lo, hi;
    } clamp;
    struct {
        bool reverse; /* an LSTM run from the last step to the first */
    } seq;
    struct {
        float eps;
    } normalize;
    struct {
        int start, count, width; /* width: columns of the padded output */
        bool flat;               /* matrices read as one row: rows instead of columns */
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
        int k, stride, padding; /* average pooling, upsampling: stride k, no padding */
    } pool;
    struct {
        int groups;
    } shuffle;
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

/* An op's behaviour; its enum value and name come from its row in MW_OP_LIST. */
typedef struct mw_op_def {
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

/* The op's definition, or NULL for MW_OP_NONE and values outside the list. */
const mw_op_def *mw_op_get(mw_op op);

/* The op's name from MW_OP_LIST ("conv2d"), or "?" for values outside it. */
const char *mw_op_name(mw_op op);

#endif
