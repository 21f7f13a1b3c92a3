/* The direct 3x3 convolution's launches (kernels and their layout: cl/conv3x3.cl).
 *
 * Forward and input gradient are the same kernel: the input gradient of a 3x3 stride-1
 * padding-1 convolution is the convolution of the output gradient with the taps reversed and
 * the channel roles swapped, which the weight packing expresses. Each pass copies its input
 * map into padded planes first (one pass over the map, where im2col writes nine), a chunk
 * of images at a time so that the copy stays under the workspace cap. The weight gradient
 * sums per slice of images into partial sums that conv.cl's gemm_reduce adds up. */
#include "ops/conv3x3.h"

#include "runtime/internal.h"
#include "runtime/kernel_defines.h"

enum {
    /* Zero floats after the last padded plane: the last vector loads' overrun (up to one
     * forward block, 31 floats for the weight gradient). */
    SLACK = 16 * MW_C3_PX_VECTORS + 32,
    /* Weight gradient: images per slice such that the slice's 8 output-gradient planes
     * (what consecutive work-items share) take about this many bytes, L2-sized. */
    SLICE_BYTES = 256 << 10,
    /* ... and at most this many floats of partial sums (more slices, fewer images each). */
    PARTIAL_CAP_FLOATS = 4 << 20,
};

/* Output channels rounded up to whole blocks of the forward kernel. */
static size_t round_block(size_t v) {
    return (v + MW_C3_CO_BLOCK - 1) / MW_C3_CO_BLOCK * MW_C3_CO_BLOCK;
}

static size_t ceil_div(size_t a, size_t b) {
    return (a + b - 1) / b;
}

/* Where a node's pieces lie in the workspace (floats), and how the batch is split. */
typedef struct plan {
    size_t wp, ps, lq;  /* padded row width, padded plane, padded-width gradient plane */
    size_t cn;          /* images per chunk */
    size_t second_off;  /* packed weights (forward, input gradient) or gradient rows */
    size_t partial_off; /* weight gradient: partial sums per slice */
    size_t ips, slices; /* weight gradient: images per slice, slices of a whole chunk */
    size_t total;
} plan;

static plan plan_of(const mw_conv3x3_shape *s, mw_op op, size_t cap) {
    plan p = {0};
    p.wp = s->w + 2;
    p.ps = (s->h + 2) * p.wp;
    p.lq = ceil_div(s->h * p.wp, 16) * 16;
    bool weight = op == MW_OP_CONV2D_BWD_WEIGHT;
    size_t src_ch = op == MW_OP_CONV2D_BWD_INPUT ? s->cout : s->cin;
    size_t per_image = src_ch * p.ps + (weight ? s->cout * p.lq : 0);
    p.cn = cap / per_image;
    if (p.cn < 1) p.cn = 1;
    if (p.cn > s->n) p.cn = s->n;
    p.second_off = src_ch * p.cn * p.ps + SLACK;
    if (!weight) {
        size_t out = op == MW_OP_CONV2D ? s->cout : s->cin, in = src_ch;
        p.total = p.second_off + round_block(out) * in * 9;
        return p;
    }
    size_t per_slice = s->cout * s->cin * 9, max_slices = PARTIAL_CAP_FLOATS / per_slice;
    p.ips = SLICE_BYTES / (8 * p.lq * sizeof(float));
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

size_t mw_conv3x3_workspace_floats(const mw_conv3x3_shape *s, mw_op op, size_t cap_floats) {
    return plan_of(s, op, cap_floats).total;
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

/* Planes of images n0 .. n0+cn-1 of map src [channels, n, h, w] into the workspace at `off`:
 * padded by one on every side (planes of ps floats, SLACK zeros after), or, for the output
 * gradient of the weight gradient, as rows of w + 2 with zeros in the last two columns
 * (planes of lq floats). */
static mw_status pad_chunk(mw_cl_ctx *c, const mw_conv3x3_shape *s, const plan *p, cl_mem src,
                           size_t channels, size_t n0, size_t cn, bool gradient_rows, size_t off) {
    unsigned top = gradient_rows ? 0 : 1, dh = (unsigned)(gradient_rows ? s->h : s->h + 2);
    size_t items = channels * cn * dh;
    return mw_launch_kernel(c, items_of("pad_planes", 1, items, 1, 1), "mmuuuuuuuuuuuuu", src,
                            c->workspace, (unsigned)off, (unsigned)s->n, (unsigned)n0,
                            (unsigned)cn, (unsigned)s->h, (unsigned)s->w, top, top, dh,
                            (unsigned)p->wp, (unsigned)(gradient_rows ? p->lq : p->ps),
                            gradient_rows ? 0u : (unsigned)SLACK, (unsigned)items);
}

/* y (+)= the convolution of src with w: the forward (src = x) or the input gradient
 * (src = gy, the taps reversed and channels swapped). */
static mw_status direct(mw_cl_ctx *c, const mw_conv3x3_shape *s, mw_op op, size_t cap,
                        cl_mem src, cl_mem w, cl_mem y, bool accumulate) {
    plan p = plan_of(s, op, cap);
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    size_t in = grad ? s->cout : s->cin, out = grad ? s->cin : s->cout;
    size_t so = grad ? 9 : s->cin * 9, si = grad ? s->cin * 9 : 9;
    size_t packed = round_block(out) * in * 9;
    MW_TRY(mw_launch_kernel(c, items_of("conv3x3_pack_weights", 1, packed, 1, 1), "mmuuuuuuu", w,
                            c->workspace, (unsigned)p.second_off, (unsigned)out, (unsigned)in,
                            (unsigned)so, (unsigned)si, (unsigned)grad, (unsigned)packed));
    size_t per_image = ceil_div(s->h * p.wp, 16 * MW_C3_PX_VECTORS);
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn;
        MW_TRY(pad_chunk(c, s, &p, src, in, n0, cn, false, 0));
        MW_TRY(mw_launch_kernel(
            c, items_of("conv3x3_forward", 2, round_block(out) / MW_C3_CO_BLOCK, cn * per_image, 1),
            "mumumuuuuuuuu", c->workspace, 0u, c->workspace, (unsigned)p.second_off, y,
            (unsigned)in, (unsigned)out, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
            (unsigned)s->h, (unsigned)s->w, (unsigned)accumulate));
    }
    return MW_OK;
}

mw_status mw_conv3x3_forward(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats, cl_mem x,
                             cl_mem w, cl_mem y, bool accumulate) {
    return direct(c, s, MW_OP_CONV2D, cap_floats, x, w, y, accumulate);
}

mw_status mw_conv3x3_bwd_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                               cl_mem gy, cl_mem w, cl_mem gx) {
    return direct(c, s, MW_OP_CONV2D_BWD_INPUT, cap_floats, gy, w, gx, false);
}

mw_status mw_conv3x3_bwd_weight(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                cl_mem gy, cl_mem x, cl_mem gw) {
    plan p = plan_of(s, MW_OP_CONV2D_BWD_WEIGHT, cap_floats);
    size_t m = s->cout, cols = s->cin * 9;
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, slices = ceil_div(cn, p.ips);
        MW_TRY(pad_chunk(c, s, &p, x, s->cin, n0, cn, false, 0));
        MW_TRY(pad_chunk(c, s, &p, gy, s->cout, n0, cn, true, p.second_off));
        MW_TRY(mw_launch_kernel(
            c, items_of("conv3x3_weight", 3, s->cin, ceil_div(s->cout, 8) * 3, slices),
            "mumumuuuuuuuu", c->workspace, (unsigned)p.second_off, c->workspace, 0u,
            c->workspace, (unsigned)p.partial_off, (unsigned)s->cin, (unsigned)s->cout,
            (unsigned)cn, (unsigned)s->h, (unsigned)s->w, (unsigned)p.lq, (unsigned)p.ips));
        MW_TRY(mw_launch(c, "conv", "gemm_reduce", m * cols, "muumuuuuu", c->workspace,
                         (unsigned)p.partial_off, (unsigned)slices, gw, 0u, (unsigned)cols,
                         (unsigned)m, (unsigned)cols, (unsigned)(n0 > 0)));
    }
    return MW_OK;
}
