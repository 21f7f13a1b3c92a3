/* The LSTM cell's elementwise part (torch.nn.LSTMCell after its two products, gate order
 * i, f, g, o): from the gates' pre-activations [N, 4H] (x W_ihᵀ + b_ih + h W_hhᵀ + b_hh,
 * built with mw_linear and mw_add) and the previous cell state [N, H], the new hidden and
 * cell states side by side, [N, 2H] = [h | c] (mw_slice_cols takes them apart). One node, so
 * the backward recomputes the gate activations from the pre-activations instead of keeping
 * them. Matching Networks' bidirectional LSTM and attention LSTM are built from it. */
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/cl_check.h"
#include "runtime/internal.h"

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

/* Unit j of a row of gates g4 (4h pre-activations) with previous cell state cp: the new
 * hidden and cell states. */
static void unit_forward(const float *g4, size_t h, size_t j, double cp, float *h_out,
                         float *c_out) {
    double i = sigmoid(g4[j]), f = sigmoid(g4[h + j]), g = tanh(g4[2 * h + j]);
    double o = sigmoid(g4[3 * h + j]), c = f * cp + i * g;
    *h_out = (float)(o * tanh(c));
    *c_out = (float)c;
}

/* Its backward from the gradients of h and c: the pre-activation gradients into q (4h), the
 * previous cell state's gradient returned. */
static double unit_backward(const float *g4, size_t h, size_t j, double cp, double dh,
                            double dc_in, float *q) {
    double i = sigmoid(g4[j]), f = sigmoid(g4[h + j]), g = tanh(g4[2 * h + j]);
    double o = sigmoid(g4[3 * h + j]), tc = tanh(f * cp + i * g);
    double dc = dc_in + dh * o * (1 - tc * tc);
    q[j] = (float)(dc * g * i * (1 - i));
    q[h + j] = (float)(dc * cp * f * (1 - f));
    q[2 * h + j] = (float)(dc * i * (1 - g * g));
    q[3 * h + j] = (float)(dh * tc * o * (1 - o));
    return dc * f;
}

void mw_ref_lstm_cell(const float *gates, const float *c_prev, float *out, size_t n, size_t h) {
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < h; j++)
            unit_forward(gates + r * 4 * h, h, j, c_prev ? c_prev[r * h + j] : 0.0,
                         &out[r * 2 * h + j], &out[r * 2 * h + h + j]);
}

void mw_ref_lstm_cell_bwd(const float *gout, const float *gates, const float *c_prev,
                          float *ggates, float *gc_prev, size_t n, size_t h) {
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < h; j++) {
            double gc = unit_backward(gates + r * 4 * h, h, j, c_prev ? c_prev[r * h + j] : 0.0,
                                      gout[r * 2 * h + j], gout[r * 2 * h + h + j],
                                      ggates + r * 4 * h);
            if (gc_prev) gc_prev[r * h + j] = (float)gc;
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

/* ---- a whole sequence ------------------------------------------------------------------- */

/* Step k of the run visits row t; its predecessor is row t ∓ 1. */
static size_t seq_row(size_t k, size_t t, bool reverse) {
    return reverse ? t - 1 - k : k;
}

void mw_ref_lstm_sequence(const float *p, const float *w_hh, const float *b_hh, float *y,
                          float *gates, size_t t, size_t h, bool reverse) {
    for (size_t k = 0; k < t; k++) {
        size_t r = seq_row(k, t, reverse), prev = reverse ? r + 1 : r - 1;
        const float *hp = k ? y + prev * 2 * h : NULL;
        for (size_t q = 0; q < 4 * h; q++) {
            double s = (double)p[r * 4 * h + q] + b_hh[q];
            for (size_t j = 0; hp && j < h; j++)
                s += (double)w_hh[q * h + j] * hp[j];
            gates[r * 4 * h + q] = (float)s;
        }
        for (size_t j = 0; j < h; j++)
            unit_forward(gates + r * 4 * h, h, j, k ? y[prev * 2 * h + h + j] : 0.0,
                         &y[r * 2 * h + j], &y[r * 2 * h + h + j]);
    }
}

void mw_ref_lstm_sequence_bwd(const float *gy, const float *gates, const float *y,
                              const float *w_hh, float *gp, float *gw, float *gb, size_t t,
                              size_t h, bool reverse) {
    double *dh_next = calloc(h, sizeof *dh_next), *dc_next = calloc(h, sizeof *dc_next);
    for (size_t k = t; k-- > 0;) {
        size_t r = seq_row(k, t, reverse), prev = reverse ? r + 1 : r - 1;
        for (size_t j = 0; j < h; j++)
            dc_next[j] = unit_backward(gates + r * 4 * h, h, j, k ? y[prev * 2 * h + h + j] : 0.0,
                                       gy[r * 2 * h + j] + dh_next[j],
                                       gy[r * 2 * h + h + j] + dc_next[j], gp + r * 4 * h);
        for (size_t j = 0; j < h; j++) { /* dh of the predecessor: W_hhᵀ dgates */
            double s = 0;
            for (size_t q = 0; q < 4 * h; q++)
                s += (double)w_hh[q * h + j] * gp[r * 4 * h + q];
            dh_next[j] = s;
        }
    }
    for (size_t q = 0; q < 4 * h; q++) {
        double sb = 0;
        for (size_t r = 0; r < t; r++)
            sb += gp[r * 4 * h + q];
        gb[q] = (float)sb;
        for (size_t j = 0; j < h; j++) {
            double s = 0;
            for (size_t k = 1; k < t; k++) {
                size_t r = seq_row(k, t, reverse), prev = reverse ? r + 1 : r - 1;
                s += (double)gp[r * 4 * h + q] * y[prev * 2 * h + j];
            }
            gw[q * h + j] = (float)s;
        }
    }
    free(dh_next), free(dc_next);
}

int mw_lstm_sequence(mw_graph *g, int p, int w_hh, int b_hh, bool reverse) {
    int in[3] = {p, w_hh, b_hh};
    if (!mw_graph_check_inputs(g, "lstm_sequence", in, 3)) return -1;
    const mw_tensor *tp = mw_t(g, p), *tw = mw_t(g, w_hh), *tb = mw_t(g, b_hh);
    int64_t h = tw->ndim == 2 ? tw->shape[1] : 0;
    if (tp->ndim != 2 || h < 1 || tp->shape[1] != 4 * h || tw->shape[0] != 4 * h ||
        tb->ndim != 1 || tb->shape[0] != 4 * h)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "lstm_sequence: need p [T, 4H], w_hh [4H, H], b_hh [4H]; got %s, "
                             "%s, %s",
                             tp->name, tw->name, tb->name);
    char name[MW_NAME_MAX];
    int64_t yshape[2] = {tp->shape[0], 2 * h};
    snprintf(name, sizeof name, "lstm_sequence:%d", g->n_nodes);
    int y = mw_graph_new_tensor(g, name, MW_F32, 2, yshape);
    snprintf(name, sizeof name, "lstm_sequence:%d:gates", g->n_nodes);
    int gates = mw_graph_new_tensor(g, name, MW_F32, 2, tp->shape);
    int out[2] = {y, gates};
    mw_node_attr at = {.seq = {reverse}};
    if (y < 0 || gates < 0 || mw_graph_add_node(g, MW_OP_LSTM_SEQUENCE, in, 3, out, 2, at) < 0)
        return -1;
    return y;
}

static void lstm_sequence_backward(mw_graph *g, const mw_node *n, const int *gout,
                                   const bool *need, int *gin) {
    if (gout[0] < 0) return; /* the gates output carries no gradient */
    int in[4] = {gout[0], n->out[1], n->out[0], n->in[1]};
    int out[3] = {mw_graph_new_tensor(g, "lstm_sequence_bwd:gp", MW_F32, 2, mw_t(g, n->in[0])->shape),
                  mw_graph_new_tensor(g, "lstm_sequence_bwd:gw", MW_F32, 2, mw_t(g, n->in[1])->shape),
                  mw_graph_new_tensor(g, "lstm_sequence_bwd:gb", MW_F32, 1, mw_t(g, n->in[2])->shape)};
    if (out[0] < 0 || out[1] < 0 || out[2] < 0) return;
    if (mw_graph_add_node(g, MW_OP_LSTM_SEQUENCE_BWD, in, 4, out, 3, n->attr) < 0) return;
    for (int k = 0; k < 3; k++)
        gin[k] = out[k];
}

/* The dW_hh GEMM: Σ over steps 2.. of dgatesᵀ h_prev, [4H, H] = [T-1, 4H]ᵀ [T-1, H]. */
static mw_status seq_gemm_scratch(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                  size_t *bytes) {
    size_t t = mw_rows(g, n->in[0]), h = mw_cols(g, n->in[0]) / 2;
    *bytes = 0;
    if (t < 2) return MW_OK;
    cl_command_queue q = mw_runtime_queue(rt, 0);
    MW_BLAS_CHECK(CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, CLBlastTransposeYes,
                                             CLBlastTransposeNo, 4 * h, h, t - 1, 0, 4 * h, 0,
                                             2 * h, 0, h, &q, bytes));
    return MW_OK;
}

static mw_status lstm_sequence_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t t = mw_rows(c->g, n->in[0]), h = mw_cols(c->g, n->in[0]) / 4;
    bool reverse = n->attr.seq.reverse;
    cl_mem p = mw_mem(c, n->in[0]), w = mw_mem(c, n->in[1]), b = mw_mem(c, n->in[2]);
    cl_mem y = mw_mem(c, n->out[0]), gates = mw_mem(c, n->out[1]);
    /* CLBlast's GEMV reads y even with beta 0 (0 · NaN is NaN): the rows it adds to start at 0 */
    MW_TRY(mw_launch(c, "fill", "fill_f32", t * 4 * h, "mfu", gates, 0.0, (unsigned)(t * 4 * h)));
    for (size_t k = 0; k < t; k++) {
        size_t r = seq_row(k, t, reverse), prev = k ? (reverse ? r + 1 : r - 1) : r;
        if (k) { /* gates row r = W_hh h_prev, then the step kernel adds p and b_hh */
            MW_BLAS_CHECK(CLBlastSgemv(CLBlastLayoutRowMajor, CLBlastTransposeNo, 4 * h, h, 1.0f,
                                       w, 0, h, y, prev * 2 * h, 1, 0.0f, gates, r * 4 * h, 1,
                                       &c->queue, NULL));
            mw_runtime_count_enqueue(c->rt);
        }
        MW_TRY(mw_launch(c, "lstm", "lstm_seq_step_f32", h, "mmmmuuuu", p, b, gates, y,
                         (unsigned)h, (unsigned)r, (unsigned)prev, (unsigned)(k > 0)));
    }
    return MW_OK;
}

static mw_status lstm_sequence_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t t = mw_rows(c->g, n->in[1]), h = mw_cols(c->g, n->in[1]) / 4;
    bool reverse = n->attr.seq.reverse;
    cl_mem gy = mw_mem(c, n->in[0]), gates = mw_mem(c, n->in[1]), y = mw_mem(c, n->in[2]);
    cl_mem w = mw_mem(c, n->in[3]), gp = mw_mem(c, n->out[0]), gw = mw_mem(c, n->out[1]);
    /* dW_hh's first 2H floats carry dh and dc from step to step until its GEMM overwrites
     * them (it is 4H² >= 2H floats); zeroed first, as GEMV reads what it overwrites */
    MW_TRY(mw_launch(c, "fill", "fill_f32", 2 * h, "mfu", gw, 0.0, (unsigned)(2 * h)));
    for (size_t k = t; k-- > 0;) {
        size_t r = seq_row(k, t, reverse), prev = k ? (reverse ? r + 1 : r - 1) : r;
        size_t next = k + 1 < t ? seq_row(k + 1, t, reverse) : r;
        if (k + 1 < t) { /* dh carried = W_hhᵀ dgates of the step after */
            MW_BLAS_CHECK(CLBlastSgemv(CLBlastLayoutRowMajor, CLBlastTransposeYes, 4 * h, h, 1.0f,
                                       w, 0, h, gp, next * 4 * h, 1, 0.0f, gw, 0, 1, &c->queue,
                                       NULL));
            mw_runtime_count_enqueue(c->rt);
        }
        MW_TRY(mw_launch(c, "lstm", "lstm_seq_bwd_step_f32", h, "mmmmmuuuuu", gy, gates, y, gw, gp,
                         (unsigned)h, (unsigned)r, (unsigned)prev, (unsigned)(k > 0),
                         (unsigned)(k + 1 < t)));
    }
    size_t rows = t - 1;
    if (rows == 0) {
        MW_TRY(mw_launch(c, "fill", "fill_f32", 4 * h * h, "mfu", gw, 0.0, (unsigned)(4 * h * h)));
    } else { /* steps 1.. of the run against their predecessors' hidden states */
        size_t gp_off = reverse ? 0 : 4 * h, h_off = reverse ? 2 * h : 0;
        MW_BLAS_CHECK(CLBlastSgemmWithTempBuffer(
            CLBlastLayoutRowMajor, CLBlastTransposeYes, CLBlastTransposeNo, 4 * h, h, rows, 1.0f,
            gp, gp_off, 4 * h, y, h_off, 2 * h, 0.0f, gw, 0, h, &c->queue, NULL, c->scratch));
        mw_runtime_count_enqueue(c->rt);
    }
    return mw_launch(c, "linear", "sum_rows_f32", 4 * h, "mmuu", gp, mw_mem(c, n->out[2]),
                     (unsigned)t, (unsigned)(4 * h));
}

static mw_status lstm_sequence_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_lstm_sequence(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                         mw_host_f32(c, n->in[2]), mw_host_f32(c, n->out[0]),
                         mw_host_f32(c, n->out[1]), mw_rows(c->g, n->in[0]),
                         mw_cols(c->g, n->in[0]) / 4, n->attr.seq.reverse);
    return MW_OK;
}

static mw_status lstm_sequence_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_lstm_sequence_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                             mw_host_f32(c, n->in[2]), mw_host_f32(c, n->in[3]),
                             mw_host_f32(c, n->out[0]), mw_host_f32(c, n->out[1]),
                             mw_host_f32(c, n->out[2]), mw_rows(c->g, n->in[1]),
                             mw_cols(c->g, n->in[1]) / 4, n->attr.seq.reverse);
    return MW_OK;
}

const mw_op_def mw_op_def_lstm_sequence = {.run_cl = lstm_sequence_cl,
                                           .run_cpu = lstm_sequence_cpu,
                                           .backward = lstm_sequence_backward};
const mw_op_def mw_op_def_lstm_sequence_bwd = {.run_cl = lstm_sequence_bwd_cl,
                                               .run_cpu = lstm_sequence_bwd_cpu,
                                               .scratch_bytes = seq_gemm_scratch};
