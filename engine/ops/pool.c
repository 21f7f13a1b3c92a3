/* Pooling on channel-major maps [C, N, H, W]: k x k average pooling (the encoders' final
 * global pool), nearest upsampling by k (the autoencoder's decoder; its kernels are average
 * pooling's backward and forward with window weight 1), max pooling with stride and padding
 * (GoogLeNet's), and the squeeze-excitation channel scaling x · s, s [C, N, 1, 1]. */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "runtime/kernel_defines.h"
#include "ops/reference.h"

/* Each output the sum of its k x k window times `weight`: 1/k² averages (avg_pool), 1 sums
 * (the backward of nearest upsampling). */
void mw_ref_avg_pool(const float *x, float *y, size_t planes, size_t height, size_t width, size_t k,
                     double weight) {
    size_t oh = height / k, ow = width / k;
    for (size_t p = 0; p < planes; p++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                double sum = 0;
                for (size_t dy = 0; dy < k; dy++)
                    for (size_t dx = 0; dx < k; dx++)
                        sum += x[(p * height + oy * k + dy) * width + ox * k + dx];
                y[(p * oh + oy) * ow + ox] = (float)(sum * weight);
            }
}

/* Each window's value times `weight` copied to its k x k inputs: avg_pool's backward with
 * 1/k², nearest upsampling with 1. */
void mw_ref_avg_pool_bwd(const float *gy, float *gx, size_t planes, size_t height, size_t width,
                         size_t k, double weight) {
    size_t oh = height / k, ow = width / k;
    for (size_t p = 0; p < planes; p++)
        for (size_t yy = 0; yy < height; yy++)
            for (size_t xx = 0; xx < width; xx++)
                gx[(p * height + yy) * width + xx] =
                    yy < oh * k && xx < ow * k
                        ? (float)(gy[(p * oh + yy / k) * ow + xx / k] * weight)
                        : 0.0f; /* floor mode: no window reads it */
}

/* The output size of a pooling window along one side (floor mode). */
static size_t pooled_size(size_t size, size_t k, size_t stride, size_t padding) {
    return (size + 2 * padding - k) / stride + 1;
}

void mw_ref_max_pool(const float *x, float *y, float *argmax, size_t planes, size_t height,
                     size_t width, size_t k, size_t stride, size_t padding) {
    size_t oh = pooled_size(height, k, stride, padding),
           ow = pooled_size(width, k, stride, padding);
    for (size_t p = 0; p < planes; p++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                float best = -INFINITY;
                size_t at = 0;
                for (size_t dy = 0; dy < k; dy++)
                    for (size_t dx = 0; dx < k; dx++) {
                        long iy = (long)(oy * stride + dy) - (long)padding;
                        long ix = (long)(ox * stride + dx) - (long)padding;
                        if (iy < 0 || ix < 0 || iy >= (long)height || ix >= (long)width) continue;
                        size_t i = (size_t)iy * width + (size_t)ix;
                        float v = x[p * height * width + i];
                        if (v > best || isnan(v)) best = v, at = i;
                    }
                y[(p * oh + oy) * ow + ox] = best;
                argmax[(p * oh + oy) * ow + ox] = (float)at;
            }
}

void mw_ref_max_pool_bwd(const float *gy, const float *argmax, float *gx, size_t planes,
                         size_t height, size_t width, size_t k, size_t stride, size_t padding) {
    size_t oh = pooled_size(height, k, stride, padding),
           ow = pooled_size(width, k, stride, padding);
    for (size_t i = 0; i < planes * height * width; i++)
        gx[i] = 0.0f;
    for (size_t p = 0; p < planes; p++)
        for (size_t o = 0; o < oh * ow; o++)
            gx[p * height * width + (size_t)argmax[p * oh * ow + o]] += gy[p * oh * ow + o];
}

void mw_ref_scale_channels(const float *x, const float *s, float *y, size_t planes,
                           size_t plane_size) {
    for (size_t p = 0; p < planes; p++)
        for (size_t i = 0; i < plane_size; i++)
            y[p * plane_size + i] = x[p * plane_size + i] * s[p];
}

void mw_ref_scale_channels_bwd(const float *gy, const float *x, const float *s, float *gx,
                               float *gs, size_t planes, size_t plane_size) {
    for (size_t p = 0; p < planes; p++) {
        double dot = 0;
        for (size_t i = 0; i < plane_size; i++) {
            dot += (double)gy[p * plane_size + i] * x[p * plane_size + i];
            gx[p * plane_size + i] = gy[p * plane_size + i] * s[p];
        }
        gs[p] = (float)dot;
    }
}

/* ---- builders ---- */

static bool check_maps(mw_graph *g, const char *op, int x) {
    const mw_tensor *t = mw_t(g, x);
    if (t->ndim == 4 && t->dtype == MW_F32) return true;
    mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: %s must be float32 maps [C, N, H, W]", op, t->name);
    return false;
}

int mw_avg_pool(mw_graph *g, int x, int k) {
    if (!mw_graph_check_inputs(g, "avg_pool", &x, 1) || !check_maps(g, "avg_pool", x)) return -1;
    const int64_t *s = mw_t(g, x)->shape;
    if (k < 1 || s[2] < k || s[3] < k)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "avg_pool: a %d x %d window does not fit the %lld x %lld maps of %s",
                             k, k, (long long)s[2], (long long)s[3], mw_t(g, x)->name);
    int64_t shape[4] = {s[0], s[1], s[2] / k, s[3] / k};
    mw_node_attr at = {.pool = {k, k, 0}};
    return mw_graph_emit(g, MW_OP_AVG_POOL, &x, 1, 4, shape, at);
}

int mw_upsample_nearest(mw_graph *g, int x, int k) {
    if (!mw_graph_check_inputs(g, "upsample_nearest", &x, 1) ||
        !check_maps(g, "upsample_nearest", x))
        return -1;
    const int64_t *s = mw_t(g, x)->shape;
    /* the kernels index a plane's values with 32-bit integers */
    if (k < 1 || s[2] * k * s[3] * k >= ((int64_t)1 << 31))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "upsample_nearest: scale factor %d must be at least 1 and keep the "
                             "%lld x %lld maps of %s under 2^31 values a plane",
                             k, (long long)s[2], (long long)s[3], mw_t(g, x)->name);
    int64_t shape[4] = {s[0], s[1], s[2] * k, s[3] * k};
    mw_node_attr at = {.pool = {k, k, 0}};
    return mw_graph_emit(g, MW_OP_UPSAMPLE, &x, 1, 4, shape, at);
}

int mw_max_pool(mw_graph *g, int x, int k, int stride, int padding) {
    if (!mw_graph_check_inputs(g, "max_pool", &x, 1) || !check_maps(g, "max_pool", x)) return -1;
    const int64_t *s = mw_t(g, x)->shape;
    /* PyTorch's own limits: every window then holds at least one value of the map */
    if (k < 1 || stride < 1 || padding < 0 || 2 * padding > k || s[2] + 2 * padding < k ||
        s[3] + 2 * padding < k || s[2] * s[3] >= (1 << 24))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "max_pool: a %d x %d window, stride %d, padding %d does not fit the "
                             "%lld x %lld maps of %s",
                             k, k, stride, padding, (long long)s[2], (long long)s[3],
                             mw_t(g, x)->name);
    int64_t shape[4] = {s[0], s[1], (s[2] + 2 * padding - k) / stride + 1,
                        (s[3] + 2 * padding - k) / stride + 1};
    /* the argmax, a position within the input plane, is exact as a float below 2^24 */
    int out[2] = {mw_new_output(g, MW_OP_MAX_POOL, NULL, 4, shape),
                  mw_new_output(g, MW_OP_MAX_POOL, "argmax", 4, shape)};
    if (out[0] < 0 || out[1] < 0) return -1;
    mw_node_attr at = {.pool = {k, stride, padding}};
    if (mw_graph_add_node(g, MW_OP_MAX_POOL, &x, 1, out, 2, at) < 0) return -1;
    return out[0];
}

int mw_scale_channels(mw_graph *g, int x, int s) {
    int in[2] = {x, s};
    if (!mw_graph_check_inputs(g, "scale_channels", in, 2) || !check_maps(g, "scale_channels", x) ||
        !check_maps(g, "scale_channels", s))
        return -1;
    const int64_t *xs = mw_t(g, x)->shape, *ss = mw_t(g, s)->shape;
    if (ss[0] != xs[0] || ss[1] != xs[1] || ss[2] != 1 || ss[3] != 1)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "scale_channels: scales %s must be [%lld, %lld, 1, 1] for maps %s",
                             mw_t(g, s)->name, (long long)xs[0], (long long)xs[1],
                             mw_t(g, x)->name);
    return mw_graph_emit(g, MW_OP_SCALE_CHANNELS, in, 2, 4, xs, (mw_node_attr){0});
}

/* ---- backward ---- */

static void avg_pool_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                              int *gin) {
    gin[0] =
        mw_graph_emit(g, MW_OP_AVG_POOL_BWD, &gout[0], 1, 4, mw_t(g, n->in[0])->shape, n->attr);
}

/* The sum over each k x k block: avg_pool's kernels with window weight 1. */
static void upsample_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                              int *gin) {
    gin[0] =
        mw_graph_emit(g, MW_OP_UPSAMPLE_BWD, &gout[0], 1, 4, mw_t(g, n->in[0])->shape, n->attr);
}

static void max_pool_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                              int *gin) {
    if (gout[0] < 0) return; /* the argmax carries no gradient */
    int in[2] = {gout[0], n->out[1]};
    gin[0] = mw_graph_emit(g, MW_OP_MAX_POOL_BWD, in, 2, 4, mw_t(g, n->in[0])->shape, n->attr);
}

/* One node gives both gradients: gx = gy · s and gs = Σ_hw gy · x. */
static void scale_channels_backward(mw_graph *g, const mw_node *n, const int *gout,
                                    const bool *need, int *gin) {
    int in[3] = {gout[0], n->in[0], n->in[1]};
    int out[2];
    out[0] = mw_new_output(g, MW_OP_SCALE_CHANNELS_BWD, "gx", 4, mw_t(g, n->in[0])->shape);
    out[1] = mw_new_output(g, MW_OP_SCALE_CHANNELS_BWD, "gs", 4, mw_t(g, n->in[1])->shape);
    if (out[0] < 0 || out[1] < 0) return;
    if (mw_graph_add_node(g, MW_OP_SCALE_CHANNELS_BWD, in, 3, out, 2, (mw_node_attr){0}) < 0)
        return;
    gin[0] = out[0];
    gin[1] = out[1];
}

/* ---- both backends ---- */

/* Planes, height, width of maps tensor t. */
static void map_dims(const mw_graph *g, int t, size_t *planes, size_t *height, size_t *width) {
    const int64_t *s = mw_t(g, t)->shape;
    *planes = (size_t)(s[0] * s[1]);
    *height = (size_t)s[2];
    *width = (size_t)s[3];
}

/* The weight of a window's values: avg_pool and its backward average, nearest upsampling
 * and its backward (the same two kernels, read the other way round) copy and sum. */
static double window_weight(const mw_node *n) {
    double k = n->attr.pool.k;
    return n->op == MW_OP_AVG_POOL || n->op == MW_OP_AVG_POOL_BWD ? 1.0 / (k * k) : 1.0;
}

/* in[0] k x k windows -> out[0] one value each (avg_pool, upsample_bwd): one item per band. */
static mw_status pool_windows_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t planes, h, w, k = (size_t)n->attr.pool.k;
    map_dims(c->g, n->in[0], &planes, &h, &w);
    return mw_launch(c, "pool", "avg_pool_f32", planes * (h / k), "mmuuuuf", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), (unsigned)planes, (unsigned)h, (unsigned)w, (unsigned)k,
                     window_weight(n));
}

/* in[0] one value a window -> out[0] k x k windows (avg_pool_bwd, upsample). */
static mw_status spread_windows_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t planes, h, w, k = (size_t)n->attr.pool.k;
    map_dims(c->g, n->out[0], &planes, &h, &w);
    return mw_launch(c, "pool", "avg_pool_bwd_f32", planes * (h / k), "mmuuuuf",
                     mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)planes, (unsigned)h,
                     (unsigned)w, (unsigned)k, window_weight(n));
}

/* One work-item per output row forward, per plane backward (which scatters each output's
 * gradient to its chosen input: one item per plane, so no two items write one value). */
static mw_status max_pool_launch(mw_cl_ctx *c, const mw_node *n, const char *kernel, int maps,
                                 size_t rows_per_plane, cl_mem a, cl_mem b, cl_mem out) {
    size_t planes, h, w;
    map_dims(c->g, maps, &planes, &h, &w);
    const mw_node_attr *at = &n->attr;
    return mw_launch(c, "pool", kernel, rows_per_plane * planes, "mmmuuuuuu", a, b, out,
                     (unsigned)planes, (unsigned)h, (unsigned)w, (unsigned)at->pool.k,
                     (unsigned)at->pool.stride, (unsigned)at->pool.padding);
}

/* 0 sends the 3 x 3 stride-1 windows to the window scan as well (tests/test_pool.c checks
 * both kernels on the same cases). */
int mw_pool_separable = 1;

/* x -> y, argmax: one item per output row, or for 3 x 3 windows at stride 1 and padding 1
 * one item per plane and 16 columns (max_pool3_s1_f32). */
static mw_status max_pool_cl(mw_cl_ctx *c, const mw_node *n) {
    const mw_node_attr *at = &n->attr;
    if (mw_pool_separable && at->pool.k == 3 && at->pool.stride == 1 && at->pool.padding == 1) {
        size_t planes, h, w;
        map_dims(c->g, n->in[0], &planes, &h, &w);
        return mw_launch(c, "pool", "max_pool3_s1_f32", planes * ((w + 15) / 16), "mmmuuu",
                         mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), mw_mem(c, n->out[1]),
                         (unsigned)planes, (unsigned)h, (unsigned)w);
    }
    size_t oh = (size_t)mw_t(c->g, n->out[0])->shape[2];
    return max_pool_launch(c, n, "max_pool_f32", n->in[0], oh, mw_mem(c, n->in[0]),
                           mw_mem(c, n->out[0]), mw_mem(c, n->out[1]));
}

/* gy, argmax -> gx: one item per plane */
static mw_status max_pool_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    return max_pool_launch(c, n, "max_pool_bwd_f32", n->out[0], 1, mw_mem(c, n->in[0]),
                           mw_mem(c, n->in[1]), mw_mem(c, n->out[0]));
}

static mw_status scale_channels_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->in[0], &planes, &h, &w);
    return mw_launch_groups(c, "pool", "scale_channels_f32", planes,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmmuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->out[0]), (unsigned)planes,
                     (unsigned)(h * w));
}

static mw_status scale_channels_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->in[1], &planes, &h, &w);
    return mw_launch_groups(c, "pool", "scale_channels_bwd_f32", planes,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmmmmuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->in[1]), mw_mem(c, n->in[2]), mw_mem(c, n->out[0]),
                     mw_mem(c, n->out[1]), (unsigned)planes, (unsigned)(h * w));
}

static mw_status pool_windows_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->in[0], &planes, &h, &w);
    mw_ref_avg_pool(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), planes, h, w,
                    (size_t)n->attr.pool.k, window_weight(n));
    return MW_OK;
}

static mw_status spread_windows_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->out[0], &planes, &h, &w);
    mw_ref_avg_pool_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), planes, h, w,
                        (size_t)n->attr.pool.k, window_weight(n));
    return MW_OK;
}

static mw_status max_pool_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->in[0], &planes, &h, &w);
    const mw_node_attr *a = &n->attr;
    mw_ref_max_pool(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), mw_host_f32(c, n->out[1]),
                    planes, h, w, (size_t)a->pool.k, (size_t)a->pool.stride,
                    (size_t)a->pool.padding);
    return MW_OK;
}

static mw_status max_pool_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->out[0], &planes, &h, &w);
    const mw_node_attr *a = &n->attr;
    mw_ref_max_pool_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                        mw_host_f32(c, n->out[0]), planes, h, w, (size_t)a->pool.k,
                        (size_t)a->pool.stride, (size_t)a->pool.padding);
    return MW_OK;
}

static mw_status scale_channels_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->in[0], &planes, &h, &w);
    mw_ref_scale_channels(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                          mw_host_f32(c, n->out[0]), planes, h * w);
    return MW_OK;
}

static mw_status scale_channels_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t planes, h, w;
    map_dims(c->g, n->in[1], &planes, &h, &w);
    mw_ref_scale_channels_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                              mw_host_f32(c, n->in[2]), mw_host_f32(c, n->out[0]),
                              mw_host_f32(c, n->out[1]), planes, h * w);
    return MW_OK;
}

const mw_op_def mw_op_def_avg_pool = {
    .run_cl = pool_windows_cl, .run_cpu = pool_windows_cpu, .backward = avg_pool_backward};
const mw_op_def mw_op_def_avg_pool_bwd = {.run_cl = spread_windows_cl,
                                          .run_cpu = spread_windows_cpu};
const mw_op_def mw_op_def_upsample = {
    .run_cl = spread_windows_cl, .run_cpu = spread_windows_cpu, .backward = upsample_backward};
const mw_op_def mw_op_def_upsample_bwd = {.run_cl = pool_windows_cl, .run_cpu = pool_windows_cpu};
const mw_op_def mw_op_def_scale_channels = {.run_cl = scale_channels_cl,
                                            .run_cpu = scale_channels_cpu,
                                            .backward = scale_channels_backward};
const mw_op_def mw_op_def_scale_channels_bwd = {.run_cl = scale_channels_bwd_cl,
                                                .run_cpu = scale_channels_bwd_cpu};
const mw_op_def mw_op_def_max_pool = {
    .run_cl = max_pool_cl, .run_cpu = max_pool_cpu, .backward = max_pool_backward};
const mw_op_def mw_op_def_max_pool_bwd = {.run_cl = max_pool_bwd_cl, .run_cpu = max_pool_bwd_cpu};
