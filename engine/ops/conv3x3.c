/* The direct 3x3 convolution's launches (kernels and their layout: cl/conv3x3.cl).
 *
 * Forward and input gradient are the same kernel: the input gradient of a 3x3 stride-1
 * padding-1 convolution is the convolution of the output gradient with the taps reversed
 * and the channel roles swapped, which the weight packing expresses (stride 2's input
 * gradient stays with im2col: spreading the gradient out to every other pixel costs four
 * times the work, measured 1.0-2.9x slower than col2im). Each pass copies its input map into padded planes (or their four
 * phases, stride 2) first: one pass over the map, where im2col writes nine, a chunk of
 * images at a time so that the copy stays under the workspace cap. The weight gradient sums
 * per slice of images into partial sums that gemm.cl's gemm_reduce adds up. */
#include "ops/conv3x3.h"

#include <stdio.h>

#include "runtime/internal.h"
#include "runtime/kernel_defines.h"

enum {
    /* Zero floats after the last padded plane: the last vector loads' overrun (up to one
     * forward block, 31 floats for the weight gradient). */
    SLACK = 16 * MW_C3_PX_VECTORS + 32,
    /* Weight gradient: images per slice such that the slice's output-gradient planes of one
     * block of channels (what consecutive work-items share) take about this many bytes,
     * L2-sized. */
    SLICE_BYTES = 256 << 10,
    /* ... and at most this many floats of partial sums (more slices, fewer images each). */
    PARTIAL_CAP_FLOATS = 4 << 20,
};

static size_t ceil_div(size_t a, size_t b) {
    return (a + b - 1) / b;
}

/* The weight-gradient kernels' block of output channels (cl/conv3x3_weight.clh): 8, or 6
 * where that computes fewer rows (DenseNet's 12 channels: 12 rows, not 16); on devices whose
 * register block is smaller (co_block, MW_BLOCK_ROWS: 2 with AVX2, where 8 rows of three
 * float16 sums take 48 of 16 vector registers), that block. */
static size_t weight_rows(const mw_conv3x3_shape *s) {
    if (s->co_block < 6) return s->co_block;
    return ceil_div(s->cout, 6) * 6 < ceil_div(s->cout, 8) * 8 ? 6 : 8;
}

/* The name of the weight-gradient kernel `base` (conv3x3_weight or conv3x3_bm_weight) for
 * blocks of `rows` output channels, into name[32]. */
static const char *weight_kernel(char name[32], const char *base, size_t rows) {
    snprintf(name, 32, "%s%zu", base, rows);
    return name;
}

/* The geometry of the padded input a kernel reads, and of its outputs' padded-width rows. */
typedef struct geometry {
    size_t ho, wo; /* outputs */
    size_t group;  /* images side by side in a padded plane (stride 1; 1 at stride 2) */
    size_t wp;     /* row width of the padded planes (phases) and of the outputs' rows */
    size_t pp;     /* floats per phase plane (stride 2), 0 for stride 1 */
    size_t ps;     /* floats per padded plane (all four phases) */
} geometry;

/* The padded input of a stride-1 pass with `group` images side by side (cl/conv3x3.cl), or
 * of a stride-2 pass. */
static geometry geometry_of(const mw_conv3x3_shape *s, size_t stride, size_t group) {
    geometry g = {.ho = (s->h - 1) / stride + 1, .wo = (s->w - 1) / stride + 1, .group = 1};
    if (stride == 1) {
        g.group = group;
        g.wp = group * (s->w + 1) + 1;
        g.ps = (s->h + 2) * g.wp;
        return g;
    }
    g.wp = (s->w + 3) / 2;
    g.pp = (s->h + 3) / 2 * g.wp;
    g.ps = 4 * g.pp;
    return g;
}

/* Where a node's pieces lie in the workspace (floats), and how the batch is split. */
typedef struct plan {
    geometry g;
    size_t lq;          /* weight gradient: floats per output-gradient plane in rows of wp */
    size_t cn;          /* images per chunk */
    size_t second_off;  /* packed weights (forward, input gradient) or gradient rows */
    size_t partial_off; /* weight gradient: partial sums per slice */
    size_t ips, slices; /* weight gradient: images per slice, slices of a whole chunk */
    size_t total;
} plan;

/* Images side by side in the forward's padded planes: going up from 1 to MAX_GROUP (and at
 * most n), a larger group replaces the best so far where it computes at least 5% fewer
 * vector lanes per image. Maps of 16x16 and more keep 1 (32x32: 94% of the lanes are
 * results alone, at most 97% in groups); 8x8 maps go from 67% to 86% in groups of 3, 4x4
 * maps from 50% to 75%, also in groups of 3. */
enum { MAX_GROUP = 8 };

static size_t group_of(const mw_conv3x3_shape *s) {
    size_t best = 1, best_lanes = 0, px = 16 * MW_C3_PX_VECTORS;
    for (size_t g = 1; g <= MAX_GROUP && g <= s->n; g++) {
        size_t lanes = ceil_div(s->h * (g * (s->w + 1) + 1), px) * px; /* per plane */
        if (g == 1 || lanes * best * 20 < best_lanes * g * 19) best = g, best_lanes = lanes;
    }
    return best;
}

static plan plan_of(const mw_conv3x3_shape *s, mw_op op, size_t cap) {
    plan p = {0};
    bool weight = op == MW_OP_CONV2D_BWD_WEIGHT, grad = op == MW_OP_CONV2D_BWD_INPUT;
    /* the weight gradient's padded rows stay one image per plane */
    size_t group = weight || s->stride != 1 ? 1 : group_of(s);
    size_t src_ch = grad ? s->cout : s->cin;
    p.g = geometry_of(s, s->stride, group);
    if (group > 1 && cap / (src_ch * p.g.ps) < 1) /* not even one group fits: single images */
        p.g = geometry_of(s, s->stride, group = 1);
    p.lq = ceil_div(p.g.ho * p.g.wp, 16) * 16;
    size_t per_group = src_ch * p.g.ps + (weight ? s->cout * p.lq : 0);
    p.cn = cap / per_group * group; /* whole groups per chunk */
    if (p.cn < 1) p.cn = 1;
    if (p.cn > s->n) p.cn = s->n;
    p.second_off = src_ch * ceil_div(p.cn, group) * p.g.ps + SLACK;
    if (!weight) {
        size_t out = grad ? s->cin : s->cout, in = src_ch;
        p.total = p.second_off + ceil_div(out, s->co_block) * s->co_block * in * 9;
        return p;
    }
    size_t per_slice = s->cout * s->cin * 9, max_slices = PARTIAL_CAP_FLOATS / per_slice;
    p.ips = SLICE_BYTES / (weight_rows(s) * p.lq * sizeof(float));
    if (p.ips < 1) p.ips = 1;
    p.slices = ceil_div(p.cn, p.ips);
    if (max_slices < 1) max_slices = 1;
    if (p.slices > max_slices) {
        p.ips = ceil_div(p.cn, max_slices);
        p.slices = ceil_div(p.cn, p.ips);
    }
    p.partial_off = p.second_off + s->cout * p.cn * p.lq;
    p.total = p.partial_off + p.slices * per_slice;
    return p;
}

/* Work-items in groups of one: PoCL runs a group's items as a loop that keeps their
 * registers in memory (see the depthwise split in conv.c); these kernels only run where
 * that is the device. */
static mw_launch_spec items_of(const char *kernel, int dims, size_t g0, size_t g1, size_t g2) {
    return (mw_launch_spec){.family = "conv3x3",
                            .kernel = kernel,
                            .kind = MW_RANGE_ITEMS,
                            .dims = dims,
                            .global = {g0, g1, g2},
                            .local = {1, 1, 1}};
}

/* The input map of a kernel, images n0 .. n0+cn-1 of src [channels, n, h, w], into the
 * workspace at 0: padded by one on every side (stride 1) or in its four padded phases
 * (stride 2), with SLACK zeros after the last plane. */
static mw_status pad_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, const plan *p, cl_mem src,
                           size_t channels, size_t n0, size_t cn) {
    if (p->g.pp) {
        size_t hh = p->g.pp / p->g.wp, items = channels * cn * 4 * hh;
        return mw_launch_kernel(c, items_of("pad_phases", 1, items, 1, 1), "mmuuuuuuuuuu", src,
                                c->workspace, 0u, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
                                (unsigned)s->h, (unsigned)s->w, (unsigned)hh, (unsigned)p->g.wp,
                                (unsigned)SLACK, (unsigned)items);
    }
    size_t dh = s->h + 2, items = channels * ceil_div(cn, p->g.group) * dh;
    return mw_launch_kernel(c, items_of("pad_planes", 1, items, 1, 1), "mmuuuuuuuuuuuuuu", src,
                            c->workspace, 0u, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
                            (unsigned)p->g.group, (unsigned)s->h, (unsigned)s->w, 1u, 1u,
                            (unsigned)dh,
                            (unsigned)p->g.wp, (unsigned)p->g.ps, (unsigned)SLACK,
                            (unsigned)items);
}

/* The output gradient gy [cout, n, ho, wo] of images n0 .. n0+cn-1 as rows of wp with zeros
 * in the columns past wo, planes of lq floats, at `off`. */
static mw_status gradient_rows(mw_cl_ctx *c, const mw_conv3x3_shape *s, const plan *p,
                               cl_mem gy, size_t n0, size_t cn, size_t off) {
    size_t items = s->cout * cn * p->g.ho;
    return mw_launch_kernel(c, items_of("pad_planes", 1, items, 1, 1), "mmuuuuuuuuuuuuuu", gy,
                            c->workspace, (unsigned)off, (unsigned)s->n, (unsigned)n0,
                            (unsigned)cn, 1u, (unsigned)p->g.ho, (unsigned)p->g.wo, 0u, 0u,
                            (unsigned)p->g.ho, (unsigned)p->g.wp, (unsigned)p->lq, 0u,
                            (unsigned)items);
}

/* The weights in blocks of `block` output channels at `off` (conv3x3_pack_weights): the
 * forward's as they are, the input gradient's with the taps reversed and channels swapped. */
static mw_status pack_weights(mw_cl_ctx *c, const mw_conv3x3_shape *s, mw_op op, size_t block,
                              cl_mem w, size_t off) {
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    size_t in = grad ? s->cout : s->cin, out = grad ? s->cin : s->cout;
    size_t so = grad ? 9 : s->cin * 9, si = grad ? s->cin * 9 : 9;
    size_t packed = ceil_div(out, block) * block * in * 9;
    return mw_launch_kernel(c, items_of("conv3x3_pack_weights", 1, packed, 1, 1), "mmuuuuuuuu", w,
                            c->workspace, (unsigned)off, (unsigned)block, (unsigned)out,
                            (unsigned)in, (unsigned)so, (unsigned)si, (unsigned)grad,
                            (unsigned)packed);
}

/* y (+)= the convolution of src with w: the forward (src = x) or the input gradient
 * (src = gy, the taps reversed and channels swapped). */
static mw_status direct(mw_cl_ctx *c, const mw_conv3x3_shape *s, mw_op op, size_t cap,
                        cl_mem src, cl_mem w, cl_mem y, bool accumulate) {
    plan p = plan_of(s, op, cap);
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    size_t in = grad ? s->cout : s->cin, out = grad ? s->cin : s->cout;
    MW_TRY(pack_weights(c, s, op, s->co_block, w, p.second_off));
    size_t per_plane = ceil_div(p.g.ho * p.g.wp, 16 * MW_C3_PX_VECTORS);
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, planes = ceil_div(cn, p.g.group);
        MW_TRY(pad_input(c, s, &p, src, in, n0, cn));
        MW_TRY(mw_launch_kernel(
            c, items_of("conv3x3_forward", 2, ceil_div(out, s->co_block), planes * per_plane, 1),
            "mumumuuuuuuuuuuuu", c->workspace, 0u, c->workspace, (unsigned)p.second_off, y,
            (unsigned)in, (unsigned)out, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
            (unsigned)p.g.group, (unsigned)p.g.ho, (unsigned)p.g.wo, (unsigned)p.g.wp,
            (unsigned)p.g.ps, (unsigned)p.g.pp, (unsigned)accumulate));
    }
    return MW_OK;
}

/* gw (+)= the sum over `slices` partial weight gradients at `off` (gemm.cl's gemm_reduce). */
static mw_status reduce_partials(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t off,
                                 size_t slices, cl_mem gw, bool accumulate) {
    size_t m = s->cout, cols = s->cin * 9;
    return mw_launch(c, "gemm", "gemm_reduce", m * cols, "muumuuuuu", c->workspace,
                     (unsigned)off, (unsigned)slices, gw, 0u, (unsigned)cols, (unsigned)m,
                     (unsigned)cols, (unsigned)accumulate);
}

/* ---- batch-major (cl/conv3x3.cl's second half) ---------------------------------------- */

/* Images per work-item of the batch-major forward: the padded batch is a multiple. */
enum { BM_IMAGES = 16 * MW_C3_BM_VECTORS };

/* Where a batch-major pass's pieces lie in the workspace (floats). */
typedef struct bm_plan {
    size_t hs, ws;      /* the source map's size (padded by one in the copy) */
    size_t ho, wo;      /* the pass's outputs */
    size_t block;       /* images per work-item: the batch is padded to a multiple */
    size_t cn, nb;      /* images per chunk, and the padded length of its image runs */
    size_t second_off;  /* packed weights, or the weight gradient's batch-major gradient */
    size_t partial_off; /* weight gradient: partial sums per slice of output pixels */
    size_t pps, slices; /* weight gradient: output pixels per slice, slices */
    size_t total;
} bm_plan;

static bm_plan bm_plan_of(const mw_conv3x3_shape *s, mw_op op, size_t cap) {
    bm_plan p = {0};
    bool weight = op == MW_OP_CONV2D_BWD_WEIGHT, grad = op == MW_OP_CONV2D_BWD_INPUT;
    size_t ho = (s->h - 1) / s->stride + 1, wo = (s->w - 1) / s->stride + 1;
    p.hs = grad ? ho : s->h; /* the input gradient reads the output gradient */
    p.ws = grad ? wo : s->w;
    p.ho = grad ? s->h : ho;
    p.wo = grad ? s->w : wo;
    size_t src_ch = grad ? s->cout : s->cin, padded = (p.hs + 2) * (p.ws + 2);
    size_t per_image = src_ch * padded + (weight ? s->cout * ho * wo : 0);
    /* the weight gradient works on vectors of 16 images: a memory set of 100 pads to 112,
     * where the forward's blocks of BM_IMAGES would take 128 */
    p.block = weight ? 16 : BM_IMAGES;
    p.cn = cap / per_image;
    if (p.cn >= s->n) p.cn = s->n;
    else if (p.cn >= p.block) p.cn -= p.cn % p.block; /* whole blocks but in the last chunk */
    if (p.cn < 1) p.cn = 1;
    p.nb = ceil_div(p.cn, p.block) * p.block;
    p.second_off = src_ch * padded * p.nb;
    if (!weight) {
        size_t out = grad ? s->cin : s->cout;
        p.total = p.second_off + ceil_div(out, MW_C3_BM_CO_BLOCK) * MW_C3_BM_CO_BLOCK * src_ch * 9;
        return p;
    }
    size_t pixels = ho * wo, per_slice = s->cout * s->cin * 9;
    size_t max_slices = PARTIAL_CAP_FLOATS / per_slice;
    p.pps = SLICE_BYTES / (8 * p.nb * sizeof(float));
    if (p.pps < 1) p.pps = 1;
    p.slices = ceil_div(pixels, p.pps);
    if (max_slices < 1) max_slices = 1;
    if (p.slices > max_slices) {
        p.pps = ceil_div(pixels, max_slices);
        p.slices = ceil_div(pixels, p.pps);
    }
    p.partial_off = p.second_off + s->cout * pixels * p.nb;
    p.total = p.partial_off + p.slices * per_slice;
    return p;
}

/* Images n0 .. n0+cn-1 of src [channels, n, hs, ws] into the workspace at 0, batch-major
 * and padded by one, vectors of nb images. */
static mw_status bm_source(mw_cl_ctx *c, const mw_conv3x3_shape *s, const bm_plan *p,
                           cl_mem src, size_t channels, size_t n0, size_t cn, size_t nb) {
    size_t items = channels * (p->hs + 2) * (p->ws + 2);
    return mw_launch_kernel(c, items_of("to_batch_major", 1, items, 1, 1), "mmuuuuuuuu", src,
                            c->workspace, 0u, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
                            (unsigned)nb, (unsigned)p->hs, (unsigned)p->ws, (unsigned)items);
}

static mw_status bm_direct(mw_cl_ctx *c, const mw_conv3x3_shape *s, mw_op op, size_t cap,
                           cl_mem src, cl_mem w, cl_mem y, bool accumulate) {
    bm_plan p = bm_plan_of(s, op, cap);
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    size_t in = grad ? s->cout : s->cin, out = grad ? s->cin : s->cout;
    unsigned transposed = grad && s->stride == 2, stride = grad ? 1 : (unsigned)s->stride;
    MW_TRY(pack_weights(c, s, op, MW_C3_BM_CO_BLOCK, w, p.second_off));
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, nb = ceil_div(cn, p.block) * p.block;
        MW_TRY(bm_source(c, s, &p, src, in, n0, cn, nb));
        MW_TRY(mw_launch_kernel(
            c,
            items_of("conv3x3_bm_forward", 3, ceil_div(out, MW_C3_BM_CO_BLOCK), p.ho * p.wo,
                     nb / p.block),
            "mumumuuuuuuuuuuuuu", c->workspace, 0u, c->workspace, (unsigned)p.second_off, y,
            (unsigned)in, (unsigned)out, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
            (unsigned)nb, (unsigned)p.ho, (unsigned)p.wo, (unsigned)p.hs, (unsigned)p.ws, stride,
            transposed, (unsigned)accumulate));
    }
    return MW_OK;
}

static mw_status bm_weight(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap, cl_mem gy,
                           cl_mem x, cl_mem gw) {
    bm_plan p = bm_plan_of(s, MW_OP_CONV2D_BWD_WEIGHT, cap);
    size_t pixels = p.ho * p.wo;
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, nb = ceil_div(cn, p.block) * p.block;
        MW_TRY(bm_source(c, s, &p, x, s->cin, n0, cn, nb));
        size_t items = s->cout * pixels;
        MW_TRY(mw_launch_kernel(c, items_of("gradient_batch_major", 1, items, 1, 1),
                                "mmuuuuuuu", gy, c->workspace, (unsigned)p.second_off,
                                (unsigned)s->n, (unsigned)n0, (unsigned)cn, (unsigned)nb,
                                (unsigned)pixels, (unsigned)items));
        size_t rows = weight_rows(s);
        char name[32];
        MW_TRY(mw_launch_kernel(c,
                                items_of(weight_kernel(name, "conv3x3_bm_weight", rows), 3, s->cin,
                                         ceil_div(s->cout, rows) * 3, p.slices),
                                "mumumuuuuuuuuuu", c->workspace, (unsigned)p.second_off,
                                c->workspace, 0u, c->workspace, (unsigned)p.partial_off,
                                (unsigned)s->cin, (unsigned)s->cout, (unsigned)nb, (unsigned)p.ho,
                                (unsigned)p.wo, (unsigned)p.hs, (unsigned)p.ws, (unsigned)s->stride,
                                (unsigned)p.pps));
        MW_TRY(reduce_partials(c, s, p.partial_off, p.slices, gw, n0 > 0));
    }
    return MW_OK;
}

/* ---- the entry points ---------------------------------------------------------------- */

size_t mw_conv3x3_workspace_floats(const mw_conv3x3_shape *s, mw_op op, size_t cap_floats) {
    return s->batch_major ? bm_plan_of(s, op, cap_floats).total : plan_of(s, op, cap_floats).total;
}

mw_status mw_conv3x3_forward(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats, cl_mem x,
                             cl_mem w, cl_mem y, bool accumulate) {
    if (s->batch_major) return bm_direct(c, s, MW_OP_CONV2D, cap_floats, x, w, y, accumulate);
    return direct(c, s, MW_OP_CONV2D, cap_floats, x, w, y, accumulate);
}

mw_status mw_conv3x3_bwd_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                               cl_mem gy, cl_mem w, cl_mem gx) {
    if (s->batch_major) return bm_direct(c, s, MW_OP_CONV2D_BWD_INPUT, cap_floats, gy, w, gx, false);
    return direct(c, s, MW_OP_CONV2D_BWD_INPUT, cap_floats, gy, w, gx, false);
}

mw_status mw_conv3x3_bwd_weight(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                cl_mem gy, cl_mem x, cl_mem gw) {
    if (s->batch_major) return bm_weight(c, s, cap_floats, gy, x, gw);
    plan p = plan_of(s, MW_OP_CONV2D_BWD_WEIGHT, cap_floats);
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, slices = ceil_div(cn, p.ips);
        MW_TRY(pad_input(c, s, &p, x, s->cin, n0, cn));
        MW_TRY(gradient_rows(c, s, &p, gy, n0, cn, p.second_off));
        size_t rows = weight_rows(s);
        char name[32];
        MW_TRY(mw_launch_kernel(
            c,
            items_of(weight_kernel(name, "conv3x3_weight", rows), 3, s->cin,
                     ceil_div(s->cout, rows) * 3, slices),
            "mumumuuuuuuuuu", c->workspace, (unsigned)p.second_off, c->workspace, 0u, c->workspace,
            (unsigned)p.partial_off, (unsigned)s->cin, (unsigned)s->cout, (unsigned)cn,
            (unsigned)p.g.wp, (unsigned)p.g.ps, (unsigned)p.g.pp, (unsigned)p.lq, (unsigned)p.ips));
        MW_TRY(reduce_partials(c, s, p.partial_off, slices, gw, n0 > 0));
    }
    return MW_OK;
}
