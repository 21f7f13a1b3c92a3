/* Row-wise softmax (torch.softmax(dim=1)) and its backward: Matching Networks' attention over
 * the support set and over the distances. */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

double mw_ref_softmax_row(const float *x, float *y, size_t cols) {
    double m = x[0], s = 0;
    for (size_t c = 1; c < cols; c++)
        m = x[c] > m ? x[c] : m;
    for (size_t c = 0; c < cols; c++)
        s += exp(x[c] - m);
    for (size_t c = 0; c < cols; c++)
        y[c] = (float)(exp(x[c] - m) / s);
    return m + log(s);
}

void mw_ref_softmax(const float *x, float *y, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        mw_ref_softmax_row(x + r * cols, y + r * cols, cols);
}

/* gx = y ⊙ (gy − Σ_c gy_c y_c) per row */
void mw_ref_softmax_bwd(const float *gy, const float *y, float *gx, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        double dot = 0;
        for (size_t c = 0; c < cols; c++)
            dot += (double)gy[r * cols + c] * y[r * cols + c];
        for (size_t c = 0; c < cols; c++)
            gx[r * cols + c] = (float)(y[r * cols + c] * (gy[r * cols + c] - dot));
    }
}

int mw_softmax(mw_graph *g, int x) {
    if (!mw_graph_check_inputs(g, "softmax", &x, 1)) return -1;
    if (mw_t(g, x)->ndim != 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "softmax: %s must be a matrix",
                             mw_t(g, x)->name);
    return mw_graph_emit(g, MW_OP_SOFTMAX, &x, 1, 2, mw_t(g, x)->shape, (mw_node_attr){0});
}

static void softmax_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                             int *gin) {
    int in[2] = {gout[0], n->out[0]};
    gin[0] = mw_graph_emit(g, MW_OP_SOFTMAX_BWD, in, 2, 2, mw_t(g, n->in[0])->shape,
                           (mw_node_attr){0});
}

/* ---- OpenCL: one work-group per row (cl/row_group.clh) ---- */

static mw_status softmax_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch_groups(c, "softmax", "softmax_f32", rows, mw_group_size(c, MW_ROW_MAX_GROUP),
                            "mmuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols);
}

static mw_status softmax_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch_groups(c, "softmax", "softmax_bwd_f32", rows,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmmuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols);
}

/* ---- reference backend ---- */

static mw_status softmax_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_softmax(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                   mw_cols(c->g, n->in[0]));
    return MW_OK;
}

static mw_status softmax_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_softmax_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                       mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                       mw_cols(c->g, n->in[0]));
    return MW_OK;
}

const mw_op_def mw_op_def_softmax = {
    .run_cl = softmax_cl, .run_cpu = softmax_cpu, .backward = softmax_backward};
const mw_op_def mw_op_def_softmax_bwd = {.run_cl = softmax_bwd_cl, .run_cpu = softmax_bwd_cpu};
