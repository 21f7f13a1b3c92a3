/* Mean softmax cross-entropy over int32 labels, mean squared error, and their backwards. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

void mw_ref_softmax_ce(const float *logits, const int32_t *labels, float *loss, float *probs,
                       size_t rows, size_t classes) {
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *x = logits + r * classes;
        double lse = mw_ref_softmax_row(x, probs + r * classes, classes);
        int32_t y = labels[r];
        total += (y >= 0 && (size_t)y < classes) ? lse - x[y] : NAN;
    }
    loss[0] = (float)(total / (double)rows);
}

void mw_ref_softmax_ce_bwd(const float *gloss, const float *probs, const int32_t *labels,
                           float *glogits, size_t rows, size_t classes) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < classes; c++) {
            double onehot = labels[r] == (int32_t)c ? 1.0 : 0.0;
            glogits[r * classes + c] =
                (float)(gloss[0] * (probs[r * classes + c] - onehot) / (double)rows);
        }
}

void mw_ref_mse_loss(const float *a, const float *b, float *loss, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        total += d * d;
    }
    loss[0] = (float)(total / (double)n);
}

void mw_ref_mse_loss_bwd(const float *gloss, const float *a, const float *b, float *g, size_t n,
                         double scale) {
    for (size_t i = 0; i < n; i++)
        g[i] = (float)(scale * gloss[0] * ((double)a[i] - b[i]));
}

int mw_softmax_cross_entropy(mw_graph *g, int logits, int labels) {
    int in[2] = {logits, labels};
    if (!mw_graph_check_inputs(g, "softmax_cross_entropy", in, 2)) return -1;
    const mw_tensor *tl = mw_t(g, logits), *ty = mw_t(g, labels);
    if (tl->ndim != 2 || ty->ndim != 1 || ty->shape[0] != tl->shape[0] || ty->dtype != MW_I32)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "softmax_cross_entropy: logits %s must be [N, C] and labels %s "
                             "int32 [N]",
                             tl->name, ty->name);
    int64_t one = 1;
    char name[MW_NAME_MAX];
    int loss = mw_graph_new_tensor(g, "loss", MW_F32, 1, &one);
    snprintf(name, sizeof name, "softmax_ce:%d:probs", g->n_nodes);
    int probs = mw_graph_new_tensor(g, name, MW_F32, 2, tl->shape);
    int out[2] = {loss, probs};
    if (loss < 0 || probs < 0) return -1;
    if (mw_graph_add_node(g, MW_OP_SOFTMAX_CE, in, 2, out, 2, (mw_node_attr){0}) < 0) return -1;
    return loss;
}

int mw_mse_loss(mw_graph *g, int a, int b) {
    int in[2] = {a, b};
    if (!mw_graph_check_inputs(g, "mse_loss", in, 2)) return -1;
    const mw_tensor *ta = mw_t(g, a), *tb = mw_t(g, b);
    if (ta->dtype != MW_F32 || tb->dtype != MW_F32 || ta->ndim != tb->ndim ||
        memcmp(ta->shape, tb->shape, (size_t)ta->ndim * sizeof *ta->shape) != 0)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "mse_loss: %s and %s must be float32 tensors of one shape", ta->name,
                             tb->name);
    /* the kernels count the elements in 32 bits */
    if (ta->numel >= ((size_t)1 << 32))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "mse_loss: %s has 2^32 values or more",
                             ta->name);
    int64_t one = 1;
    return mw_graph_emit(g, MW_OP_MSE_LOSS, in, 2, 1, &one, (mw_node_attr){0});
}

static void softmax_ce_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                                int *gin) {
    if (gout[0] < 0) return; /* only the loss output carries a gradient */
    int in[3] = {gout[0], n->out[1], n->in[1]};
    gin[0] = mw_graph_emit(g, MW_OP_SOFTMAX_CE_BWD, in, 3, 2, mw_t(g, n->in[0])->shape,
                           (mw_node_attr){0});
}

/* One elementwise node per input that needs it: ga = 2/n · gloss · (a − b), gb = −ga. The
 * scale rides in the affine attribute. */
static void mse_loss_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                              int *gin) {
    int in[3] = {gout[0], n->in[0], n->in[1]};
    const mw_tensor *ta = mw_t(g, n->in[0]);
    float scale = (float)(2.0 / (double)ta->numel);
    for (int i = 0; i < 2; i++)
        if (need[i]) {
            mw_node_attr at = {.affine = {i == 0 ? scale : -scale, 0.0f}};
            gin[i] = mw_graph_emit(g, MW_OP_MSE_LOSS_BWD, in, 3, ta->ndim, ta->shape, at);
        }
}

static mw_status softmax_ce_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), classes = mw_cols(c->g, n->in[0]);
    /* One work-group: its items stride over the rows, then sum their losses in a tree (of
     * the forced size in tests that force one, MEMWRAP_WORK_GROUP_SIZE). */
    size_t group = c->rt->forced_group ? mw_group_size(c, MW_CE_GROUP) : MW_CE_GROUP;
    return mw_launch_groups(c, "loss", "softmax_ce_f32", 1, group, "mmmmuu",
                            mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]),
                            mw_mem(c, n->out[1]), (unsigned)rows, (unsigned)classes);
}

static mw_status softmax_ce_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->out[0]), classes = mw_cols(c->g, n->out[0]);
    return mw_launch(c, "loss", "softmax_ce_bwd_f32", rows * classes, "mmmmuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->in[2]), mw_mem(c, n->out[0]), (unsigned)rows,
                     (unsigned)classes);
}

/* One work-group over all the values (cl/row_group.clh's row loop and group sum). */
static mw_status mse_loss_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch_groups(c, "loss", "mse_loss_f32", 1, mw_group_size(c, MW_ROW_MAX_GROUP),
                            "mmmu", mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]),
                            (unsigned)mw_t(c->g, n->in[0])->numel);
}

static mw_status mse_loss_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t count = mw_t(c->g, n->out[0])->numel;
    return mw_launch(c, "loss", "mse_loss_bwd_f32", count, "mmmmfu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->in[2]), mw_mem(c, n->out[0]),
                     (double)n->attr.affine.alpha, (unsigned)count);
}

static mw_status softmax_ce_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_softmax_ce(mw_host_f32(c, n->in[0]), (const int32_t *)c->host[n->in[1]],
                      mw_host_f32(c, n->out[0]), mw_host_f32(c, n->out[1]), mw_rows(c->g, n->in[0]),
                      mw_cols(c->g, n->in[0]));
    return MW_OK;
}

static mw_status softmax_ce_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_softmax_ce_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                          (const int32_t *)c->host[n->in[2]], mw_host_f32(c, n->out[0]),
                          mw_rows(c->g, n->out[0]), mw_cols(c->g, n->out[0]));
    return MW_OK;
}

static mw_status mse_loss_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_mse_loss(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]), mw_host_f32(c, n->out[0]),
                    mw_t(c->g, n->in[0])->numel);
    return MW_OK;
}

/* The scale in double (2/n with the sign the node's float attribute carries). */
static mw_status mse_loss_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t count = mw_t(c->g, n->out[0])->numel;
    mw_ref_mse_loss_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                        mw_host_f32(c, n->in[2]), mw_host_f32(c, n->out[0]), count,
                        copysign(2.0 / (double)count, n->attr.affine.alpha));
    return MW_OK;
}

const mw_op_def mw_op_def_softmax_ce = {
    .run_cl = softmax_ce_cl, .run_cpu = softmax_ce_cpu, .backward = softmax_ce_backward};
const mw_op_def mw_op_def_softmax_ce_bwd = {.run_cl = softmax_ce_bwd_cl,
                                            .run_cpu = softmax_ce_bwd_cpu};
const mw_op_def mw_op_def_mse_loss = {
    .run_cl = mse_loss_cl, .run_cpu = mse_loss_cpu, .backward = mse_loss_backward};
const mw_op_def mw_op_def_mse_loss_bwd = {.run_cl = mse_loss_bwd_cl, .run_cpu = mse_loss_bwd_cpu};
