/* Layout changes: images [N, C, H, W] <-> channel-major maps [C, N, H, W], pooled maps
 * [C, N, 1, 1] <-> rows [N, C], and ShuffleNet's channel shuffle. The first four are a swap
 * of the two leading dimensions of some [A, B, plane], sharing one kernel and one reference,
 * each op's backward its inverse. The shuffle (maps [g, C/g, N·H·W] -> [C/g, g, N·H·W])
 * takes the concatenation of one or two maps and gives one map or splits its result in two:
 * a ShuffleNetV2 unit's cat, shuffle and the next unit's split are one pass over the
 * channels instead of four copies, and its backward is the same op inverted. */
#include <stdio.h>
#include <string.h>

#include "memwrap/ops.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

void mw_ref_swap_leading(const float *in, float *out, size_t a_dim, size_t b_dim, size_t plane) {
    for (size_t a = 0; a < a_dim; a++)
        for (size_t b = 0; b < b_dim; b++)
            for (size_t p = 0; p < plane; p++)
                out[(b * a_dim + a) * plane + p] = in[(a * b_dim + b) * plane + p];
}

/* Output channels [start, start + count) of the shuffle of [in0; in1] (c0 channels from in0)
 * in `groups` groups of per_group channels: output channel j is input channel
 * (j % groups)·per_group + j / groups. Blocks of `block` values per channel. */
void mw_ref_shuffle_channels(const float *in0, const float *in1, size_t c0, float *out,
                             size_t start, size_t count, size_t groups, size_t per_group,
                             size_t block) {
    for (size_t o = 0; o < count; o++) {
        size_t j = start + o, src = (j % groups) * per_group + j / groups;
        const float *from = src < c0 ? in0 + src * block : in1 + (src - c0) * block;
        memcpy(out + o * block, from, block * sizeof *out);
    }
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

static int64_t channels_of(const mw_graph *g, int maps) {
    return mw_t(g, maps)->shape[0];
}

/* Emits the shuffle node: its inputs' channels joined, shuffled in `groups` groups and split
 * into the outputs' channel counts (all checked by the caller). */
static int emit_shuffle(mw_graph *g, const int *maps, int n_in, int groups,
                        const int64_t *out_channels, int n_out, int *out) {
    const int64_t *s = mw_t(g, maps[0])->shape;
    for (int k = 0; k < n_out; k++) {
        char name[MW_NAME_MAX];
        snprintf(name, sizeof name, "channel_shuffle:%d.%d", mw_graph_node_count(g), k);
        int64_t shape[4] = {out_channels[k], s[1], s[2], s[3]};
        out[k] = mw_graph_new_tensor(g, name, MW_F32, 4, shape);
        if (out[k] < 0) return -1;
    }
    mw_node_attr at = {.shuffle = {groups}};
    return mw_graph_add_node(g, MW_OP_CHANNEL_SHUFFLE, maps, n_in, out, n_out, at) < 0 ? -1 : 0;
}

int mw_channel_shuffle_split(mw_graph *g, const int *maps, int n_in, int groups,
                             const int *out_channels, int n_out, int *out) {
    if (n_in < 1 || n_in > 2 || n_out < 1 || n_out > 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "channel_shuffle: %d inputs and %d outputs given; it takes 1 or 2 "
                             "of each",
                             n_in, n_out);
    for (int j = 0; j < n_in; j++)
        if (!check_f32(g, "channel_shuffle", maps[j], 4)) return -1;
    const mw_tensor *first = mw_t(g, maps[0]);
    int64_t total = 0;
    for (int j = 0; j < n_in; j++) {
        const mw_tensor *t = mw_t(g, maps[j]);
        if (t->shape[1] != first->shape[1] || t->shape[2] != first->shape[2] ||
            t->shape[3] != first->shape[3])
            return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                                 "channel_shuffle: %s and %s must be maps with the same N, H "
                                 "and W",
                                 first->name, t->name);
        total += t->shape[0];
    }
    if (groups < 1 || total % groups != 0)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "channel_shuffle: %d groups do not divide the %lld channels of %s%s",
                             groups, (long long)total, first->name,
                             n_in > 1 ? " and the map after it" : "");
    int64_t counts[2], sum = 0;
    for (int k = 0; k < n_out; k++) {
        counts[k] = out_channels[k];
        sum += out_channels[k];
        if (out_channels[k] < 1) sum = -1;
    }
    if (sum != total)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "channel_shuffle: the outputs' channel counts must be positive and "
                             "add up to the %lld channels given",
                             (long long)total);
    return emit_shuffle(g, maps, n_in, groups, counts, n_out, out);
}

int mw_channel_shuffle(mw_graph *g, int x, int groups) {
    if (!check_f32(g, "channel_shuffle", x, 4)) return -1;
    int channels = (int)channels_of(g, x), out = -1;
    return mw_channel_shuffle_split(g, &x, 1, groups, &channels, 1, &out) < 0 ? -1 : out;
}

/* The inverse of a shuffle in g groups is the shuffle in C/g groups, from the outputs'
 * gradients (zeros for an output nothing read) to the inputs'. */
static void shuffle_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                             int *gin) {
    int seeds[2], grads[2];
    int64_t in_channels[2], total = 0;
    for (int k = 0; k < n->n_out; k++) {
        const mw_tensor *t = mw_t(g, n->out[k]);
        seeds[k] = gout[k] >= 0 ? gout[k]
                                : mw_graph_emit(g, MW_OP_FILL, NULL, 0, 4, t->shape,
                                                (mw_node_attr){.fill = {0.0f}});
        if (seeds[k] < 0) return;
        total += t->shape[0];
    }
    for (int j = 0; j < n->n_in; j++)
        in_channels[j] = channels_of(g, n->in[j]);
    if (emit_shuffle(g, seeds, n->n_out, (int)(total / n->attr.shuffle.groups), in_channels,
                     n->n_in, grads) < 0)
        return;
    for (int j = 0; j < n->n_in; j++)
        if (need[j]) gin[j] = grads[j];
}

/* Each swap's backward is its inverse, whose output has the forward input's shape. */
static void swap_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                          int *gin) {
    mw_op inverse = n->op == MW_OP_IMAGES_TO_MAPS   ? MW_OP_MAPS_TO_IMAGES
                    : n->op == MW_OP_MAPS_TO_IMAGES ? MW_OP_IMAGES_TO_MAPS
                    : n->op == MW_OP_MAPS_TO_ROWS   ? MW_OP_ROWS_TO_MAPS
                                                    : MW_OP_MAPS_TO_ROWS;
    gin[0] = emit_swap(g, inverse, gout[0], mw_t(g, n->in[0])->ndim, mw_t(g, n->in[0])->shape);
}

/* Every swap reads its input as [A, B, plane]: A, B the input's first two dimensions. */
static void swap_dims(const mw_graph *g, const mw_node *n, size_t *a, size_t *b, size_t *plane) {
    const mw_tensor *t = mw_t(g, n->in[0]);
    *a = (size_t)t->shape[0];
    *b = (size_t)t->shape[1];
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

/* The shuffle's geometry: the inputs read as one map of `total` channels (c0 of them in the
 * first), `block` values per channel; a second input pointer repeats the first when there is
 * one input. */
typedef struct shuffle_geometry {
    size_t c0, total, groups, per_group, block;
} shuffle_geometry;

static shuffle_geometry shuffle_geometry_of(const mw_graph *g, const mw_node *n) {
    const mw_tensor *t = mw_t(g, n->in[0]);
    shuffle_geometry s = {(size_t)t->shape[0], 0, (size_t)n->attr.shuffle.groups, 0,
                          (size_t)(t->numel / t->shape[0])};
    for (int j = 0; j < n->n_in; j++)
        s.total += (size_t)channels_of(g, n->in[j]);
    s.per_group = s.total / s.groups;
    return s;
}

/* One launch per output; each work-item copies a run of MW_COPY_RUN values. */
static mw_status shuffle_cl(mw_cl_ctx *c, const mw_node *n) {
    shuffle_geometry s = shuffle_geometry_of(c->g, n);
    cl_mem in1 = mw_mem(c, n->in[n->n_in - 1]);
    size_t start = 0;
    for (int k = 0; k < n->n_out; k++) {
        size_t count = (size_t)channels_of(c->g, n->out[k]);
        MW_TRY(mw_launch(c, "layout", "shuffle_channels_f32",
                         (count * s.block + MW_COPY_RUN - 1) / MW_COPY_RUN, "mmumuuuuu",
                         mw_mem(c, n->in[0]), in1, (unsigned)s.c0, mw_mem(c, n->out[k]),
                         (unsigned)start, (unsigned)count, (unsigned)s.groups,
                         (unsigned)s.per_group, (unsigned)s.block));
        start += count;
    }
    return MW_OK;
}

static mw_status shuffle_cpu(mw_cpu_ctx *c, const mw_node *n) {
    shuffle_geometry s = shuffle_geometry_of(c->g, n);
    size_t start = 0;
    for (int k = 0; k < n->n_out; k++) {
        size_t count = (size_t)channels_of(c->g, n->out[k]);
        mw_ref_shuffle_channels(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[n->n_in - 1]), s.c0,
                                mw_host_f32(c, n->out[k]), start, count, s.groups, s.per_group,
                                s.block);
        start += count;
    }
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
    .run_cl = shuffle_cl, .run_cpu = shuffle_cpu, .backward = shuffle_backward};
