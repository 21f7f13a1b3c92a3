/* Elementwise ops: relu, add + relu fused and the log of a clamp against PyTorch,
 * affine/add/relu OpenCL vs reference, finite differences. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_relu(mw_graph *g, const int *in, const void *ctx) {
    return mw_relu(g, in[0]);
}

static int build_affine(mw_graph *g, const int *in, const void *ctx) {
    return mw_affine(g, in[0], -1.75f, 0.5f);
}

/* a + relu(b) + a: `a` is used twice, so its gradient sums two contributions. */
static int build_add(mw_graph *g, const int *in, const void *ctx) {
    return mw_add(g, mw_add(g, in[0], mw_relu(g, in[1])), in[0]);
}

static void test_relu_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *x = test_reference_f32(ref, "relu.x", 60), *y = test_reference_f32(ref, "relu.y", 60);
    float *gy = test_reference_f32(ref, "relu.gy", 60);
    float *gx = test_reference_f32(ref, "relu.gx", 60);
    op_spec spec = {1, {2}, {{6, 10}}, {MW_F32}, build_relu, NULL};
    void *inputs[] = {x};
    float *want_grad[] = {gx};
    op_check_both("relu", &spec, inputs, gy, y, want_grad, 1e-5, 0, 0);
    free(x), free(y), free(gy), free(gx);
    mw_safetensors_free(ref);
}

static int build_clamp_log(mw_graph *g, const int *in, const void *ctx) {
    return mw_clamp_log(g, in[0], 1e-6f, 1.0f - 1e-6f);
}

/* Matching Networks' clamped predictions: zeros, ones and values past both bounds (whose
 * gradient is 0), against PyTorch's clamp then log; finite differences inside the bounds. */
static void test_clamp_log(void **state) {
    mw_safetensors *ref = test_reference("matching_ops.safetensors");
    float *x = test_reference_f32(ref, "clamp_log.x", 30);
    float *y = test_reference_f32(ref, "clamp_log.y", 30);
    float *gy = test_reference_f32(ref, "clamp_log.gy", 30);
    float *gx = test_reference_f32(ref, "clamp_log.gx", 30);
    op_spec spec = {1, {2}, {{6, 5}}, {MW_F32}, build_clamp_log, NULL};
    void *inputs[] = {x};
    float *want_grad[] = {gx};
    op_check_both("clamp_log", &spec, inputs, gy, y, want_grad, 1e-5, 0, 0);
    int zero_grads = 0;
    for (int i = 0; i < 30; i++)
        zero_grads += gx[i] == 0.0f;
    assert_true(zero_grads >= 4); /* the clamped entries are in the case */
    test_rng r;
    test_rng_seed(&r, 12);
    float inside[30];
    for (int i = 0; i < 30; i++)
        inside[i] = test_rng_uniform(&r, 0.2f, 0.9f);
    void *in2[] = {inside};
    op_check_both("clamp_log inside", &spec, in2, gy, NULL, NULL, 1e-5, 1e-3f, 2e-3);
    mw_graph *g = mw_graph_create();
    int64_t s[2] = {2, 2};
    int a = mw_graph_input(g, "a", MW_F32, 2, s);
    assert_int_equal(mw_clamp_log(g, a, 0.0f, 1.0f), -1);
    assert_non_null(strstr(mw_graph_error(g), "clamp_log"));
    mw_graph_free(g);
    free(x), free(y), free(gy), free(gx);
    mw_safetensors_free(ref);
}

static int build_add_relu(mw_graph *g, const int *in, const void *ctx) {
    return mw_add_relu(g, in[0], in[1]);
}

/* relu(a + b) + a: the fused op's gradient reaches `a` twice. */
static int build_add_relu_reused(mw_graph *g, const int *in, const void *ctx) {
    return mw_add(g, mw_add_relu(g, in[0], in[1]), in[0]);
}

static void test_add_relu(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *a = test_reference_f32(ref, "add_relu.a", 60), *b = test_reference_f32(ref, "add_relu.b", 60);
    float *y = test_reference_f32(ref, "add_relu.y", 60), *gy = test_reference_f32(ref, "add_relu.gy", 60);
    float *want_grad[] = {test_reference_f32(ref, "add_relu.ga", 60),
                          test_reference_f32(ref, "add_relu.gb", 60)};
    op_spec spec = {2, {2, 2}, {{5, 12}, {5, 12}}, {MW_F32, MW_F32}, build_add_relu, NULL};
    void *inputs[] = {a, b};
    op_check_both("add_relu", &spec, inputs, gy, y, want_grad, 1e-5, 0, 0);
    free(a), free(b), free(y), free(gy), free(want_grad[0]), free(want_grad[1]);
    mw_safetensors_free(ref);

    /* finite differences, the sums kept 0.05 or more from relu's kink (odd sizes: the launch
     * range is rounded up past the data) */
    test_rng r;
    test_rng_seed(&r, 14);
    enum { N = 3 * 37 };
    float fa[N], fb[N], seed[N];
    test_fill_normal(&r, fa, N, 1.0f);
    test_fill_normal(&r, seed, N, 1.0f);
    for (int i = 0; i < N; i++)
        fb[i] = -fa[i] + test_rng_uniform(&r, 0.05f, 2.0f) * (test_rng_uniform(&r, 0, 1) < 0.5f ? -1 : 1);
    void *fd_inputs[] = {fa, fb};
    op_spec reused = {2, {2, 2}, {{3, 37}, {3, 37}}, {MW_F32, MW_F32}, build_add_relu_reused, NULL};
    op_check_both("add_relu(a, b) + a", &reused, fd_inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);

    /* shapes must agree */
    mw_graph *g = mw_graph_create();
    int64_t s1[2] = {2, 3}, s2[2] = {3, 2};
    int x1 = mw_graph_input(g, "x1", MW_F32, 2, s1), x2 = mw_graph_input(g, "x2", MW_F32, 2, s2);
    assert_int_equal(mw_add_relu(g, x1, x2), -1);
    assert_non_null(strstr(mw_graph_error(g), "add_relu: x1 and x2 differ in shape"));
    mw_graph_free(g);
}

static void test_affine_and_add(void **state) {
    test_rng r;
    test_rng_seed(&r, 11);
    enum { N = 3 * 37 }; /* odd sizes: the launch range is rounded up past the data */
    float a[N], b[N], seed[N];
    test_fill_normal(&r, a, N, 1.0f);
    test_fill_normal(&r, seed, N, 1.0f);
    for (int i = 0; i < N; i++) { /* keep relu's kink out of the finite differences' reach */
        b[i] = test_rng_uniform(&r, 0.05f, 2.0f) * (test_rng_uniform(&r, 0, 1) < 0.5f ? -1 : 1);
    }
    void *inputs[] = {a, b};
    op_spec affine = {1, {2}, {{3, 37}}, {MW_F32}, build_affine, NULL};
    op_check_both("affine", &affine, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
    op_spec add = {2, {2, 2}, {{3, 37}, {3, 37}}, {MW_F32, MW_F32}, build_add, NULL};
    op_check_both("add", &add, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
}

static void test_large_relu_against_reference(void **state) {
    test_rng r;
    test_rng_seed(&r, 12);
    enum { ROWS = 129, COLS = 257 };
    float *x = malloc(ROWS * COLS * sizeof *x), *seed = malloc(ROWS * COLS * sizeof *seed);
    test_fill_normal(&r, x, ROWS * COLS, 3.0f);
    test_fill_normal(&r, seed, ROWS * COLS, 1.0f);
    op_spec spec = {1, {2}, {{ROWS, COLS}}, {MW_F32}, build_relu, NULL};
    void *inputs[] = {x};
    op_check_both("relu 129x257", &spec, inputs, seed, NULL, NULL, 0, 0, 0);
    free(x), free(seed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_matches_pytorch),
        cmocka_unit_test(test_affine_and_add),
        cmocka_unit_test(test_add_relu),
        cmocka_unit_test(test_clamp_log),
        cmocka_unit_test(test_large_relu_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
