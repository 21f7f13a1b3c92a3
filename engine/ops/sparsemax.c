/* Row-wise sparsemax and its backward (entmax 1.x SparsemaxFunction, dim=1). */
#include <math.h>
#include <stdlib.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

static int descending(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The reference follows entmax literally: shift by the max, sort descending, cumsum − 1,
 * support = rho · zs > cumsum, τ = cumsum[K−1] / K. */
void mw_ref_sparsemax(const float *z, float *p, size_t rows, size_t cols) {
    float *zs = malloc(cols * sizeof *zs);
    if (!zs) { /* out of host memory: NaNs make any test that reads p fail loudly */
        for (size_t i = 0; i < rows * cols; i++)
            p[i] = NAN;
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * cols;
        float zmax = zr[0];
        for (size_t j = 1; j < cols; j++)
            zmax = zr[j] > zmax ? zr[j] : zmax;
        for (size_t j = 0; j < cols; j++)
            zs[j] = zr[j] - zmax;
        qsort(zs, cols, sizeof *zs, descending);
        double cumsum = 0, tau_sum = 0;
        size_t support = 0;
        for (size_t k = 0; k < cols; k++) {
            cumsum += zs[k];
            if ((double)(k + 1) * zs[k] > cumsum - 1.0) {
                support++;
                tau_sum = cumsum - 1.0;
            }
        }
        double tau = tau_sum / (double)support;
        for (size_t j = 0; j < cols; j++) {
            double v = (double)(zr[j] - zmax) - tau;
            p[r * cols + j] = v > 0 ? (float)v : 0.0f;
        }
    }
    free(zs);
}

void mw_ref_sparsemax_bwd(const float *gp, const float *p, float *gz, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        const float *gr = gp + r * cols, *pr = p + r * cols;
        double s = 0;
        size_t k = 0;
        for (size_t j = 0; j < cols; j++)
            if (pr[j] != 0.0f) {
                k++;
                s += gr[j];
            }
        double mean = k ? s / (double)k : 0.0;
        for (size_t j = 0; j < cols; j++)
            gz[r * cols + j] = pr[j] != 0.0f ? (float)(gr[j] - mean) : 0.0f;
    }
}

int mw_sparsemax(mw_graph *g, int z) {
    if (!mw_graph_check_inputs(g, "sparsemax", &z, 1)) return -1;
    if (mw_t(g, z)->ndim != 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "sparsemax: %s must be a matrix",
                             mw_t(g, z)->name);
    return mw_graph_emit(g, MW_OP_SPARSEMAX, &z, 1, 2, mw_t(g, z)->shape, (mw_node_attr){0});
}

static void sparsemax_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                               int *gin) {
    int in[2] = {gout[0], n->out[0]};
    gin[0] = mw_graph_emit(g, MW_OP_SPARSEMAX_BWD, in, 2, 2, mw_t(g, n->in[0])->shape,
                           (mw_node_attr){0});
}

static mw_status sparsemax_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch_groups(c, "sparsemax", "sparsemax_f32", rows,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmuu", mw_mem(c, n->in[0]),
                            mw_mem(c, n->out[0]), (unsigned)rows, (unsigned)cols);
}

static mw_status sparsemax_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->in[0]), cols = mw_cols(c->g, n->in[0]);
    return mw_launch_groups(c, "sparsemax", "sparsemax_bwd_f32", rows,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmmuu", mw_mem(c, n->in[0]),
                            mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)rows,
                            (unsigned)cols);
}

static mw_status sparsemax_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_sparsemax(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                     mw_cols(c->g, n->in[0]));
    return MW_OK;
}

static mw_status sparsemax_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_sparsemax_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                         mw_host_f32(c, n->out[0]), mw_rows(c->g, n->in[0]),
                         mw_cols(c->g, n->in[0]));
    return MW_OK;
}

const mw_op_def mw_op_def_sparsemax = {
    .run_cl = sparsemax_cl, .run_cpu = sparsemax_cpu, .backward = sparsemax_backward};
const mw_op_def mw_op_def_sparsemax_bwd = {.run_cl = sparsemax_bwd_cl,
                                           .run_cpu = sparsemax_bwd_cpu};
