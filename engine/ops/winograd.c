/* Winograd's F(2x2, 3x3) convolution (ops/winograd.h; the algebra in cl/winograd.cl).
 *
 * The forward and the input gradient are the same pipeline (the input gradient convolves
 * the output gradient with the taps reversed and the channel roles swapped, as the weight
 * transform's strides express): transform the weights once, transform the input, 16
 * products M[ξ] = U[ξ]·V[ξ], transform the products into the output. Where the channels
 * allow (FUSED_MAX_CHANNELS) one kernel, winograd_fused, does the last three per block of
 * tiles in a per-item slot of the workspace that stays in cache:
 *
 *   [ Uᵀ[16][in][out] | slot of item 0 | slot of item 1 | ... ]
 *
 * Otherwise, and for the weight gradient, each pass works on a chunk of images at a time:
 *
 *   [ V[16][in][ld] | M[16][out][ld] | U[16][out][in] | GEMM partials ]
 *
 * (P = the chunk's tiles, in rows of ld >= P floats: see row_stride), with separate
 * transform kernels around 16 GEMMs of ops/gemm.h. The weight gradient transforms the input
 * and the output gradient per chunk, sums gU[ξ] += gM[ξ]·V[ξ]ᵀ over the chunks (16 NT
 * GEMMs) and transforms gU into the 3x3 gradient at the end; where an item's partial sums of
 * gU fit in a core's cache with its slot (WEIGHT_FUSED_MAX_FLOATS), winograd_weight_fused
 * does the transforms and products per block of tiles instead:
 *
 *   [ gU partial sums of item 0 | of item 1 | ... | slot of item 0 | slot of item 1 | ... ]
 *
 * and winograd_weight_gradient adds the items' sums as it transforms them.
 *
 * On the GPU profile (ops/gemm.h) the same kernels run GPU-shaped: one unit of 16 tiles (or
 * one weight pair) per work-item in groups of 64, never fused (its per-item slots are sized
 * for a CPU core's cache), and the GEMMs go to CLBlast, whose temporary buffer
 * mw_winograd_scratch_bytes sizes. The tests force this shape on the CPU device. */
#include "ops/winograd.h"

#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "runtime/internal.h"
#include "runtime/kernel_defines.h"

enum {
    LANES = 16,               /* tiles per unit of the transforms (cl/winograd.cl) */
    XI = 16,                  /* entries of a transformed 4x4 block */
    TILES_PER_ITEM = 256,     /* a transform item's share on CPUs: units of up to 16 tiles */
    PAIRS_PER_ITEM = 64,      /* a weight transform item's (output, input) channel pairs on CPUs */
    FUSED_MAX_CHANNELS = 512, /* the most input and output channels it takes: a slot's V
                               * and M are 2 KB per channel, and should stay in L2 */
    FUSED_ITEMS_PER_UNIT = 8, /* its items (slots) per compute unit */
    /* winograd_weight_fused: an item's partial sums and slot (about 16 (out in + (2 in + out)
     * FUSED_TILES) floats, in rounded up to 32) at most this many floats, to stay in a core's
     * L2: 640 KB for 64 -> 64 channels, 1.8 MB for 128 -> 128 */
    WEIGHT_FUSED_MAX_FLOATS = 1 << 19,
    WEIGHT_FUSED_ITEMS_PER_UNIT = 2, /* its items per compute unit: each adds partial sums */
    /* and the channels from which it pays (tests/probe_conv_paths, bench/RESULTS.md): with
     * fewer its blocks of ROWS outputs and of 32 inputs are mostly padding, and DenseNet's
     * 48 -> 12 (16x16 maps) and GoogLeNet's 16 -> 48 ran 1.1-1.9x the unfused time */
    WEIGHT_FUSED_MIN_IN = 24,
    WEIGHT_FUSED_MIN_OUT = 32,
    WEIGHT_FUSED_CHANNEL_BLOCK = 32, /* its products' input channels per vector pair */
};

int mw_winograd_fuse = 1;

static size_t ceil_div(size_t a, size_t b) {
    return (a + b - 1) / b;
}

/* Where a pass's pieces lie in the workspace (floats), and how the batch is split. */
typedef struct plan {
    size_t in, out;        /* channels of the transformed input and of the products */
    size_t th, tw, tiles;  /* tiles per image: rows, columns, all */
    bool compact;          /* units of 16 tiles across tile rows and images (cl/winograd.cl) */
    size_t per_item;       /* units of a transform per work-item */
    size_t cn;             /* images per chunk */
    size_t ld;             /* floats between rows of V and M: the largest chunk's P, padded */
    bool fused;            /* winograd_fused: U, then one slot of V and M per item; for the
                            * weight gradient winograd_weight_fused's partial sums and slots */
    size_t in_pad;         /* winograd_weight_fused: rows of Vt and of the partial sums */
    size_t items, slot, scratch_off;
    size_t v_off, m_off, u_off, partial_off, total;
} plan;

/* The product M[ξ] = U[ξ]·V[ξ] of the forward and input gradient for a chunk of pc tiles,
 * U read transposed ([ξ][in][out]) where the fused kernel's layout is used. */
static mw_gemm product_gemm(const plan *p, size_t xi, size_t pc) {
    bool tr = p->fused;
    return (mw_gemm){.ta = tr, .m = p->out, .n = pc, .k = p->in,
                     .a_off = p->u_off + xi * p->out * p->in, .lda = tr ? p->out : p->in,
                     .b_off = p->v_off + xi * p->in * p->ld, .ldb = p->ld,
                     .c_off = p->m_off + xi * p->out * p->ld, .ldc = p->ld};
}

/* The NT GEMM gU[ξ] (+)= gM[ξ]·V[ξ]ᵀ of the weight gradient for a chunk of pc tiles. */
static mw_gemm weight_gemm(const plan *p, size_t xi, size_t pc) {
    return (mw_gemm){.ta = false, .tb = true, .m = p->out, .n = p->in, .k = pc,
                     .a_off = p->m_off + xi * p->out * p->ld, .lda = p->ld,
                     .b_off = p->v_off + xi * p->in * p->ld, .ldb = p->ld,
                     .c_off = p->u_off + xi * p->out * p->in, .ldc = p->in};
}

/* Rows of V and M at least P floats apart, padded to an odd number of 64-byte lines: the
 * GEMMs read a block's rows down a column strip, and strides of a multiple of 4 KB put all
 * of them in one set of the L1 (and of the L2 from 64 KB), as a chunk's P of a power of
 * two or of its multiples does. */
static size_t row_stride(size_t pc) {
    /* rows of 512 tiles (ResNet18's 4x4 maps at batch 128) measured 5-15% slower padded */
    if (pc < 1024) return pc;
    return ((pc + 15) / 16 | 1) * 16;
}

/* Units of 16 tiles across tile rows and images (cl/winograd.cl): the small square maps,
 * whose tile rows fill only 2, 4 or 8 of a unit's 16 lanes. Compact units made ResNet18's
 * 16x16, 8x8 and 4x4 passes 20-28% faster (bench/RESULTS.md). */
bool mw_winograd_compact_units(const mw_conv3x3_shape *s) {
    return s->h == s->w && (s->w == 4 || s->w == 8 || s->w == 16);
}

bool mw_winograd_full_units(const mw_conv3x3_shape *s) {
    return mw_winograd_compact_units(s) || (s->w + 1) / 2 >= LANES;
}

/* Weight pairs per work-item of winograd_weights and winograd_weight_gradient. */
static size_t pairs_per_item(const mw_runtime *rt) {
    return mw_cpu_profile(rt) ? PAIRS_PER_ITEM : 1;
}

static plan plan_of(const mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op, size_t cap) {
    plan p = {0};
    bool cpu = mw_cpu_profile(rt);
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    p.in = grad ? s->cout : s->cin; /* the weight gradient: V of x, gM of gy */
    p.out = grad ? s->cin : s->cout;
    p.th = (s->h + 1) / 2;
    p.tw = (s->w + 1) / 2;
    p.tiles = p.th * p.tw;
    p.compact = mw_winograd_compact_units(s);
    p.per_item = cpu ? ceil_div(TILES_PER_ITEM, p.compact || p.tw >= LANES ? LANES : p.tw) : 1;
    if (op == MW_OP_CONV2D_BWD_WEIGHT && cpu && mw_winograd_fuse) {
        p.in_pad = ceil_div(p.in, WEIGHT_FUSED_CHANNEL_BLOCK) * WEIGHT_FUSED_CHANNEL_BLOCK;
        size_t partial = XI * p.out * p.in_pad;
        p.slot = XI * ((2 * p.in_pad + p.out) * MW_WINOGRAD_FUSED_TILES + 3 * LANES);
        size_t blocks = ceil_div(s->n * p.tiles, MW_WINOGRAD_FUSED_TILES);
        p.items = WEIGHT_FUSED_ITEMS_PER_UNIT * mw_runtime_device(rt)->compute_units;
        size_t fit = cap / (partial + p.slot);
        if (p.items > fit) p.items = fit;
        if (p.items > blocks) p.items = blocks;
        p.fused = partial + p.slot <= WEIGHT_FUSED_MAX_FLOATS && p.items > 0 &&
                  p.in >= WEIGHT_FUSED_MIN_IN && p.out >= WEIGHT_FUSED_MIN_OUT;
        if (p.fused) {
            p.scratch_off = 0;
            p.total = p.items * (partial + p.slot);
            return p;
        }
    }
    p.fused = cpu && mw_winograd_fuse && op != MW_OP_CONV2D_BWD_WEIGHT &&
              p.in + p.out <= FUSED_MAX_CHANNELS;
    if (p.fused) {
        p.u_off = 0;
        p.scratch_off = XI * p.out * p.in;
        p.slot = XI * (p.in + p.out) * MW_WINOGRAD_FUSED_TILES + LANES;
        size_t blocks = ceil_div(s->n * p.tiles, MW_WINOGRAD_FUSED_TILES);
        size_t fit = cap > p.scratch_off + p.slot ? (cap - p.scratch_off) / p.slot : 1;
        p.items = FUSED_ITEMS_PER_UNIT * mw_runtime_device(rt)->compute_units;
        if (p.items > fit) p.items = fit;
        if (p.items > blocks) p.items = blocks;
        p.total = p.scratch_off + p.items * p.slot;
        return p;
    }
    size_t fixed = XI * p.out * p.in + LANES;
    size_t per_image = XI * p.tiles * (p.in + p.out);
    p.cn = cap > fixed ? (cap - fixed) / per_image : 1;
    if (p.cn < 1) p.cn = 1;
    if (p.cn > s->n) p.cn = s->n;
    p.ld = row_stride(p.cn * p.tiles);
    p.v_off = 0;
    p.m_off = p.v_off + XI * p.in * p.ld;
    /* M's last vectors may read LANES floats past its end (lanes never stored) */
    p.u_off = p.m_off + XI * p.out * p.ld + LANES;
    p.partial_off = p.u_off + XI * p.out * p.in;
    p.total = p.partial_off;
    /* the GEMMs' own workspace after it all (the largest chunk's: the most slices; the
     * products' rows, an odd number of lines apart, need none today) */
    mw_gemm g = op == MW_OP_CONV2D_BWD_WEIGHT ? weight_gemm(&p, 0, p.cn * p.tiles)
                                             : product_gemm(&p, 0, p.cn * p.tiles);
    p.total += mw_gemm_workspace_bytes(rt, &g) / sizeof(float);
    return p;
}

/* Work-items of a kernel of cl/<family>.cl in the profile's groups (mw_profile_group_size). */
static mw_launch_spec family_items(const mw_runtime *rt, const char *family, const char *kernel,
                                   size_t items) {
    size_t local = mw_profile_group_size(rt);
    return (mw_launch_spec){.family = family,
                            .kernel = kernel,
                            .kind = MW_RANGE_ITEMS,
                            .dims = 1,
                            .global = {items, 1, 1},
                            .local = {local, 1, 1}};
}

static mw_launch_spec items_of(const mw_runtime *rt, const char *kernel, size_t items) {
    return family_items(rt, "winograd", kernel, items);
}

/* Units of a transform over `channels` channels of cn images: 16 tiles of a tile row each,
 * or 16 of a channel's tiles when compact. */
static size_t transform_units(const plan *p, size_t channels, size_t cn) {
    if (p->compact) return channels * ceil_div(cn * p->tiles, LANES);
    return channels * cn * p->th * ceil_div(p->tw, LANES);
}

/* V for images n0 .. n0+cn-1 of src [p->in, n, h, w]. */
static mw_status transform_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, const plan *p,
                                 cl_mem src, size_t n0, size_t cn) {
    size_t units = transform_units(p, p->in, cn);
    return mw_launch_kernel(c, items_of(c->rt, "winograd_input", ceil_div(units, p->per_item)),
                            "mmuuuuuuuuuuuuu", src, c->workspace, (unsigned)p->v_off,
                            (unsigned)p->in, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
                            (unsigned)s->h, (unsigned)s->w, (unsigned)p->th, (unsigned)p->tw,
                            (unsigned)p->ld, (unsigned)p->compact, (unsigned)p->per_item,
                            (unsigned)units);
}

/* y (+)= the convolution of src with w: the forward (src = x) or the input gradient (src =
 * gy, the taps reversed and the channels swapped). */
static mw_status convolve(mw_cl_ctx *c, const mw_conv3x3_shape *s, mw_op op, size_t cap,
                          cl_mem src, cl_mem w, cl_mem y, bool accumulate) {
    plan p = plan_of(c->rt, s, op, cap);
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    bool tr = p.fused; /* the fused kernel reads U transposed, [ξ][in][out] */
    /* W(o, i) = w[o so + i si]: [cout, cin, 3, 3], read transposed for the input gradient */
    size_t so = grad ? 9 : s->cin * 9, si = grad ? s->cin * 9 : 9, pairs = pairs_per_item(c->rt);
    MW_TRY(mw_launch_kernel(c, items_of(c->rt, "winograd_weights", ceil_div(p.out * p.in, pairs)),
                            "mmuuuuuuuu", w, c->workspace, (unsigned)p.u_off, (unsigned)p.out,
                            (unsigned)p.in, (unsigned)so, (unsigned)si, (unsigned)grad,
                            (unsigned)tr, (unsigned)pairs));
    if (p.fused)
        return mw_launch_kernel(c,
                                items_of(c->rt,
                                         p.compact ? "winograd_fused_compact" : "winograd_fused",
                                         p.items),
                                "mmummuuuuuuuuuuu", src, c->workspace, (unsigned)p.u_off, y,
                                c->workspace, (unsigned)p.scratch_off, (unsigned)p.in,
                                (unsigned)p.out, (unsigned)s->n, (unsigned)s->h, (unsigned)s->w,
                                (unsigned)p.th, (unsigned)p.tw, (unsigned)accumulate,
                                (unsigned)p.slot, (unsigned)p.items);
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, pc = cn * p.tiles;
        MW_TRY(transform_input(c, s, &p, src, n0, cn));
        for (size_t xi = 0; xi < XI; xi++) {
            mw_gemm g = product_gemm(&p, xi, pc);
            MW_TRY(mw_gemm_run(c, &g, c->workspace, c->workspace, 0.0f, c->workspace,
                               p.partial_off));
        }
        size_t units = transform_units(&p, p.out, cn);
        MW_TRY(mw_launch_kernel(c, items_of(c->rt, "winograd_output", ceil_div(units, p.per_item)),
                                "mumuuuuuuuuuuuuu", c->workspace, (unsigned)p.m_off, y,
                                (unsigned)p.out, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
                                (unsigned)s->h, (unsigned)s->w, (unsigned)p.th, (unsigned)p.tw,
                                (unsigned)p.ld, (unsigned)p.compact, (unsigned)accumulate,
                                (unsigned)p.per_item, (unsigned)units));
    }
    return MW_OK;
}

/* F(4x4, 3x3) on square maps (cl/winograd4.cl): the transposed arrays
 *
 *   [ Uᵀ[36][in][out] (the weight gradient: gU[36][out][in]) | Vᵀ[36][P][in] |
 *     Mᵀ[36][P][out] | GEMM partials ]
 *
 * for a chunk of images (P = its tiles), and 36 products Mᵀ[ξ] = Vᵀ[ξ]·Uᵀ[ξ], NN with the
 * tiles as rows (on 4x4 maps P is the images: 100 rows in blocks of 8 lose 4%, 100
 * columns in blocks of 32 would lose 22%); the weight gradient's are TN, gU[ξ] (+)=
 * gMᵀ[ξ]ᵀ·Vᵀ[ξ]. */
enum {
    XI4 = 36,              /* entries of a transformed 6x6 block */
    F4_CHANNEL_BLOCK = 16, /* channels per transform unit (the lanes) */
    F4_UNITS_PER_ITEM = 16,
    /* the least channels on either side where the rule takes it (tests/probe_conv_paths,
     * bench/RESULTS.md) and the least images of a chunk (a smaller workspace falls back) */
    F4_MIN_CHANNELS = 256,
    F4_MIN_CHUNK = 16,
    /* the widest map where the rule takes it: WideResNet's 320 -> 320 layers on 16x16 ran a
     * sixth to a third faster a pass; no encoder has 256 channels on 32x32 maps, and there
     * F(2x2)'s fused kernel held ResNet18's 64 -> 64 layers ahead (bench/RESULTS.md) */
    F4_MAX_MAP = 16,
    /* winograd4_fused: the most input and output channels together (a slot's Vᵀ and Mᵀ,
     * 36 x 32 floats a channel: 1.5 MB at 320, in a core's L2 on the Intel host), and the
     * least on either side where the rule takes it (ResNet18's 64 and 128, WideResNet's 160:
     * a fifth to a third faster a pass than F(2x2)'s fused kernel, tests/probe_conv_paths,
     * bench/RESULTS.md) */
    F4_FUSED_MAX_CHANNELS = 320,
    F4_FUSED_MIN_CHANNELS = 64,
};

int mw_winograd_f4 = 1;

typedef struct plan4 {
    size_t in, out, tw, tiles, cn, plane_v, plane_m;
    size_t u_off, v_off, m_off, partial_off, total;
    bool fused;                      /* winograd4_fused: Uᵀ, then one slot per item */
    size_t items, slot, scratch_off; /* its items, their slots' floats, the first slot */
} plan4;

/* The forward's or input gradient's product for ξ over a chunk of pc tiles. */
static mw_gemm product4_gemm(const plan4 *p, size_t xi, size_t pc) {
    return (mw_gemm){.m = pc,
                     .n = p->out,
                     .k = p->in,
                     .a_off = p->v_off + xi * p->plane_v,
                     .lda = p->in,
                     .b_off = p->u_off + xi * p->in * p->out,
                     .ldb = p->out,
                     .c_off = p->m_off + xi * p->plane_m,
                     .ldc = p->out};
}

/* The weight gradient's gU[ξ] (+)= gMᵀ[ξ]ᵀ·Vᵀ[ξ] over a chunk of pc tiles. */
static mw_gemm weight4_gemm(const plan4 *p, size_t xi, size_t pc) {
    return (mw_gemm){.ta = true,
                     .m = p->out,
                     .n = p->in,
                     .k = pc,
                     .a_off = p->m_off + xi * p->plane_m,
                     .lda = p->out,
                     .b_off = p->v_off + xi * p->plane_v,
                     .ldb = p->in,
                     .c_off = p->u_off + xi * p->out * p->in,
                     .ldc = p->in};
}

static int f4_mode(void);

/* Whether the forward or input gradient runs fused per block of tiles (winograd4_fused): on
 * CPU devices, where a block's Vᵀ and Mᵀ fit a core's cache and the products' columns (the
 * pass's output channels) come in blocks of 32; not where MEMWRAP_WINOGRAD_F4 is `unfused`. */
static bool f4_fused(const mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op) {
    size_t out = op == MW_OP_CONV2D_BWD_INPUT ? s->cin : s->cout;
    return mw_cpu_profile(rt) && mw_winograd_fuse && f4_mode() != 3 &&
           op != MW_OP_CONV2D_BWD_WEIGHT && out % 32 == 0 &&
           s->cin + s->cout <= F4_FUSED_MAX_CHANNELS;
}

static plan4 plan4_of(const mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op, size_t cap) {
    plan4 p = {0};
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    p.in = grad ? s->cout : s->cin;
    p.out = grad ? s->cin : s->cout;
    p.tw = s->w / 4;
    p.tiles = p.tw * (s->h / 4);
    p.fused = f4_fused(rt, s, op);
    if (p.fused) {
        p.u_off = 0;
        p.scratch_off = XI4 * p.in * p.out;
        p.slot = XI4 * MW_WINOGRAD_FUSED_TILES * (p.in + p.out);
        size_t blocks = ceil_div(s->n * p.tiles, MW_WINOGRAD_FUSED_TILES);
        size_t fit = cap > p.scratch_off + p.slot ? (cap - p.scratch_off) / p.slot : 1;
        p.items = FUSED_ITEMS_PER_UNIT * mw_runtime_device(rt)->compute_units;
        if (p.items > fit) p.items = fit;
        if (p.items > blocks) p.items = blocks;
        p.cn = s->n; /* one launch for the batch */
        p.v_off = p.scratch_off;
        p.total = p.scratch_off + p.items * p.slot;
        return p;
    }
    /* The chunks of images get the whole cap, the weight planes come on top (f4_applies
     * takes F(4x4) only where they fit the cap as well: twice the cap at most). Counted
     * within the cap, WideResNet's 640 -> 640 planes (59 MB) left chunks of 6 images. */
    size_t fixed = XI4 * p.in * p.out, per_image = XI4 * p.tiles * (p.in + p.out);
    p.cn = cap / per_image;
    if (p.cn < 1) p.cn = 1;
    if (p.cn > s->n) p.cn = s->n;
    p.plane_v = p.cn * p.tiles * p.in;
    p.plane_m = p.cn * p.tiles * p.out;
    p.u_off = 0;
    p.v_off = fixed;
    p.m_off = p.v_off + XI4 * p.plane_v;
    p.partial_off = p.m_off + XI4 * p.plane_m;
    mw_gemm g = op == MW_OP_CONV2D_BWD_WEIGHT ? weight4_gemm(&p, 0, p.cn * p.tiles)
                                              : product4_gemm(&p, 0, p.cn * p.tiles);
    p.total = p.partial_off + mw_gemm_workspace_bytes(rt, &g) / sizeof(float);
    return p;
}

/* mw_winograd_f4 as a test or probe set it, else as MEMWRAP_WINOGRAD_F4 asks: `off` F(2x2)
 * on every map, `all` F(4x4) wherever its kernels can run, `unfused` F(4x4) where the rule
 * takes its separate transforms and GEMMs only (3; comparisons in one binary). */
static int f4_mode(void) {
    if (mw_winograd_f4 != 1) return mw_winograd_f4;
    const char *env = getenv("MEMWRAP_WINOGRAD_F4");
    return !env                      ? 1
           : !strcmp(env, "off")     ? 0
           : !strcmp(env, "all")     ? 2
           : !strcmp(env, "unfused") ? 3
                                     : 1;
}

/* Whether pass `op` runs F(4x4, 3x3): square maps in whole tiles, channels in whole
 * transform units, and chunks of F4_MIN_CHUNK images or the whole batch; unless forced
 * (mw_winograd_f4 2), either fused (the forward and input gradient where f4_fused takes
 * them, with as many input as output channels, F4_FUSED_MIN_CHANNELS or more: ResNet18's
 * 64- and 128-channel layers, WideResNet's 160-channel ones; their weight gradients stay on
 * F(2x2)'s fused kernel), or on
 * maps up to F4_MAX_MAP wide (4x4, 8x8, 16x16: one, four and 16 tiles) with F4_MIN_CHANNELS
 * on both sides and where the transformed input and products (P (in + out) floats a ξ) are
 * at least a quarter of the transformed weights (in out), which are written and read again
 * each pass. On ResNet18's 512 -> 512 layers at 4x4 (P = the images) that is 64 images: the
 * probe (tests/probe_conv_paths resnet18_layer4) has F(4x4) level with F(2x2) at 32 and 64
 * and a sixth to a third faster a pass at 100 and 128; in the model, profiled, the Memory
 * Wrap step's 512-channel passes (128 inputs, 100 memory images) took a third less
 * (bench/RESULTS.md). */
static bool f4_applies(const mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op, size_t cap) {
    int mode = f4_mode();
    if (!mode || s->h != s->w || s->w % 4) return false;
    if (s->cin % F4_CHANNEL_BLOCK || s->cout % F4_CHANNEL_BLOCK) return false;
    /* fused only where in == out, which of the seven encoders' layers leaves out one:
     * GoogLeNet's 96 -> 128 on 32x32, 2-6% faster in the forward and 10-15% in the input
     * gradient (probe), which fused moved GoogLeNet's one-step check (test_models, 4 images)
     * past its tolerance. That check turns on near-ties: perturbing the layer's output by
     * 3e-8 of its largest entry moves sampled weights after the step by up to 1.6e-3 in 3
     * of 4 draws (float64, bench/one_step_sensitivity.py), so the layer stays on F(2x2)
     * rather than the tolerance moving. */
    bool fused = f4_fused(rt, s, op) && s->cin == s->cout && s->cin >= F4_FUSED_MIN_CHANNELS;
    if (mode != 2 && !fused &&
        (s->w > F4_MAX_MAP || s->cin < F4_MIN_CHANNELS || s->cout < F4_MIN_CHANNELS ||
         4 * s->n * (s->h / 4) * (s->w / 4) * (s->cin + s->cout) < s->cin * s->cout))
        return false;
    plan4 p = plan4_of(rt, s, op, cap);
    bool planes_fit = p.v_off <= cap; /* the weight planes, U, end where V begins */
    return planes_fit && (p.cn >= F4_MIN_CHUNK || p.cn == s->n);
}

static size_t f4_per_item(const mw_runtime *rt) {
    return mw_cpu_profile(rt) ? F4_UNITS_PER_ITEM : 1;
}

/* Blocks of 16 weight pairs (the lanes) per item of the weight transforms. */
static size_t f4_pair_blocks(const mw_runtime *rt) {
    return ceil_div(pairs_per_item(rt), F4_CHANNEL_BLOCK);
}

/* A transform of cl/winograd4.cl over `channels` channels of a chunk: units of 16
 * channels of one tile, from image n0. */
static mw_status transform4(mw_cl_ctx *c, const char *kernel, const mw_conv3x3_shape *s,
                            const plan4 *p, cl_mem src, cl_mem dst, size_t off, size_t plane,
                            size_t channels, size_t n0, size_t pc, int accumulate) {
    size_t units = channels / F4_CHANNEL_BLOCK * pc, per_item = f4_per_item(c->rt);
    mw_launch_spec spec = family_items(c->rt, "winograd4", kernel, ceil_div(units, per_item));
    if (accumulate < 0) /* the input and the output gradient: no accumulate argument */
        return mw_launch_kernel(c, spec, "mmuuuuuuuuuuu", src, dst, (unsigned)off, (unsigned)plane,
                                (unsigned)channels, (unsigned)s->n, (unsigned)n0, (unsigned)s->h,
                                (unsigned)s->w, (unsigned)p->tw, (unsigned)p->tiles,
                                (unsigned)per_item, (unsigned)units);
    return mw_launch_kernel(c, spec, "muumuuuuuuuuuu", src, (unsigned)off, (unsigned)plane, dst,
                            (unsigned)channels, (unsigned)s->n, (unsigned)n0, (unsigned)s->h,
                            (unsigned)s->w, (unsigned)p->tw, (unsigned)p->tiles,
                            (unsigned)accumulate, (unsigned)per_item, (unsigned)units);
}

static mw_status convolve4(mw_cl_ctx *c, const mw_conv3x3_shape *s, mw_op op, size_t cap,
                           cl_mem src, cl_mem w, cl_mem y, bool accumulate) {
    plan4 p = plan4_of(c->rt, s, op, cap);
    bool grad = op == MW_OP_CONV2D_BWD_INPUT;
    size_t so = grad ? 9 : s->cin * 9, si = grad ? s->cin * 9 : 9, blocks = f4_pair_blocks(c->rt);
    MW_TRY(mw_launch_kernel(c,
                            family_items(c->rt, "winograd4", "winograd4_weights",
                                         ceil_div(p.out * p.in / F4_CHANNEL_BLOCK, blocks)),
                            "mmuuuuuuu", w, c->workspace, (unsigned)p.u_off, (unsigned)p.out,
                            (unsigned)p.in, (unsigned)so, (unsigned)si, (unsigned)grad,
                            (unsigned)blocks));
    if (p.fused)
        return mw_launch_kernel(c, family_items(c->rt, "winograd4", "winograd4_fused", p.items),
                                "mmummuuuuuuuuuuu", src, c->workspace, (unsigned)p.u_off, y,
                                c->workspace, (unsigned)p.scratch_off, (unsigned)p.in,
                                (unsigned)p.out, (unsigned)s->n, (unsigned)s->h, (unsigned)s->w,
                                (unsigned)p.tw, (unsigned)p.tiles, (unsigned)accumulate,
                                (unsigned)p.slot, (unsigned)p.items);
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, pc = cn * p.tiles;
        MW_TRY(transform4(c, "winograd4_input", s, &p, src, c->workspace, p.v_off, p.plane_v, p.in,
                          n0, pc, -1));
        for (size_t xi = 0; xi < XI4; xi++) {
            mw_gemm g = product4_gemm(&p, xi, pc);
            MW_TRY(
                mw_gemm_run(c, &g, c->workspace, c->workspace, 0.0f, c->workspace, p.partial_off));
        }
        MW_TRY(transform4(c, "winograd4_output", s, &p, c->workspace, y, p.m_off, p.plane_m, p.out,
                          n0, pc, accumulate));
    }
    return MW_OK;
}

static mw_status weight_gradient4(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap, cl_mem gy,
                                  cl_mem x, cl_mem gw) {
    plan4 p = plan4_of(c->rt, s, MW_OP_CONV2D_BWD_WEIGHT, cap);
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, pc = cn * p.tiles;
        MW_TRY(transform4(c, "winograd4_input", s, &p, x, c->workspace, p.v_off, p.plane_v, p.in,
                          n0, pc, -1));
        MW_TRY(transform4(c, "winograd4_output_gradient", s, &p, gy, c->workspace, p.m_off,
                          p.plane_m, p.out, n0, pc, -1));
        for (size_t xi = 0; xi < XI4; xi++) {
            mw_gemm g = weight4_gemm(&p, xi, pc);
            MW_TRY(mw_gemm_run(c, &g, c->workspace, c->workspace, n0 ? 1.0f : 0.0f, c->workspace,
                               p.partial_off));
        }
    }
    size_t blocks = f4_pair_blocks(c->rt);
    return mw_launch_kernel(c,
                            family_items(c->rt, "winograd4", "winograd4_weight_gradient",
                                         ceil_div(p.out * p.in / F4_CHANNEL_BLOCK, blocks)),
                            "mumuuu", c->workspace, (unsigned)p.u_off, gw, (unsigned)p.out,
                            (unsigned)p.in, (unsigned)blocks);
}

size_t mw_winograd_workspace_floats(const mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op,
                                    size_t cap_floats) {
    if (f4_applies(rt, s, op, cap_floats)) return plan4_of(rt, s, op, cap_floats).total;
    return plan_of(rt, s, op, cap_floats).total;
}

mw_status mw_winograd_scratch_bytes(mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op,
                                    size_t cap_floats, size_t *bytes) {
    *bytes = 0;
    bool f4 = f4_applies(rt, s, op, cap_floats), weight = op == MW_OP_CONV2D_BWD_WEIGHT;
    plan p = plan_of(rt, s, op, cap_floats);
    plan4 p4 = f4 ? plan4_of(rt, s, op, cap_floats) : (plan4){0};
    if (f4 ? p4.fused : p.fused) return MW_OK;
    /* A GEMM's temporary buffer depends on its dimensions and on whether each offset is
     * zero: ξ 0 and 1 of a whole chunk and of the last, shorter one cover every case. */
    size_t cn = f4 ? p4.cn : p.cn, tiles = f4 ? p4.tiles : p.tiles;
    size_t last = s->n % cn ? s->n % cn : cn;
    size_t pcs[2] = {cn * tiles, last * tiles};
    for (int i = 0; i < 2; i++)
        for (size_t xi = 0; xi < 2; xi++) {
            mw_gemm g =
                f4       ? (weight ? weight4_gemm(&p4, xi, pcs[i]) : product4_gemm(&p4, xi, pcs[i]))
                : weight ? weight_gemm(&p, xi, pcs[i])
                         : product_gemm(&p, xi, pcs[i]);
            size_t b = 0;
            MW_TRY(mw_gemm_scratch_bytes(rt, &g, &b));
            if (b > *bytes) *bytes = b;
        }
    return MW_OK;
}

mw_status mw_winograd_forward(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                              cl_mem x, cl_mem w, cl_mem y, bool accumulate) {
    if (f4_applies(c->rt, s, MW_OP_CONV2D, cap_floats))
        return convolve4(c, s, MW_OP_CONV2D, cap_floats, x, w, y, accumulate);
    return convolve(c, s, MW_OP_CONV2D, cap_floats, x, w, y, accumulate);
}

mw_status mw_winograd_bwd_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                cl_mem gy, cl_mem w, cl_mem gx) {
    if (f4_applies(c->rt, s, MW_OP_CONV2D_BWD_INPUT, cap_floats))
        return convolve4(c, s, MW_OP_CONV2D_BWD_INPUT, cap_floats, gy, w, gx, false);
    return convolve(c, s, MW_OP_CONV2D_BWD_INPUT, cap_floats, gy, w, gx, false);
}

/* gw = Gᵀ gU G from the `parts` partial sums of gU[ξ][out][ld] at float `off` of the
 * workspace, part_stride apart (winograd_weight_gradient). */
static mw_status weight_gradient_out(mw_cl_ctx *c, const plan *p, size_t off, size_t ld,
                                     size_t parts, size_t part_stride, cl_mem gw) {
    size_t pairs = pairs_per_item(c->rt);
    return mw_launch_kernel(
        c, items_of(c->rt, "winograd_weight_gradient", ceil_div(p->out * p->in, pairs)),
        "mumuuuuuu", c->workspace, (unsigned)off, gw, (unsigned)p->out, (unsigned)p->in,
        (unsigned)ld, (unsigned)parts, (unsigned)part_stride, (unsigned)pairs);
}

mw_status mw_winograd_bwd_weight(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                 cl_mem gy, cl_mem x, cl_mem gw) {
    if (f4_applies(c->rt, s, MW_OP_CONV2D_BWD_WEIGHT, cap_floats))
        return weight_gradient4(c, s, cap_floats, gy, x, gw);
    plan p = plan_of(c->rt, s, MW_OP_CONV2D_BWD_WEIGHT, cap_floats);
    if (p.fused) {
        MW_TRY(mw_launch_kernel(
            c,
            items_of(c->rt, p.compact ? "winograd_weight_fused_compact" : "winograd_weight_fused",
                     p.items),
            "mmmuuuuuuuuuuu", x, gy, c->workspace, (unsigned)p.scratch_off, (unsigned)p.in,
            (unsigned)p.in_pad, (unsigned)p.out, (unsigned)s->n, (unsigned)s->h, (unsigned)s->w,
            (unsigned)p.th, (unsigned)p.tw, (unsigned)p.slot, (unsigned)p.items));
        return weight_gradient_out(c, &p, p.scratch_off, p.in_pad, p.items, XI * p.out * p.in_pad,
                                   gw);
    }
    for (size_t n0 = 0; n0 < s->n; n0 += p.cn) {
        size_t cn = s->n - n0 < p.cn ? s->n - n0 : p.cn, pc = cn * p.tiles;
        MW_TRY(transform_input(c, s, &p, x, n0, cn));
        size_t units = transform_units(&p, p.out, cn);
        MW_TRY(mw_launch_kernel(c,
                                items_of(c->rt, "winograd_output_gradient",
                                         ceil_div(units, p.per_item)),
                                "mmuuuuuuuuuuuuu", gy, c->workspace, (unsigned)p.m_off,
                                (unsigned)p.out, (unsigned)s->n, (unsigned)n0, (unsigned)cn,
                                (unsigned)s->h, (unsigned)s->w, (unsigned)p.th, (unsigned)p.tw,
                                (unsigned)p.ld, (unsigned)p.compact, (unsigned)p.per_item,
                                (unsigned)units));
        for (size_t xi = 0; xi < XI; xi++) {
            mw_gemm g = weight_gemm(&p, xi, pc);
            MW_TRY(mw_gemm_run(c, &g, c->workspace, c->workspace, n0 ? 1.0f : 0.0f,
                               c->workspace, p.partial_off));
        }
    }
    return weight_gradient_out(c, &p, p.u_off, p.in, 1, 0, gw);
}
