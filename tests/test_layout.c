/* Layout changes: images <-> channel-major maps, pooled maps -> rows and the channel
 * shuffle (alone, and joined with the concatenation before it and the split after it), as
 * exact permutations on both backends (values and gradients), against PyTorch where it has
 * the op, and their shape errors. */
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

/* The shuffle of two maps split in two, as ShuffleNetV2 uses it: the outputs in order joined
 * again by a concatenation (`use` 2), or only the second output (`use` 1: the first output's
 * gradient is missing, so the backward seeds it with zeros). */
typedef struct shuffle_split_case {
    int n_in, n_out, groups, use;
    int in_channels[2], out_channels[2];
} shuffle_split_case;

static int build_shuffle_split(mw_graph *g, const int *in, const void *ctx) {
    const shuffle_split_case *c = ctx;
    int out[2] = {-1, -1};
    if (mw_channel_shuffle_split(g, in, c->n_in, c->groups, c->out_channels, c->n_out, out) < 0)
        return -1;
    if (c->n_out == 1) return out[0];
    return c->use == 2 ? mw_concat_channels(g, out[0], out[1]) : out[1];
}

/* Both backends, exactly: output channel j of the joined outputs is input channel
 * (j % g)·(C/g) + j / g of the joined inputs, and each input's gradient is the seed at the
 * channel its values went to (zero where they went to an unused output). */
static void check_shuffle_split(const char *what, const shuffle_split_case *c, int64_t n,
                                int64_t hw) {
    op_spec spec = {c->n_in, {4, 4}, {{0}}, {MW_F32, MW_F32}, build_shuffle_split, c};
    int64_t total = 0, block = n * hw;
    for (int j = 0; j < c->n_in; j++) {
        int64_t shape[4] = {c->in_channels[j], n, 1, hw};
        memcpy(spec.shape[j], shape, sizeof shape);
        total += c->in_channels[j];
    }
    int64_t skipped = c->use == 1 ? c->out_channels[0] : 0; /* output channels not read */
    size_t numel = (size_t)(total * block), out_numel = (size_t)((total - skipped) * block);
    float *x = malloc(numel * sizeof *x), *seed = malloc(out_numel * sizeof *seed);
    for (size_t i = 0; i < numel; i++)
        x[i] = (float)i + 0.25f; /* every value names its source index */
    for (size_t i = 0; i < out_numel; i++)
        seed[i] = -0.5f * (float)i - 1.0f;
    void *inputs[] = {x, x + c->in_channels[0] * block};
    mw_runtime *backends[2] = {test_runtime(), NULL};
    for (int k = 0; k < 2; k++) {
        op_result res;
        op_run(&spec, backends[k], inputs, seed, &res);
        assert_int_equal(res.out_numel, out_numel);
        for (int64_t j = 0; j < total; j++) {
            int64_t src = (j % c->groups) * (total / c->groups) + j / c->groups;
            int input = src >= c->in_channels[0] && c->n_in == 2;
            int64_t at = src - (input ? c->in_channels[0] : 0);
            for (int64_t p = 0; p < block; p++) {
                size_t from = (size_t)(src * block + p);
                float want = j < skipped ? 0.0f : seed[(j - skipped) * block + p];
                float got_grad = res.grad[input][at * block + p];
                bool out_bad = j >= skipped && res.out[(j - skipped) * block + p] != x[from];
                if (out_bad || got_grad != want) {
                    print_error("%s (%s): output channel %lld value %lld from input channel "
                                "%lld: out %g want %g, gradient %g want %g\n",
                                what, k ? "reference" : "opencl", (long long)j, (long long)p,
                                (long long)src,
                                j < skipped ? 0.0 : (double)res.out[(j - skipped) * block + p],
                                (double)x[from], (double)got_grad, (double)want);
                    fail();
                }
            }
        }
        op_result_free(&res);
    }
    free(x), free(seed);
}

static void test_channel_shuffle_split(void **state) {
    /* ShuffleNetV2's join: two halves in, the next unit's halves out. Blocks of 3·5 values
     * (runs of 16 cross channels) and of 2·16 (whole vectors). */
    shuffle_split_case unit = {2, 2, 2, 2, {3, 3}, {3, 3}};
    check_shuffle_split("2 maps of 3 -> 2 of 3", &unit, 3, 5);
    check_shuffle_split("2 maps of 3 -> 2 of 3, 32 per channel", &unit, 2, 16);
    shuffle_split_case ragged = {2, 2, 3, 2, {5, 7}, {8, 4}};
    check_shuffle_split("5 + 7 in 3 groups -> 8 + 4", &ragged, 2, 7);
    shuffle_split_case join_only = {2, 1, 2, 2, {4, 4}, {8}};
    check_shuffle_split("2 maps of 4 -> one map", &join_only, 4, 9);
    shuffle_split_case split_only = {1, 2, 4, 2, {12}, {6, 6}};
    check_shuffle_split("one map of 12 in 4 groups -> 2 of 6", &split_only, 3, 3);
    shuffle_split_case second_only = {2, 2, 2, 1, {6, 6}, {6, 6}};
    check_shuffle_split("the first output unread", &second_only, 2, 11);
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

/* torch.cat([a, b], 1) then the shuffle in PyTorch, against the joined op fed a and b (the
 * reference's x split in halves) and giving two halves (concatenated again to compare); and
 * finite differences through it. */
static void test_shuffle_split_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    enum { N = 6 * 2 * 3 * 3, HALF = N / 2 };
    float *x = test_reference_f32(ref, "shuffle2.x", N),
          *y = test_reference_f32(ref, "shuffle2.y", N);
    float *gy = test_reference_f32(ref, "shuffle2.gy", N),
          *gx = test_reference_f32(ref, "shuffle2.gx", N);
    float *want_grad[] = {gx, gx + HALF};
    shuffle_split_case unit = {2, 2, 2, 2, {3, 3}, {3, 3}};
    op_spec spec = {
        2, {4, 4}, {{3, 2, 3, 3}, {3, 2, 3, 3}}, {MW_F32, MW_F32}, build_shuffle_split, &unit};
    void *inputs[] = {x, x + HALF};
    op_check_both("channel_shuffle_split", &spec, inputs, gy, y, want_grad, 0, 1e-2f, 1e-3);
    free(x), free(y), free(gy), free(gx);
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

    /* The joined shuffle: N, H, W must agree; the outputs must add up; at most two of each. */
    g = mw_graph_create();
    int64_t other[4] = {3, 2, 4, 5};
    int pair[3] = {mw_graph_input(g, "a", MW_F32, 4, s4), mw_graph_input(g, "b", MW_F32, 4, other),
                   -1};
    int out[2], counts[2] = {3, 3};
    assert_int_equal(mw_channel_shuffle_split(g, pair, 2, 2, counts, 2, out), -1);
    assert_non_null(strstr(mw_graph_error(g), "a and b must be maps with the same N, H and W"));
    mw_graph_free(g);

    g = mw_graph_create();
    pair[0] = mw_graph_input(g, "a", MW_F32, 4, s4);
    pair[1] = mw_graph_input(g, "b", MW_F32, 4, s4);
    int wrong[2] = {3, 4};
    assert_int_equal(mw_channel_shuffle_split(g, pair, 2, 2, wrong, 2, out), -1);
    assert_non_null(strstr(mw_graph_error(g), "add up to the 6 channels given"));
    mw_graph_free(g);

    g = mw_graph_create();
    pair[0] = pair[1] = pair[2] = mw_graph_input(g, "a", MW_F32, 4, s4);
    assert_int_equal(mw_channel_shuffle_split(g, pair, 3, 3, counts, 2, out), -1);
    assert_non_null(strstr(mw_graph_error(g), "3 inputs and 2 outputs given"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images_to_maps),
        cmocka_unit_test(test_maps_to_rows),
        cmocka_unit_test(test_channel_shuffle),
        cmocka_unit_test(test_channel_shuffle_matches_pytorch),
        cmocka_unit_test(test_channel_shuffle_split),
        cmocka_unit_test(test_shuffle_split_matches_pytorch),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
