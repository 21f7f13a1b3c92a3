/* The LSTM cell's elementwise part (torch.nn.LSTMCell after its two products, gate order
 * i, f, g, o): from the gates' pre-activations [N, 4H] (x W_ihᵀ + b_ih + h W_hhᵀ + b_hh,
 * built with mw_linear and mw_add) and the previous cell state [N, H], the new hidden and
 * cell states side by side, [N, 2H] = [h | c] (mw_slice_cols takes them apart). One node, so
 * the backward recomputes the gate activations from the pre-activations instead of keeping
 * them. Matching Networks' bidirectional LSTM and attention LSTM are built from it. */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

void mw_ref_lstm_cell(const float *gates, const float *c_prev, float *out, size_t n, size_t h) {
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < h; j++) {
            const float *p = gates + r * 4 * h;
            double i = sigmoid(p[j]), f = sigmoid(p[h + j]), g = tanh(p[2 * h + j]);
            double o = sigmoid(p[3 * h + j]), cp = c_prev ? c_prev[r * h + j] : 0.0;
            double c = f * cp + i * g;
            out[r * 2 * h + j] = (float)(o * tanh(c));
            out[r * 2 * h + h + j] = (float)c;
        }
}

void mw_ref_lstm_cell_bwd(const float *gout, const float *gates, const float *c_prev,
                          float *ggates, float *gc_prev, size_t n, size_t h) {
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < h; j++) {
            const float *p = gates + r * 4 * h;
            double i = sigmoid(p[j]), f = sigmoid(p[h + j]), g = tanh(p[2 * h + j]);
            double o = sigmoid(p[3 * h + j]), cp = c_prev ? c_prev[r * h + j] : 0.0;
            double c = f * cp + i * g, tc = tanh(c);
            double dh = gout[r * 2 * h + j];
            double dc = gout[r * 2 * h + h + j] + dh * o * (1 - tc * tc);
            float *q = ggates + r * 4 * h;
            q[j] = (float)(dc * g * i * (1 - i));
            q[h + j] = (float)(dc * cp * f * (1 - f));
            q[2 * h + j] = (float)(dc * i * (1 - g * g));
            q[3 * h + j] = (float)(dh * tc * o * (1 - o));
            if (gc_prev) gc_prev[r * h + j] = (float)(dc * f);
        }
}

int mw_lstm_cell(mw_graph *g, int gates, int c_prev) {
    int in[2] = {gates, c_prev};
    int n_in = c_prev >= 0 ? 2 : 1;
    if (!mw_graph_check_inputs(g, "lstm_cell", in, n_in)) return -1;
    const mw_tensor *tg = mw_t(g, gates);
    if (tg->ndim != 2 || tg->shape[1] % 4 != 0 ||
        (c_prev >= 0 && (mw_t(g, c_prev)->ndim != 2 || mw_t(g, c_prev)->shape[0] != tg->shape[0] ||
                         4 * mw_t(g, c_prev)->shape[1] != tg->shape[1])))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "lstm_cell: gates %s must be [N, 4H] and the cell state [N, H]",
                             tg->name);
    int64_t shape[2] = {tg->shape[0], tg->shape[1] / 2};
    return mw_graph_emit(g, MW_OP_LSTM_CELL, in, n_in, 2, shape, (mw_node_attr){0});
}

static void lstm_cell_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                               int *gin) {
    bool has_c = n->n_in == 2;
    int in[3] = {gout[0], n->in[0], has_c ? n->in[1] : -1};
    int out[2] = {mw_graph_new_tensor(g, "lstm_cell_bwd:ggates", MW_F32, 2,
                                      mw_t(g, n->in[0])->shape),
                  has_c ? mw_graph_new_tensor(g, "lstm_cell_bwd:gc", MW_F32, 2,
                                              mw_t(g, n->in[1])->shape)
                        : -1};
    if (out[0] < 0 || (has_c && out[1] < 0)) return;
    if (mw_graph_add_node(g, MW_OP_LSTM_CELL_BWD, in, has_c ? 3 : 2, out, has_c ? 2 : 1,
                          (mw_node_attr){0}) < 0)
        return;
    gin[0] = out[0];
    if (has_c) gin[1] = out[1];
}

/* ---- OpenCL: one work-item per (row, unit) ---- */

static mw_status lstm_cell_cl(mw_cl_ctx *c, const mw_node *n) {
    unsigned rows = (unsigned)mw_rows(c->g, n->in[0]);
    unsigned h = (unsigned)(mw_cols(c->g, n->in[0]) / 4);
    bool has_c = n->n_in == 2;
    /* without a cell state the kernel reads none: any buffer stands in */
    return mw_launch(c, "lstm", "lstm_cell_f32", (size_t)rows * h, "mmmuuu", mw_mem(c, n->in[0]),
                     mw_mem(c, has_c ? n->in[1] : n->in[0]), mw_mem(c, n->out[0]), rows, h,
                     (unsigned)has_c);
}

static mw_status lstm_cell_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    unsigned rows = (unsigned)mw_rows(c->g, n->in[1]);
    unsigned h = (unsigned)(mw_cols(c->g, n->in[1]) / 4);
    bool has_c = n->n_in == 3;
    return mw_launch(c, "lstm", "lstm_cell_bwd_f32", (size_t)rows * h, "mmmmmuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]),
                     mw_mem(c, has_c ? n->in[2] : n->in[1]), mw_mem(c, n->out[0]),
                     mw_mem(c, has_c ? n->out[1] : n->out[0]), rows, h, (unsigned)has_c);
}

/* ---- reference backend ---- */

static mw_status lstm_cell_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_lstm_cell(mw_host_f32(c, n->in[0]), n->n_in == 2 ? mw_host_f32(c, n->in[1]) : NULL,
                     mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                     mw_cols(c->g, n->in[0]) / 4);
    return MW_OK;
}

static mw_status lstm_cell_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    bool has_c = n->n_in == 3;
    mw_ref_lstm_cell_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                         has_c ? mw_host_f32(c, n->in[2]) : NULL, mw_host_f32(c, n->out[0]),
                         has_c ? mw_host_f32(c, n->out[1]) : NULL, mw_rows(c->g, n->in[1]),
                         mw_cols(c->g, n->in[1]) / 4);
    return MW_OK;
}

const mw_op_def mw_op_def_lstm_cell = {
    .run_cl = lstm_cell_cl, .run_cpu = lstm_cell_cpu, .backward = lstm_cell_backward};
const mw_op_def mw_op_def_lstm_cell_bwd = {.run_cl = lstm_cell_bwd_cl,
                                           .run_cpu = lstm_cell_bwd_cpu};
