/* Memory Wrap's three distances (memorywrap.memory._distance) against PyTorch, OpenCL vs
 * reference backend, finite differences, and the unknown-name error. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_distance(mw_graph *g, const int *in, const void *ctx) {
    return mw_distance(g, in[0], in[1], ctx);
}

static void check_distance(const char *kind) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    char name[64];
#define REF(field, n)                                                                              \
    (snprintf(name, sizeof name, "distance.%s.%s", kind, field), test_reference_f32(ref, name, n))
    float *in[] = {REF("e", 96), REF("m", 144)};
    float *d = REF("d", 54), *gd = REF("gd", 54);
    float *want_grad[] = {REF("ge", 96), REF("gm", 144)};
#undef REF
    op_spec spec = {2, {2, 2}, {{6, 16}, {9, 16}}, {MW_F32, MW_F32}, build_distance, kind};
    char what[64];
    snprintf(what, sizeof what, "%s distance", kind);
    op_check_both(what, &spec, (void *const *)in, gd, d, want_grad, 1e-5, 1e-2f, 5e-3);
    for (int i = 0; i < 2; i++)
        free(in[i]), free(want_grad[i]);
    free(d), free(gd);
    mw_safetensors_free(ref);
}

static void test_cosine_matches_pytorch(void **state) {
    check_distance("cosine");
}

static void test_l2_matches_pytorch(void **state) {
    check_distance("l2");
}

static void test_dot_matches_pytorch(void **state) {
    check_distance("dot");
}

/* Sizes of the real head (d = 1280 is MobileNetV2's) with odd batch and memory counts. */
static void test_distances_at_model_sizes(void **state) {
    test_rng r;
    test_rng_seed(&r, 31);
    const size_t N = test_size(33, 5), M = test_size(101, 11), D = test_size(320, 40);
    float *e = malloc(N * D * 4), *m = malloc(M * D * 4), *seed = malloc(N * M * 4);
    test_fill_uniform(&r, e, N * D, 0.0f, 1.0f); /* post-ReLU-like encodings */
    test_fill_uniform(&r, m, M * D, 0.0f, 1.0f);
    test_fill_normal(&r, seed, N * M, 1.0f);
    for (int k = 0; mw_distance_names[k]; k++) {
        op_spec spec = {
            2,           {2, 2}, {{(int64_t)N, (int64_t)D}, {(int64_t)M, (int64_t)D}},
            {MW_F32, MW_F32}, build_distance, mw_distance_names[k]};
        void *inputs[] = {e, m};
        /* Non-negative encodings are nearly parallel, so the cosine gradient is the small
         * residual of x̂ (x̂ · g) cancelling g: float32 loses ~5e-5 there (the reference
         * backend accumulates in double). Away from that case the ops agree to 1e-5. */
        op_check_both(mw_distance_names[k], &spec, inputs, seed, NULL, NULL, 1e-4, 0, 0);
    }
    free(e), free(m), free(seed);
}

static void test_unknown_distance_lists_valid_names(void **state) {
    mw_graph *g = mw_graph_create();
    int64_t s[2] = {2, 4};
    int a = mw_graph_input(g, "a", MW_F32, 2, s), b = mw_graph_input(g, "b", MW_F32, 2, s);
    assert_int_equal(mw_distance(g, a, b, "manhattan"), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    const char *msg = mw_graph_error(g);
    assert_non_null(strstr(msg, "manhattan"));
    assert_non_null(strstr(msg, "cosine"));
    assert_non_null(strstr(msg, "l2"));
    assert_non_null(strstr(msg, "dot"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosine_matches_pytorch),
        cmocka_unit_test(test_l2_matches_pytorch),
        cmocka_unit_test(test_dot_matches_pytorch),
        cmocka_unit_test(test_distances_at_model_sizes),
        cmocka_unit_test(test_unknown_distance_lists_valid_names),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
