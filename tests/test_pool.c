/* Average and max pooling, nearest upsampling and the squeeze-excitation channel scaling:
 * against PyTorch on both backends with finite differences, vector and scalar plane paths,
 * floor mode, ties, shape errors. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_pool(mw_graph *g, const int *in, const void *ctx) {
    return mw_avg_pool(g, in[0], *(const int *)ctx);
}

extern int mw_pool_separable; /* engine/ops/pool.c */

typedef struct max_pool_args {
    int k, stride, padding;
} max_pool_args;

static int build_max_pool(mw_graph *g, const int *in, const void *ctx) {
    const max_pool_args *a = ctx;
    return mw_max_pool(g, in[0], a->k, a->stride, a->padding);
}

static int build_upsample(mw_graph *g, const int *in, const void *ctx) {
    return mw_upsample_nearest(g, in[0], *(const int *)ctx);
}

static int build_scale(mw_graph *g, const int *in, const void *ctx) {
    return mw_scale_channels(g, in[0], in[1]);
}

/* A pooling case of a reference file: x and gx of n values, y and gy of m. */
typedef struct pool_case {
    float *x, *y, *gy, *gx;
} pool_case;

static pool_case load_pool_case(const mw_safetensors *ref, const char *name, size_t n, size_t m) {
    char key[64];
    pool_case c;
    snprintf(key, sizeof key, "%s.x", name);
    c.x = test_reference_f32(ref, key, n);
    snprintf(key, sizeof key, "%s.y", name);
    c.y = test_reference_f32(ref, key, m);
    snprintf(key, sizeof key, "%s.gy", name);
    c.gy = test_reference_f32(ref, key, m);
    snprintf(key, sizeof key, "%s.gx", name);
    c.gx = test_reference_f32(ref, key, n);
    return c;
}

/* Runs `spec` on both backends against the case `name` of reference file `file`, with finite
 * differences where fd_h > 0. */
static void check_pool_case(const char *file, const char *name, const op_spec *spec, size_t n,
                            size_t m, float fd_h) {
    mw_safetensors *ref = test_reference(file);
    pool_case c = load_pool_case(ref, name, n, m);
    void *inputs[] = {c.x};
    float *want_grad[] = {c.gx};
    op_check_both(name, spec, inputs, c.gy, c.y, want_grad, 1e-5, fd_h, 2e-3);
    free(c.x), free(c.y), free(c.gy), free(c.gx);
    mw_safetensors_free(ref);
}

/* PyTorch's F.avg_pool2d(x, k) on [3, 5, size, size], stored as maps [5, 3, size, size]. */
static void check_pool(const char *name, int64_t size, int k) {
    size_t n = (size_t)(15 * size * size), m = (size_t)(15 * (size / k) * (size / k));
    op_spec spec = {1, {4}, {{5, 3, size, size}}, {MW_F32}, build_pool, &k};
    check_pool_case("encoder_ops.safetensors", name, &spec, n, m, 1e-2f);
}

static void test_avg_pool_matches_pytorch(void **state) {
    check_pool("pool2", 6, 2);
    check_pool("pool4", 4, 4);     /* k = H = W: adaptive_avg_pool2d(x, 1) */
    check_pool("pool2_odd", 7, 2); /* floor mode: DenseNet's transition at 28x28 inputs */
}

/* Rectangular maps and k = 1 (a copy) against the reference backend. */
static void test_avg_pool_shapes(void **state) {
    test_rng r;
    test_rng_seed(&r, 51);
    enum { N = 4 * 3 * 6 * 9 };
    float x[N], seed[N];
    test_fill_normal(&r, x, N, 1.0f);
    test_fill_normal(&r, seed, N, 1.0f);
    const int ks[] = {1, 3, 4};
    const char *names[] = {"avg_pool k 1", "avg_pool k 3 on 6x9", "avg_pool k 4 on 6x9 (floor)"};
    for (int i = 0; i < 3; i++) {
        op_spec spec = {1, {4}, {{4, 3, 6, 9}}, {MW_F32}, build_pool, &ks[i]};
        void *inputs[] = {x};
        op_check_both(names[i], &spec, inputs, seed, NULL, NULL, 1e-5, i == 2 ? 1e-2f : 0, 2e-3);
    }
}

/* Floor mode, as F.avg_pool2d: DenseNet's transitions halve a 7x7 map (Fashion-MNIST's
 * 28 -> 14 -> 7) to 3x3, and the last row and column get no gradient. */
static void test_avg_pool_floor_mode(void **state) {
    enum { H = 7, N = 2 * 1 * H * H, M = 2 * 3 * 3 };
    float x[N], gy[M], y[M], gx[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 37) % 23) - 11.0f;
    for (int i = 0; i < M; i++)
        gy[i] = (float)(i + 1);
    for (int p = 0; p < 2; p++)
        for (int oy = 0; oy < 3; oy++)
            for (int ox = 0; ox < 3; ox++) {
                const float *w = x + p * H * H + oy * 2 * H + ox * 2;
                y[(p * 3 + oy) * 3 + ox] = (w[0] + w[1] + w[H] + w[H + 1]) / 4.0f;
            }
    for (int p = 0; p < 2; p++)
        for (int yy = 0; yy < H; yy++)
            for (int xx = 0; xx < H; xx++)
                gx[(p * H + yy) * H + xx] =
                    yy < 6 && xx < 6 ? gy[(p * 3 + yy / 2) * 3 + xx / 2] / 4.0f : 0.0f;
    const int k = 2;
    op_spec spec = {1, {4}, {{2, 1, H, H}}, {MW_F32}, build_pool, &k};
    void *inputs[] = {x};
    float *want_grad[] = {gx};
    op_check_both("avg_pool 2 on 7x7", &spec, inputs, gy, y, want_grad, 1e-6, 1e-2f, 2e-3);
}

/* PyTorch's F.max_pool2d on maps stored [C, N, H, W]: GoogLeNet's 3x3 windows at stride 1
 * (inside its inception branches) and stride 2 (between stages), padding 1. */
static void check_max_pool(const char *name, const int64_t shape[4], max_pool_args args) {
    int64_t oh = (shape[2] + 2 * args.padding - args.k) / args.stride + 1;
    int64_t ow = (shape[3] + 2 * args.padding - args.k) / args.stride + 1;
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    size_t m = (size_t)(shape[0] * shape[1] * oh * ow);
    op_spec spec = {1,    {4}, {{shape[0], shape[1], shape[2], shape[3]}}, {MW_F32}, build_max_pool,
                    &args};
    /* the test below covers finite differences */
    check_pool_case("encoder_ops.safetensors", name, &spec, n, m, 0);
}

static void test_max_pool_matches_pytorch(void **state) {
    const int64_t s1[4] = {5, 3, 8, 8}, s2[4] = {5, 3, 9, 9};
    check_max_pool("maxpool3s1", s1, (max_pool_args){3, 1, 1});
    check_max_pool("maxpool3s2", s2, (max_pool_args){3, 2, 1});
}

/* Ties go to the first largest value of a window in row-major order, and a value chosen by
 * several overlapping windows sums their gradients: a constant map sends each window's
 * gradient to its top-left value inside the map. */
static void test_max_pool_ties_and_overlaps(void **state) {
    enum { H = 4, N = H * H, M = H * H };
    float x[N], gy[M], y[M], gx[N] = {0};
    for (int i = 0; i < N; i++)
        x[i] = 1.5f, gy[i] = (float)(1 << (i % 8)) * (i < 8 ? 1.0f : 3.0f), y[i] = 1.5f;
    for (int oy = 0; oy < H; oy++)
        for (int ox = 0; ox < H; ox++) {
            int iy = oy > 0 ? oy - 1 : 0, ix = ox > 0 ? ox - 1 : 0; /* window's first inside */
            gx[iy * H + ix] += gy[oy * H + ox];
        }
    max_pool_args args = {3, 1, 1};
    op_spec spec = {1, {4}, {{1, 1, H, H}}, {MW_F32}, build_max_pool, &args};
    void *inputs[] = {x};
    float *want_grad[] = {gx};
    op_check_both("max_pool ties", &spec, inputs, gy, y, want_grad, 0, 0, 0);
}

/* Other shapes and windows (stride larger than the window, even windows, rectangular maps,
 * padding) on the device against the reference backend, with finite differences. The
 * inputs are distinct multiples of 0.01 in a scrambled order, so that no finite-difference
 * step (1e-3) crosses a tie. */
static void test_max_pool_shapes(void **state) {
    test_rng r;
    test_rng_seed(&r, 53);
    enum { N = 3 * 2 * 7 * 10, OUT = 3 * 2 * 8 * 11 }; /* the largest output: 2x2, padding 1 */
    float x[N], seed[OUT];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 7919) % N) * 0.01f - 2.0f; /* 7919 is prime to N: a permutation */
    test_fill_normal(&r, seed, OUT, 1.0f);
    /* 5 x 5 at stride 5 spans 80 columns per 16 outputs: the kernel's path without a
     * private row */
    const max_pool_args cases[] = {{2, 2, 0}, {3, 3, 1}, {2, 1, 1}, {5, 2, 2}, {1, 1, 0},
                                   {5, 5, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        op_spec spec = {1, {4}, {{3, 2, 7, 10}}, {MW_F32}, build_max_pool, &cases[i]};
        void *inputs[] = {x};
        char what[64];
        snprintf(what, sizeof what, "max_pool %d stride %d padding %d on 7x10", cases[i].k,
                 cases[i].stride, cases[i].padding);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 0, 1e-3f, 2e-2);
    }
    /* Rows longer than the kernel's 16 lanes: 37 outputs (two whole vectors and 5) at stride
     * 1, 19 at stride 2 */
    const max_pool_args wide[] = {{3, 1, 1}, {3, 2, 1}};
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++) {
        op_spec spec = {1, {4}, {{2, 1, 4, 37}}, {MW_F32}, build_max_pool, &wide[i]};
        void *inputs[] = {x}; /* 296 of x's distinct values */
        char what[64];
        snprintf(what, sizeof what, "max_pool 3 stride %d padding 1 on 4x37", wide[i].stride);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 0, 1e-3f, 2e-2);
    }
}

/* A NaN wins its windows, as in PyTorch (a later NaN over an earlier one, and over larger
 * values), and takes their gradients: the device against the reference backend, NaN for
 * NaN, on maps wide enough for the kernel's vector loads (rows inside the tensor) and its
 * per-lane reads (the first and last rows), at strides 1 and 2. */
static void test_max_pool_nan(void **state) {
    enum { C = 2, N = 2, H = 5, W = 21, IN = C * N * H * W };
    float x[IN], seed[IN];
    test_rng r;
    test_rng_seed(&r, 61);
    test_fill_uniform(&r, x, IN, -1.0f, 1.0f);
    test_fill_normal(&r, seed, IN, 1.0f);
    const int nan_at[] = {0, 23, 24, 110, 131, 250, 419};
    for (size_t i = 0; i < sizeof nan_at / sizeof *nan_at; i++)
        x[nan_at[i]] = NAN;
    const max_pool_args cases[] = {{3, 1, 1}, {3, 2, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        op_spec spec = {1, {4}, {{C, N, H, W}}, {MW_F32}, build_max_pool, &cases[i]};
        void *inputs[] = {x};
        op_result dev, ref;
        op_run(&spec, test_runtime(), inputs, seed, &dev);
        op_run(&spec, NULL, inputs, seed, &ref);
        size_t nans = 0;
        for (size_t j = 0; j < ref.out_numel; j++) {
            nans += isnan(ref.out[j]) != 0;
            if (isnan(ref.out[j]) ? !isnan(dev.out[j]) : dev.out[j] != ref.out[j])
                fail_msg("max_pool stride %d: output %zu is %g, the reference's %g",
                         cases[i].stride, j, dev.out[j], ref.out[j]);
        }
        assert_true(nans > 0 && nans < ref.out_numel);
        for (size_t j = 0; j < IN; j++)
            if (isnan(ref.grad[0][j]) ? !isnan(dev.grad[0][j]) : dev.grad[0][j] != ref.grad[0][j])
                fail_msg("max_pool stride %d: gradient %zu is %g, the reference's %g",
                         cases[i].stride, j, dev.grad[0][j], ref.grad[0][j]);
        op_result_free(&dev);
        op_result_free(&ref);
    }
}

/* The window scan (max_pool_f32) on the 3 x 3 stride-1 cases above, which the separable
 * kernel takes otherwise: PyTorch's vectors, ties, shapes and NaN. */
static void test_max_pool_window_scan(void **state) {
    mw_pool_separable = 0;
    test_max_pool_matches_pytorch(state);
    test_max_pool_ties_and_overlaps(state);
    test_max_pool_shapes(state);
    test_max_pool_nan(state);
    mw_pool_separable = 1;
}

/* nn.Upsample(scale_factor=k) (mode nearest) of maps x [C, N, H, W] -> [C, N, kH, kW]
 * (autoencoder.safetensors; the gradient is the sum over each k x k block). */
static void check_upsample(const char *name, const int64_t shape[4], int k) {
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]), m = n * (size_t)(k * k);
    op_spec spec = {1, {4}, {{shape[0], shape[1], shape[2], shape[3]}}, {MW_F32}, build_upsample,
                    &k};
    check_pool_case("autoencoder.safetensors", name, &spec, n, m, 1e-2f);
}

static void test_upsample_matches_pytorch(void **state) {
    const int64_t up2[4] = {3, 2, 4, 4}, odd[4] = {2, 3, 3, 5}, up3[4] = {2, 2, 3, 4},
                  up1[4] = {2, 2, 3, 5};
    check_upsample("up2", up2, 2);     /* the autoencoder's decoder */
    check_upsample("up2_odd", odd, 2); /* odd, rectangular maps */
    check_upsample("up3", up3, 3);
    check_upsample("up1", up1, 1); /* a copy */
}

/* Larger and rectangular maps against the reference backend, with finite differences; and
 * upsampling then average pooling by the same k gives the maps back (to float rounding). */
static void test_upsample_shapes(void **state) {
    test_rng r;
    test_rng_seed(&r, 54);
    enum { N = 4 * 3 * 7 * 9, OUT = N * 16 };
    float *x = malloc(N * sizeof *x), *seed = malloc(OUT * sizeof *seed);
    test_fill_normal(&r, x, N, 1.0f);
    test_fill_normal(&r, seed, OUT, 1.0f);
    for (int k = 2; k <= 4; k++) {
        op_spec spec = {1, {4}, {{4, 3, 7, 9}}, {MW_F32}, build_upsample, &k};
        void *inputs[] = {x};
        char what[64];
        snprintf(what, sizeof what, "upsample_nearest %d on 7x9", k);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
    }

    int64_t shape[4] = {4, 3, 7, 9};
    mw_graph *g = mw_graph_create();
    int in = mw_graph_input(g, "x", MW_F32, 4, shape);
    int up = mw_upsample_nearest(g, in, 3);
    int back = mw_avg_pool(g, up, 3);
    assert_true(back >= 0);
    assert_int_equal(mw_tensor_dim(g, up, 2), 21);
    assert_int_equal(mw_tensor_dim(g, up, 3), 27);
    mw_graph_keep(g, back);
    mw_runtime *rts[] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        mw_exec *ex = NULL;
        float got[N];
        TEST_OK(mw_exec_create(g, rts[b], &ex));
        TEST_OK(mw_exec_write(ex, in, x, N * sizeof *x));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
        TEST_OK(mw_exec_read(ex, back, got, sizeof got));
        for (int i = 0; i < N; i++)
            if (fabsf(got[i] - x[i]) > 2e-6f * fabsf(x[i])) {
                print_error("%s backend: avg_pool(upsample(x))[%d] = %g, x %g\n",
                            rts[b] ? "opencl" : "reference", i, (double)got[i], (double)x[i]);
                fail();
            }
        mw_exec_free(ex);
    }
    mw_graph_free(g);
    free(x), free(seed);
}

static void test_scale_channels_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    enum { N = 5 * 3 * 6 * 6, S = 5 * 3 };
    float *in[] = {test_reference_f32(ref, "scale.x", N), test_reference_f32(ref, "scale.s", S)};
    float *y = test_reference_f32(ref, "scale.y", N), *gy = test_reference_f32(ref, "scale.gy", N);
    float *want_grad[] = {test_reference_f32(ref, "scale.gx", N),
                          test_reference_f32(ref, "scale.gs", S)};
    op_spec spec = {2, {4, 4}, {{5, 3, 6, 6}, {5, 3, 1, 1}}, {MW_F32, MW_F32}, build_scale, NULL};
    op_check_both("scale_channels", &spec, (void *const *)in, gy, y, want_grad, 1e-5, 1e-2f, 2e-3);
    free(in[0]), free(in[1]), free(y), free(gy), free(want_grad[0]), free(want_grad[1]);
    mw_safetensors_free(ref);
}

/* Planes of 16·k elements take the float16 path, others (2x2, 3x5) the scalar one. */
static void test_scale_channels_planes(void **state) {
    test_rng r;
    test_rng_seed(&r, 52);
    const int64_t sides[][2] = {{2, 2}, {4, 4}, {8, 8}, {3, 5}};
    for (size_t i = 0; i < sizeof sides / sizeof *sides; i++) {
        int64_t h = sides[i][0], w = sides[i][1];
        size_t n = (size_t)(7 * 3 * h * w);
        float *x = malloc(n * sizeof *x), *seed = malloc(n * sizeof *seed), s[21];
        test_fill_normal(&r, x, n, 1.0f);
        test_fill_normal(&r, seed, n, 1.0f);
        test_fill_uniform(&r, s, 21, 0.0f, 1.0f);
        op_spec spec = {2,           {4, 4}, {{7, 3, h, w}, {7, 3, 1, 1}}, {MW_F32, MW_F32},
                        build_scale, NULL};
        void *inputs[] = {x, s};
        char what[64];
        snprintf(what, sizeof what, "scale_channels %lldx%lld", (long long)h, (long long)w);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-5, 0, 0);
        free(x), free(seed);
    }
}

/* Building `build` (ctx) on one float32 input x of the given shape fails with
 * MW_ERR_INVALID_ARG and an error that contains `want`. */
static void expect_build_error(int ndim, const int64_t *shape, op_build_fn build, const void *ctx,
                               const char *want) {
    mw_graph *g = mw_graph_create();
    int x = mw_graph_input(g, "x", MW_F32, ndim, shape);
    assert_int_equal(build(g, &x, ctx), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    if (!strstr(mw_graph_error(g), want)) {
        print_error("error \"%s\" lacks \"%s\"\n", mw_graph_error(g), want);
        fail();
    }
    mw_graph_free(g);
}

static void test_shape_errors(void **state) {
    int64_t maps[4] = {3, 2, 6, 6}, bad_s[4] = {3, 2, 2, 1}, rows[2] = {3, 2};
    const int seven = 7, one = 1, two = 2;
    expect_build_error(4, maps, build_pool, &seven, "does not fit");
    expect_build_error(2, rows, build_pool, &one, "[C, N, H, W]");

    const max_pool_args bad[] = {{3, 1, 2}, {3, 0, 1}, {9, 1, 1}, {0, 1, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_build_error(4, maps, build_max_pool, &bad[i], "max_pool");

    const int bad_k[] = {0, -2, 1 << 14}; /* the last: (6·2^14)² values a plane, 2^31 or more */
    for (size_t i = 0; i < sizeof bad_k / sizeof *bad_k; i++)
        expect_build_error(4, maps, build_upsample, &bad_k[i], "upsample_nearest: scale factor");
    expect_build_error(2, rows, build_upsample, &two, "upsample_nearest: x must be float32 maps");

    mw_graph *g = mw_graph_create();
    int x = mw_graph_input(g, "x", MW_F32, 4, maps);
    int s = mw_graph_input(g, "s", MW_F32, 4, bad_s);
    assert_int_equal(mw_scale_channels(g, x, s), -1);
    assert_non_null(strstr(mw_graph_error(g), "must be [3, 2, 1, 1]"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avg_pool_matches_pytorch),
        cmocka_unit_test(test_avg_pool_shapes),
        cmocka_unit_test(test_avg_pool_floor_mode),
        cmocka_unit_test(test_upsample_matches_pytorch),
        cmocka_unit_test(test_upsample_shapes),
        cmocka_unit_test(test_max_pool_matches_pytorch),
        cmocka_unit_test(test_max_pool_ties_and_overlaps),
        cmocka_unit_test(test_max_pool_shapes),
        cmocka_unit_test(test_max_pool_nan),
        cmocka_unit_test(test_max_pool_window_scan),
        cmocka_unit_test(test_scale_channels_matches_pytorch),
        cmocka_unit_test(test_scale_channels_planes),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
