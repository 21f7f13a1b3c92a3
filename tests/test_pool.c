/* Average pooling and the squeeze-excitation channel scaling: against PyTorch on both
 * backends with finite differences, vector and scalar plane paths, shape errors. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_pool(mw_graph *g, const int *in, const void *ctx) {
    return mw_avg_pool(g, in[0], *(const int *)ctx);
}

static int build_scale(mw_graph *g, const int *in, const void *ctx) {
    return mw_scale_channels(g, in[0], in[1]);
}

/* PyTorch's F.avg_pool2d(x, k) on [3, 5, size, size], stored as maps [5, 3, size, size]. */
static void check_pool(const char *name, int64_t size, int k) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    size_t n = (size_t)(15 * size * size), m = n / (size_t)(k * k);
    char key[64];
    snprintf(key, sizeof key, "%s.x", name);
    float *x = test_reference_f32(ref, key, n);
    snprintf(key, sizeof key, "%s.y", name);
    float *y = test_reference_f32(ref, key, m);
    snprintf(key, sizeof key, "%s.gy", name);
    float *gy = test_reference_f32(ref, key, m);
    snprintf(key, sizeof key, "%s.gx", name);
    float *gx = test_reference_f32(ref, key, n);
    op_spec spec = {1, {4}, {{5, 3, size, size}}, {MW_F32}, build_pool, &k};
    void *inputs[] = {x};
    float *want_grad[] = {gx};
    op_check_both(name, &spec, inputs, gy, y, want_grad, 1e-5, 1e-2f, 2e-3);
    free(x), free(y), free(gy), free(gx);
    mw_safetensors_free(ref);
}

static void test_avg_pool_matches_pytorch(void **state) {
    check_pool("pool2", 6, 2);
    check_pool("pool4", 4, 4); /* k = H = W: adaptive_avg_pool2d(x, 1) */
}

/* Rectangular maps and k = 1 (a copy) against the reference backend. */
static void test_avg_pool_shapes(void **state) {
    test_rng r;
    test_rng_seed(&r, 51);
    enum { N = 4 * 3 * 6 * 9 };
    float x[N], seed[N];
    test_fill_normal(&r, x, N, 1.0f);
    test_fill_normal(&r, seed, N, 1.0f);
    const int ks[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        op_spec spec = {1, {4}, {{4, 3, 6, 9}}, {MW_F32}, build_pool, &ks[i]};
        void *inputs[] = {x};
        op_check_both(ks[i] == 1 ? "avg_pool k 1" : "avg_pool k 3 on 6x9", &spec, inputs, seed,
                      NULL, NULL, 1e-5, 0, 0);
    }
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

static void test_shape_errors(void **state) {
    int64_t maps[4] = {3, 2, 6, 6}, bad_s[4] = {3, 2, 2, 1}, rows[2] = {3, 2};
    mw_graph *g = mw_graph_create();
    int x = mw_graph_input(g, "x", MW_F32, 4, maps);
    assert_int_equal(mw_avg_pool(g, x, 4), -1);
    assert_non_null(strstr(mw_graph_error(g), "does not tile"));
    mw_graph_free(g);

    g = mw_graph_create();
    x = mw_graph_input(g, "x", MW_F32, 4, maps);
    int s = mw_graph_input(g, "s", MW_F32, 4, bad_s);
    assert_int_equal(mw_scale_channels(g, x, s), -1);
    assert_non_null(strstr(mw_graph_error(g), "must be [3, 2, 1, 1]"));
    mw_graph_free(g);

    g = mw_graph_create();
    x = mw_graph_input(g, "x", MW_F32, 2, rows);
    assert_int_equal(mw_avg_pool(g, x, 1), -1);
    assert_non_null(strstr(mw_graph_error(g), "[C, N, H, W]"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avg_pool_matches_pytorch),
        cmocka_unit_test(test_avg_pool_shapes),
        cmocka_unit_test(test_scale_channels_matches_pytorch),
        cmocka_unit_test(test_scale_channels_planes),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
