/* Elementwise ops: relu against PyTorch, affine/add/relu OpenCL vs reference, finite
 * differences. */
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
        cmocka_unit_test(test_large_relu_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
