/* Column concat (of 2 to MW_CONCAT_MAX inputs), slice and pad (slice's gradient), for rows
 * [N, C] and for channel-major maps [C, N, H, W]. Channels of maps are contiguous blocks of
 * N·H·W values, so the maps' channel concat and slice are the same ops on the maps read as
 * one row of C·N·H·W columns (matrix_view), and so are the rows of a matrix
 * (attr.cols.flat): one set of kernels serves DenseNet's and GoogLeNet's concatenations,
 * ShuffleNet's split, Memory Wrap's [e, W·m], and row slices and concatenations of
 * matrices. A concat places each input at its columns of the output, one copy per input. */
#include <string.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

_Static_assert((int)MW_CONCAT_MAX <= (int)MW_NODE_MAX_IN, "a concat's inputs must fit one node");

void mw_ref_place_cols(const float *x, float *y, size_t rows, size_t width, size_t start,
                       size_t count) {
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * width + start, x + r * count, count * sizeof *y);
}

void mw_ref_slice_cols(const float *x, float *y, size_t rows, size_t cols, size_t start,
                       size_t count) {
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * count, x + r * cols + start, count * 4);
}

void mw_ref_pad_cols(const float *x, float *y, size_t rows, size_t width, size_t start,
                     size_t count) {
    memset(y, 0, rows * width * sizeof *y);
    mw_ref_place_cols(x, y, rows, width, start, count);
}

/* ---- builders ---- */

static bool is_maps(const mw_tensor *t) {
    return t->ndim == 4;
}

/* The matrix an op of this file sees: rows as they are, maps (or any tensor of a flat node)
 * as one row. */
static void matrix_view(const mw_graph *g, int tensor, bool flat, size_t *rows, size_t *cols) {
    const mw_tensor *t = mw_t(g, tensor);
    bool one_row = flat || is_maps(t);
    *rows = one_row ? 1 : mw_rows(g, tensor);
    *cols = one_row ? t->numel : mw_cols(g, tensor);
}

/* Values per channel of maps [C, N, H, W]: N·H·W. */
static int64_t channel_block(const mw_tensor *t) {
    return t->shape[1] * t->shape[2] * t->shape[3];
}

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

int mw_concat_channels(mw_graph *g, int a, int b) {
    return mw_concat_channels_n(g, (const int[]){a, b}, 2);
}

int mw_concat_channels_n(mw_graph *g, const int *maps, int count) {
    if (count < 2 || count > MW_CONCAT_MAX)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "concat_channels: %d maps given; it joins 2 to %d", count,
                             MW_CONCAT_MAX);
    if (!mw_graph_check_inputs(g, "concat_channels", maps, count)) return -1;
    const mw_tensor *ta = mw_t(g, maps[0]);
    int64_t shape[4] = {0, ta->shape[1], ta->shape[2], ta->shape[3]};
    for (int i = 0; i < count; i++) {
        const mw_tensor *t = mw_t(g, maps[i]);
        if (!is_maps(ta) || !is_maps(t) || t->shape[1] != ta->shape[1] ||
            t->shape[2] != ta->shape[2] || t->shape[3] != ta->shape[3])
            return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                                 "concat_channels: %s and %s must be maps [C, N, H, W] with the "
                                 "same N, H and W",
                                 ta->name, t->name);
        shape[0] += t->shape[0];
    }
    return mw_graph_emit(g, MW_OP_CONCAT_COLS, maps, count, 4, shape, (mw_node_attr){0});
}

int mw_concat_rows(mw_graph *g, int a, int b) {
    int in[2] = {a, b};
    if (!mw_graph_check_inputs(g, "concat_rows", in, 2)) return -1;
    const mw_tensor *ta = mw_t(g, a), *tb = mw_t(g, b);
    if (ta->ndim != 2 || tb->ndim != 2 || ta->shape[1] != tb->shape[1])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "concat_rows: %s and %s must be matrices with the same columns",
                             ta->name, tb->name);
    int64_t shape[2] = {ta->shape[0] + tb->shape[0], ta->shape[1]};
    mw_node_attr at = {.cols = {.flat = true}};
    return mw_graph_emit(g, MW_OP_CONCAT_COLS, in, 2, 2, shape, at);
}

int mw_slice_rows(mw_graph *g, int x, int start, int count) {
    if (!mw_graph_check_inputs(g, "slice_rows", &x, 1)) return -1;
    const mw_tensor *t = mw_t(g, x);
    if (t->ndim != 2 || start < 0 || count <= 0 || start + count > t->shape[0])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "slice_rows: rows [%d, %d) outside %s", start,
                             start + count, t->name);
    if ((int64_t)t->numel > INT32_MAX)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "slice_rows: %s is too large", t->name);
    int64_t shape[2] = {count, t->shape[1]};
    int cols = (int)t->shape[1];
    mw_node_attr at = {.cols = {start * cols, count * cols, (int)t->numel, true}};
    return mw_graph_emit(g, MW_OP_SLICE_COLS, &x, 1, 2, shape, at);
}

int mw_slice_cols(mw_graph *g, int x, int start, int count) {
    if (!mw_graph_check_inputs(g, "slice_cols", &x, 1)) return -1;
    const mw_tensor *t = mw_t(g, x);
    if (t->ndim != 2 || start < 0 || count <= 0 || start + count > t->shape[1])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "slice_cols: columns [%d, %d) outside %s",
                             start, start + count, t->name);
    int64_t shape[2] = {t->shape[0], count};
    mw_node_attr at = {.cols = {start, count, (int)t->shape[1], false}};
    return mw_graph_emit(g, MW_OP_SLICE_COLS, &x, 1, 2, shape, at);
}

int mw_slice_channels(mw_graph *g, int x, int start, int count) {
    if (!mw_graph_check_inputs(g, "slice_channels", &x, 1)) return -1;
    const mw_tensor *t = mw_t(g, x);
    if (!is_maps(t) || start < 0 || count <= 0 || start + count > t->shape[0])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "slice_channels: channels [%d, %d) outside maps %s", start,
                             start + count, t->name);
    int64_t block = channel_block(t);
    if ((int64_t)t->numel > INT32_MAX)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "slice_channels: %s is too large", t->name);
    int64_t shape[4] = {count, t->shape[1], t->shape[2], t->shape[3]};
    mw_node_attr at = {.cols = {(int)(start * block), (int)(count * block), (int)t->numel, false}};
    return mw_graph_emit(g, MW_OP_SLICE_COLS, &x, 1, 4, shape, at);
}

/* Zeros of the shape of `like` with x at columns (rows) or values (maps, flat) from
 * `start`. */
static int pad_like(mw_graph *g, int x, int start, int like, bool flat) {
    const mw_tensor *t = mw_t(g, like);
    size_t rows, width, xrows, count;
    matrix_view(g, like, flat, &rows, &width);
    matrix_view(g, x, flat, &xrows, &count);
    mw_node_attr at = {.cols = {start, (int)count, (int)width, flat}};
    return mw_graph_emit(g, MW_OP_PAD_COLS, &x, 1, t->ndim, t->shape, at);
}

/* ---- backward ---- */

/* Each input's gradient is its slice of the output's: rows (flat), channels (maps) or
 * columns. */
static void concat_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    int start = 0;
    for (int i = 0; i < n->n_in; i++) {
        const mw_tensor *t = mw_t(g, n->in[i]);
        bool flat = n->attr.cols.flat, maps = !flat && is_maps(t);
        int count = (int)t->shape[flat || maps ? 0 : 1];
        if (need[i])
            gin[i] = flat   ? mw_slice_rows(g, gout[0], start, count)
                     : maps ? mw_slice_channels(g, gout[0], start, count)
                            : mw_slice_cols(g, gout[0], start, count);
        start += count;
    }
}

static void slice_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                           int *gin) {
    gin[0] = pad_like(g, gout[0], n->attr.cols.start, n->in[0], n->attr.cols.flat);
}

/* The gradient of a pad is the slice it padded: the same columns, or the same values. */
static void pad_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                         int *gin) {
    const mw_tensor *t = mw_t(g, n->in[0]);
    int64_t shape[MW_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++)
        shape[i] = t->shape[i];
    gin[0] = mw_graph_emit(g, MW_OP_SLICE_COLS, &gout[0], 1, t->ndim, shape, n->attr);
}

/* ---- OpenCL ---- */

/* Work-items for `values` output values: each copies a run of MW_COPY_RUN. */
static size_t runs(size_t values) {
    return (values + MW_COPY_RUN - 1) / MW_COPY_RUN;
}

/* One launch per input, each writing its columns of the output. */
static mw_status concat_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows, width, start = 0;
    matrix_view(c->g, n->out[0], n->attr.cols.flat, &rows, &width);
    for (int i = 0; i < n->n_in; i++) {
        size_t count;
        matrix_view(c->g, n->in[i], n->attr.cols.flat, &rows, &count);
        MW_TRY(mw_launch(c, "concat", "place_cols_f32", runs(rows * count), "mmuuuu",
                         mw_mem(c, n->in[i]), mw_mem(c, n->out[0]), (unsigned)rows,
                         (unsigned)width, (unsigned)start, (unsigned)count));
        start += count;
    }
    return MW_OK;
}

static mw_status slice_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows, cols;
    matrix_view(c->g, n->out[0], n->attr.cols.flat, &rows, &cols);
    const mw_node_attr *a = &n->attr;
    return mw_launch(c, "concat", "slice_cols_f32", runs(rows * (size_t)a->cols.count), "mmuuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)rows,
                     (unsigned)a->cols.width, (unsigned)a->cols.start, (unsigned)a->cols.count);
}

static mw_status pad_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t rows, cols;
    matrix_view(c->g, n->out[0], n->attr.cols.flat, &rows, &cols);
    const mw_node_attr *a = &n->attr;
    return mw_launch(c, "concat", "pad_cols_f32", runs(rows * (size_t)a->cols.width), "mmuuuu",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)rows,
                     (unsigned)a->cols.width, (unsigned)a->cols.start, (unsigned)a->cols.count);
}

/* ---- reference backend ---- */

static mw_status concat_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t rows, width, start = 0;
    matrix_view(c->g, n->out[0], n->attr.cols.flat, &rows, &width);
    for (int i = 0; i < n->n_in; i++) {
        size_t count;
        matrix_view(c->g, n->in[i], n->attr.cols.flat, &rows, &count);
        mw_ref_place_cols(mw_host_f32(c, n->in[i]), mw_host_f32(c, n->out[0]), rows, width, start,
                          count);
        start += count;
    }
    return MW_OK;
}

static mw_status slice_cpu(mw_cpu_ctx *c, const mw_node *n) {
    const mw_node_attr *a = &n->attr;
    size_t rows, cols;
    matrix_view(c->g, n->out[0], n->attr.cols.flat, &rows, &cols);
    mw_ref_slice_cols(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), rows,
                      (size_t)a->cols.width, (size_t)a->cols.start, (size_t)a->cols.count);
    return MW_OK;
}

static mw_status pad_cpu(mw_cpu_ctx *c, const mw_node *n) {
    const mw_node_attr *a = &n->attr;
    size_t rows, cols;
    matrix_view(c->g, n->out[0], n->attr.cols.flat, &rows, &cols);
    mw_ref_pad_cols(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), rows,
                    (size_t)a->cols.width, (size_t)a->cols.start, (size_t)a->cols.count);
    return MW_OK;
}

const mw_op_def mw_op_def_concat_cols = {
    .run_cl = concat_cl, .run_cpu = concat_cpu, .backward = concat_backward};
const mw_op_def mw_op_def_slice_cols = {
    .run_cl = slice_cl, .run_cpu = slice_cpu, .backward = slice_backward};
const mw_op_def mw_op_def_pad_cols = {
    .run_cl = pad_cl, .run_cpu = pad_cpu, .backward = pad_backward};
