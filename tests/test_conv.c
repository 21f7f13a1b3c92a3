/* The conv family: conv2d forward and its input, weight and bias gradients on every OpenCL
 * path (pointwise GEMM, depthwise kernels, im2col + GEMM in chunks, groups), against
 * PyTorch's vectors, the reference backend and finite differences; shape errors. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "ops/winograd.h"

/* engine/ops/conv.c: the im2col workspace cap, lowered here so that small shapes run in
 * several chunks. */
extern size_t mw_conv_workspace_cap;
/* engine/ops/conv.c: 0 chooses kernels by device type, 1 as for GPUs (CLBlast GEMMs, a
 * depthwise row per work-item), 2 as for CPUs (own GEMMs, bands of rows); the tests run both
 * profiles on whatever device they have. */
extern int mw_kernel_profile;
static const char *const profile_names[3] = {"auto", "gpu profile", "cpu profile"};
/* engine/ops/conv.c: 0 chooses the direct 3x3 kernels where they measure faster, 1 never,
 * 2 the padded-row kernels wherever the shape allows (3x3, padding 1, one group), 3 the
 * batch-major ones, 4 Winograd's F(2x2, 3x3) at stride 1 (padded rows at stride 2). */
extern int mw_conv_direct;
extern int mw_winograd_fuse; /* engine/ops/winograd.c */
extern int mw_winograd_f4;   /* engine/ops/winograd.c: 2 forces F(4x4, 3x3) where it applies */
extern int mw_dw_rows_only;  /* engine/ops/conv.c: 1 keeps the depthwise row kernels */

typedef struct conv_case {
    const char *name;
    int cin, cout, n, h, w, k, stride, pad, groups;
    bool bias;
} conv_case;

static int out_size(int in, const conv_case *c) {
    return (in + 2 * c->pad - c->k) / c->stride + 1;
}

static int build_conv(mw_graph *g, const int *in, const void *ctx) {
    const conv_case *c = ctx;
    return mw_conv2d(g, in[0], in[1], c->bias ? in[2] : -1, c->stride, c->pad, c->groups);
}

static op_spec spec_of(const conv_case *c) {
    op_spec s = {c->bias ? 3 : 2, {4, 4, 1}, {{0}}, {MW_F32, MW_F32, MW_F32}, build_conv, c};
    int64_t x[4] = {c->cin, c->n, c->h, c->w}, w[4] = {c->cout, c->cin / c->groups, c->k, c->k};
    memcpy(s.shape[0], x, sizeof x);
    memcpy(s.shape[1], w, sizeof w);
    s.shape[2][0] = c->cout;
    return s;
}

static size_t numel(const op_spec *s, int i) {
    size_t n = 1;
    for (int d = 0; d < s->ndim[i]; d++)
        n *= (size_t)s->shape[i][d];
    return n;
}

/* Same cases as tests/reference/make_conv_reference.py. */
static const conv_case pytorch_cases[] = {
    {"c3s1", 3, 5, 2, 9, 9, 3, 1, 1, 1, true},   {"c3s2", 4, 6, 3, 8, 8, 3, 2, 1, 1, false},
    {"pw", 7, 5, 2, 6, 6, 1, 1, 0, 1, true},     {"pw_s2", 4, 6, 2, 9, 9, 1, 2, 0, 1, false},
    {"dw3s1", 6, 6, 2, 9, 9, 3, 1, 1, 6, true},  {"dw3s2", 6, 6, 2, 8, 8, 3, 2, 1, 6, false},
    {"dw5s1", 6, 6, 2, 9, 9, 5, 1, 2, 6, false}, {"dw5s2", 6, 6, 2, 9, 9, 5, 2, 2, 6, false},
    {"grp2", 4, 6, 2, 7, 7, 3, 1, 1, 2, true},
    /* planes of at most 16 pixels: the small-plane depthwise kernels on the cpu profile */
    {"dw3s1_4x4", 6, 6, 3, 4, 4, 3, 1, 1, 6, true},
    {"dw5s1_2x2", 6, 6, 3, 2, 2, 5, 1, 2, 6, false},
    {"dw5s2_4x4", 6, 6, 3, 4, 4, 5, 2, 2, 6, false},
};

static float *ref_tensor(const mw_safetensors *ref, const conv_case *c, const char *what,
                         size_t n) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c->name, what);
    return test_reference_f32(ref, name, n);
}

static void check_pytorch_case(const mw_safetensors *ref, const conv_case *c, double rtol) {
    op_spec spec = spec_of(c);
    size_t ny = (size_t)c->cout * c->n * out_size(c->h, c) * out_size(c->w, c);
    float *in[3] = {NULL}, *want_grad[3] = {NULL};
    static const char *const names[3] = {"x", "w", "b"}, *const grads[3] = {"gx", "gw", "gb"};
    for (int i = 0; i < spec.n_in; i++) {
        in[i] = ref_tensor(ref, c, names[i], numel(&spec, i));
        want_grad[i] = ref_tensor(ref, c, grads[i], numel(&spec, i));
    }
    float *y = ref_tensor(ref, c, "y", ny), *gy = ref_tensor(ref, c, "gy", ny);
    op_check_both(c->name, &spec, (void *const *)in, gy, y, want_grad, rtol, 1e-2f, 2e-3);
    for (int i = 0; i < 3; i++)
        free(in[i]), free(want_grad[i]);
    free(y), free(gy);
}

static void test_conv_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("conv.safetensors");
    for (size_t i = 0; i < sizeof pytorch_cases / sizeof pytorch_cases[0]; i++)
        check_pytorch_case(ref, &pytorch_cases[i], 1e-5);
    mw_safetensors_free(ref);
}

/* F(4x4, 3x3)'s transforms multiply by up to 5/2 before the products and by up to 8
 * after, so its rounding is larger than F(2x2, 3x3)'s. With the points 0, ±1, 1/2, -2
 * (cl/winograd4.cl) these cases land within 1.1e-4; Lavin and Gray's 0, ±1, ±2 missed by
 * 4.5e-4 on the first, which this bound would catch. */
static double winograd4_rtol = 2e-4;

/* OpenCL against the reference backend on random data, 1e-4 relative, in both profiles. */
static void check_random(const conv_case *full, uint64_t seed) {
    /* Small shapes (MEMWRAP_TEST_SMALL_SHAPES, the Oclgrind runs): at most 3 images
     * (two-image chunks still end short) and 40 channels (still past one 32-column GEMM
     * block). Depthwise maps stay: their sizes reach the depthwise blocks' edges. GEMM-path
     * maps above 12 pixels become 9 x 11 (ragged against every block, rows != columns): a
     * simulated CLBlast GEMM over a 32x32 map took a minute. The cases named "sliced" keep
     * their maps, which make the inner dimension pass one slice (NT_SLICE, 2048), and run
     * the cpu profile alone: only the own GEMMs slice, the gpu profile hands them to
     * CLBlast, which is not memwrap's code and whose GEMMs the other cases launch. */
    conv_case shrunk = *full;
    const conv_case *c = full;
    bool sliced = strstr(full->name, "sliced") != NULL;
    if (test_small_shapes()) {
        bool depthwise = full->groups == full->cin && full->groups == full->cout;
        if (shrunk.n > 3) shrunk.n = 3;
        if (shrunk.cin > 40 || shrunk.cout > 40) {
            shrunk.cin = shrunk.cin > 40 ? 40 : shrunk.cin;
            shrunk.cout = shrunk.cout > 40 ? 40 : shrunk.cout;
            shrunk.groups = depthwise ? 40 : 1;
        }
        if (!depthwise && !sliced) {
            if (shrunk.h > 12) shrunk.h = 9;
            if (shrunk.w > 12) shrunk.w = 11;
        }
        c = &shrunk;
    }
    op_spec spec = spec_of(c);
    test_rng r;
    test_rng_seed(&r, seed);
    float *in[3] = {NULL};
    for (int i = 0; i < spec.n_in; i++) {
        in[i] = malloc(numel(&spec, i) * sizeof(float));
        test_fill_normal(&r, in[i], numel(&spec, i), i == 0 ? 1.0f : 0.3f);
    }
    size_t ny = (size_t)c->cout * c->n * out_size(c->h, c) * out_size(c->w, c);
    float *gy = malloc(ny * sizeof *gy);
    test_fill_normal(&r, gy, ny, 1.0f);
    /* The profiles differ in the GEMMs and depthwise kernels, and in Winograd's shape (GPU:
     * one unit per item in groups of 64, never fused, CLBlast's GEMMs); with the direct
     * kernels forced (mw_conv_direct 2, 3) the second would run the same kernels again, as
     * would Winograd's GPU shape with fusion off (test_conv_winograd's second round). */
    bool one_profile = (test_small_shapes() && sliced) || mw_conv_direct == 2 ||
                       mw_conv_direct == 3 || (mw_conv_direct == 4 && !mw_winograd_fuse);
    for (int profile = one_profile ? 2 : 1; profile <= 2; profile++) {
        char what[96];
        snprintf(what, sizeof what, "%s [%s]", c->name, profile_names[profile]);
        mw_kernel_profile = profile;
        /* Winograd's weight gradient on the GPU profile is one CLBlast product over all of
         * a chunk's tiles, summed in one float order per entry: over the 48x48 case's 4032
         * tiles its error reached 1.2e-4 of the result (the own NT kernel sums slices of
         * 2048 in 16 lanes each), after the inverse transform's cancellation. */
        double rtol = mw_conv_direct == 4 && profile == 1 ? 3e-4 : 1e-4;
        if (mw_winograd_f4 == 2) rtol = winograd4_rtol;
        op_check_both(what, &spec, (void *const *)in, gy, NULL, NULL, rtol, 0, 0);
    }
    mw_kernel_profile = 0;
    for (int i = 0; i < 3; i++)
        free(in[i]);
    free(gy);
}

/* check_random on each of `count` cases, with seeds seed, seed + 1, ... */
static void check_randoms(const conv_case *cases, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++)
        check_random(&cases[i], seed + i);
}

/* engine/ops/gemm.c: 1 reads B in place for every own NN and TN product, 0 by device
 * (through local-memory panels on CPU devices, as the other cases here run). */
extern int mw_gemm_pack;

/* The pointwise and im2col products with B read in place (gemm_nn), forced: the forward (NN,
 * with its bias), the input gradient (TN), groups, a stride, an inner dimension of several
 * slices, columns in a ragged last block. */
static void test_conv_b_in_place(void **state) {
    static const conv_case forced[] = {
        {"in place pointwise 600->20 bias", 600, 20, 2, 47, 51, 1, 1, 0, 1, true},
        {"in place grouped 1x1 g2 bias", 6, 20, 2, 5, 5, 1, 1, 0, 2, true},
        {"in place 3x3 s2 9->13 bias", 9, 13, 3, 9, 7, 3, 2, 1, 1, true},
    };
    mw_gemm_pack = 1;
    check_randoms(forced, sizeof forced / sizeof forced[0], 300);
    mw_gemm_pack = 0;
}

/* engine/ops/gemm.c: 1 runs every own NT product through gemm_nt, 2 through gemm_nt_panel,
 * 0 by shape. */
extern int mw_gemm_nt_path;

/* The weight gradients (NT products) through gemm_nt and through gemm_nt_panel, forced: wide-in
 * and wide-out layers; inner dimensions of several slices with a ragged last one; groups;
 * im2col chunks, whose products add to the gradient; then a layer the shape rule takes (96 ->
 * 128 over 4096 pixels; not under Oclgrind). On both profiles, as every case. */
static void test_conv_nt_paths(void **state) {
    static const conv_case forced[] = {
        {"nt forced pointwise 40->9 bias", 40, 9, 2, 24, 25, 1, 1, 0, 1, true},
        {"nt forced pointwise 9->40", 9, 40, 2, 24, 25, 1, 1, 0, 1, false},
        {"nt forced grouped 1x1 g2", 6, 20, 3, 15, 15, 1, 1, 0, 2, false},
        {"nt forced 3x3 s2 9->13 bias", 9, 13, 3, 29, 27, 3, 2, 1, 1, true},
    };
    for (int mode = 1; mode <= 2; mode++) {
        mw_gemm_nt_path = mode;
        check_randoms(forced, sizeof forced / sizeof forced[0], 320);
        size_t saved = mw_conv_workspace_cap;
        const conv_case *c = &forced[3]; /* two images per im2col chunk */
        mw_conv_workspace_cap = 2 * (size_t)c->cin * c->k * c->k * out_size(c->h, c) *
                                out_size(c->w, c) * sizeof(float);
        check_random(c, 330);
        mw_conv_workspace_cap = saved;
    }
    mw_gemm_nt_path = 0;
    if (!test_small_shapes()) {
        static const conv_case by_shape = {"pointwise 96->128 by shape", 96, 128, 4, 32, 32,
                                           1, 1, 0, 1, false};
        check_random(&by_shape, 331);
    }
}

/* engine/ops/conv.c: how the general path's forward gathers its columns: 0 by shape (an
 * implicit GEMM at stride 2 on CPU devices), 1 im2col always, 2 the implicit GEMM wherever it
 * applies. */
extern int mw_conv_implicit;

/* The forward as one implicit GEMM (cl/gemm.cl, gemm_nn_im2col), forced on shapes it does
 * not take by default: stride 1 and 2, 1x1, 3x3, 5x5 and 7x7 windows, padding wider than the
 * stride, maps whose windows leave them on every side, columns that end inside a block of
 * 32 and images that share one, a 1x1 window at stride 2 on a map 16 wide (its rows gathered
 * whole, as below); an inner dimension of several slices (40·9 = 360 rows: the
 * bias only in the first slice's sums, every slice's sums kept); a product whose output
 * streams past 4M floats. Then im2col forced where the shape rule takes the implicit GEMM.
 * The backward is im2col's either way, and the gpu profile always takes im2col. */
static void test_conv_implicit_gemm(void **state) {
    static const conv_case forced[] = {
        {"implicit 3x3 s1 5->7 bias", 5, 7, 3, 9, 11, 3, 1, 1, 1, true},
        {"implicit 1x1 s2 6->9", 6, 9, 2, 9, 7, 1, 2, 0, 1, false},
        {"implicit 1x1 s2 rows 16x16 6->9 bias", 6, 9, 3, 16, 16, 1, 2, 0, 1, true},
        {"implicit 5x5 s1 p2 4->10 bias", 4, 10, 2, 6, 13, 5, 1, 2, 1, true},
        {"implicit 7x7 s2 p3 3->8", 3, 8, 3, 13, 12, 7, 2, 3, 1, false},
        {"implicit 3x3 s2 p0 4->6", 4, 6, 2, 9, 8, 3, 2, 0, 1, false},
        {"implicit 3x3 s2 40->20 bias (two slices)", 40, 20, 3, 10, 9, 3, 2, 1, 1, true},
        {"implicit 3x3 s1 1->24 on 2x2 maps", 1, 24, 5, 2, 2, 3, 1, 1, 1, true},
    };
    mw_conv_implicit = 2;
    check_randoms(forced, sizeof forced / sizeof forced[0], 340);
    /* By shape: 3x3 at stride 2 on maps 8, 16 and 32 wide gathers whole input rows
     * (gather_rows_s2): the padding row and column, the odd image count that ends the 8x8
     * maps' columns inside a block, two slices (36·9 rows) with the bias, rows twice as wide
     * as the map is tall; then a map of odd height, which takes the table's gather. */
    mw_conv_implicit = 0;
    static const conv_case rows_s2[] = {
        {"implicit 3x3 s2 rows 32x32 6->10 bias", 6, 10, 2, 32, 32, 3, 2, 1, 1, true},
        {"implicit 3x3 s2 rows 16x16 36->9 bias", 36, 9, 3, 16, 16, 3, 2, 1, 1, true},
        {"implicit 3x3 s2 rows 8x8 5->12", 5, 12, 3, 8, 8, 3, 2, 1, 1, false},
        {"implicit 3x3 s2 rows 8x16 4->6", 4, 6, 2, 8, 16, 3, 2, 1, 1, false},
        {"implicit 3x3 s2 table 9x8 4->6 bias", 4, 6, 3, 9, 8, 3, 2, 1, 1, true},
    };
    check_randoms(rows_s2, sizeof rows_s2 / sizeof rows_s2[0], 360);
    if (!test_small_shapes()) {
        /* wide rather than many pixels, so that the weight gradients' float sums stay short */
        static const conv_case streamed = {
            "implicit 3x3 s2 4->2080 streamed bias", 4, 2080, 2, 64, 64, 3, 2, 1, 1, true};
        check_random(&streamed, 350);
    }
    mw_conv_implicit = 1;
    static const conv_case im2col = {
        "im2col forced 3x3 s2 12->16 bias", 12, 16, 3, 11, 10, 3, 2, 1, 1, true};
    check_random(&im2col, 351);
    mw_conv_implicit = 0;
}

/* MobileNetV2-like shapes; the edges of the depthwise kernels' 8- and 16-pixel blocks (rows
 * shorter than a block, rows that end inside one, 2x2 maps) and of the own GEMMs' 8 x 32 and
 * 4 x 4 blocks; weight gradients whose inner dimension is sliced. */
static void test_conv_larger_shapes(void **state) {
    static const conv_case cases[] = {
        {"pointwise 24->144", 24, 144, 8, 16, 16, 1, 1, 0, 1, false},
        {"pointwise 96->24 bias", 96, 24, 3, 5, 7, 1, 1, 0, 1, true},
        {"pointwise sliced weight gradient", 8, 8, 2, 40, 60, 1, 1, 0, 1, false},
        {"first conv sliced weight gradient", 3, 32, 6, 32, 32, 3, 1, 1, 1, false},
        {"first conv 3->32", 3, 32, 4, 32, 32, 3, 1, 1, 1, false},
        {"depthwise 144 s2", 144, 144, 8, 16, 16, 3, 2, 1, 144, false},
        {"depthwise 16 s1 32x32", 16, 16, 2, 32, 32, 3, 1, 1, 16, true},
        {"depthwise 8 s2 32x32", 8, 8, 2, 32, 32, 3, 2, 1, 8, false},
        {"depthwise 5x5 s2 32x32 bias", 6, 6, 3, 32, 32, 5, 2, 2, 6, true},
        {"depthwise 5x5 s2 16x16", 5, 5, 2, 16, 16, 5, 2, 2, 5, false},
        {"depthwise 3x3 s2 12x32 bias", 7, 7, 3, 12, 32, 3, 2, 1, 7, true},
        {"depthwise 3x3 s2 odd 15x16", 4, 4, 2, 15, 16, 3, 2, 1, 4, false},
        {"depthwise 32 s1 4x4", 32, 32, 4, 4, 4, 3, 1, 1, 32, false},
        {"depthwise 32 s2 2x2", 32, 32, 4, 2, 2, 3, 2, 1, 32, false},
        {"depthwise 5x5 s2 4x4", 24, 24, 3, 4, 4, 5, 2, 2, 24, true},
        {"depthwise 5x5 s1 2x2", 24, 24, 3, 2, 2, 5, 1, 2, 24, false},
        {"depthwise 5x5 s1 8x8", 24, 24, 3, 8, 8, 5, 1, 2, 24, false},
        {"depthwise 3x3 s1 8x8 bias", 20, 20, 3, 8, 8, 3, 1, 1, 20, true},
        /* past 4M floats: the plane kernel's output streams (cl/row_group.clh, stream8) */
        {"depthwise 3x3 s1 32x32 streamed", 32, 32, 130, 32, 32, 3, 1, 1, 32, false},
        {"depthwise 3x3 s2 32x32 streamed input gradient", 32, 32, 130, 32, 32, 3, 2, 1, 32, false},
        /* past 4M floats: the pointwise products' new outputs stream (cl/gemm.cl,
         * gemm_nn_panel): the forward's here, the input gradient's in the second (wide
         * rather than many pixels, so that the weight gradients' float sums stay short) */
        {"pointwise 8->1040 streamed bias", 8, 1040, 4, 32, 32, 1, 1, 0, 1, true},
        {"pointwise 1040->8 streamed input gradient", 1040, 8, 4, 32, 32, 1, 1, 0, 1, false},
        /* the rolling plane kernel: two and three blocks a row, 5x5, planes shorter than the
         * kernel and than a plane's rows are wide */
        {"depthwise 5x5 s1 16x16 bias", 12, 12, 3, 16, 16, 5, 1, 2, 12, true},
        {"depthwise 3x3 s1 12x24", 6, 6, 2, 12, 24, 3, 1, 1, 6, false},
        {"depthwise 3x3 s1 5x8", 7, 7, 3, 5, 8, 3, 1, 1, 7, false},
        {"depthwise 5x5 s1 3x16", 5, 5, 2, 3, 16, 5, 1, 2, 5, true},
        {"depthwise 5x5 s1 13x11", 10, 10, 3, 13, 11, 5, 1, 2, 10, false},
        /* rows that end inside a block (Fashion-MNIST's 28, 14 and 7; 1 to 7 lanes in the
         * last block): partial loads and stores, nothing read past the buffer */
        {"depthwise 3x3 s1 28x28", 8, 8, 3, 28, 28, 3, 1, 1, 8, false},
        {"depthwise 5x5 s1 14x14 bias", 6, 6, 3, 14, 14, 5, 1, 2, 6, true},
        {"depthwise 3x3 s1 7x7 bias", 9, 9, 3, 7, 7, 3, 1, 1, 9, true},
        {"depthwise 5x5 s1 9x5", 4, 4, 3, 9, 5, 5, 1, 2, 4, false},
        {"depthwise 3x3 s1 20x2", 3, 3, 2, 20, 2, 3, 1, 1, 3, false},
        {"depthwise 3x3 s1 6x3 bias", 3, 3, 3, 6, 3, 3, 1, 1, 3, true},
        {"depthwise 3x3 s1 4x25 (4 blocks, 1 lane)", 3, 3, 2, 4, 25, 3, 1, 1, 3, false},
        {"depthwise 3x3 s2 28x28 bias", 5, 5, 3, 28, 28, 3, 2, 1, 5, true},
        {"depthwise 3x3 s2 14x14", 6, 6, 3, 14, 14, 3, 2, 1, 6, false},
        {"depthwise 5x5 s2 10x6", 4, 4, 2, 10, 6, 5, 2, 2, 4, false},
        {"depthwise 5x5 s2 19x17", 10, 10, 3, 19, 17, 5, 2, 2, 10, true},
        {"depthwise 3x3 s2 odd 25x23", 4, 4, 3, 25, 23, 3, 2, 1, 4, false},
        {"resnet 3x3 s2 16->32", 16, 32, 3, 9, 9, 3, 2, 1, 1, false},
        {"shortcut 1x1 s2 16->32", 16, 32, 3, 8, 8, 1, 2, 0, 1, false},
        {"grouped 3x3 s2 g4", 8, 12, 3, 9, 10, 3, 2, 1, 4, true},
        {"grouped 1x1 g2", 6, 4, 2, 5, 5, 1, 1, 0, 2, false},
        /* the bias the own GEMM adds to its sums: one group's rows of it each, and only
         * in the first of two slices of a 600-deep inner dimension */
        {"grouped 1x1 g2 bias", 6, 20, 2, 5, 5, 1, 1, 0, 2, true},
        {"pointwise 600->10 bias", 600, 10, 2, 3, 5, 1, 1, 0, 1, true},
        {"shortcut 1x1 s2 12->9 bias", 12, 9, 3, 8, 8, 1, 2, 0, 1, true},
        {"depthwise 3x3 p0 (general)", 5, 5, 2, 7, 7, 3, 1, 0, 5, false},
        {"depthwise 7x7 (general)", 3, 3, 2, 9, 9, 7, 1, 3, 3, false},
        {"depthwise multiplier 2", 3, 6, 2, 6, 6, 3, 1, 1, 3, false},
    };
    check_randoms(cases, sizeof cases / sizeof cases[0], 100);
}

/* The depthwise plane kernels (a row in blocks of 8 lanes, the last one partial where 8 does
 * not divide the width: cl/dw_blocks.clh) give the row kernels' results to the bit, forward,
 * input gradient and weight gradient: each sum takes its terms in the same order, which
 * MobileNetV2's one-step check needs (it tips on another order: tests/test_models.c). Square
 * maps 32, 28, 14, 12, 11, 7 and 5 wide at stride 1 (last blocks of 8, 4, 6, 4, 3, 7 and 5
 * lanes), 32, 28, 14, 12, 10 and 6 at stride 2 (outputs' last blocks of 8, 6, 7, 6, 5 and 3
 * lanes; the input gradient's rows, in blocks of 16, end in 16, 12, 14, 12, 10 and 6), and
 * the odd sizes 7, 11 and 9 at stride 2 (outputs ceil(w / 2) wide: 4, 6 and 5 lanes). */
static void test_conv_depthwise_planes_match_rows(void **state) {
    (void)state;
    static const int SHAPES[][3] = {{32, 3, 1}, {28, 3, 1}, {14, 5, 1}, {12, 5, 1}, {11, 3, 1},
                                    {7, 3, 1},  {5, 5, 1},  {32, 3, 2}, {28, 3, 2}, {14, 3, 2},
                                    {12, 5, 2}, {10, 3, 2}, {6, 5, 2},  {7, 3, 2},  {11, 5, 2},
                                    {9, 3, 2},  {7, 5, 1},  {14, 3, 1}};
    /* the simulated device (MEMWRAP_TEST_SMALL_SHAPES): 28 and 7 wide at stride 1, 28, 14
     * and 7 at stride 2; the larger-shape cases run the other edges there */
    static const size_t SMALL[] = {1, 5, 8, 9, 13};
    size_t shapes =
        test_small_shapes() ? sizeof SMALL / sizeof SMALL[0] : sizeof SHAPES / sizeof SHAPES[0];
    mw_runtime *rt = test_profiling_runtime();
    mw_kernel_profile = 2;
    for (size_t s = 0; s < shapes; s++) {
        size_t i = test_small_shapes() ? SMALL[s] : s;
        int hw = SHAPES[i][0], k = SHAPES[i][1], stride = SHAPES[i][2], channels = 4, batch = 3;
        int ho = (hw + 2 * (k / 2) - k) / stride + 1;
        size_t nx = (size_t)channels * batch * hw * hw, nw = (size_t)channels * k * k;
        size_t ny = (size_t)channels * batch * ho * ho;
        float *out[2][3];
        for (int rows_only = 0; rows_only < 2; rows_only++) {
            float **o = out[rows_only];
            o[0] = malloc(ny * sizeof(float));
            o[1] = malloc(nx * sizeof(float));
            o[2] = malloc(nw * sizeof(float));
            test_poison(o[0], ny);
            test_poison(o[1], nx);
            test_poison(o[2], nw);
            mw_dw_rows_only = rows_only;
            double ms[3];
            test_time_conv(rt, channels, channels, batch, hw, k, stride, channels, 1, o[0], o[1],
                           o[2], ms);
        }
        mw_dw_rows_only = 0;
        static const char *const what[3] = {"forward", "input gradient", "weight gradient"};
        for (int t = 0; t < 3; t++) {
            size_t count = t == 0 ? ny : t == 2 ? nw : nx;
            if (memcmp(out[0][t], out[1][t], count * sizeof(float)))
                fail_msg("depthwise %dx%d, %dx%d kernel, stride %d: the plane kernels' %s differs "
                         "from the row kernels'",
                         hw, hw, k, k, stride, what[t]);
            free(out[0][t]);
            free(out[1][t]);
        }
    }
    mw_kernel_profile = 0;
    mw_runtime_free(rt);
}

/* The general path in several chunks of images, the last one short: forward columns land in
 * the right place, the weight gradient accumulates over chunks, col2im per chunk. */
static void test_conv_chunks(void **state) {
    size_t saved = mw_conv_workspace_cap;
    static const conv_case cases[] = {
        {"chunked 3x3", 3, 8, 5, 8, 8, 3, 1, 1, 1, true},
        {"chunked 3x3 s2 groups", 4, 6, 7, 9, 9, 3, 2, 1, 2, false},
        {"chunked, sliced weight gradient", 3, 8, 5, 48, 48, 3, 1, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *c = &cases[i];
        /* Two images per chunk. */
        mw_conv_workspace_cap = 2 * (size_t)c->cin * c->k * c->k * out_size(c->h, c) *
                                out_size(c->w, c) * sizeof(float);
        check_random(c, 200 + i);
    }
    mw_conv_workspace_cap = saved;
}

/* The direct 3x3 kernels (cl/conv3x3.cl), forced, both kinds (padded rows, batch-major):
 * PyTorch's 3x3 cases of stride 1 and 2, then random shapes against the reference backend
 * at the edges of their blocks (8 or 16 output channels, 6 or 8 in the weight gradient (5, 9,
 * 10, 17: a short last block of 6; 7, 13: of 8); 32 outputs in padded-width rows:
 * rows longer and shorter than a block, 1x1 and 2xN maps; 16 images: batches off the
 * vector; stride 2 on even and odd sizes), several chunks of images, and a weight gradient
 * summed over several slices of images (or of output pixels). */
static void check_direct(int kind) {
    mw_conv_direct = kind;
    mw_safetensors *ref = test_reference("conv.safetensors");
    /* Winograd adds and subtracts a block's inputs before its products, so its rounding
     * follows the block's largest values rather than each output: c3s1's input gradient has
     * an output of 1/3000 of the largest off by 1.9e-5 on this scale (bench/RESULTS.md) */
    double rtol = kind == 4 ? 5e-5 : 1e-5;
    check_pytorch_case(ref, &pytorch_cases[0], rtol); /* c3s1: 3 -> 5, 9x9, bias */
    check_pytorch_case(ref, &pytorch_cases[1], rtol); /* c3s2: 4 -> 6, 8x8 */
    mw_safetensors_free(ref);
    static const conv_case cases[] = {
        {"direct 16->24 7x5", 16, 24, 3, 7, 5, 3, 1, 1, 1, false},
        {"direct 9->13 1x1 bias", 9, 13, 5, 1, 1, 3, 1, 1, 1, true},
        {"direct 40->8 4x4", 40, 8, 4, 4, 4, 3, 1, 1, 1, false},
        {"direct 3->32 32x32 bias", 3, 32, 2, 32, 32, 3, 1, 1, 1, true},
        {"direct 8->17 2x19", 8, 17, 3, 2, 19, 3, 1, 1, 1, false},
        {"direct 24->24 8x8 35 images", 24, 24, 35, 8, 8, 3, 1, 1, 1, true},
        {"direct s2 16->24 32x32", 16, 24, 2, 32, 32, 3, 2, 1, 1, false},
        {"direct s2 9->13 7x5 bias", 9, 13, 3, 7, 5, 3, 2, 1, 1, true},
        {"direct s2 12->8 2x2 17 images", 12, 8, 17, 2, 2, 3, 2, 1, 1, false},
        {"direct s2 8->16 1x9", 8, 16, 3, 1, 9, 3, 2, 1, 1, false},
        /* DenseNet's 12 output channels: two whole blocks of the weight gradient's 6; 36:
         * six, one more than blocks of 8 would take */
        {"direct 20->12 32x32", 20, 12, 2, 32, 32, 3, 1, 1, 1, false},
        {"direct 8->36 6x5", 8, 36, 3, 6, 5, 3, 1, 1, 1, false},
        /* Winograd's compact units on square 4x4, 8x8 and 16x16 maps: 16 tiles across
         * rows and images, the last unit short (7 images of 4 tiles, 3 of 64) */
        {"direct 6->10 4x4 7 images bias", 6, 10, 7, 4, 4, 3, 1, 1, 1, true},
        {"direct 5->7 16x16 3 images", 5, 7, 3, 16, 16, 3, 1, 1, 1, false},
        /* Winograd's fused weight gradient (24 inputs and 32 outputs or more): input
         * channels padded to 32 and 64, a short last block of output rows; 5 blocks of 32
         * tiles, which on 2 compute units make 4 items of 2 blocks, the last with none (its
         * partial sums are zeros); rows of 3 tiles, the last block short */
        {"direct 24->33 4x4 40 images", 24, 33, 40, 4, 4, 3, 1, 1, 1, false},
        {"direct 41->32 7x5 3 images", 41, 32, 3, 7, 5, 3, 1, 1, 1, true},
    };
    check_randoms(cases, sizeof cases / sizeof cases[0], 400);
    /* Chunks of two images (the padded copy of the largest of the three passes' inputs);
     * batch-major chunks take whole vectors of 16 images where the cap allows 16. */
    size_t saved = mw_conv_workspace_cap;
    static const conv_case chunked[] = {
        {"direct chunked 6->10 9x7 bias", 6, 10, 5, 9, 7, 3, 1, 1, 1, true},
        {"direct sliced weight gradient 4->8 48x48", 4, 8, 7, 48, 48, 3, 1, 1, 1, false},
        {"direct s2 chunked 6->10 11x9", 6, 10, 5, 11, 9, 3, 2, 1, 1, false},
        {"direct chunked 16 images 5->9 3x3", 5, 9, 37, 3, 3, 3, 1, 1, 1, false},
        {"direct chunked 7->6 4x4 bias", 7, 6, 5, 4, 4, 3, 1, 1, 1, true},
        {"direct chunked 6->9 8x8", 6, 9, 3, 8, 8, 3, 1, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof chunked / sizeof chunked[0]; i++) {
        const conv_case *c = &chunked[i];
        size_t big = c->cin > c->cout ? c->cin : c->cout;
        size_t images = i == 3 ? 17 : 2; /* 17: one vector of 16 images per chunk */
        mw_conv_workspace_cap = images * big * (c->h + 2) * (c->w + 2) * sizeof(float) +
                                (i == 1 ? (size_t)64 << 20 : 0); /* the second: one chunk */
        check_random(c, 500 + i);
    }
    mw_conv_workspace_cap = saved;
    mw_conv_direct = 0;
}

static void test_conv_direct_3x3(void **state) {
    check_direct(2);
    check_direct(3);
}

/* Winograd's F(2x2, 3x3) (cl/winograd.cl), forced: the same cases as the direct kernels,
 * whose shapes reach the edges of its 16-tile vectors (rows of 1, 3, 10 and 24 tiles, odd
 * maps, 1x1 maps), several chunks of images, and weight gradients summed over chunks and
 * over slices of the tiles (the 48x48 case); the forward and input gradient both fused
 * (blocks of 32 tiles across rows and images, the last one short: 35 images of 16 tiles),
 * the weight gradient too where it has the channels (items' partial sums over runs of
 * blocks: 24 -> 33, 41 -> 32), and as separate transforms and GEMMs, and in the first round
 * on the GPU profile too. */
static void test_conv_winograd(void **state) {
    check_direct(4);
    mw_winograd_fuse = 0;
    check_direct(4);
    mw_winograd_fuse = 1;
}

/* Winograd's F(4x4, 3x3) (cl/winograd4.cl), forced on 4x4, 8x8, 12x12 and 16x16 maps (one,
 * four, nine and 16 tiles an image: the rule takes it up to 16x16, and the kernels run on
 * any square map in whole tiles): 16 and 48 channels (one and three transform units of 16),
 * a bias, and in chunks of 16 images (40: the last short), where the weight gradient adds
 * each chunk's products to the last; both profiles (the GPU's: one unit per item, CLBlast's
 * products). */
static void test_conv_winograd4(void **state) {
    (void)state;
    mw_conv_direct = 4;
    mw_winograd_f4 = 2;
    /* the forward and input gradient fused per block of 32 tiles (winograd4_fused) where the
     * pass's output channels come in blocks of 32: both passes of these two (one whole block,
     * and a block of 18 tiles), and below 16 -> 32's forward (7 tiles) and the two 32 -> 16
     * input gradients (20 and 18 tiles); then every case unfused */
    static const conv_case fused[] = {
        {"winograd4 fused 64->32 16x16 2 images bias", 64, 32, 2, 16, 16, 3, 1, 1, 1, true},
        {"winograd4 fused 32->64 12x12 2 images", 32, 64, 2, 12, 12, 3, 1, 1, 1, false},
    };
    check_randoms(fused, sizeof fused / sizeof fused[0], 720);
    static const conv_case cases[] = {
        {"winograd4 16->32 4x4 7 images bias", 16, 32, 7, 4, 4, 3, 1, 1, 1, true},
        {"winograd4 32->16 8x8 5 images", 32, 16, 5, 8, 8, 3, 1, 1, 1, false},
        {"winograd4 48->16 8x8 2 images bias", 48, 16, 2, 8, 8, 3, 1, 1, 1, true},
        {"winograd4 16->16 16x16 3 images", 16, 16, 3, 16, 16, 3, 1, 1, 1, false},
        {"winograd4 32->16 12x12 2 images bias", 32, 16, 2, 12, 12, 3, 1, 1, 1, true},
    };
    check_randoms(cases, sizeof cases / sizeof cases[0], 700);
    mw_winograd_fuse = 0;
    check_randoms(cases, sizeof cases / sizeof cases[0], 700);
    check_randoms(fused, sizeof fused / sizeof fused[0], 720);
    mw_winograd_fuse = 1;
    size_t saved = mw_conv_workspace_cap;
    /* 16 images of V and M (36 x 2 x 16 floats each) under the cap, U (36 x 16 x 16 floats)
     * on top of it */
    mw_conv_workspace_cap = (16 * 36 * 32 + 64) * sizeof(float);
    static const conv_case chunked = {
        "winograd4 chunked 16->16 4x4 40 images", 16, 16, 40, 4, 4, 3, 1, 1, 1, false};
    check_random(&chunked, 710);
    mw_conv_workspace_cap = saved;
    mw_winograd_f4 = 1;
    mw_conv_direct = 0;
}

/* MEMWRAP_WINOGRAD_F4 as f4_applies reads it: `all` takes F(4x4, 3x3) on a shape whose channels
 * the rule refuses it (16 -> 16, 4x4: its workspace then the forced one's), `off` keeps F(2x2)
 * on one the rule gives it (256 -> 256, 8x8, 128 images), and anything else is the default;
 * the rule's threshold in tiles on ResNet18's 512-channel layers, and its widest map:
 * WideResNet's 320 -> 320 layers on 16x16 take F(4x4), the same channels on 32x32 do not. The
 * workspace each plan asks for says which ran: F(4x4)'s holds 36 planes, F(2x2)'s 16. */
static void test_conv_winograd4_env(void **state) {
    (void)state;
    mw_runtime *rt = test_runtime();
    size_t cap = mw_conv_workspace_cap / sizeof(float);
    mw_conv3x3_shape narrow = {.cin = 16, .cout = 16, .n = 40, .h = 4, .w = 4, .stride = 1};
    mw_conv3x3_shape wide = {.cin = 256, .cout = 256, .n = 128, .h = 8, .w = 8, .stride = 1};
    size_t f2[2], f4[2];
    const mw_conv3x3_shape *shapes[2] = {&narrow, &wide};
    for (int i = 0; i < 2; i++) {
        mw_winograd_f4 = 0;
        f2[i] = mw_winograd_workspace_floats(rt, shapes[i], MW_OP_CONV2D, cap);
        mw_winograd_f4 = 2;
        f4[i] = mw_winograd_workspace_floats(rt, shapes[i], MW_OP_CONV2D, cap);
        assert_int_not_equal(f2[i], f4[i]);
    }
    mw_winograd_f4 = 1;
    assert_int_equal(mw_winograd_workspace_floats(rt, &narrow, MW_OP_CONV2D, cap), f2[0]);
    assert_int_equal(mw_winograd_workspace_floats(rt, &wide, MW_OP_CONV2D, cap), f4[1]);
    /* the rule's tiles: ResNet18's 512 -> 512 layers (4x4) take F(4x4) from 64 images */
    for (size_t n = 63; n <= 64; n++) {
        mw_conv3x3_shape layer4 = {.cin = 512, .cout = 512, .n = n, .h = 4, .w = 4, .stride = 1};
        size_t chosen = mw_winograd_workspace_floats(rt, &layer4, MW_OP_CONV2D, cap);
        mw_winograd_f4 = n == 64 ? 2 : 0;
        assert_int_equal(chosen, mw_winograd_workspace_floats(rt, &layer4, MW_OP_CONV2D, cap));
        mw_winograd_f4 = 1;
    }
    for (size_t hw = 16; hw <= 32; hw *= 2) {
        mw_conv3x3_shape stage = {.cin = 320, .cout = 320, .n = 8, .h = hw, .w = hw, .stride = 1};
        size_t chosen = mw_winograd_workspace_floats(rt, &stage, MW_OP_CONV2D, cap);
        mw_winograd_f4 = hw == 16 ? 2 : 0;
        assert_int_equal(chosen, mw_winograd_workspace_floats(rt, &stage, MW_OP_CONV2D, cap));
        mw_winograd_f4 = hw == 16 ? 0 : 2;
        assert_int_not_equal(chosen, mw_winograd_workspace_floats(rt, &stage, MW_OP_CONV2D, cap));
        mw_winograd_f4 = 1;
    }
    /* on the CPU profile, fused F(4x4) on ResNet18's 64 -> 64 (32x32) and 128 -> 128 (16x16)
     * and WideResNet's 160 -> 160 (32x32) layers, forward and input gradient; GoogLeNet's
     * 96 -> 128 stays on F(2x2) (winograd.c f4_applies: in == out), as would a 192 -> 192
     * on 32x32 (in + out past F4_FUSED_MAX_CHANNELS) */
    mw_kernel_profile = 2;
    const mw_conv3x3_shape fused[] = {{.cin = 64, .cout = 64, .n = 8, .h = 32, .w = 32},
                                      {.cin = 128, .cout = 128, .n = 8, .h = 16, .w = 16},
                                      {.cin = 160, .cout = 160, .n = 8, .h = 32, .w = 32},
                                      {.cin = 96, .cout = 128, .n = 8, .h = 32, .w = 32},
                                      {.cin = 192, .cout = 192, .n = 8, .h = 32, .w = 32}};
    const mw_op passes[] = {MW_OP_CONV2D, MW_OP_CONV2D_BWD_INPUT};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            mw_op op = passes[k];
            size_t chosen = mw_winograd_workspace_floats(rt, &fused[i], op, cap);
            mw_winograd_f4 = i < 3 ? 2 : 0;
            assert_int_equal(chosen, mw_winograd_workspace_floats(rt, &fused[i], op, cap));
            mw_winograd_f4 = 3; /* never fused: F(2x2) on these maps */
            size_t unfused = mw_winograd_workspace_floats(rt, &fused[i], op, cap);
            mw_winograd_f4 = 1;
            if (i < 3) assert_int_not_equal(chosen, unfused);
        }
    mw_kernel_profile = 0;
    setenv("MEMWRAP_WINOGRAD_F4", "all", 1);
    assert_int_equal(mw_winograd_workspace_floats(rt, &narrow, MW_OP_CONV2D, cap), f4[0]);
    setenv("MEMWRAP_WINOGRAD_F4", "off", 1);
    assert_int_equal(mw_winograd_workspace_floats(rt, &wide, MW_OP_CONV2D, cap), f2[1]);
    setenv("MEMWRAP_WINOGRAD_F4", "sometimes", 1);
    assert_int_equal(mw_winograd_workspace_floats(rt, &narrow, MW_OP_CONV2D, cap), f2[0]);
    assert_int_equal(mw_winograd_workspace_floats(rt, &wide, MW_OP_CONV2D, cap), f4[1]);
    unsetenv("MEMWRAP_WINOGRAD_F4");
}

static void test_conv_finite_differences(void **state) {
    static const conv_case cases[] = {
        {"fd depthwise 5x5 s2", 3, 3, 2, 7, 6, 5, 2, 2, 3, true},
        {"fd depthwise 3x3 small planes", 3, 3, 3, 4, 4, 3, 1, 1, 3, true},
        {"fd grouped s2", 4, 2, 2, 6, 5, 3, 2, 1, 2, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *c = &cases[i];
        op_spec spec = spec_of(c);
        test_rng r;
        test_rng_seed(&r, 300 + i);
        float *in[3] = {NULL};
        for (int j = 0; j < spec.n_in; j++) {
            in[j] = malloc(numel(&spec, j) * sizeof(float));
            test_fill_normal(&r, in[j], numel(&spec, j), 1.0f);
        }
        size_t ny = (size_t)c->cout * c->n * out_size(c->h, c) * out_size(c->w, c);
        float *gy = malloc(ny * sizeof *gy);
        test_fill_normal(&r, gy, ny, 1.0f);
        /* both kernel profiles: the grouped case's im2col and col2im differ in shape */
        for (int profile = 1; profile <= 2; profile++) {
            char what[96];
            snprintf(what, sizeof what, "%s [%s]", c->name, profile_names[profile]);
            mw_kernel_profile = profile;
            op_check_both(what, &spec, (void *const *)in, gy, NULL, NULL, 1e-4, 1e-2f, 2e-3);
        }
        mw_kernel_profile = 0;
        for (int j = 0; j < 3; j++)
            free(in[j]);
        free(gy);
    }
}

static int count_op(const mw_graph *g, mw_op op) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += g->nodes[i].op == op;
    return n;
}

/* The backward emits only the gradients asked for; the pointwise forward is one GEMM. */
static int conv_backward_count(bool bias_grad, mw_op op) {
    mw_graph *g = mw_graph_create();
    int64_t sx[4] = {8, 2, 4, 4}, sw[4] = {16, 8, 1, 1}, sw2[4] = {16, 16, 1, 1}, sb[1] = {16};
    int64_t sy[4] = {16, 2, 4, 4};
    /* Parameters always get gradients; inputs only when asked for. */
    int x = mw_graph_input(g, "x", MW_F32, 4, sx), w = mw_graph_param(g, "w", 4, sw);
    int w2 = mw_graph_input(g, "w2", MW_F32, 4, sw2), b = mw_graph_input(g, "b", MW_F32, 1, sb);
    int y = mw_conv2d(g, x, w, -1, 1, 0, 1);
    int y2 = mw_conv2d(g, y, w2, b, 1, 0, 1);
    assert_true(y >= 0 && y2 >= 0);
    int seed = mw_graph_input(g, "seed", MW_F32, 4, sy);
    int wrt[1] = {b};
    TEST_OK(mw_graph_backward_from(g, y2, seed, wrt, bias_grad ? 1 : 0));
    int count = count_op(g, op);
    mw_graph_free(g);
    return count;
}

/* The backward emits only the gradients asked for; the pointwise forward is one GEMM. */
static void test_conv_backward_nodes_and_launches(void **state) {
    /* w needs dy/dw (second conv's input gradient, then the first's weight gradient); x, w2
     * and b need nothing unless b is asked for. */
    assert_int_equal(conv_backward_count(false, MW_OP_CONV2D_BWD_INPUT), 1);
    assert_int_equal(conv_backward_count(false, MW_OP_CONV2D_BWD_WEIGHT), 1);
    assert_int_equal(conv_backward_count(false, MW_OP_CONV2D_BWD_BIAS), 0);
    assert_int_equal(conv_backward_count(true, MW_OP_CONV2D_BWD_BIAS), 1);

    int64_t sx[4] = {8, 2, 4, 4}, sw[4] = {16, 8, 1, 1};
    mw_graph *g;
    int x, w, y;
    g = mw_graph_create();
    x = mw_graph_input(g, "x", MW_F32, 4, sx);
    w = mw_graph_param(g, "w", 4, sw);
    y = mw_conv2d(g, x, w, -1, 1, 0, 1);
    mw_graph_keep(g, y);
    mw_exec *ex = NULL;
    mw_runtime *rt = test_runtime();
    TEST_OK(mw_exec_create(g, rt, &ex));
    TEST_OK(mw_exec_init_params(ex, 1));
    float xs[8 * 2 * 4 * 4] = {0};
    TEST_OK(mw_exec_write(ex, x, xs, sizeof xs));
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD)); /* warm: builds, first-use work */
    TEST_OK(mw_runtime_finish(rt));
    uint64_t before = mw_runtime_get_stats(rt)->kernels_enqueued;
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
    TEST_OK(mw_runtime_finish(rt));
    assert_int_equal(mw_runtime_get_stats(rt)->kernels_enqueued - before, 1);
    mw_exec_free(ex);
    mw_graph_free(g);
}

/* Each bad shape fails the build with a message naming the problem. */
static void expect_error(const int64_t *xs, const int64_t *ws, int wdim, int64_t bias, int stride,
                         int pad, int groups, const char *needle) {
    mw_graph *g = mw_graph_create();
    int x = mw_graph_input(g, "x", MW_F32, 4, xs);
    int w = mw_graph_param(g, "w", wdim, ws);
    int b = bias > 0 ? mw_graph_param(g, "b", 1, &bias) : -1;
    assert_int_equal(mw_conv2d(g, x, w, b, stride, pad, groups), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    if (!strstr(mw_graph_error(g), needle)) {
        print_error("error '%s' does not mention '%s'\n", mw_graph_error(g), needle);
        fail();
    }
    mw_graph_free(g);
}

static void test_conv_shape_errors(void **state) {
    int64_t x[4] = {4, 2, 8, 8};
    expect_error(x, (int64_t[4]){6, 4, 3, 3}, 3, 0, 1, 1, 1, "square kernel");  /* 3-D weight */
    expect_error(x, (int64_t[4]){6, 4, 3, 2}, 4, 0, 1, 1, 1, "square kernel");  /* 3x2 */
    expect_error(x, (int64_t[4]){6, 3, 3, 3}, 4, 0, 1, 1, 1, "input channels"); /* 3 != 4 */
    expect_error(x, (int64_t[4]){6, 2, 3, 3}, 4, 0, 1, 1, 3, "groups 3 must divide");
    expect_error(x, (int64_t[4]){5, 2, 3, 3}, 4, 0, 1, 1, 2, "groups 2 must divide");
    expect_error(x, (int64_t[4]){6, 4, 3, 3}, 4, 5, 1, 1, 1, "bias");
    expect_error(x, (int64_t[4]){6, 4, 3, 3}, 4, 0, 0, 1, 1, "stride 0");
    expect_error(x, (int64_t[4]){6, 4, 3, 3}, 4, 0, 1, -1, 1, "padding -1");
    expect_error(x, (int64_t[4]){6, 4, 11, 11}, 4, 0, 1, 1, 1, "larger than the padded");
    /* A 2-D input is not a map. */
    mw_graph *g = mw_graph_create();
    int xi = mw_graph_input(g, "x", MW_F32, 2, (int64_t[2]){4, 64});
    int w = mw_graph_param(g, "w", 4, (int64_t[4]){6, 4, 1, 1});
    assert_int_equal(mw_conv2d(g, xi, w, -1, 1, 0, 1), -1);
    assert_non_null(strstr(mw_graph_error(g), "[C, N, H, W]"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_matches_pytorch),
        cmocka_unit_test(test_conv_larger_shapes),
        cmocka_unit_test(test_conv_depthwise_planes_match_rows),
        cmocka_unit_test(test_conv_b_in_place),
        cmocka_unit_test(test_conv_nt_paths),
        cmocka_unit_test(test_conv_implicit_gemm),
        cmocka_unit_test(test_conv_chunks),
        cmocka_unit_test(test_conv_direct_3x3),
        cmocka_unit_test(test_conv_winograd),
        cmocka_unit_test(test_conv_winograd4),
        cmocka_unit_test(test_conv_winograd4_env),
        cmocka_unit_test(test_conv_finite_differences),
        cmocka_unit_test(test_conv_backward_nodes_and_launches),
        cmocka_unit_test(test_conv_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
