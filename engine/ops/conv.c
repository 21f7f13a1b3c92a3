/* The conv family: torch.nn.Conv2d on channel-major maps x [Cin, N, H, W] with PyTorch's
 * weights w [Cout, Cin/groups, k, k] and an optional bias, and its three gradients.
 *
 * Three OpenCL paths, chosen by shape:
 *  - pointwise (k 1, stride 1, pad 0): the maps already are the GEMM operand X [Cin, N·H·W],
 *    so y = W·X is one SGEMM over the whole batch (one per group), and so are both gradients;
 *  - depthwise (groups = Cin = Cout, k 3 or 5, stride 1 or 2, pad (k-1)/2): direct kernels
 *    (cl/conv.cl), the weight gradient reduced per plane in the workspace, then over N;
 *  - general: im2col of a chunk of images into the per-queue workspace, then SGEMM writing
 *    straight into the chunk's columns of y; the backward uses col2im (gathering, no
 *    atomics) and accumulates the weight gradient over chunks.
 * The SGEMMs are ops/gemm.h's: CLBlast's, or on CPU devices cl/gemm.cl's own
 * register-blocked float16 kernels, several times faster there. */
#include <stdlib.h>

#include "memwrap/ops.h"
#include "ops/dw_bn_fusion.h"
#include "ops/bn_fold.h"
#include "ops/conv3x3.h"
#include "ops/gemm.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "ops/winograd.h"
#include "runtime/internal.h"
#include "runtime/kernel_defines.h"

/* The general path's im2col columns stay under this many bytes, whatever the batch: images
 * are processed in chunks of as many as fit (at least one). Not static so that
 * tests/test_conv.c can lower it to exercise several chunks on small shapes. */
extern size_t mw_conv_workspace_cap;
size_t mw_conv_workspace_cap = (size_t)64 << 20;

/* ---- shapes ---------------------------------------------------------------------------- */

typedef struct conv_dims {
    size_t cin, cout, n, h, w, k, ho, wo, stride, pad, groups;
} conv_dims;

/* From the map x [Cin, N, H, W], the weight w [Cout, Cin/g, k, k] and the output map y. */
static conv_dims dims_of(const mw_tensor *x, const mw_tensor *w, const mw_tensor *y,
                         mw_node_attr at) {
    conv_dims d = {
        .cin = (size_t)x->shape[0],
        .cout = (size_t)w->shape[0],
        .n = (size_t)x->shape[1],
        .h = (size_t)x->shape[2],
        .w = (size_t)x->shape[3],
        .k = (size_t)w->shape[2],
        .ho = (size_t)y->shape[2],
        .wo = (size_t)y->shape[3],
        .stride = (size_t)at.conv.stride,
        .pad = (size_t)at.conv.padding,
        .groups = (size_t)at.conv.groups,
    };
    return d;
}

/* Every conv-family node, whichever its role, in terms of (x, w, y). */
static conv_dims node_dims(const mw_graph *g, const mw_node *n) {
    switch (n->op) {
    case MW_OP_CONV2D_BWD_INPUT: /* gy, w -> gx */
        return dims_of(mw_t(g, n->out[0]), mw_t(g, n->in[1]), mw_t(g, n->in[0]), n->attr);
    case MW_OP_CONV2D_BWD_WEIGHT: /* gy, x -> gw */
        return dims_of(mw_t(g, n->in[1]), mw_t(g, n->out[0]), mw_t(g, n->in[0]), n->attr);
    default: /* x, w[, b] -> y */
        return dims_of(mw_t(g, n->in[0]), mw_t(g, n->in[1]), mw_t(g, n->out[0]), n->attr);
    }
}

typedef enum conv_path { PATH_POINTWISE, PATH_DEPTHWISE, PATH_GENERAL } conv_path;

static conv_path path_of(const conv_dims *d) {
    if (d->k == 1 && d->stride == 1 && d->pad == 0) return PATH_POINTWISE;
    if (d->groups == d->cin && d->cin == d->cout && (d->k == 3 || d->k == 5) &&
        (d->stride == 1 || d->stride == 2) && d->pad == (d->k - 1) / 2)
        return PATH_DEPTHWISE;
    return PATH_GENERAL;
}

/* 1 keeps the row kernels (dw_forward, dw_backward_input, dw_weight_partial) where the two
 * kernel sets below would run: tests/probe_depthwise.c's baseline. */
extern int mw_dw_rows_only;
int mw_dw_rows_only = 0;

/* Depthwise planes of at most 16 pixels in and out go, on CPU devices, to the kernels that
 * hold a plane in one vector and apply each channel's convolution as a small matrix
 * (cl/conv.cl, "small planes"): one work-item per channel. */
static bool dw_small_planes(const mw_runtime *rt, const conv_dims *d) {
    return !mw_dw_rows_only && mw_cpu_profile(rt) && d->h * d->w <= 16 && d->ho * d->wo <= 16;
}

/* Stride-1 depthwise maps up to 32 wide go, on CPU devices, to the kernels that hold a row
 * as blocks of 8 lanes, the last one partial where 8 does not divide the width (cl/conv.cl,
 * dw_planes, dw_vector_rows_weight; cl/dw_blocks.clh): no checked loads at block edges, and
 * independent FMA chains. Fashion-MNIST's 28-, 14- and 7-wide maps took the row kernels
 * until these held partial blocks: 2-3x slower per pixel than CIFAR's 32, 16 and 8
 * (bench/RESULTS.md). */
static bool dw_vector_rows(const mw_runtime *rt, const conv_dims *d) {
    return !mw_dw_rows_only && mw_cpu_profile(rt) && d->stride == 1 && d->w <= 32;
}

/* The stride-2 counterparts (dw_planes_s2, dw_planes_s2_weight, dw_planes_s2_input): maps
 * up to 32 wide, odd sizes too (Fashion-MNIST's 28 -> 14, 14 -> 7 and 7 -> 4, CIFAR's
 * 32 -> 16 and 16 -> 8), their output rows at most 16 wide, two blocks. */
static bool dw_planes_s2(const mw_runtime *rt, const conv_dims *d) {
    return !mw_dw_rows_only && mw_cpu_profile(rt) && d->stride == 2 && d->w <= 32;
}

/* Bytes a node's chunked copies stay under: the cap, and a quarter of the largest
 * allocation the device allows. */
static size_t workspace_cap(const mw_runtime *rt) {
    size_t cap = mw_conv_workspace_cap;
    if (rt) {
        uint64_t quarter = mw_runtime_device(rt)->max_alloc_bytes / 4;
        if (quarter && quarter < cap) cap = (size_t)quarter;
    }
    return cap;
}

/* Images per im2col chunk: as many as fit under the cap, at least one. */
static size_t chunk_images(const mw_runtime *rt, const conv_dims *d) {
    size_t cap = workspace_cap(rt);
    size_t per_image = d->cin * d->k * d->k * d->ho * d->wo * sizeof(float);
    size_t cn = per_image ? cap / per_image : d->n;
    return cn < 1 ? 1 : cn > d->n ? d->n : cn;
}

/* ---- builders -------------------------------------------------------------------------- */

int mw_conv2d(mw_graph *g, int x, int w, int b, int stride, int padding, int groups) {
    int in[3] = {x, w, b};
    int n_in = b >= 0 ? 3 : 2;
    if (!mw_graph_check_inputs(g, "conv2d", in, n_in)) return -1;
    const mw_tensor *tx = mw_t(g, x), *tw = mw_t(g, w);
    if (tx->ndim != 4 || tx->dtype != MW_F32)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "conv2d: input %s must be a float map [C, N, H, W]", tx->name);
    if (tw->ndim != 4 || tw->dtype != MW_F32 || tw->shape[2] != tw->shape[3])
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "conv2d: weight %s must be a float [Cout, Cin/groups, k, k] with a "
                             "square kernel",
                             tw->name);
    if (stride < 1 || padding < 0 || groups < 1)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "conv2d: stride %d must be >= 1, padding %d >= 0, groups %d >= 1",
                             stride, padding, groups);
    int64_t cin = tx->shape[0], cout = tw->shape[0], k = tw->shape[2];
    if (cin % groups || cout % groups)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "conv2d: groups %d must divide the input channels (%lld) and the "
                             "output channels (%lld)",
                             groups, (long long)cin, (long long)cout);
    if (tw->shape[1] != cin / groups)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "conv2d: weight %s has %lld input channels per group, input %s gives "
                             "%lld / %d groups",
                             tw->name, (long long)tw->shape[1], tx->name, (long long)cin, groups);
    if (tx->shape[2] + 2 * (int64_t)padding < k || tx->shape[3] + 2 * (int64_t)padding < k)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "conv2d: the %lldx%lld kernel is larger than the padded %lldx%lld "
                             "input %s",
                             (long long)k, (long long)k, (long long)tx->shape[2],
                             (long long)tx->shape[3], tx->name);
    if (b >= 0) {
        const mw_tensor *tb = mw_t(g, b);
        if (tb->ndim != 1 || tb->dtype != MW_F32 || tb->shape[0] != cout)
            return mw_graph_fail(g, MW_ERR_INVALID_ARG, "conv2d: bias %s must be a float [%lld]",
                                 tb->name, (long long)cout);
    }
    int64_t shape[4] = {cout, tx->shape[1], (tx->shape[2] + 2 * padding - k) / stride + 1,
                        (tx->shape[3] + 2 * padding - k) / stride + 1};
    /* Kernels index with 32-bit unsigned integers. */
    if ((uint64_t)tx->numel >= UINT32_MAX ||
        (uint64_t)shape[0] * shape[1] * shape[2] * shape[3] >= UINT32_MAX)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "conv2d: %s is too large (2^32 elements)",
                             tx->name);
    mw_node_attr at = {.conv = {stride, padding, groups}};
    return mw_graph_emit(g, MW_OP_CONV2D, in, n_in, 4, shape, at);
}

/* ---- backward -------------------------------------------------------------------------- */

static void conv2d_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                            int *gin) {
    int x = n->in[0], w = n->in[1], gy = gout[0];
    if (gy < 0) return;
    int64_t shape[4];
    if (need[0]) {
        for (int d = 0; d < 4; d++)
            shape[d] = mw_t(g, x)->shape[d];
        int in[2] = {gy, w};
        gin[0] = mw_graph_emit(g, MW_OP_CONV2D_BWD_INPUT, in, 2, 4, shape, n->attr);
    }
    if (need[1]) {
        for (int d = 0; d < 4; d++)
            shape[d] = mw_t(g, w)->shape[d];
        int in[2] = {gy, x};
        gin[1] = mw_graph_emit(g, MW_OP_CONV2D_BWD_WEIGHT, in, 2, 4, shape, n->attr);
    }
    if (n->n_in > 2 && need[2]) {
        shape[0] = mw_t(g, w)->shape[0];
        gin[2] = mw_graph_emit(g, MW_OP_CONV2D_BWD_BIAS, &gy, 1, 1, shape, n->attr);
    }
}

/* ---- GEMM plans -------------------------------------------------------------------------- */

/* The GEMM that node op `op` runs for group `gi` of images n0 .. n0+cn-1 (the whole batch on
 * the pointwise path, whose operand is the map itself rather than im2col columns). */
static mw_gemm plan_gemm(mw_op op, const conv_dims *d, bool pointwise, size_t gi, size_t n0,
                      size_t cn) {
    size_t cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    size_t rows = cin_g * d->k * d->k;   /* im2col rows (or channels) of one group */
    size_t total = d->n * d->ho * d->wo; /* columns of y */
    size_t cols = cn * d->ho * d->wo;    /* columns of this chunk */
    size_t y_off = gi * cout_g * total + n0 * d->ho * d->wo;
    size_t w_off = gi * cout_g * rows;
    /* The columns: the map itself (pointwise, whole batch) or the chunk in the workspace. */
    size_t col_off = pointwise ? gi * rows * total : gi * rows * cols;
    size_t ldcol = pointwise ? total : cols;
    mw_gemm p = {0};
    switch (op) {
    case MW_OP_CONV2D: /* y_g = W_g · col_g */
        p = (mw_gemm){false, false, cout_g, cols, rows, w_off, rows, col_off, ldcol, y_off, total};
        break;
    case MW_OP_CONV2D_BWD_INPUT: /* col_g = W_gᵀ · gy_g */
        p = (mw_gemm){true, false, rows, cols, cout_g, w_off, rows, y_off, total, col_off, ldcol};
        break;
    default: /* MW_OP_CONV2D_BWD_WEIGHT: gw_g (+)= gy_g · col_gᵀ */
        p = (mw_gemm){false, true, cout_g, rows, cols, y_off, total, col_off, ldcol, w_off, rows};
        break;
    }
    return p;
}

/* The direct 3x3 kernels (ops/conv3x3.h) for a general-path node: 0 where they measure
 * faster than im2col + GEMM (CPU devices, see direct_3x3), 1 never, 2 the padded-row
 * kernels wherever they apply (the batch-major ones for the input gradient of stride 2,
 * which has no padded-row kernel), 3 the batch-major kernels (tests, and
 * tests/probe_conv_paths's comparisons), 4 Winograd's F(2x2, 3x3) wherever it applies
 * (stride 1; stride 2 then takes the padded-row kernels). */
extern int mw_conv_direct;
int mw_conv_direct = 0;

/* Whether node op `op` of this shape runs the direct kernels, and which (into *s). Measured
 * with tests/probe_conv_paths on PoCL (bench/RESULTS.md), ResNet18's shapes at batch 128:
 * the padded-row forward takes 0.3-0.7 of im2col + GEMM's time at stride 1, its stride-1
 * input gradient 0.5-0.9 (0.8 on 4x4 maps since their planes hold three images side by
 * side; 1.0-1.2 before); the batch-major weight gradient 0.5-0.8 at stride 1 (the
 * padded-row one loses on 8x8 and 4x4 maps, whose padding columns fill up to half of its
 * vectors; on maps 32 wide, where only layers with fewer than 32 channels on a side stay
 * direct since Winograd, the padded-row one takes 0.58-0.71 of the batch-major time:
 * DenseNet's 48 -> 12, GoogLeNet's 16 -> 32, WideResNet's 16 -> 160, `probe_conv_paths
 * narrow_32x32 228 3`, three rounds). Since the own GEMMs run in cache order, im2col +
 * GEMM wins the passes of stride 2: the forward takes 0.6-1.0 of the padded rows' time, the
 * weight gradient 0.4-0.55 of the batch-major kernels' on 16x16 and 8x8 maps and 0.8-1.1 on
 * 32x32 (three runs at batches 128 and 100, bench/RESULTS.md), and since col2im scatters
 * per tap instead of gathering per pixel, the input gradient 0.55-0.58 of the batch-major
 * kernel's on 32x32 maps and 0.76-0.92 on 16x16 and 8x8 (`probe_conv_paths resnet18_down
 * 228 3`, two rounds). With 3 input channels
 * (a first layer) the loop over channels is too short to pay for the copies (2-3x slower). */
static bool direct_3x3(const mw_runtime *rt, const conv_dims *d, mw_op op, mw_conv3x3_shape *s) {
    if (d->k != 3 || d->pad != 1 || d->groups != 1 || d->stride > 2 || mw_conv_direct == 1)
        return false;
    *s = (mw_conv3x3_shape){d->cin, d->cout, d->n, d->h, d->w, d->stride, false, rt->block_rows};
    bool grad2 = d->stride == 2 && op == MW_OP_CONV2D_BWD_INPUT; /* batch-major only */
    if (mw_conv_direct >= 2) {
        s->batch_major = mw_conv_direct == 3 || grad2;
        return true;
    }
    if (!mw_cpu_profile(rt) || d->cin < 16 || d->stride == 2) return false;
    s->batch_major = op == MW_OP_CONV2D_BWD_WEIGHT && d->w < 32;
    return true;
}

/* Whether a node runs Winograd's F(2x2, 3x3) (ops/winograd.h): 3x3 convolutions of stride
 * 1, padding 1 and one group, on CPU devices where it measures faster than the direct
 * kernels, in all three passes, or wherever it applies when mw_conv_direct is 4 (tests).
 * tests/probe_conv_paths (bench/RESULTS.md): 0.4-0.9 of the direct kernels' time with 64
 * channels and more on either side (ResNet18, WideResNet, GoogLeNet), and with 32 where
 * the transforms' units are full: a 128 -> 32 shape on 32x32 maps 0.65-0.9, GoogLeNet's
 * 32 -> 64, 32 -> 128 and 48 -> 128 on 16x16 and 8x8 maps 0.55-1.0 with compact units
 * (with one tile row a unit, 128 -> 32 on such maps measured 0.8-1.6). On the compact
 * maps it pays from 12 channels (DenseNet's 48 -> 12, GoogLeNet's 16 -> 48 and 24 -> 64:
 * 0.66-0.81 of the direct kernels' three passes together); on 32x32 maps 16-channel layers
 * measured 0.93-1.2 (each pass's transforms cost as much as a map's worth of memory
 * traffic four times over, which small products do not pay back). Per pass, those 32x32
 * layers differ (`probe_conv_paths narrow_32x32 228 5`, two rounds, bench/RESULTS.md): the
 * forward takes 0.5-0.7 of the direct kernels' time on 16 -> 32 and 16 -> 160 and the same
 * on 48 -> 12, and the input gradient of 48 -> 12 (12 channels in, 48 out) 0.55, while the
 * input gradients with the wide side in (16 -> 32 even, 16 -> 160 1.1-1.4) and every weight
 * gradient (1.05-1.2) are not faster; so there the forward always takes it, the input
 * gradient where the layer narrows. */
static bool winograd_3x3(const mw_runtime *rt, const conv_dims *d, mw_op op,
                         mw_conv3x3_shape *s) {
    if (d->k != 3 || d->pad != 1 || d->groups != 1 || d->stride != 1 || mw_conv_direct == 1)
        return false;
    *s = (mw_conv3x3_shape){d->cin, d->cout, d->n, d->h, d->w, 1, false, rt->block_rows};
    if (mw_conv_direct >= 2) return mw_conv_direct == 4;
    if (!mw_cpu_profile(rt)) return false;
    size_t narrow = d->cin < d->cout ? d->cin : d->cout;
    bool full = mw_winograd_full_units(s);
    if (narrow >= 64 || (narrow >= 32 && full) || (narrow >= 12 && mw_winograd_compact_units(s)))
        return true;
    return narrow >= 12 && full &&
           (op == MW_OP_CONV2D || (op == MW_OP_CONV2D_BWD_INPUT && d->cout < d->cin));
}

/* How the general path's forward gathers its columns: 0 by shape (implicit_gemm), 1 always
 * through im2col's copy in the workspace, 2 as an implicit GEMM wherever it applies (tests,
 * tests/probe_conv_paths). */
extern int mw_conv_implicit;
int mw_conv_implicit = 0;

/* Whether a general-path forward runs as one implicit GEMM over the batch (ops/gemm.h,
 * mw_gemm_run_im2col) instead of im2col's chunks and their products: one group, the own
 * kernels' panels fitting (CPU devices), and by shape where it measures faster. */
static bool implicit_gemm(const mw_runtime *rt, const conv_dims *d) {
    if (d->groups != 1 || mw_conv_implicit == 1 || !mw_gemm_im2col_fits(rt, d->cin * d->k * d->k))
        return false;
    return mw_conv_implicit == 2 || (d->stride == 2 && d->k == 3);
}

/* im2col columns of a chunk of cn images, in floats. */
static size_t col_floats(const conv_dims *d, size_t cn) {
    return cn * d->cin * d->k * d->k * d->ho * d->wo;
}

/* Calls `fn` on every distinct GEMM shape a node runs and keeps the largest result. A size
 * depends on a GEMM's dimensions and on whether each offset is zero, so the first, second
 * and last chunk and group cover every case without walking them all. */
static mw_status gemm_plans_max(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                mw_status (*fn)(mw_runtime *, const mw_gemm *, size_t *),
                                size_t *bytes) {
    conv_dims d = node_dims(g, n);
    conv_path path = path_of(&d);
    *bytes = 0;
    if (path == PATH_DEPTHWISE || n->op == MW_OP_CONV2D_BWD_BIAS) return MW_OK;
    bool pointwise = path == PATH_POINTWISE;
    size_t cn = pointwise ? d.n : chunk_images(rt, &d);
    size_t chunks = (d.n + cn - 1) / cn;
    size_t cis[3] = {0, 1, chunks - 1}, gis[3] = {0, 1, d.groups - 1};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            if (cis[i] >= chunks || gis[j] >= d.groups) continue;
            size_t n0 = cis[i] * cn, count = d.n - n0 < cn ? d.n - n0 : cn;
            mw_gemm p = plan_gemm(n->op, &d, pointwise, gis[j], n0, count);
            size_t b = 0;
            MW_TRY(fn(rt, &p, &b));
            if (b > *bytes) *bytes = b;
        }
    return MW_OK;
}

static mw_status own_ws_bytes(mw_runtime *rt, const mw_gemm *p, size_t *bytes) {
    *bytes = mw_gemm_workspace_bytes(rt, p);
    return MW_OK;
}

/* CLBlast's temporary buffer: the largest over the node's GEMMs (none for own kernels). */
static mw_status conv_scratch(mw_runtime *rt, const mw_graph *g, const mw_node *n, size_t *bytes) {
    /* CLBlast's tuning (runtime/gemm_tuning.c) is applied at runtime creation */
    conv_dims d = node_dims(g, n);
    mw_conv3x3_shape s;
    if (path_of(&d) == PATH_GENERAL && n->op != MW_OP_CONV2D_BWD_BIAS &&
        winograd_3x3(rt, &d, n->op, &s))
        return mw_winograd_scratch_bytes(rt, &s, n->op, workspace_cap(rt) / sizeof(float), bytes);
    return gemm_plans_max(rt, g, n, mw_gemm_scratch_bytes, bytes);
}

/* im2col columns (general path), per-plane partial sums (depthwise weight gradient), and the
 * own NT kernel's partial sums after the columns. */
static mw_status conv_workspace(mw_runtime *rt, const mw_graph *g, const mw_node *n,
                                size_t *bytes) {
    conv_dims d = node_dims(g, n);
    conv_path path = path_of(&d);
    *bytes = 0;
    if (path == PATH_DEPTHWISE) {
        if (n->op == MW_OP_CONV2D_BWD_WEIGHT && !dw_small_planes(rt, &d))
            *bytes = d.cin * d.n * d.k * d.k * sizeof(float);
        return MW_OK;
    }
    if (n->op == MW_OP_CONV2D_BWD_BIAS) return MW_OK; /* sums gy alone */
    mw_conv3x3_shape s;
    size_t cap = workspace_cap(rt) / sizeof(float);
    if (path == PATH_GENERAL && winograd_3x3(rt, &d, n->op, &s)) {
        *bytes = mw_winograd_workspace_floats(rt, &s, n->op, cap) * sizeof(float);
        return MW_OK;
    }
    if (path == PATH_GENERAL && direct_3x3(rt, &d, n->op, &s)) {
        *bytes = mw_conv3x3_workspace_floats(&s, n->op, cap) * sizeof(float);
        return MW_OK;
    }
    if (path == PATH_GENERAL) *bytes = col_floats(&d, chunk_images(rt, &d)) * sizeof(float);
    size_t partial = 0; /* the own NT kernel's partial sums (none with CLBlast) */
    MW_TRY(gemm_plans_max(rt, g, n, own_ws_bytes, &partial));
    *bytes += partial;
    return MW_OK;
}

/* ---- kernel launches ------------------------------------------------------------------- */

/* cl/conv.cl is built once plain, for the im2col and bias kernels (variant 0), and once
 * per depthwise kernel size and stride (variants 1-4). */
enum { PROG_BASE = 0 };
static const char *const VARIANT_OPTIONS[5] = {NULL, "-DDW_K=3 -DDW_S=1", "-DDW_K=3 -DDW_S=2",
                                               "-DDW_K=5 -DDW_S=1", "-DDW_K=5 -DDW_S=2"};

/* The depthwise variant of a shape on the depthwise path. */
static int dw_variant(const conv_dims *d) {
    return 1 + 2 * (d->k == 5) + (d->stride == 2);
}

/* `items` work-items of a cl/conv.cl kernel of program `variant`, in groups of `local`
 * (the kernels check their index). */
static mw_launch_spec conv_items(int variant, const char *kernel, size_t items, size_t local) {
    return (mw_launch_spec){.family = "conv",
                            .options = VARIANT_OPTIONS[variant],
                            .kernel = kernel,
                            .kind = MW_RANGE_ITEMS,
                            .dims = 1,
                            .global = {items},
                            .local = {local}};
}

/* Depthwise work split. On CPU devices a work-item takes about 256 output pixels (whole
 * small planes, bands of rows of large ones) and groups hold one item: PoCL runs a group's
 * items as a loop that keeps their registers in memory, and every group and item costs a
 * fixed overhead. Elsewhere one row (one plane for the weight gradient) per item; groups:
 * mw_profile_group_size. */
enum { DW_PIXELS_PER_ITEM = 256 };

typedef struct dw_split {
    size_t per_item, local; /* rows (or planes) per item, items per group */
} dw_split;

/* How rows (or planes) of `pixels` pixels each are split: see dw_items for the count. */
static dw_split dw_split_of(const mw_runtime *rt, size_t pixels) {
    size_t group = mw_profile_group_size(rt);
    if (!mw_cpu_profile(rt)) return (dw_split){1, group};
    size_t per = DW_PIXELS_PER_ITEM / (pixels ? pixels : 1);
    return (dw_split){per < 1 ? 1 : per, group};
}

static size_t dw_items(dw_split sp, size_t units) {
    return (units + sp.per_item - 1) / sp.per_item;
}

/* The stride-2 plane kernels' split: four times the planes per item of dw_split_of's rule on
 * output pixels, so that an item's input runs 16 KB or more in one stream, which the
 * prefetcher follows (probe_depthwise, 144@32x32 at 228 images: the forward 8.1 ms, against
 * 11.6 a plane per item and 12-13 on the row kernel). */
static dw_split dw_split_s2(const mw_runtime *rt, const conv_dims *d) {
    return dw_split_of(rt, d->ho * d->wo / 4);
}

/* im2col and col2im: on CPU devices one item per (row, image) or (channel, image) block;
 * elsewhere one item per column entry or input pixel, whose stores in a group are
 * consecutive (im2col_items, col2im_items). The per-block kernels wrote 4 KB apart from one
 * item to the next, which a GPU's memory does one line at a time. Groups:
 * mw_profile_group_size. */

static mw_status im2col_chunk(mw_cl_ctx *c, const conv_dims *d, cl_mem x, size_t n0, size_t cn) {
    bool cpu = mw_cpu_profile(c->rt);
    size_t items = d->cin * d->k * d->k * cn * (cpu ? 1 : d->ho * d->wo);
    return mw_launch_kernel(c,
                            conv_items(PROG_BASE, cpu ? "im2col" : "im2col_items", items,
                                       mw_profile_group_size(c->rt)),
                            "mmuuuuuuuuuuu", x, c->workspace, (unsigned)d->n, (unsigned)d->h,
                            (unsigned)d->w, (unsigned)d->ho, (unsigned)d->wo, (unsigned)d->k,
                            (unsigned)d->stride, (unsigned)d->pad, (unsigned)n0, (unsigned)cn,
                            (unsigned)items);
}

static mw_status col2im_chunk(mw_cl_ctx *c, const conv_dims *d, cl_mem gx, size_t n0, size_t cn) {
    bool cpu = mw_cpu_profile(c->rt);
    size_t items = d->cin * cn * (cpu ? 1 : d->h * d->w);
    return mw_launch_kernel(c,
                            conv_items(PROG_BASE, cpu ? "col2im" : "col2im_items", items,
                                       mw_profile_group_size(c->rt)),
                            "mmuuuuuuuuuuu", c->workspace, gx, (unsigned)d->n, (unsigned)d->h,
                            (unsigned)d->w, (unsigned)d->ho, (unsigned)d->wo, (unsigned)d->k,
                            (unsigned)d->stride, (unsigned)d->pad, (unsigned)n0, (unsigned)cn,
                            (unsigned)items);
}

/* The depthwise forward (y = M x + bias) or, `transposed`, input gradient (gx = Mᵀ gy) on
 * planes of at most 16 pixels: one work-item per channel, in groups of one (CPU devices
 * only, see dw_small_planes). */
static mw_status dw_small_planes_launch(mw_cl_ctx *c, const conv_dims *d, cl_mem src, cl_mem w,
                                        cl_mem bias, int act, cl_mem dst, bool transposed) {
    return mw_launch_kernel(c, conv_items(dw_variant(d), "dw_small_planes", d->cin, 1),
                            "mmmmuiuuuuuuu", src, w, bias ? bias : w, dst, (unsigned)(bias != NULL),
                            act, (unsigned)d->n, (unsigned)d->h, (unsigned)d->w, (unsigned)d->ho,
                            (unsigned)d->wo, (unsigned)transposed, (unsigned)d->cin);
}

/* The stride-1 depthwise forward (or, `flip`, the input gradient: the correlation of gy
 * with the flipped kernel, same size in and out) on maps up to 32 wide, whole
 * planes per work-item (cl/dw_plane.clh: 8x8 planes with every row's taps held at once, the
 * others with taps rolled through K output rows). probe_depthwise: at 228 images the
 * rolling loop took 2.0-4.2 ms on the 8x8 shapes where holding every row took 1.0-2.0, and
 * 2.3 against 3.8 for a row per step (the kernel before it) on 192@16x16. */
static mw_status dw_planes_launch(mw_cl_ctx *c, const conv_dims *d, cl_mem src, cl_mem w,
                                  cl_mem bias, int act, cl_mem dst, bool flip) {
    size_t planes = d->cin * d->n;
    dw_split sp = dw_split_of(c->rt, d->h * d->w);
    return mw_launch_kernel(
        c, conv_items(dw_variant(d), "dw_planes", dw_items(sp, planes), sp.local),
        "mmmmuiuuuuuu", src, w, bias ? bias : w, dst, (unsigned)(bias != NULL), act,
        (unsigned)d->n, (unsigned)d->h, (unsigned)d->w, (unsigned)flip, (unsigned)sp.per_item,
        (unsigned)planes);
}

/* ---- OpenCL ---------------------------------------------------------------------------- */

/* Whether the forward of this node writes act(conv) in the same pass (mw_conv2d_forward_act
 * with an activation): the depthwise kernels and the own NN GEMM (CPU devices) do; the direct
 * and Winograd 3x3 kernels and CLBlast's GEMM do not. */
bool mw_conv2d_takes_act(const mw_runtime *rt, const mw_graph *g, const mw_node *n) {
    conv_dims d = node_dims(g, n);
    conv_path path = path_of(&d);
    if (path == PATH_DEPTHWISE) return true;
    mw_conv3x3_shape s;
    if (path == PATH_GENERAL &&
        (winograd_3x3(rt, &d, MW_OP_CONV2D, &s) || direct_3x3(rt, &d, MW_OP_CONV2D, &s)))
        return false;
    mw_gemm p = plan_gemm(MW_OP_CONV2D, &d, path == PATH_POINTWISE, 0, 0,
                          path == PATH_POINTWISE ? d.n : chunk_images(rt, &d));
    return mw_gemm_takes_act(rt, &p);
}

/* y = act(conv(x, w) + b) for a forward node's shapes, with the weights and bias given (b may
 * be NULL); act other than MW_ACT_NONE only where mw_conv2d_takes_act. */
mw_status mw_conv2d_forward_act(mw_cl_ctx *c, const mw_node *n, cl_mem w, cl_mem b, int act,
                                cl_mem y) {
    conv_dims d = node_dims(c->g, n);
    conv_path path = path_of(&d);
    cl_mem x = mw_mem(c, n->in[0]);
    if (path == PATH_DEPTHWISE && dw_small_planes(c->rt, &d))
        return dw_small_planes_launch(c, &d, x, w, b, act, y, false);
    if (path == PATH_DEPTHWISE && dw_vector_rows(c->rt, &d))
        return dw_planes_launch(c, &d, x, w, b, act, y, false);
    if (path == PATH_DEPTHWISE && dw_planes_s2(c->rt, &d)) {
        size_t planes = d.cin * d.n;
        dw_split sp = dw_split_s2(c->rt, &d);
        return mw_launch_kernel(
            c, conv_items(dw_variant(&d), "dw_planes_s2", dw_items(sp, planes), sp.local),
            "mmmmuiuuuuu", x, w, b ? b : w, y, (unsigned)(b != NULL), act, (unsigned)d.n,
            (unsigned)d.h, (unsigned)d.w, (unsigned)sp.per_item, (unsigned)planes);
    }
    if (path == PATH_DEPTHWISE) {
        dw_split sp = dw_split_of(c->rt, d.wo);
        size_t rows = d.cout * d.n * d.ho;
        return mw_launch_kernel(
            c, conv_items(dw_variant(&d), "dw_forward", dw_items(sp, rows), sp.local),
            "mmmmuiuuuuuuu", x, w, b ? b : w, y, (unsigned)(b != NULL), act, (unsigned)d.n,
            (unsigned)d.h, (unsigned)d.w, (unsigned)d.ho, (unsigned)d.wo, (unsigned)sp.per_item,
            (unsigned)rows);
    }
    bool bias = b != NULL;
    mw_conv3x3_shape s;
    bool winograd = path == PATH_GENERAL && winograd_3x3(c->rt, &d, MW_OP_CONV2D, &s);
    if (winograd || (path == PATH_GENERAL && direct_3x3(c->rt, &d, MW_OP_CONV2D, &s))) {
        if (act != MW_ACT_NONE)
            return mw_error_set(MW_ERR_INVALID_ARG, "conv2d on %s: the 3x3 kernels apply no "
                                "activation (mw_conv2d_takes_act)", mw_t(c->g, n->in[0])->name);
        /* these add to y: the bias first */
        size_t plane = d.n * d.ho * d.wo;
        if (bias) MW_TRY(mw_gemm_fill_rows(c, b, 0, y, 0, plane, d.cout, plane));
        size_t cap = workspace_cap(c->rt) / sizeof(float);
        return winograd ? mw_winograd_forward(c, &s, cap, x, w, y, bias)
                        : mw_conv3x3_forward(c, &s, cap, x, w, y, bias);
    }
    bool pointwise = path == PATH_POINTWISE;
    if (!pointwise && implicit_gemm(c->rt, &d)) {
        mw_gemm_im2col g = {d.cin, d.cout, d.n, d.h, d.w, d.k, d.ho, d.wo, d.stride, d.pad};
        return mw_gemm_run_im2col(c, &g, w, x, b, act, y);
    }
    /* The GEMMs: y = W·X (+ the bias) per group, on the maps themselves or on im2col's
     * columns of a chunk of images. */
    size_t cn = pointwise ? d.n : chunk_images(c->rt, &d);
    for (size_t n0 = 0; n0 < d.n; n0 += cn) {
        size_t count = d.n - n0 < cn ? d.n - n0 : cn;
        if (!pointwise) MW_TRY(im2col_chunk(c, &d, x, n0, count));
        for (size_t gi = 0; gi < d.groups; gi++) {
            mw_gemm p = plan_gemm(MW_OP_CONV2D, &d, pointwise, gi, n0, count);
            cl_mem cols = pointwise ? x : c->workspace;
            size_t ws_off = pointwise ? 0 : col_floats(&d, cn); /* after the columns */
            MW_TRY(bias || act != MW_ACT_NONE
                       ? mw_gemm_run_row_bias(c, &p, w, cols, b, gi * p.m, act, y, ws_off)
                       : mw_gemm_run(c, &p, w, cols, 0.0f, y, ws_off));
        }
    }
    return MW_OK;
}

static mw_status conv2d_cl(mw_cl_ctx *c, const mw_node *n) {
    return mw_conv2d_forward_act(c, n, mw_mem(c, n->in[1]),
                                 n->n_in > 2 ? mw_mem(c, n->in[2]) : NULL, MW_ACT_NONE,
                                 mw_mem(c, n->out[0]));
}

static mw_status conv2d_bwd_input_cl(mw_cl_ctx *c, const mw_node *n) {
    conv_dims d = node_dims(c->g, n);
    conv_path path = path_of(&d);
    cl_mem gy = mw_mem(c, n->in[0]), w = mw_mem(c, n->in[1]), gx = mw_mem(c, n->out[0]);
    if (path == PATH_DEPTHWISE && dw_small_planes(c->rt, &d))
        return dw_small_planes_launch(c, &d, gy, w, NULL, MW_ACT_NONE, gx, true);
    if (path == PATH_DEPTHWISE && dw_vector_rows(c->rt, &d))
        return dw_planes_launch(c, &d, gy, w, NULL, MW_ACT_NONE, gx, true);
    if (path == PATH_DEPTHWISE && dw_planes_s2(c->rt, &d)) {
        size_t planes = d.cin * d.n;
        dw_split sp = dw_split_s2(c->rt, &d);
        return mw_launch_kernel(
            c, conv_items(dw_variant(&d), "dw_planes_s2_input", dw_items(sp, planes), sp.local),
            "mmmuuuuuuu", gy, w, gx, (unsigned)d.n, (unsigned)d.h, (unsigned)d.w, (unsigned)d.ho,
            (unsigned)d.wo, (unsigned)sp.per_item, (unsigned)planes);
    }
    if (path == PATH_DEPTHWISE) {
        dw_split sp = dw_split_of(c->rt, d.w);
        size_t rows = d.cin * d.n * d.h;
        return mw_launch_kernel(
            c, conv_items(dw_variant(&d), "dw_backward_input", dw_items(sp, rows), sp.local),
            "mmmuuuuuuu", gy, w, gx, (unsigned)d.n, (unsigned)d.h, (unsigned)d.w, (unsigned)d.ho,
            (unsigned)d.wo, (unsigned)sp.per_item, (unsigned)rows);
    }
    mw_conv3x3_shape s;
    if (path == PATH_GENERAL && winograd_3x3(c->rt, &d, MW_OP_CONV2D_BWD_INPUT, &s))
        return mw_winograd_bwd_input(c, &s, workspace_cap(c->rt) / sizeof(float), gy, w, gx);
    if (path == PATH_GENERAL && direct_3x3(c->rt, &d, MW_OP_CONV2D_BWD_INPUT, &s))
        return mw_conv3x3_bwd_input(c, &s, workspace_cap(c->rt) / sizeof(float), gy, w, gx);
    if (path == PATH_POINTWISE) {
        for (size_t gi = 0; gi < d.groups; gi++) {
            mw_gemm p = plan_gemm(MW_OP_CONV2D_BWD_INPUT, &d, true, gi, 0, d.n);
            MW_TRY(mw_gemm_run(c, &p, w, gy, 0.0f, gx, 0));
        }
        return MW_OK;
    }
    size_t cn = chunk_images(c->rt, &d);
    for (size_t n0 = 0; n0 < d.n; n0 += cn) {
        size_t count = d.n - n0 < cn ? d.n - n0 : cn;
        for (size_t gi = 0; gi < d.groups; gi++) {
            mw_gemm p = plan_gemm(MW_OP_CONV2D_BWD_INPUT, &d, false, gi, n0, count);
            MW_TRY(mw_gemm_run(c, &p, w, gy, 0.0f, c->workspace, col_floats(&d, cn)));
        }
        MW_TRY(col2im_chunk(c, &d, gx, n0, count));
    }
    return MW_OK;
}

/* Whether node n's depthwise maps go to the whole-vector plane kernels (fused or not), and
 * `maps` of a channel's maps fit the device's local memory with the reductions' scratch. */
static bool dw_fusable(const mw_runtime *rt, const mw_graph *g, const mw_node *n, size_t maps) {
    conv_dims d = node_dims(g, n);
    if (path_of(&d) != PATH_DEPTHWISE || !dw_vector_rows(rt, &d) || dw_small_planes(rt, &d))
        return false;
    size_t bytes = (maps * d.n * d.h * d.w + 2 * MW_ROW_MAX_GROUP) * sizeof(float);
    return bytes <= mw_runtime_device(rt)->local_mem_bytes;
}

/* One work-group per channel of a fused depthwise kernel, of the batch norms' group size. */
static mw_launch_spec channel_groups(mw_cl_ctx *c, const conv_dims *d, const char *kernel) {
    return (mw_launch_spec){.family = "conv",
                            .options = VARIANT_OPTIONS[dw_variant(d)],
                            .kernel = kernel,
                            .kind = MW_RANGE_GROUPS,
                            .dims = 1,
                            .global = {d->cin},
                            .local = {mw_group_size(c, MW_ROW_MAX_GROUP)}};
}

bool mw_dw_bn_forward_fits(const mw_runtime *rt, const mw_graph *g, const mw_node *conv) {
    return conv->op == MW_OP_CONV2D && dw_fusable(rt, g, conv, 1);
}

mw_status mw_dw_bn_forward(mw_cl_ctx *c, const mw_node *conv, const mw_node *bn) {
    conv_dims d = node_dims(c->g, conv);
    mw_launch_spec spec = channel_groups(c, &d, "dw_bn_forward");
    bool bias = conv->n_in > 2;
    const mw_node_attr *at = &bn->attr;
    return mw_launch_kernel(
        c, spec, "mmmummmmmmmmluuuuffi", mw_mem(c, conv->in[0]), mw_mem(c, conv->in[1]),
        mw_mem(c, conv->in[bias ? 2 : 1]), (unsigned)bias, mw_mem(c, conv->out[0]),
        mw_mem(c, bn->in[1]), mw_mem(c, bn->in[2]), mw_mem(c, bn->in[3]), mw_mem(c, bn->in[4]),
        mw_mem(c, bn->in[5]), mw_mem(c, bn->out[0]), mw_mem(c, bn->out[1]),
        d.n * d.h * d.w * sizeof(float), (unsigned)d.cin, (unsigned)d.n, (unsigned)d.h,
        (unsigned)d.w, (double)at->norm.momentum, (double)at->norm.eps, at->norm.activation);
}

bool mw_bn_dw_backward_fits(const mw_runtime *rt, const mw_graph *g, const mw_node *bwd_input,
                            bool with_bn1) {
    return bwd_input->op == MW_OP_CONV2D_BWD_INPUT &&
           dw_fusable(rt, g, bwd_input, with_bn1 ? 2 : 1);
}

mw_status mw_bn_dw_backward(mw_cl_ctx *c, const mw_node *bn, const mw_node *bwd_input,
                            const mw_node *bwd_weight, const mw_node *bn1) {
    conv_dims d = node_dims(c->g, bwd_input);
    size_t map_bytes = d.n * d.h * d.w * sizeof(float);
    mw_launch_spec spec = channel_groups(c, &d, "bn_dw_backward");
    /* without bn1 its arguments are bn's (unread), its local map one float */
    const mw_node *b1 = bn1 ? bn1 : bn;
    return mw_launch_kernel(
        c, spec, "mmmmmmmmmmmluuuuiiummmmmmli", mw_mem(c, bn->in[0]), mw_mem(c, bn->in[1]),
        mw_mem(c, bn->in[2]), mw_mem(c, bn->in[3]), mw_mem(c, bn->in[4]),
        mw_mem(c, bwd_input->in[1]), mw_mem(c, bwd_weight->in[1]), mw_mem(c, bn->out[1]),
        mw_mem(c, bn->out[2]), mw_mem(c, bn1 ? bn1->out[0] : bwd_input->out[0]),
        mw_mem(c, bwd_weight->out[0]), map_bytes, (unsigned)d.cin, (unsigned)d.n, (unsigned)d.h,
        (unsigned)d.w, bn->attr.norm.activation, (int)c->training, (unsigned)(bn1 != NULL),
        mw_mem(c, b1->in[1]), mw_mem(c, b1->in[2]), mw_mem(c, b1->in[3]), mw_mem(c, b1->in[4]),
        mw_mem(c, b1->out[1]), mw_mem(c, b1->out[2]), bn1 ? map_bytes : sizeof(float),
        b1->attr.norm.activation);
}

static mw_status conv2d_bwd_weight_cl(mw_cl_ctx *c, const mw_node *n) {
    conv_dims d = node_dims(c->g, n);
    conv_path path = path_of(&d);
    cl_mem gy = mw_mem(c, n->in[0]), x = mw_mem(c, n->in[1]), gw = mw_mem(c, n->out[0]);
    if (path == PATH_DEPTHWISE && dw_small_planes(c->rt, &d))
        return mw_launch_kernel(c, conv_items(dw_variant(&d), "dw_small_planes_weight", d.cin, 1),
                                "mmmuuuuuu", gy, x, gw, (unsigned)d.n, (unsigned)d.h,
                                (unsigned)d.w, (unsigned)d.ho, (unsigned)d.wo, (unsigned)d.cin);
    if (path == PATH_DEPTHWISE) {
        size_t planes = d.cin * d.n, kk = d.k * d.k;
        bool s2 = dw_planes_s2(c->rt, &d);
        dw_split sp = s2 ? dw_split_s2(c->rt, &d) : dw_split_of(c->rt, d.ho * d.wo);
        if (dw_vector_rows(c->rt, &d) || s2)
            MW_TRY(mw_launch_kernel(c,
                                    conv_items(dw_variant(&d),
                                               s2 ? "dw_planes_s2_weight" : "dw_vector_rows_weight",
                                               dw_items(sp, planes), sp.local),
                                    "mmmuuuu", gy, x, c->workspace, (unsigned)d.h, (unsigned)d.w,
                                    (unsigned)sp.per_item, (unsigned)planes));
        else
            MW_TRY(mw_launch_kernel(c,
                                    conv_items(dw_variant(&d), "dw_weight_partial",
                                               dw_items(sp, planes), sp.local),
                                    "mmmuuuuuu", gy, x, c->workspace, (unsigned)d.h,
                                    (unsigned)d.w, (unsigned)d.ho, (unsigned)d.wo,
                                    (unsigned)sp.per_item, (unsigned)planes));
        return mw_launch_kernel(c, conv_items(PROG_BASE, "dw_weight_reduce", d.cin * kk, 64),
                                "mmuuu", c->workspace, gw, (unsigned)d.n, (unsigned)kk,
                                (unsigned)(d.cin * kk));
    }
    mw_conv3x3_shape s;
    if (path == PATH_GENERAL && winograd_3x3(c->rt, &d, MW_OP_CONV2D_BWD_WEIGHT, &s))
        return mw_winograd_bwd_weight(c, &s, workspace_cap(c->rt) / sizeof(float), gy, x, gw);
    if (path == PATH_GENERAL && direct_3x3(c->rt, &d, MW_OP_CONV2D_BWD_WEIGHT, &s))
        return mw_conv3x3_bwd_weight(c, &s, workspace_cap(c->rt) / sizeof(float), gy, x, gw);
    if (path == PATH_POINTWISE) {
        for (size_t gi = 0; gi < d.groups; gi++) {
            mw_gemm p = plan_gemm(MW_OP_CONV2D_BWD_WEIGHT, &d, true, gi, 0, d.n);
            MW_TRY(mw_gemm_run(c, &p, gy, x, 0.0f, gw, 0));
        }
        return MW_OK;
    }
    size_t cn = chunk_images(c->rt, &d);
    for (size_t n0 = 0; n0 < d.n; n0 += cn) {
        size_t count = d.n - n0 < cn ? d.n - n0 : cn;
        MW_TRY(im2col_chunk(c, &d, x, n0, count));
        for (size_t gi = 0; gi < d.groups; gi++) {
            mw_gemm p = plan_gemm(MW_OP_CONV2D_BWD_WEIGHT, &d, false, gi, n0, count);
            MW_TRY(mw_gemm_run(c, &p, gy, c->workspace, n0 ? 1.0f : 0.0f, gw, col_floats(&d, cn)));
        }
    }
    return MW_OK;
}

static mw_status conv2d_bwd_bias_cl(mw_cl_ctx *c, const mw_node *n) {
    const mw_tensor *gy = mw_t(c->g, n->in[0]);
    size_t channels = (size_t)gy->shape[0], len = gy->numel / channels;
    return mw_launch_groups(c, "conv", "bias_grad", channels, mw_group_size(c, MW_ROW_MAX_GROUP),
                            "mmuu", mw_mem(c, n->in[0]), mw_mem(c, n->out[0]), (unsigned)len,
                            (unsigned)channels);
}

/* ---- reference backend ----------------------------------------------------------------- */

/* The input pixel that output (oy, ox) reads through tap (ky, kx), or -1 in the padding. */
static long tap_index(const mw_ref_conv_shape *s, size_t oy, size_t ox, size_t ky, size_t kx) {
    long iy = (long)(oy * s->stride + ky) - (long)s->pad;
    long ix = (long)(ox * s->stride + kx) - (long)s->pad;
    if (iy < 0 || ix < 0 || iy >= (long)s->h || ix >= (long)s->w) return -1;
    return iy * (long)s->w + ix;
}

static size_t out_size(size_t in, const mw_ref_conv_shape *s) {
    return (in + 2 * s->pad - s->k) / s->stride + 1;
}

void mw_ref_conv2d(const float *x, const float *w, const float *b, float *y,
                   const mw_ref_conv_shape *s) {
    size_t ho = out_size(s->h, s), wo = out_size(s->w, s);
    size_t cin_g = s->cin / s->groups, cout_g = s->cout / s->groups, kk = s->k * s->k;
    for (size_t co = 0; co < s->cout; co++)
        for (size_t n = 0; n < s->n; n++)
            for (size_t oy = 0; oy < ho; oy++)
                for (size_t ox = 0; ox < wo; ox++) {
                    double acc = b ? b[co] : 0.0;
                    size_t gi = co / cout_g;
                    for (size_t cl = 0; cl < cin_g; cl++) {
                        const float *plane = x + ((gi * cin_g + cl) * s->n + n) * s->h * s->w;
                        const float *wk = w + (co * cin_g + cl) * kk;
                        for (size_t ky = 0; ky < s->k; ky++)
                            for (size_t kx = 0; kx < s->k; kx++) {
                                long i = tap_index(s, oy, ox, ky, kx);
                                if (i >= 0) acc += (double)wk[ky * s->k + kx] * plane[i];
                            }
                    }
                    y[((co * s->n + n) * ho + oy) * wo + ox] = (float)acc;
                }
}

void mw_ref_conv2d_bwd_input(const float *gy, const float *w, float *gx,
                             const mw_ref_conv_shape *s) {
    size_t ho = out_size(s->h, s), wo = out_size(s->w, s);
    size_t cin_g = s->cin / s->groups, cout_g = s->cout / s->groups, kk = s->k * s->k;
    size_t plane = s->h * s->w;
    double *acc = calloc(plane, sizeof *acc);
    if (!acc) return;
    for (size_t ci = 0; ci < s->cin; ci++)
        for (size_t n = 0; n < s->n; n++) {
            for (size_t i = 0; i < plane; i++)
                acc[i] = 0;
            size_t gi = ci / cin_g;
            for (size_t cl = 0; cl < cout_g; cl++) {
                size_t co = gi * cout_g + cl;
                const float *g = gy + (co * s->n + n) * ho * wo;
                const float *wk = w + (co * cin_g + ci % cin_g) * kk;
                for (size_t oy = 0; oy < ho; oy++)
                    for (size_t ox = 0; ox < wo; ox++)
                        for (size_t ky = 0; ky < s->k; ky++)
                            for (size_t kx = 0; kx < s->k; kx++) {
                                long i = tap_index(s, oy, ox, ky, kx);
                                if (i >= 0) acc[i] += (double)wk[ky * s->k + kx] * g[oy * wo + ox];
                            }
            }
            for (size_t i = 0; i < plane; i++)
                gx[(ci * s->n + n) * plane + i] = (float)acc[i];
        }
    free(acc);
}

void mw_ref_conv2d_bwd_weight(const float *gy, const float *x, float *gw,
                              const mw_ref_conv_shape *s) {
    size_t ho = out_size(s->h, s), wo = out_size(s->w, s);
    size_t cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    for (size_t co = 0; co < s->cout; co++)
        for (size_t cl = 0; cl < cin_g; cl++)
            for (size_t ky = 0; ky < s->k; ky++)
                for (size_t kx = 0; kx < s->k; kx++) {
                    size_t ci = (co / cout_g) * cin_g + cl;
                    double acc = 0;
                    for (size_t n = 0; n < s->n; n++) {
                        const float *plane = x + (ci * s->n + n) * s->h * s->w;
                        const float *g = gy + (co * s->n + n) * ho * wo;
                        for (size_t oy = 0; oy < ho; oy++)
                            for (size_t ox = 0; ox < wo; ox++) {
                                long i = tap_index(s, oy, ox, ky, kx);
                                if (i >= 0) acc += (double)g[oy * wo + ox] * plane[i];
                            }
                    }
                    gw[((co * cin_g + cl) * s->k + ky) * s->k + kx] = (float)acc;
                }
}

void mw_ref_conv2d_bwd_bias(const float *gy, float *gb, size_t cout, size_t len) {
    for (size_t c = 0; c < cout; c++) {
        double acc = 0;
        for (size_t j = 0; j < len; j++)
            acc += gy[c * len + j];
        gb[c] = (float)acc;
    }
}

static mw_ref_conv_shape ref_shape(const conv_dims *d) {
    mw_ref_conv_shape s = {d->cin, d->cout, d->n, d->h, d->w, d->k, d->stride, d->pad, d->groups};
    return s;
}

static mw_status conv2d_cpu(mw_cpu_ctx *c, const mw_node *n) {
    conv_dims d = node_dims(c->g, n);
    mw_ref_conv_shape s = ref_shape(&d);
    mw_ref_conv2d(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                  n->n_in > 2 ? mw_host_f32(c, n->in[2]) : NULL, mw_host_f32(c, n->out[0]), &s);
    return MW_OK;
}

static mw_status conv2d_bwd_input_cpu(mw_cpu_ctx *c, const mw_node *n) {
    conv_dims d = node_dims(c->g, n);
    mw_ref_conv_shape s = ref_shape(&d);
    mw_ref_conv2d_bwd_input(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                            mw_host_f32(c, n->out[0]), &s);
    return MW_OK;
}

static mw_status conv2d_bwd_weight_cpu(mw_cpu_ctx *c, const mw_node *n) {
    conv_dims d = node_dims(c->g, n);
    mw_ref_conv_shape s = ref_shape(&d);
    mw_ref_conv2d_bwd_weight(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                             mw_host_f32(c, n->out[0]), &s);
    return MW_OK;
}

static mw_status conv2d_bwd_bias_cpu(mw_cpu_ctx *c, const mw_node *n) {
    const mw_tensor *gy = mw_t(c->g, n->in[0]);
    size_t channels = (size_t)gy->shape[0];
    mw_ref_conv2d_bwd_bias(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->out[0]), channels,
                           gy->numel / channels);
    return MW_OK;
}

const mw_op_def mw_op_def_conv2d = {.run_cl = conv2d_cl,
                                    .run_cpu = conv2d_cpu,
                                    .backward = conv2d_backward,
                                    .scratch_bytes = conv_scratch,
                                    .workspace_bytes = conv_workspace};
const mw_op_def mw_op_def_conv2d_bwd_input = {.run_cl = conv2d_bwd_input_cl,
                                              .run_cpu = conv2d_bwd_input_cpu,
                                              .scratch_bytes = conv_scratch,
                                              .workspace_bytes = conv_workspace};
const mw_op_def mw_op_def_conv2d_bwd_weight = {.run_cl = conv2d_bwd_weight_cl,
                                               .run_cpu = conv2d_bwd_weight_cpu,
                                               .scratch_bytes = conv_scratch,
                                               .workspace_bytes = conv_workspace};
const mw_op_def mw_op_def_conv2d_bwd_bias = {.run_cl = conv2d_bwd_bias_cl,
                                             .run_cpu = conv2d_bwd_bias_cpu};
