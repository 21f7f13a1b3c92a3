/* Row-wise softmax: against PyTorch, OpenCL vs the reference backend at the sizes Matching
 * Networks uses, finite differences, the shape error. */
#include "op_harness.h"

#include <stdlib.h>
#include <string.h>

static int build_softmax(mw_graph *g, const int *in, const void *ctx) {
    return mw_softmax(g, in[0]);
}

static void test_softmax_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("matching_ops.safetensors");
    float *x = test_reference_f32(ref, "softmax.x", 35), *y = test_reference_f32(ref, "softmax.y", 35);
    float *gy = test_reference_f32(ref, "softmax.gy", 35);
    float *gx = test_reference_f32(ref, "softmax.gx", 35);
    op_spec spec = {1, {2}, {{5, 7}}, {MW_F32}, build_softmax, NULL};
    void *inputs[] = {x};
    float *want_grad[] = {gx};
    /* gy − Σ gy·y cancels in places: PyTorch's own float32 backward lands 1.6e-5 from the
     * float64 values on this case (largest at [6], as memwrap's), hence 3e-5. */
    op_check_both("softmax", &spec, inputs, gy, y, want_grad, 3e-5, 1e-2f, 2e-3);
    free(x), free(y), free(gy), free(gx);
    mw_safetensors_free(ref);
}

/* The attention over a support set of 100 for a test batch, logits spread over ±25 (the
 * maximum is subtracted first; wider, exp underflows to where PoCL flushes denormals to zero
 * and the double reference does not). */
static void test_softmax_at_model_sizes(void **state) {
    test_rng r;
    test_rng_seed(&r, 41);
    const size_t N = test_size(129, 9), M = test_size(100, 13);
    float *x = malloc(N * M * 4), *seed = malloc(N * M * 4);
    test_fill_normal(&r, x, N * M, 8.0f);
    test_fill_normal(&r, seed, N * M, 1.0f);
    op_spec spec = {1, {2}, {{(int64_t)N, (int64_t)M}}, {MW_F32}, build_softmax, NULL};
    void *inputs[] = {x};
    /* The same cancellation: where gy is near its y-weighted mean Σ gy·y, the float32 y's
     * last bits (PoCL's exp against the double reference's) come through magnified; 2e-4 at
     * the small shapes of the sanitizer run (9 x 13). */
    op_check_both("softmax 129x100", &spec, inputs, seed, NULL, NULL, 1e-3, 0, 0);
    op_result res;
    op_run(&spec, test_runtime(), inputs, seed, &res);
    for (size_t i = 0; i < N; i++) { /* rows sum to 1 */
        double s = 0;
        for (size_t j = 0; j < M; j++)
            s += res.out[i * M + j];
        assert_true(s > 1 - 1e-5 && s < 1 + 1e-5);
    }
    op_result_free(&res);
    free(x), free(seed);

    mw_graph *g = mw_graph_create();
    int64_t s[1] = {4};
    int a = mw_graph_input(g, "a", MW_F32, 1, s);
    assert_int_equal(mw_softmax(g, a), -1);
    assert_non_null(strstr(mw_graph_error(g), "softmax: a must be a matrix"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_matches_pytorch),
        cmocka_unit_test(test_softmax_at_model_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
