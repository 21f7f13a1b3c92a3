/* Memory Wrap's distances between input encodings e [N, d] and memory encodings m [M, d]
 * (memorywrap.memory._distance), composed from row normalisation, squared euclidean
 * distances, GEMMs and affine maps, each with its own backward.
 *
 * The cosine distance 1 − ê·m̂ is computed as ½‖ê − m̂‖² + ½(1 − ‖ê‖²) + ½(1 − ‖m̂‖²), the
 * same number (‖ê‖² = s/(s+ε) falls short of 1 by the "norm deficit" ε/(s+ε), s = Σe²),
 * because the product form loses digits to cancellation exactly where attention looks:
 * for near neighbours. At cos 0.992 a float32 ê·m̂ over d = 1280 is off by ~1e-6, 1.5e-4 of
 * the distance; the difference form keeps the distance's relative error near float32's
 * own. The gradient is that of 1 − ê·m̂ (two GEMMs), which has no such cancellation. */
#include <math.h>
#include <string.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

/* memorywrap's _EPSILON, added under the square root of each row's squared norm. */
static const float mw_cosine_eps = 1e-6f;

const char *const mw_distance_names[] = {"cosine", "l2", "dot", NULL};

/* Σ_k x_k² over a row, in double */
static double row_sqnorm(const float *x, size_t cols) {
    double s = 0;
    for (size_t k = 0; k < cols; k++)
        s += (double)x[k] * x[k];
    return s;
}

void mw_ref_row_normalize(const float *x, float *y, size_t rows, size_t cols, float eps) {
    for (size_t r = 0; r < rows; r++) {
        double n = sqrt(row_sqnorm(x + r * cols, cols) + eps);
        for (size_t k = 0; k < cols; k++)
            y[r * cols + k] = (float)(x[r * cols + k] / n);
    }
}

void mw_ref_row_normalize_bwd(const float *gy, const float *x, float *gx, size_t rows, size_t cols,
                              float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *gr = gy + r * cols;
        double dot = 0, n = sqrt(row_sqnorm(xr, cols) + eps);
        for (size_t k = 0; k < cols; k++)
            dot += xr[k] / n * gr[k];
        for (size_t k = 0; k < cols; k++)
            gx[r * cols + k] = (float)((gr[k] - xr[k] / n * dot) / n);
    }
}

void mw_ref_pairwise_sqdist(const float *a, const float *b, float *d, size_t n, size_t m,
                            size_t dim) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double s = 0;
            for (size_t k = 0; k < dim; k++) {
                double t = (double)a[i * dim + k] - b[j * dim + k];
                s += t * t;
            }
            d[i * m + j] = (float)s;
        }
}

void mw_ref_pairwise_sqdist_bwd(const float *gd, const float *a, const float *b, float *ga,
                                float *gb, size_t n, size_t m, size_t dim) {
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < dim; k++) {
            double s = 0;
            for (size_t j = 0; j < m; j++)
                s += gd[i * m + j] * ((double)a[i * dim + k] - b[j * dim + k]);
            ga[i * dim + k] = (float)(2 * s);
        }
    for (size_t j = 0; j < m; j++)
        for (size_t k = 0; k < dim; k++) {
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += gd[i * m + j] * ((double)a[i * dim + k] - b[j * dim + k]);
            gb[j * dim + k] = (float)(-2 * s);
        }
}

/* c_r = eps / (Σ_k x_rk² + eps): 1 − ‖x̂_r‖² without the cancellation of the latter. */
void mw_ref_norm_deficit(const float *x, float *c, size_t rows, size_t cols, float eps) {
    for (size_t r = 0; r < rows; r++)
        c[r] = (float)(eps / (row_sqnorm(x + r * cols, cols) + eps));
}

/* D_ij = ½ Σ_k (â_ik − b̂_jk)² + ½ (c_i + c_j) = 1 − â_i·b̂_j for unit-deficit rows. */
void mw_ref_cosine_distance(const float *ah, const float *bh, const float *ca, const float *cb,
                            float *d, size_t n, size_t m, size_t dim) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double s = 0;
            for (size_t k = 0; k < dim; k++) {
                double t = (double)ah[i * dim + k] - bh[j * dim + k];
                s += t * t;
            }
            d[i * m + j] = (float)(0.5 * s + 0.5 * ((double)ca[i] + cb[j]));
        }
}

/* ---- builders ---- */

int mw_row_normalize(mw_graph *g, int x, float eps) {
    if (!mw_graph_check_inputs(g, "row_normalize", &x, 1)) return -1;
    if (mw_t(g, x)->ndim != 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "row_normalize: %s must be a matrix",
                             mw_t(g, x)->name);
    mw_node_attr at = {.normalize = {eps}};
    return mw_graph_emit(g, MW_OP_ROW_NORMALIZE, &x, 1, 2, mw_t(g, x)->shape, at);
}

static bool same_width(mw_graph *g, const char *op, int a, int b) {
    const mw_tensor *ta = mw_t(g, a), *tb = mw_t(g, b);
    if (ta->ndim == 2 && tb->ndim == 2 && ta->shape[1] == tb->shape[1]) return true;
    mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: %s and %s must be matrices of the same width", op,
                  ta->name, tb->name);
    return false;
}

int mw_pairwise_sqdist(mw_graph *g, int a, int b) {
    int in[2] = {a, b};
    if (!mw_graph_check_inputs(g, "pairwise_sqdist", in, 2)) return -1;
    if (!same_width(g, "pairwise_sqdist", a, b)) return -1;
    int64_t shape[2] = {mw_t(g, a)->shape[0], mw_t(g, b)->shape[0]};
    return mw_graph_emit(g, MW_OP_PAIRWISE_SQDIST, in, 2, 2, shape, (mw_node_attr){0});
}

/* [rows] deficits of the rows of x for the cosine distance's eps. */
static int norm_deficit(mw_graph *g, int x) {
    int64_t shape[1] = {mw_t(g, x)->shape[0]};
    mw_node_attr at = {.normalize = {mw_cosine_eps}};
    return mw_graph_emit(g, MW_OP_NORM_DEFICIT, &x, 1, 1, shape, at);
}

int mw_distance(mw_graph *g, int e, int m, const char *name) {
    int in[2] = {e, m};
    if (!mw_graph_check_inputs(g, "distance", in, 2)) return -1;
    if (!same_width(g, "distance", e, m)) return -1;
    if (name && strcmp(name, "cosine") == 0) {
        int in4[4] = {mw_row_normalize(g, e, mw_cosine_eps), mw_row_normalize(g, m, mw_cosine_eps),
                      norm_deficit(g, e), norm_deficit(g, m)};
        if (!mw_graph_check_inputs(g, "distance", in4, 4)) return -1;
        int64_t shape[2] = {mw_t(g, e)->shape[0], mw_t(g, m)->shape[0]};
        return mw_graph_emit(g, MW_OP_COSINE_DISTANCE, in4, 4, 2, shape, (mw_node_attr){0});
    }
    if (name && strcmp(name, "l2") == 0) return mw_pairwise_sqdist(g, e, m);
    if (name && strcmp(name, "dot") == 0)
        return mw_affine(g, mw_matmul(g, e, m, false, true), -1.0f, 0.0f);
    return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                         "unknown distance '%s': valid distances are cosine, l2, dot",
                         name ? name : "(null)");
}

/* ---- backward ---- */

static void row_normalize_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                                   int *gin) {
    int in[2] = {gout[0], n->in[0]};
    gin[0] = mw_graph_emit(g, MW_OP_ROW_NORMALIZE_BWD, in, 2, 2, mw_t(g, n->in[0])->shape, n->attr);
}

static void sqdist_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    int in[3] = {gout[0], n->in[0], n->in[1]};
    int out[2] = {
        mw_graph_new_tensor(g, "pairwise_sqdist_bwd:ga", MW_F32, 2, mw_t(g, n->in[0])->shape),
        mw_graph_new_tensor(g, "pairwise_sqdist_bwd:gb", MW_F32, 2, mw_t(g, n->in[1])->shape)};
    if (out[0] < 0 || out[1] < 0) return;
    if (mw_graph_add_node(g, MW_OP_PAIRWISE_SQDIST_BWD, in, 3, out, 2, (mw_node_attr){0}) < 0)
        return;
    gin[0] = out[0];
    gin[1] = out[1];
}

/* The gradient of 1 − â·b̂ (the value's other terms are its rounding-free form, not inputs
 * of their own: the deficits get none, as their share is already in that form). */
static void cosine_distance_backward(mw_graph *g, const mw_node *n, const int *gout,
                                     const bool *need, int *gin) {
    int ah = n->in[0], bh = n->in[1], gd = gout[0];
    if (need[0]) gin[0] = mw_affine(g, mw_matmul(g, gd, bh, false, false), -1.0f, 0.0f);
    if (need[1]) gin[1] = mw_affine(g, mw_matmul(g, gd, ah, true, false), -1.0f, 0.0f);
}

/* ---- OpenCL ---- */

static mw_status row_normalize_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch_groups(c, "distance", "row_normalize_f32", rows,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmuuf", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols,
                     (double)n->attr.normalize.eps);
}

static mw_status row_normalize_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[1]), cols = mw_cols(c->g, n->in[1]);
    return mw_launch_groups(c, "distance", "row_normalize_bwd_f32", rows,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmmuuf", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols,
                     (double)n->attr.normalize.eps);
}

static mw_status sqdist_cl(mw_cl_ctx *c, const mw_node *n) {
    unsigned rn = (unsigned)mw_rows(c->g, n->in[0]), rm = (unsigned)mw_rows(c->g, n->in[1]);
    unsigned dim = (unsigned)mw_cols(c->g, n->in[0]);
    return mw_launch(c, "distance", "pairwise_sqdist_f32", (size_t)rn * rm, "mmmuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), rn, rm, dim);
}

static mw_status sqdist_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    unsigned rn = (unsigned)mw_rows(c->g, n->in[1]), rm = (unsigned)mw_rows(c->g, n->in[2]);
    unsigned dim = (unsigned)mw_cols(c->g, n->in[1]);
    MW_TRY(mw_launch(c, "distance", "pairwise_sqdist_bwd_a_f32", (size_t)rn * dim, "mmmmuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->in[2]),
                     mw_mem(c, n->out[0]), rn, rm, dim));
    return mw_launch(c, "distance", "pairwise_sqdist_bwd_b_f32", (size_t)rm * dim, "mmmmuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->in[2]),
                     mw_mem(c, n->out[1]), rn, rm, dim);
}

static mw_status norm_deficit_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch_groups(c, "distance", "norm_deficit_f32", rows,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmuuf", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols,
                     (double)n->attr.normalize.eps);
}

static mw_status cosine_distance_cl(mw_cl_ctx *c, const mw_node *n) {
    unsigned rn = (unsigned)mw_rows(c->g, n->in[0]), rm = (unsigned)mw_rows(c->g, n->in[1]);
    unsigned dim = (unsigned)mw_cols(c->g, n->in[0]);
    return mw_launch(c, "distance", "cosine_distance_f32", (size_t)rn * ((rm + 3) / 4), "mmmmmuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->in[2]),
                     mw_mem(c, n->in[3]), mw_mem(c, n->out[0]), rn, rm, dim);
}

/* ---- reference backend ---- */

static mw_status row_normalize_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_row_normalize(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]),
                         mw_rows(c->g, n->in[0]), mw_cols(c->g, n->in[0]), n->attr.normalize.eps);
    return MW_OK;
}

static mw_status row_normalize_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_row_normalize_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                             mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[1]),
                             mw_cols(c->g, n->in[1]), n->attr.normalize.eps);
    return MW_OK;
}

static mw_status sqdist_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_pairwise_sqdist(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                           mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                           mw_rows(c->g, n->in[1]), mw_cols(c->g, n->in[0]));
    return MW_OK;
}

static mw_status sqdist_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_pairwise_sqdist_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                               mw_host_f32(c, n->in[2]), mw_host_f32(c, n->out[0]),
                               mw_host_f32(c, n->out[1]), mw_rows(c->g, n->in[1]),
                               mw_rows(c->g, n->in[2]), mw_cols(c->g, n->in[1]));
    return MW_OK;
}

static mw_status norm_deficit_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_norm_deficit(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]),
                        mw_rows(c->g, n->in[0]), mw_cols(c->g, n->in[0]), n->attr.normalize.eps);
    return MW_OK;
}

static mw_status cosine_distance_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_cosine_distance(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                           mw_host_f32(c, n->in[2]), mw_host_f32(c, n->in[3]),
                           mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                           mw_rows(c->g, n->in[1]), mw_cols(c->g, n->in[0]));
    return MW_OK;
}

const mw_op_def mw_op_def_row_normalize = {
    .run_cl = row_normalize_cl, .run_cpu = row_normalize_cpu, .backward = row_normalize_backward};
const mw_op_def mw_op_def_row_normalize_bwd = {.run_cl = row_normalize_bwd_cl,
                                               .run_cpu = row_normalize_bwd_cpu};
const mw_op_def mw_op_def_pairwise_sqdist = {
    .run_cl = sqdist_cl, .run_cpu = sqdist_cpu, .backward = sqdist_backward};
const mw_op_def mw_op_def_pairwise_sqdist_bwd = {.run_cl = sqdist_bwd_cl,
                                                 .run_cpu = sqdist_bwd_cpu};
const mw_op_def mw_op_def_norm_deficit = {.run_cl = norm_deficit_cl, .run_cpu = norm_deficit_cpu};
const mw_op_def mw_op_def_cosine_distance = {.run_cl = cosine_distance_cl,
                                             .run_cpu = cosine_distance_cpu,
                                             .backward = cosine_distance_backward};
