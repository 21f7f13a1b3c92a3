/* Memory Wrap's three distances (memorywrap.memory._distance) against PyTorch, OpenCL vs
 * reference backend, finite differences, and the unknown-name error. */
#include "op_harness.h"

#include <math.h>
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

/* Near neighbours, where attention looks: rows at cosines of 0.99-0.9999 to each other. The
 * distance must keep float32's relative accuracy (the product form 1 − ê·m̂ loses digits to
 * cancellation there: ~1e-3 of the distance at cos 0.9999, d = 1280). Checked against the
 * product in double on both backends. The gradient is not checked here: it is that of
 * 1 − ê·m̂, as PyTorch's, a difference of nearly equal vectors at these angles, accurate to
 * float32 in absolute terms only (the other tests check it). */
static void test_cosine_of_near_neighbours(void **state) {
    test_rng r;
    test_rng_seed(&r, 47);
    const size_t N = 7, M = 9, D = 1280;
    float *base = malloc(D * 4), *e = malloc(N * D * 4), *m = malloc(M * D * 4);
    float *noise = malloc((N + M) * D * 4), *seed = malloc(N * M * 4);
    test_fill_uniform(&r, base, D, 0.0f, 1.0f);
    test_fill_normal(&r, noise, (N + M) * D, 1.0f);
    test_fill_normal(&r, seed, N * M, 1.0f);
    for (size_t i = 0; i < N + M; i++) { /* base + a perturbation of 3e-3 .. 1.2e-2 per row */
        float *row = i < N ? e + i * D : m + (i - N) * D;
        float scale = 3e-3f * (float)(1 + i % 4);
        for (size_t k = 0; k < D; k++)
            row[k] = base[k] * (1.0f + 0.25f * (float)(i % 3)) + scale * noise[i * D + k];
    }
    float *want = malloc(N * M * 4);
    double eps = 1e-6;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < M; j++) {
            double se = 0, sm = 0, dot = 0;
            for (size_t k = 0; k < D; k++) {
                se += (double)e[i * D + k] * e[i * D + k];
                sm += (double)m[j * D + k] * m[j * D + k];
                dot += (double)e[i * D + k] * m[j * D + k];
            }
            want[i * M + j] = (float)(1.0 - dot / (sqrt(se + eps) * sqrt(sm + eps)));
        }
    op_spec spec = {2, {2, 2}, {{(int64_t)N, (int64_t)D}, {(int64_t)M, (int64_t)D}},
                    {MW_F32, MW_F32}, build_distance, "cosine"};
    void *inputs[] = {e, m};
    /* The case is what it says: distances of 1e-5 to 1e-3, where the float32 product form
     * (rows normalised in float, one float dot product) misses by more than 1e-3. */
    double largest = 0, product_error = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < M; j++) {
            float ne = 0, nm = 0, dot = 0;
            for (size_t k = 0; k < D; k++)
                ne += e[i * D + k] * e[i * D + k], nm += m[j * D + k] * m[j * D + k];
            ne = sqrtf(ne + 1e-6f), nm = sqrtf(nm + 1e-6f);
            for (size_t k = 0; k < D; k++)
                dot += (e[i * D + k] / ne) * (m[j * D + k] / nm);
            double w = want[i * M + j];
            largest = fmax(largest, w);
            product_error = fmax(product_error, fabs((1.0f - dot) - w) / w);
        }
    print_message("near neighbours: distances up to %.3g; float32 product form off by %.3g\n",
                  largest, product_error);
    assert_true(largest < 1e-3);
    assert_true(product_error > 1e-3);
    op_result got[2];
    op_run(&spec, test_runtime(), inputs, seed, &got[0]);
    op_run(&spec, NULL, inputs, seed, &got[1]);
    double worst = 0;
    for (int b = 0; b < 2; b++)
        for (size_t k = 0; k < N * M; k++) { /* relative to each distance, no floor */
            double rel = fabs((double)got[b].out[k] - want[k]) / want[k];
            worst = fmax(worst, rel);
            if (!(rel <= 2e-5)) {
                print_error("%s backend: distance [%zu] %.9g, double %.9g (relative %.3g)\n",
                            b ? "reference" : "OpenCL", k, (double)got[b].out[k],
                            (double)want[k], rel);
                fail();
            }
        }
    print_message("near neighbours: memwrap's distances off by at most %.3g\n", worst);
    op_result_free(&got[0]);
    op_result_free(&got[1]);
    free(base), free(e), free(m), free(noise), free(seed), free(want);
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
        cmocka_unit_test(test_cosine_of_near_neighbours),
        cmocka_unit_test(test_unknown_distance_lists_valid_names),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
