/* Inverted dropout (F.dropout): in train mode each element survives with probability 1 − p,
 * scaled by 1/(1 − p); the mask comes from a counter-based hash of (run, node, element), so
 * every run draws a fresh mask and both backends draw the same one. */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"

static const uint64_t GOLDEN = 0x9E3779B97F4A7C15ull;

/* splitmix64's output function; the same as mix64 in cl/dropout.cl. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t mw_dropout_key(uint64_t step, int node) {
    return mix64(mix64(step + GOLDEN) ^ ((uint64_t)(node + 1) * 0xD1B54A32D192ED03ull));
}

void mw_ref_dropout(const float *x, float *y, float *mask, size_t n, uint64_t key, float p,
                    bool training) {
    uint32_t drop_below = mw_dropout_threshold(p);
    float scale = mw_dropout_scale(p);
    for (size_t i = 0; i < n; i++) {
        float m = 1.0f;
        if (training) {
            uint32_t r = (uint32_t)(mix64(key + ((uint64_t)i + 1) * GOLDEN) >> 32);
            m = r >= drop_below ? scale : 0.0f;
        }
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

uint32_t mw_dropout_threshold(float p) {
    double t = ldexp((double)p, 32);
    return t >= 4294967295.0 ? UINT32_MAX : t <= 0 ? 0 : (uint32_t)t;
}

float mw_dropout_scale(float p) {
    return p >= 1.0f ? 0.0f : (float)(1.0 / (1.0 - (double)p)); /* p = 1: all zeros, as torch */
}

void mw_ref_dropout_bwd(const float *gy, const float *mask, float *gx, size_t n) {
    for (size_t i = 0; i < n; i++)
        gx[i] = gy[i] * mask[i];
}

int mw_dropout(mw_graph *g, int x, float p) {
    if (!mw_graph_check_inputs(g, "dropout", &x, 1)) return -1;
    const mw_tensor *t = mw_t(g, x);
    if (t->dtype != MW_F32 || !(p >= 0.0f && p <= 1.0f))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "dropout: %s must be float32 and p (%g) in [0, 1]", t->name,
                             (double)p);
    int out[2];
    out[0] = mw_new_output(g, MW_OP_DROPOUT, NULL, t->ndim, t->shape);
    out[1] = mw_new_output(g, MW_OP_DROPOUT, "mask", mw_t(g, x)->ndim, mw_t(g, x)->shape);
    if (out[0] < 0 || out[1] < 0) return -1;
    mw_node_attr at = {.dropout = {p}};
    if (mw_graph_add_node(g, MW_OP_DROPOUT, &x, 1, out, 2, at) < 0) return -1;
    return out[0];
}

static void dropout_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                             int *gin) {
    if (gout[0] < 0) return; /* the mask carries no gradient */
    int in[2] = {gout[0], n->out[1]};
    gin[0] = mw_graph_emit(g, MW_OP_DROPOUT_BWD, in, 2, mw_t(g, n->in[0])->ndim,
                           mw_t(g, n->in[0])->shape, (mw_node_attr){0});
}

/* The node's index seeds its mask (nodes are run from the graph's node array). */
static int node_index(const mw_graph *g, const mw_node *n) {
    return (int)(n - g->nodes);
}

static mw_status dropout_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t count = mw_t(c->g, n->in[0])->numel;
    float p = n->attr.dropout.p;
    uint64_t key = mw_dropout_key(c->step, node_index(c->g, n));
    return mw_launch(
        c, "dropout", "dropout_f32", count, "mmmuuuufi", mw_mem(c, n->in[0]), mw_mem(c, n->out[0]),
        mw_mem(c, n->out[1]), (unsigned)count, (unsigned)(key & 0xFFFFFFFFu), (unsigned)(key >> 32),
        (unsigned)mw_dropout_threshold(p), (double)mw_dropout_scale(p), (int)c->training);
}

static mw_status dropout_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t count = mw_t(c->g, n->out[0])->numel;
    return mw_launch(c, "dropout", "dropout_bwd_f32", count, "mmmu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)count);
}

static mw_status dropout_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_dropout(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_host_f32(c, n->out[1]),
                   mw_t(c->g, n->in[0])->numel, mw_dropout_key(c->step, node_index(c->g, n)),
                   n->attr.dropout.p, c->training);
    return MW_OK;
}

static mw_status dropout_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_dropout_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                       mw_host_f32(c, n->out[0]), mw_t(c->g, n->out[0])->numel);
    return MW_OK;
}

const mw_op_def mw_op_def_dropout = {
    .run_cl = dropout_cl, .run_cpu = dropout_cpu, .backward = dropout_backward};
const mw_op_def mw_op_def_dropout_bwd = {.run_cl = dropout_bwd_cl, .run_cpu = dropout_bwd_cpu};
