/* Layout changes: images [N, C, H, W] <-> channel-major maps [C, N, H, W], pooled maps
 * [C, N, 1, 1] <-> rows [N, C], and ShuffleNet's channel shuffle (maps [g, C/g, N·H·W] ->
 * [C/g, g, N·H·W]). Each is a swap of the two leading dimensions of some [A, B, plane], so
 * the five ops share one kernel and one reference; each op's backward is its inverse. */
#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"

void mw_ref_swap_leading(const float *in, float *out, size_t a_dim, size_t b_dim, size_t plane) {
    for (size_t a = 0; a < a_dim; a++)
        for (size_t b = 0; b < b_dim; b++)
            for (size_t p = 0; p < plane; p++)
                out[(b * a_dim + a) * plane + p] = in[(a * b_dim + b) * plane + p];
}

/* Emits `op` on x, read as [A, B, plane] with A, B its first two dimensions, giving a tensor
 * of shape `shape`. */
static int emit_swap(mw_graph *g, mw_op op, int x, int ndim, const int64_t *shape) {
    return mw_graph_emit(g, op, &x, 1, ndim, shape, (mw_node_attr){0});
}

static bool check_f32(mw_graph *g, const char *op, int x, int ndim) {
    if (!mw_graph_check_inputs(g, op, &x, 1)) return false;
    const mw_tensor *t = mw_t(g, x);
    if (t->ndim != ndim || t->dtype != MW_F32) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: %s must be a %d-D float32 tensor", op, t->name,
                      ndim);
        return false;
    }
    return true;
}

int mw_images_to_maps(mw_graph *g, int images) {
    if (!check_f32(g, "images_to_maps", images, 4)) return -1;
    const int64_t *s = mw_t(g, images)->shape;
    int64_t shape[4] = {s[1], s[0], s[2], s[3]};
    return emit_swap(g, MW_OP_IMAGES_TO_MAPS, images, 4, shape);
}

int mw_maps_to_rows(mw_graph *g, int maps) {
    if (!check_f32(g, "maps_to_rows", maps, 4)) return -1;
    const int64_t *s = mw_t(g, maps)->shape;
    if (s[2] != 1 || s[3] != 1)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "maps_to_rows: %s is %lldx%lld per map; pool it to 1x1 first",
                             mw_t(g, maps)->name, (long long)s[2], (long long)s[3]);
    int64_t shape[2] = {s[1], s[0]};
    return emit_swap(g, MW_OP_MAPS_TO_ROWS, maps, 2, shape);
}

int mw_channel_shuffle(mw_graph *g, int x, int groups) {
    if (!check_f32(g, "channel_shuffle", x, 4)) return -1;
    const mw_tensor *t = mw_t(g, x);
    if (groups < 1 || t->shape[0] % groups != 0)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "channel_shuffle: %d groups do not divide the %lld channels of %s",
                             groups, (long long)t->shape[0], t->name);
    mw_node_attr at = {.shuffle = {groups}};
    return mw_graph_emit(g, MW_OP_CHANNEL_SHUFFLE, &x, 1, 4, t->shape, at);
}

/* Each op's backward is its inverse, whose output has the forward input's shape. The
 * inverse of a shuffle in g groups is the shuffle in C/g groups. */
static void swap_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                          int *gin) {
    if (n->op == MW_OP_CHANNEL_SHUFFLE) {
        mw_node_attr at = {.shuffle = {(int)mw_t(g, n->in[0])->shape[0] / n->attr.shuffle.groups}};
        gin[0] =
            mw_graph_emit(g, MW_OP_CHANNEL_SHUFFLE, &gout[0], 1, 4, mw_t(g, n->in[0])->shape, at);
        return;
    }
    mw_op inverse = n->op == MW_OP_IMAGES_TO_MAPS   ? MW_OP_MAPS_TO_IMAGES
                    : n->op == MW_OP_MAPS_TO_IMAGES ? MW_OP_IMAGES_TO_MAPS
                    : n->op == MW_OP_MAPS_TO_ROWS   ? MW_OP_ROWS_TO_MAPS
                                                    : MW_OP_MAPS_TO_ROWS;
    gin[0] = emit_swap(g, inverse, gout[0], mw_t(g, n->in[0])->ndim, mw_t(g, n->in[0])->shape);
}

/* Every op reads its input as [A, B, plane]: A, B the input's first two dimensions, or for
 * the shuffle the groups and the channels per group. */
static void swap_dims(const mw_graph *g, const mw_node *n, size_t *a, size_t *b, size_t *plane) {
    const mw_tensor *t = mw_t(g, n->in[0]);
    *a = (size_t)t->shape[0];
    *b = (size_t)t->shape[1];
    if (n->op == MW_OP_CHANNEL_SHUFFLE) {
        *a = (size_t)n->attr.shuffle.groups;
        *b = (size_t)t->shape[0] / *a;
    }
    *plane = t->numel / (*a * *b);
}

static mw_status swap_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t a, b, plane;
    swap_dims(c->g, n, &a, &b, &plane);
    return mw_launch(c, "layout", "swap_leading_f32", a * b, "mmuuu", mw_mem(c, n->in[0]),
                     mw_mem(c, n->out[0]), (unsigned)a, (unsigned)b, (unsigned)plane);
}

static mw_status swap_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t a, b, plane;
    swap_dims(c->g, n, &a, &b, &plane);
    mw_ref_swap_leading(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), a, b, plane);
    return MW_OK;
}

const mw_op_def mw_op_def_images_to_maps = {
    .run_cl = swap_cl, .run_cpu = swap_cpu, .backward = swap_backward};
const mw_op_def mw_op_def_maps_to_images = {
    .run_cl = swap_cl, .run_cpu = swap_cpu, .backward = swap_backward};
const mw_op_def mw_op_def_maps_to_rows = {
    .run_cl = swap_cl, .run_cpu = swap_cpu, .backward = swap_backward};
const mw_op_def mw_op_def_rows_to_maps = {
    .run_cl = swap_cl, .run_cpu = swap_cpu, .backward = swap_backward};
const mw_op_def mw_op_def_channel_shuffle = {
    .run_cl = swap_cl, .run_cpu = swap_cpu, .backward = swap_backward};
