/* Activations: swish and sigmoid against PyTorch on both backends with finite differences,
 * ragged sizes (vector tails), relu through mw_relu, none as the identity, bad codes. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_activate(mw_graph *g, const int *in, const void *ctx) {
    return mw_activate(g, in[0], *(const mw_activation *)ctx);
}

static void check_pytorch(const char *name, mw_activation act) {
    enum { N = 4 * 7 * 5 };
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    char key[64];
    float *v[4];
    const char *fields[4] = {"x", "y", "gy", "gx"};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", name, fields[i]);
        v[i] = test_reference_f32(ref, key, N);
    }
    op_spec spec = {1, {3}, {{4, 7, 5}}, {MW_F32}, build_activate, &act};
    void *inputs[] = {v[0]};
    float *want_grad[] = {v[3]};
    op_check_both(name, &spec, inputs, v[2], v[1], want_grad, 1e-5, 1e-2f, 2e-3);
    for (int i = 0; i < 4; i++)
        free(v[i]);
    mw_safetensors_free(ref);
}

static void test_swish_matches_pytorch(void **state) {
    check_pytorch("swish", MW_ACT_SWISH);
}

static void test_sigmoid_matches_pytorch(void **state) {
    check_pytorch("sigmoid", MW_ACT_SIGMOID);
}

/* 16-element vectors with a ragged tail, and sizes under one vector; wide inputs reach the
 * saturated ends (exp overflow must give 0 or x, never NaN). */
static void test_ragged_sizes_against_reference(void **state) {
    test_rng r;
    test_rng_seed(&r, 41);
    const int64_t sizes[] = {1, 15, 16, 17, 1221};
    const mw_activation acts[] = {MW_ACT_SWISH, MW_ACT_SIGMOID};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = (size_t)sizes[s];
        float *x = malloc(n * sizeof *x), *seed = malloc(n * sizeof *seed);
        test_fill_normal(&r, x, n, 30.0f);
        test_fill_normal(&r, seed, n, 1.0f);
        if (n > 2) x[0] = 200.0f, x[1] = -200.0f;
        for (size_t a = 0; a < 2; a++) {
            op_spec spec = {1, {1}, {{sizes[s]}}, {MW_F32}, build_activate, &acts[a]};
            void *inputs[] = {x};
            char what[64];
            snprintf(what, sizeof what, "%s on %zu elements",
                     acts[a] == MW_ACT_SWISH ? "swish" : "sigmoid", n);
            op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-5, 0, 0);
        }
        free(x), free(seed);
    }
}

static void test_relu_and_none(void **state) {
    mw_graph *g = mw_graph_create();
    int64_t shape[2] = {3, 4};
    int x = mw_graph_input(g, "x", MW_F32, 2, shape);
    assert_int_equal(mw_activate(g, x, MW_ACT_NONE), x);
    int nodes = mw_graph_node_count(g);
    int y = mw_activate(g, x, MW_ACT_RELU);
    assert_true(y >= 0);
    assert_int_equal(mw_graph_node_count(g), nodes + 1);
    assert_true(strncmp(mw_tensor_name(g, y), "relu:", 5) == 0); /* the elementwise family's op */
    assert_int_equal(mw_activate(g, x, MW_ACT_COUNT), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_graph_error(g), "unknown activation"));
    mw_graph_free(g);

    g = mw_graph_create();
    int labels = mw_graph_input(g, "labels", MW_I32, 1, shape);
    assert_int_equal(mw_activate(g, labels, MW_ACT_SWISH), -1);
    assert_non_null(strstr(mw_graph_error(g), "float32"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swish_matches_pytorch),
        cmocka_unit_test(test_sigmoid_matches_pytorch),
        cmocka_unit_test(test_ragged_sizes_against_reference),
        cmocka_unit_test(test_relu_and_none),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
