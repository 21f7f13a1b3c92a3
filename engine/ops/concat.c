/* Column concat, slice and pad (slice's gradient). */
#include <string.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"

void mw_ref_concat_cols(const float *a, const float *b, float *y, size_t rows, size_t ca,
                        size_t cb) {
    for (size_t r = 0; r < rows; r++) {
        memcpy(y + r * (ca + cb), a + r * ca, ca * sizeof *y);
        memcpy(y + r * (ca + cb) + ca, b + r * cb, cb * sizeof *y);
    }
}

void mw_ref_slice_cols(const float *x, float *y, size_t rows, size_t cols, size_t start,
                       size_t count) {
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * count, x + r * cols + start, count * 4);
}

void mw_ref_pad_cols(const float *x, float *y, size_t rows, size_t width, size_t start,
                     size_t count) {
    memset(y, 0, rows * width * sizeof *y);
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * width + start, x + r * count, count * 4);
}

/* ---- builders ---- */

int mw_concat_cols(mw_graph *g, int a, int b) {
    int in[2] = {a, b};
    if (!mw_graph_check_inputs(g, "concat_cols", in, 2)) return -1;
    const mw_tensor *ta = mw_t(g, a), *tb = mw_t(g, b);
    if (ta->ndim != 2 || tb->ndim != 2 || ta->shape[0] != tb->shape[0])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "concat_cols: %s and %s must be matrices with the same rows", ta->name,
                             tb->name);
    int64_t shape[2] = {ta->shape[0], ta->shape[1] + tb->shape[1]};
    return mw_graph_emit(g, MW_OP_CONCAT_COLS, in, 2, 2, shape, (mw_node_attr){0});
}

int mw_slice_cols(mw_graph *g, int x, int start, int count) {
    if (!mw_graph_check_inputs(g, "slice_cols", &x, 1)) return -1;
    const mw_tensor *t = mw_t(g, x);
    if (t->ndim != 2 || start < 0 || count <= 0 || start + count > t->shape[1])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "slice_cols: columns [%d, %d) outside %s",
                             start, start + count, t->name);
    int64_t shape[2] = {t->shape[0], count};
    mw_node_attr at = {.cols = {start, count, (int)t->shape[1]}};
    return mw_graph_emit(g, MW_OP_SLICE_COLS, &x, 1, 2, shape, at);
}

static int pad_cols(mw_graph *g, int x, int start, int width) {
    int64_t shape[2] = {mw_t(g, x)->shape[0], width};
    mw_node_attr at = {.cols = {start, (int)mw_t(g, x)->shape[1], width}};
    return mw_graph_emit(g, MW_OP_PAD_COLS, &x, 1, 2, shape, at);
}

/* ---- backward ---- */

static void concat_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    int ca = (int)mw_t(g, n->in[0])->shape[1], cb = (int)mw_t(g, n->in[1])->shape[1];
    if (need[0]) gin[0] = mw_slice_cols(g, gout[0], 0, ca);
    if (need[1]) gin[1] = mw_slice_cols(g, gout[0], ca, cb);
}

static void slice_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                           int *gin) {
    gin[0] = pad_cols(g, gout[0], n->attr.cols.start, n->attr.cols.width);
}

static void pad_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                         int *gin) {
    gin[0] = mw_slice_cols(g, gout[0], n->attr.cols.start, n->attr.cols.count);
}

/* ---- OpenCL ---- */

static mw_status concat_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->out[0]);
    unsigned ca = (unsigned)mw_cols(c->g, n->in[0]), cb = (unsigned)mw_cols(c->g, n->in[1]);
    return mw_launch(c, "concat", "concat_cols_f32", rows * (ca + cb), "mmmuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)rows,
                     ca, cb);
}

static mw_status slice_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->out[0]);
    const mw_node_attr *a = &n->attr;
    return mw_launch(c, "concat", "slice_cols_f32", rows * (size_t)a->cols.count, "mmuuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)rows,
                     (unsigned)a->cols.width, (unsigned)a->cols.start, (unsigned)a->cols.count);
}

static mw_status pad_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows = mw_rows(c->g, n->out[0]);
    const mw_node_attr *a = &n->attr;
    return mw_launch(c, "concat", "pad_cols_f32", rows * (size_t)a->cols.width, "mmuuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)rows,
                     (unsigned)a->cols.width, (unsigned)a->cols.start, (unsigned)a->cols.count);
}

/* ---- reference backend ---- */

static mw_status concat_cpu(mw_cpu_ctx *c, const mw_node *n) {
    mw_ref_concat_cols(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                       mw_host_f32(c, n->out[0]), mw_rows(c->g, n->out[0]), mw_cols(c->g, n->in[0]),
                       mw_cols(c->g, n->in[1]));
    return MW_OK;
}

static mw_status slice_cpu(mw_cpu_ctx *c, const mw_node *n) {
    const mw_node_attr *a = &n->attr;
    mw_ref_slice_cols(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_rows(c->g, n->out[0]),
                      (size_t)a->cols.width, (size_t)a->cols.start, (size_t)a->cols.count);
    return MW_OK;
}

static mw_status pad_cpu(mw_cpu_ctx *c, const mw_node *n) {
    const mw_node_attr *a = &n->attr;
    mw_ref_pad_cols(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_rows(c->g, n->out[0]),
                    (size_t)a->cols.width, (size_t)a->cols.start, (size_t)a->cols.count);
    return MW_OK;
}

const mw_op_def mw_op_def_concat_cols = {
    .run_cl = concat_cl, .run_cpu = concat_cpu, .backward = concat_backward};
const mw_op_def mw_op_def_slice_cols = {
    .run_cl = slice_cl, .run_cpu = slice_cpu, .backward = slice_backward};
const mw_op_def mw_op_def_pad_cols = {
    .run_cl = pad_cl, .run_cpu = pad_cpu, .backward = pad_backward};
