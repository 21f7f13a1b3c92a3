/* Elementwise activations: swish and sigmoid (relu is the elementwise family's op), and the
 * scalar activation functions every CPU reference shares (batch norm fuses them). */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

float mw_ref_act(float z, int act) {
    switch (act) {
    case MW_ACT_RELU:
        return z > 0.0f ? z : 0.0f;
    case MW_ACT_SWISH:
        return (float)((double)z / (1.0 + exp(-(double)z)));
    case MW_ACT_SIGMOID:
        return (float)(1.0 / (1.0 + exp(-(double)z)));
    default:
        return z;
    }
}

float mw_ref_act_grad(float z, int act) {
    double s = 1.0 / (1.0 + exp(-(double)z));
    switch (act) {
    case MW_ACT_RELU:
        return z > 0.0f ? 1.0f : 0.0f;
    case MW_ACT_SWISH:
        return (float)(s * (1.0 + z * (1.0 - s)));
    case MW_ACT_SIGMOID:
        return (float)(s * (1.0 - s));
    default:
        return 1.0f;
    }
}

void mw_ref_activate(const float *x, float *y, size_t n, int act) {
    for (size_t i = 0; i < n; i++)
        y[i] = mw_ref_act(x[i], act);
}

void mw_ref_activate_bwd(const float *gy, const float *x, float *gx, size_t n, int act) {
    for (size_t i = 0; i < n; i++)
        gx[i] = gy[i] * mw_ref_act_grad(x[i], act);
}

int mw_activate(mw_graph *g, int x, mw_activation act) {
    if (!mw_graph_check_inputs(g, "activate", &x, 1)) return -1;
    switch (act) {
    case MW_ACT_NONE:
        return x;
    case MW_ACT_RELU:
        return mw_relu(g, x);
    case MW_ACT_SWISH:
    case MW_ACT_SIGMOID:
        break;
    default:
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "activate: unknown activation %d on %s",
                             (int)act, mw_t(g, x)->name);
    }
    if (mw_t(g, x)->dtype != MW_F32)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "activate: %s is not float32",
                             mw_t(g, x)->name);
    mw_node_attr at = {.act = {(int)act}};
    return mw_graph_emit(g, MW_OP_ACTIVATE, &x, 1, mw_t(g, x)->ndim, mw_t(g, x)->shape, at);
}

/* The backward recomputes the activation's derivative from x (not y): one formula for swish,
 * whose derivative y alone does not give. */
static void activate_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                              int *gin) {
    int in[2] = {gout[0], n->in[0]};
    gin[0] = mw_graph_emit(g, MW_OP_ACTIVATE_BWD, in, 2, mw_t(g, n->in[0])->ndim,
                           mw_t(g, n->in[0])->shape, n->attr);
}

static mw_status activate_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t count = mw_t(c->g, n->out[0])->numel;
    return mw_launch(c, "activation", "activate_f32", (count + MW_ACT_VECTOR - 1) / MW_ACT_VECTOR,
                     "mmui", mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)count,
                     n->attr.act.activation);
}

static mw_status activate_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t count = mw_t(c->g, n->out[0])->numel;
    return mw_launch(c, "activation", "activate_bwd_f32",
                     (count + MW_ACT_VECTOR - 1) / MW_ACT_VECTOR, "mmmui", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)count,
                     n->attr.act.activation);
}

static mw_status activate_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_activate(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]),
                    mw_t(c->g, n->out[0])->numel, n->attr.act.activation);
    return MW_OK;
}

static mw_status activate_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_activate_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                        mw_host_f32(c, n->out[0]), mw_t(c->g, n->out[0])->numel,
                        n->attr.act.activation);
    return MW_OK;
}

const mw_op_def mw_op_def_activate = {
    .run_cl = activate_cl, .run_cpu = activate_cpu, .backward = activate_backward};
const mw_op_def mw_op_def_activate_bwd = {.run_cl = activate_bwd_cl, .run_cpu = activate_bwd_cpu};
