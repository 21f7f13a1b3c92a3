/* Elementwise ops: fill, affine, add, relu, add + relu fused, log of a clamp, and their
 * backwards. */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"

void mw_ref_fill(float *y, size_t n, float value) {
    for (size_t i = 0; i < n; i++)
        y[i] = value;
}

void mw_ref_affine(const float *x, float *y, size_t n, float alpha, float beta) {
    for (size_t i = 0; i < n; i++)
        y[i] = alpha * x[i] + beta;
}

void mw_ref_add(const float *a, const float *b, float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void mw_ref_relu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void mw_ref_add_relu(const float *a, const float *b, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float s = a[i] + b[i];
        y[i] = s > 0.0f ? s : 0.0f;
    }
}

void mw_ref_relu_bwd(const float *gy, const float *y, float *gx, size_t n) {
    for (size_t i = 0; i < n; i++)
        gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
}

void mw_ref_clamp_log(const float *x, float *y, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        y[i] = (float)log(x[i] < lo ? lo : x[i] > hi ? hi : x[i]);
}

void mw_ref_clamp_log_bwd(const float *gy, const float *x, float *gx, size_t n, float lo,
                          float hi) {
    for (size_t i = 0; i < n; i++)
        gx[i] = x[i] >= lo && x[i] <= hi ? (float)((double)gy[i] / x[i]) : 0.0f;
}

/* ---- builders ---- */

static bool same_shape(const mw_graph *g, int a, int b) {
    const mw_tensor *x = mw_t(g, a), *y = mw_t(g, b);
    if (x->ndim != y->ndim) return false;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != y->shape[i]) return false;
    return true;
}

int mw_affine(mw_graph *g, int x, float alpha, float beta) {
    if (!mw_graph_check_inputs(g, "affine", &x, 1)) return -1;
    mw_node_attr at = {.affine = {alpha, beta}};
    return mw_graph_emit(g, MW_OP_AFFINE, &x, 1, mw_t(g, x)->ndim, mw_t(g, x)->shape, at);
}

/* add and add_relu: two inputs of one shape. */
static int emit_sum(mw_graph *g, mw_op op, const char *what, int a, int b) {
    int in[2] = {a, b};
    if (!mw_graph_check_inputs(g, what, in, 2)) return -1;
    if (!same_shape(g, a, b))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: %s and %s differ in shape", what,
                             mw_t(g, a)->name, mw_t(g, b)->name);
    return mw_graph_emit(g, op, in, 2, mw_t(g, a)->ndim, mw_t(g, a)->shape, (mw_node_attr){0});
}

int mw_add(mw_graph *g, int a, int b) {
    return emit_sum(g, MW_OP_ADD, "add", a, b);
}

int mw_add_relu(mw_graph *g, int a, int b) {
    return emit_sum(g, MW_OP_ADD_RELU, "add_relu", a, b);
}

int mw_clamp_log(mw_graph *g, int x, float lo, float hi) {
    if (!mw_graph_check_inputs(g, "clamp_log", &x, 1)) return -1;
    if (!(lo > 0.0f && lo <= hi))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "clamp_log: need 0 < lo <= hi, got %g, %g",
                             (double)lo, (double)hi);
    mw_node_attr at = {.clamp = {lo, hi}};
    return mw_graph_emit(g, MW_OP_CLAMP_LOG, &x, 1, mw_t(g, x)->ndim, mw_t(g, x)->shape, at);
}

int mw_relu(mw_graph *g, int x) {
    if (!mw_graph_check_inputs(g, "relu", &x, 1)) return -1;
    return mw_graph_emit(g, MW_OP_RELU, &x, 1, mw_t(g, x)->ndim, mw_t(g, x)->shape,
                         (mw_node_attr){0});
}

/* ---- backward ---- */

static void affine_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    gin[0] = mw_affine(g, gout[0], n->attr.affine.alpha, 0.0f);
}

static void add_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                         int *gin) {
    gin[0] = gout[0];
    gin[1] = gout[0];
}

static void clamp_log_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                               int *gin) {
    int in[2] = {gout[0], n->in[0]};
    gin[0] = mw_graph_emit(g, MW_OP_CLAMP_LOG_BWD, in, 2, mw_t(g, n->in[0])->ndim,
                           mw_t(g, n->in[0])->shape, n->attr);
}

static void relu_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                          int *gin) {
    int in[2] = {gout[0], n->out[0]};
    gin[0] = mw_graph_emit(g, MW_OP_RELU_BWD, in, 2, mw_t(g, n->in[0])->ndim,
                           mw_t(g, n->in[0])->shape, (mw_node_attr){0});
}

/* Both inputs get relu's gradient (from the output, as relu's own backward reads it). */
static void add_relu_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                              int *gin) {
    relu_backward(g, n, gout, need, gin);
    gin[1] = gin[0];
}

/* ---- OpenCL ---- */

static unsigned count(const mw_cl_ctx *c, int t) {
    return (unsigned)mw_t(c->g, t)->numel;
}

static mw_status fill_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "fill", "fill_f32", count(c, n->out[0]), "mfu", mw_mem(c, n->out[0]),
                     (double)n->attr.fill.value, count(c, n->out[0]));
}

static mw_status affine_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "affine_f32", count(c, n->out[0]), "mmffu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (double)n->attr.affine.alpha,
                     (double)n->attr.affine.beta, count(c, n->out[0]));
}

static mw_status add_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "add_f32", count(c, n->out[0]), "mmmu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), count(c, n->out[0]));
}

static mw_status relu_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "relu_f32", count(c, n->out[0]), "mmu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), count(c, n->out[0]));
}

static mw_status add_relu_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "add_relu_f32", count(c, n->out[0]), "mmmu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]),
                     count(c, n->out[0]));
}

static mw_status relu_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "relu_bwd_f32", count(c, n->out[0]), "mmmu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]),
                     count(c, n->out[0]));
}

static mw_status clamp_log_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "clamp_log_f32", count(c, n->out[0]), "mmffu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (double)n->attr.clamp.lo,
                     (double)n->attr.clamp.hi, count(c, n->out[0]));
}

static mw_status clamp_log_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_launch(c, "elementwise", "clamp_log_bwd_f32", count(c, n->out[0]), "mmmffu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]),
                     (double)n->attr.clamp.lo, (double)n->attr.clamp.hi, count(c, n->out[0]));
}

/* ---- reference backend ---- */

static mw_status fill_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_fill(mw_host_f32(c, n->out[0]), mw_t(c->g, n->out[0])->numel, n->attr.fill.value);
    return MW_OK;
}

static mw_status affine_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_affine(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_t(c->g, n->out[0])->numel,
                  n->attr.affine.alpha, n->attr.affine.beta);
    return MW_OK;
}

static mw_status add_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_add(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]), mw_host_f32(c, n->out[0]),
               mw_t(c->g, n->out[0])->numel);
    return MW_OK;
}

static mw_status relu_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_relu(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_t(c->g, n->out[0])->numel);
    return MW_OK;
}

static mw_status add_relu_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_add_relu(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]), mw_host_f32(c, n->out[0]),
                    mw_t(c->g, n->out[0])->numel);
    return MW_OK;
}

static mw_status relu_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_relu_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]), mw_host_f32(c, n->out[0]),
                    mw_t(c->g, n->out[0])->numel);
    return MW_OK;
}

static mw_status clamp_log_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_clamp_log(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]),
                     mw_t(c->g, n->out[0])->numel, n->attr.clamp.lo, n->attr.clamp.hi);
    return MW_OK;
}

static mw_status clamp_log_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_clamp_log_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                         mw_host_f32(c, n->out[0]), mw_t(c->g, n->out[0])->numel,
                         n->attr.clamp.lo, n->attr.clamp.hi);
    return MW_OK;
}

const mw_op_def mw_op_def_fill = {.run_cl = fill_cl, .run_cpu = fill_cpu};
const mw_op_def mw_op_def_affine = {
    .run_cl = affine_cl, .run_cpu = affine_cpu, .backward = affine_backward};
const mw_op_def mw_op_def_add = {.run_cl = add_cl, .run_cpu = add_cpu, .backward = add_backward};
const mw_op_def mw_op_def_relu = {
    .run_cl = relu_cl, .run_cpu = relu_cpu, .backward = relu_backward};
const mw_op_def mw_op_def_add_relu = {
    .run_cl = add_relu_cl, .run_cpu = add_relu_cpu, .backward = add_relu_backward};
const mw_op_def mw_op_def_relu_bwd = {.run_cl = relu_bwd_cl, .run_cpu = relu_bwd_cpu};
const mw_op_def mw_op_def_clamp_log = {
    .run_cl = clamp_log_cl, .run_cpu = clamp_log_cpu, .backward = clamp_log_backward};
const mw_op_def mw_op_def_clamp_log_bwd = {.run_cl = clamp_log_bwd_cl,
                                           .run_cpu = clamp_log_bwd_cpu};
