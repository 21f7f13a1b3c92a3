/* Layout changes: images <-> channel-major maps, pooled maps -> rows and the channel
 * shuffle, as exact permutations on both backends (values and gradients), against PyTorch
 * where it has the op, and their shape errors. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_images_to_maps(mw_graph *g, const int *in, const void *ctx) {
    return mw_images_to_maps(g, in[0]);
}

static int build_maps_to_rows(mw_graph *g, const int *in, const void *ctx) {
    return mw_maps_to_rows(g, in[0]);
}

static int build_shuffle(mw_graph *g, const int *in, const void *ctx) {
    return mw_channel_shuffle(g, in[0], *(const int *)ctx);
}

/* Both backends: out[b, a, p] == in[a, b, p] exactly, and the gradient is the inverse
 * permutation of the seed (MAPS_TO_IMAGES / ROWS_TO_MAPS), exactly. */
static void check_swap(const char *what, const op_spec *spec, int64_t a_dim, int64_t b_dim,
                       int64_t plane) {
    size_t n = (size_t)(a_dim * b_dim * plane);
    float *x = malloc(n * sizeof *x), *seed = malloc(n * sizeof *seed);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)i; /* every value names its source index */
        seed[i] = -0.5f * (float)i;
    }
    void *inputs[] = {x};
    mw_runtime *backends[2] = {test_runtime(), NULL};
    for (int k = 0; k < 2; k++) {
        op_result res;
        op_run(spec, backends[k], inputs, seed, &res);
        assert_int_equal(res.out_numel, n);
        for (int64_t a = 0; a < a_dim; a++)
            for (int64_t b = 0; b < b_dim; b++)
                for (int64_t p = 0; p < plane; p++) {
                    size_t src = (size_t)((a * b_dim + b) * plane + p);
                    size_t dst = (size_t)((b * a_dim + a) * plane + p);
                    if (res.out[dst] != x[src] || res.grad[0][src] != seed[dst]) {
                        print_error("%s (%s): out[%zu] = %g, want %g; grad[%zu] = %g, want %g\n",
                                    what, k ? "reference" : "opencl", dst, (double)res.out[dst],
                                    (double)x[src], src, (double)res.grad[0][src],
                                    (double)seed[dst]);
                        fail();
                    }
                }
        op_result_free(&res);
    }
    free(x), free(seed);
}

static void test_images_to_maps(void **state) {
    /* N 3, C 5, 7x9 images: odd everything, so a swapped index cannot pass. */
    op_spec spec = {1, {4}, {{3, 5, 7, 9}}, {MW_F32}, build_images_to_maps, NULL};
    check_swap("images_to_maps", &spec, 3, 5, 63);
    op_spec one = {1, {4}, {{1, 1, 2, 2}}, {MW_F32}, build_images_to_maps, NULL};
    check_swap("images_to_maps 1x1x2x2", &one, 1, 1, 4);
}

static void test_maps_to_rows(void **state) {
    op_spec spec = {1, {4}, {{7, 3, 1, 1}}, {MW_F32}, build_maps_to_rows, NULL};
    check_swap("maps_to_rows", &spec, 7, 3, 1);
    op_spec wide = {1, {4}, {{1280, 11, 1, 1}}, {MW_F32}, build_maps_to_rows, NULL};
    check_swap("maps_to_rows 1280x11", &wide, 1280, 11, 1);
}

/* A shuffle in g groups is the swap of [g, C/g, N·H·W]; its gradient the inverse shuffle. */
static void test_channel_shuffle(void **state) {
    const int two = 2, three = 3, one = 1;
    op_spec spec = {1, {4}, {{6, 3, 5, 7}}, {MW_F32}, build_shuffle, &two};
    check_swap("channel_shuffle 2 of 6", &spec, 2, 3, 105);
    op_spec s3 = {1, {4}, {{12, 2, 2, 2}}, {MW_F32}, build_shuffle, &three};
    check_swap("channel_shuffle 3 of 12", &s3, 3, 4, 8);
    op_spec s1 = {1, {4}, {{4, 2, 1, 1}}, {MW_F32}, build_shuffle, &one};
    check_swap("channel_shuffle 1 (identity)", &s1, 1, 4, 2);
}

/* ShuffleNetV2's ShuffleBlock: x.view(N, 2, C/2, H, W).permute(0, 2, 1, 3, 4) in PyTorch. */
static void test_channel_shuffle_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    enum { N = 6 * 2 * 3 * 3 };
    float *x = test_reference_f32(ref, "shuffle2.x", N),
          *y = test_reference_f32(ref, "shuffle2.y", N);
    float *gy = test_reference_f32(ref, "shuffle2.gy", N);
    float *want_grad[] = {test_reference_f32(ref, "shuffle2.gx", N)};
    const int two = 2;
    op_spec spec = {1, {4}, {{6, 2, 3, 3}}, {MW_F32}, build_shuffle, &two};
    void *inputs[] = {x};
    op_check_both("channel_shuffle", &spec, inputs, gy, y, want_grad, 0, 0, 0);
    free(x), free(y), free(gy), free(want_grad[0]);
    mw_safetensors_free(ref);
}

static void test_shape_errors(void **state) {
    mw_graph *g = mw_graph_create();
    int64_t s4[4] = {3, 2, 4, 4}, s2[2] = {3, 2};
    int maps = mw_graph_input(g, "maps", MW_F32, 4, s4);
    assert_int_equal(mw_maps_to_rows(g, maps), -1);
    assert_non_null(strstr(mw_graph_error(g), "pool it to 1x1"));
    mw_graph_free(g);

    g = mw_graph_create();
    int rows = mw_graph_input(g, "rows", MW_F32, 2, s2);
    assert_int_equal(mw_images_to_maps(g, rows), -1);
    assert_non_null(strstr(mw_graph_error(g), "4-D float32"));
    mw_graph_free(g);

    g = mw_graph_create();
    maps = mw_graph_input(g, "maps", MW_F32, 4, s4);
    assert_int_equal(mw_channel_shuffle(g, maps, 2), -1);
    assert_non_null(strstr(mw_graph_error(g), "2 groups do not divide the 3 channels"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images_to_maps),
        cmocka_unit_test(test_maps_to_rows),
        cmocka_unit_test(test_channel_shuffle),
        cmocka_unit_test(test_channel_shuffle_matches_pytorch),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
