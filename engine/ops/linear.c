/* The linear family: matmul (SGEMM), nn.Linear (bias broadcast + SGEMM) and the column sums
 * that give a bias its gradient. The SGEMMs are ops/gemm.h's: CLBlast's, or the own kernels
 * on CPU devices (Memory Wrap's MLP on a 1280-wide encoding ran at 21-26 GFLOP/s in
 * CLBlast on PoCL). */
#include "memwrap/ops.h"
#include "ops/gemm.h"
#include "ops/launch.h"
#include "ops/reference.h"

void mw_ref_matmul(const float *a, const float *b, float *c, size_t m, size_t n, size_t k,
                   bool transpose_a, bool transpose_b) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t l = 0; l < k; l++) {
                float av = transpose_a ? a[l * m + i] : a[i * k + l];
                float bv = transpose_b ? b[j * k + l] : b[l * n + j];
                s += (double)av * bv;
            }
            c[i * n + j] = (float)s;
        }
}

void mw_ref_linear(const float *x, const float *w, const float *b, float *y, size_t rows, size_t in,
                   size_t out) {
    mw_ref_matmul(x, w, y, rows, out, in, false, true);
    if (b)
        for (size_t r = 0; r < rows; r++)
            for (size_t o = 0; o < out; o++)
                y[r * out + o] += b[o];
}

void mw_ref_sum_rows(const float *x, float *y, size_t rows, size_t cols) {
    for (size_t c = 0; c < cols; c++) {
        double s = 0;
        for (size_t r = 0; r < rows; r++)
            s += x[r * cols + c];
        y[c] = (float)s;
    }
}

/* ---- shapes ---- */

/* matmul: C [m, n] = op(A) · op(B), every operand whole and row-major. */
static mw_gemm matmul_shape(const mw_graph *g, const mw_node *n) {
    const mw_tensor *a = mw_t(g, n->in[0]), *b = mw_t(g, n->in[1]);
    mw_gemm p = {.ta = n->attr.matmul.transpose_a, .tb = n->attr.matmul.transpose_b};
    p.m = (size_t)(p.ta ? a->shape[1] : a->shape[0]);
    p.k = (size_t)(p.ta ? a->shape[0] : a->shape[1]);
    p.n = (size_t)(p.tb ? b->shape[0] : b->shape[1]);
    p.lda = p.ta ? p.m : p.k;
    p.ldb = p.tb ? p.k : p.n;
    p.ldc = p.n;
    return p;
}

/* linear: y [rows, out] = x [rows, in] · w [out, in]ᵀ */
static mw_gemm linear_shape(const mw_graph *g, const mw_node *n) {
    size_t rows = mw_rows(g, n->in[0]), out = (size_t)mw_t(g, n->in[1])->shape[0];
    size_t in = mw_cols(g, n->in[0]);
    return (mw_gemm){.tb = true, .m = rows, .n = out, .k = in, .lda = in, .ldb = in, .ldc = out};
}

/* ---- builders ---- */

int mw_matmul(mw_graph *g, int a, int b, bool transpose_a, bool transpose_b) {
    int in[2] = {a, b};
    if (!mw_graph_check_inputs(g, "matmul", in, 2)) return -1;
    const mw_tensor *ta = mw_t(g, a), *tb = mw_t(g, b);
    if (ta->ndim != 2 || tb->ndim != 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "matmul: %s and %s must be matrices", ta->name,
                             tb->name);
    int64_t ka = transpose_a ? ta->shape[0] : ta->shape[1];
    int64_t kb = transpose_b ? tb->shape[1] : tb->shape[0];
    if (ka != kb)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "matmul: inner dimensions differ (%s: %lld, %s: %lld)", ta->name,
                             (long long)ka, tb->name, (long long)kb);
    int64_t shape[2] = {transpose_a ? ta->shape[1] : ta->shape[0],
                        transpose_b ? tb->shape[0] : tb->shape[1]};
    mw_node_attr at = {.matmul = {transpose_a, transpose_b}};
    return mw_graph_emit(g, MW_OP_MATMUL, in, 2, 2, shape, at);
}

int mw_linear(mw_graph *g, int x, int w, int b) {
    int in[3] = {x, w, b};
    int n_in = b >= 0 ? 3 : 2;
    if (!mw_graph_check_inputs(g, "linear", in, n_in)) return -1;
    const mw_tensor *tx = mw_t(g, x), *tw = mw_t(g, w);
    if (tx->ndim != 2 || tw->ndim != 2 || tx->shape[1] != tw->shape[1])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "linear: input %s [N, in] does not match weight %s [out, in]",
                             tx->name, tw->name);
    if (b >= 0 && (mw_t(g, b)->ndim != 1 || mw_t(g, b)->shape[0] != tw->shape[0]))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "linear: bias %s must be [%lld]",
                             mw_t(g, b)->name, (long long)tw->shape[0]);
    int64_t shape[2] = {tx->shape[0], tw->shape[0]};
    return mw_graph_emit(g, MW_OP_LINEAR, in, n_in, 2, shape, (mw_node_attr){0});
}

static int sum_rows(mw_graph *g, int x) {
    int64_t shape[1] = {(int64_t)mw_cols(g, x)};
    return mw_graph_emit(g, MW_OP_SUM_ROWS, &x, 1, 1, shape, (mw_node_attr){0});
}

/* ---- backward ---- */

/* C = op(A) op(B): dA and dB as matmuls of dC with the other operand, transposes chosen
 * so that no explicit transpose is ever materialised. */
static void matmul_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    int a = n->in[0], b = n->in[1], gc = gout[0];
    bool ta = n->attr.matmul.transpose_a, tb = n->attr.matmul.transpose_b;
    if (need[0]) gin[0] = ta ? mw_matmul(g, b, gc, tb, true) : mw_matmul(g, gc, b, false, !tb);
    if (need[1]) gin[1] = tb ? mw_matmul(g, gc, a, true, ta) : mw_matmul(g, a, gc, !ta, false);
}

static void linear_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    int x = n->in[0], w = n->in[1], gy = gout[0];
    if (need[0]) gin[0] = mw_matmul(g, gy, w, false, false);
    if (need[1]) gin[1] = mw_matmul(g, gy, x, true, false);
    if (n->n_in > 2 && need[2]) gin[2] = sum_rows(g, gy);
}

/* ---- OpenCL ---- */

static mw_status matmul_scratch(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                size_t *bytes) {
    mw_gemm p = matmul_shape(g, n);
    return mw_gemm_scratch_bytes(rt, &p, bytes);
}

static mw_status linear_scratch(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                size_t *bytes) {
    mw_gemm p = linear_shape(g, n);
    return mw_gemm_scratch_bytes(rt, &p, bytes);
}

static mw_status matmul_workspace(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                  size_t *bytes) {
    mw_gemm p = matmul_shape(g, n);
    *bytes = mw_gemm_workspace_bytes(rt, &p);
    return MW_OK;
}

static mw_status linear_workspace(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                  size_t *bytes) {
    mw_gemm p = linear_shape(g, n);
    *bytes = mw_gemm_workspace_bytes(rt, &p);
    return MW_OK;
}

static mw_status matmul_cl(mw_cl_ctx *c, const mw_node *n) {
    mw_gemm p = matmul_shape(c->g, n);
    return mw_gemm_run(c, &p, mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), 0.0f,
                       mw_mem(c, n->out[0]), 0);
}

static mw_status linear_cl(mw_cl_ctx *c, const mw_node *n) {
    mw_gemm p = linear_shape(c->g, n);
    if (n->n_in > 2)
        MW_TRY(mw_launch(c, "linear", "bias_rows_f32", p.m * p.n, "mmuu", mw_mem(c, n->in[2]),
                         mw_mem(c, n->out[0]), (unsigned)p.m, (unsigned)p.n));
    return mw_gemm_run(c, &p, mw_mem(c, n->in[0]), mw_mem(c, n->in[1]),
                       n->n_in > 2 ? 1.0f : 0.0f, mw_mem(c, n->out[0]), 0);
}

static mw_status sum_rows_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch(c, "linear", "sum_rows_f32", cols, "mmuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols);
}

/* ---- reference backend ---- */

static mw_status matmul_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_gemm s = matmul_shape(c->g, n);
    mw_ref_matmul(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]), mw_host_f32(c, n->out[0]),
                  s.m, s.n, s.k, s.ta, s.tb);
    return MW_OK;
}

static mw_status linear_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_gemm s = linear_shape(c->g, n);
    mw_ref_linear(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                  n->n_in > 2 ? mw_host_f32(c, n->in[2]) : NULL, mw_host_f32(c, n->out[0]), s.m,
                  s.k, s.n);
    return MW_OK;
}

static mw_status sum_rows_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_sum_rows(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                    mw_cols(c->g, n->in[0]));
    return MW_OK;
}

const mw_op_def mw_op_def_matmul = {.run_cl = matmul_cl,
                                    .run_cpu = matmul_cpu,
                                    .backward = matmul_backward,
                                    .scratch_bytes = matmul_scratch,
                                    .workspace_bytes = matmul_workspace};
const mw_op_def mw_op_def_linear = {.run_cl = linear_cl,
                                    .run_cpu = linear_cpu,
                                    .backward = linear_backward,
                                    .scratch_bytes = linear_scratch,
                                    .workspace_bytes = linear_workspace};
const mw_op_def mw_op_def_sum_rows = {.run_cl = sum_rows_cl, .run_cpu = sum_rows_cpu};
