/* Column concat and slice (whose gradient is pad, whose gradient is slice again), and the
 * same for the channels of maps (of two and of four maps): against PyTorch, the reference backend, finite
 * differences, and their shape errors. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slice_ctx {
    int start, count;
} slice_ctx;

static int build_concat(mw_graph *g, const int *in, const void *ctx) {
    return mw_concat_cols(g, in[0], in[1]);
}

static int build_slice(mw_graph *g, const int *in, const void *ctx) {
    const slice_ctx *c = ctx;
    return mw_slice_cols(g, in[0], c->start, c->count);
}

/* [x[:, 10:13], b, x[:, 0:4]]: x feeds two slices, so its gradient sums two pads. */
static int build_slices_concat(mw_graph *g, const int *in, const void *ctx) {
    int tail = mw_slice_cols(g, in[0], 10, 3), head = mw_slice_cols(g, in[0], 0, 4);
    return mw_concat_cols(g, mw_concat_cols(g, tail, in[1]), head);
}

static int build_concat_channels(mw_graph *g, const int *in, const void *ctx) {
    return mw_concat_channels(g, in[0], in[1]);
}

static int build_concat_channels4(mw_graph *g, const int *in, const void *ctx) {
    return mw_concat_channels_n(g, in, 4);
}

/* [x[4:8], x[0:4]] along channels: both halves of a split (ShuffleNet's), so x's gradient
 * sums two pads, and swapped so that the whole is not the identity. */
static int build_split_swap(mw_graph *g, const int *in, const void *ctx) {
    return mw_concat_channels(g, mw_slice_channels(g, in[0], 4, 4),
                              mw_slice_channels(g, in[0], 0, 4));
}

static void test_concat_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *in[] = {test_reference_f32(ref, "concat.a", 20),
                   test_reference_f32(ref, "concat.b", 12)};
    float *y = test_reference_f32(ref, "concat.y", 32),
          *gy = test_reference_f32(ref, "concat.gy", 32);
    float *want_grad[] = {test_reference_f32(ref, "concat.ga", 20),
                          test_reference_f32(ref, "concat.gb", 12)};
    op_spec spec = {2, {2, 2}, {{4, 5}, {4, 3}}, {MW_F32, MW_F32}, build_concat, NULL};
    op_check_both("concat", &spec, (void *const *)in, gy, y, want_grad, 1e-5, 1e-2f, 2e-3);
    free(in[0]), free(in[1]), free(y), free(gy), free(want_grad[0]), free(want_grad[1]);
    mw_safetensors_free(ref);
}

/* torch.cat(dim=1) of NCHW maps, stored channel-major [C, N, H, W]. */
static void test_concat_channels_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    enum { A = 3 * 2 * 4 * 4, B = 5 * 2 * 4 * 4 };
    float *in[] = {test_reference_f32(ref, "cat_channels.a", A),
                   test_reference_f32(ref, "cat_channels.b", B)};
    float *y = test_reference_f32(ref, "cat_channels.y", A + B),
          *gy = test_reference_f32(ref, "cat_channels.gy", A + B);
    float *want_grad[] = {test_reference_f32(ref, "cat_channels.ga", A),
                          test_reference_f32(ref, "cat_channels.gb", B)};
    op_spec spec = {
        2, {4, 4}, {{3, 2, 4, 4}, {5, 2, 4, 4}}, {MW_F32, MW_F32}, build_concat_channels, NULL};
    op_check_both("concat_channels", &spec, (void *const *)in, gy, y, want_grad, 0, 1e-2f, 2e-3);
    free(in[0]), free(in[1]), free(y), free(gy), free(want_grad[0]), free(want_grad[1]);
    mw_safetensors_free(ref);
}

/* torch.cat(dim=1) of four maps in one node (GoogLeNet's inception), channels 3, 1, 4, 2 of
 * 2 x 3 x 5 values: the runs of the copies straddle the inputs' ends. The values are copies,
 * so exact; the gradients are the output's slices, also exact. */
static void test_concat_channels4_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    const int channels[4] = {3, 1, 4, 2};
    enum { PLANE = 2 * 3 * 5, TOTAL = 10 * PLANE };
    float *in[4], *want_grad[4];
    op_spec spec = {4, {4, 4, 4, 4}, {{0}}, {MW_F32, MW_F32, MW_F32, MW_F32},
                    build_concat_channels4, NULL};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "cat4_channels.%c", 'a' + i);
        in[i] = test_reference_f32(ref, name, (size_t)channels[i] * PLANE);
        snprintf(name, sizeof name, "cat4_channels.g%c", 'a' + i);
        want_grad[i] = test_reference_f32(ref, name, (size_t)channels[i] * PLANE);
        int64_t shape[4] = {channels[i], 2, 3, 5};
        memcpy(spec.shape[i], shape, sizeof shape);
    }
    float *y = test_reference_f32(ref, "cat4_channels.y", TOTAL),
          *gy = test_reference_f32(ref, "cat4_channels.gy", TOTAL);
    op_check_both("concat_channels of four", &spec, (void *const *)in, gy, y, want_grad, 0, 1e-2f,
                  2e-3);
    for (int i = 0; i < 4; i++)
        free(in[i]), free(want_grad[i]);
    free(y), free(gy);
    mw_safetensors_free(ref);
}

/* x[:, :4] and x[:, 4:] of NCHW maps, both used: PyTorch's y1, y2 and the summed gradient. */
static void test_split_channels_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    enum { N = 8 * 2 * 3 * 3, H = N / 2 };
    float *x = test_reference_f32(ref, "split_channels.x", N);
    float *y1 = test_reference_f32(ref, "split_channels.y1", H),
          *y2 = test_reference_f32(ref, "split_channels.y2", H);
    float *g1 = test_reference_f32(ref, "split_channels.gy1", H),
          *g2 = test_reference_f32(ref, "split_channels.gy2", H);
    float *want_grad[] = {test_reference_f32(ref, "split_channels.gx", N)};
    float y[N], gy[N];
    memcpy(y, y2, sizeof y / 2), memcpy(y + H, y1, sizeof y / 2); /* swapped, as built */
    memcpy(gy, g2, sizeof gy / 2), memcpy(gy + H, g1, sizeof gy / 2);
    op_spec spec = {1, {4}, {{8, 2, 3, 3}}, {MW_F32}, build_split_swap, NULL};
    void *inputs[] = {x};
    op_check_both("split_channels", &spec, inputs, gy, y, want_grad, 0, 1e-2f, 2e-3);
    free(x), free(y1), free(y2), free(g1), free(g2), free(want_grad[0]);
    mw_safetensors_free(ref);
}

/* Odd sizes (the launch range is rounded up past the data), slices at the start, in the
 * middle and at the end of the rows. */
static void test_slice_against_reference(void **state) {
    test_rng r;
    test_rng_seed(&r, 31);
    enum { ROWS = 7, COLS = 13 };
    float x[ROWS * COLS], seed[ROWS * COLS];
    test_fill_normal(&r, x, ROWS * COLS, 1.0f);
    test_fill_normal(&r, seed, ROWS * COLS, 1.0f);
    const slice_ctx cases[] = {{3, 5}, {0, 1}, {8, 5}, {0, COLS}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        op_spec spec = {1, {2}, {{ROWS, COLS}}, {MW_F32}, build_slice, &cases[i]};
        char what[64];
        snprintf(what, sizeof what, "slice [%d, %d)", cases[i].start,
                 cases[i].start + cases[i].count);
        void *inputs[] = {x};
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
        /* slice is a copy and its gradient a zero-padded copy: both exact. */
        op_result cl;
        op_run(&spec, test_runtime(), inputs, seed, &cl);
        for (int row = 0; row < ROWS; row++)
            for (int c = 0; c < COLS; c++) {
                bool in = c >= cases[i].start && c < cases[i].start + cases[i].count;
                int k = row * cases[i].count + c - cases[i].start;
                if (in) assert_true(cl.out[k] == x[row * COLS + c]);
                assert_true(cl.grad[0][row * COLS + c] == (in ? seed[k] : 0.0f));
            }
        op_result_free(&cl);
    }
}

static void test_slices_and_concats(void **state) {
    test_rng r;
    test_rng_seed(&r, 32);
    float x[5 * 13], b[5 * 6], seed[5 * 13];
    test_fill_normal(&r, x, 5 * 13, 1.0f);
    test_fill_normal(&r, b, 5 * 6, 1.0f);
    test_fill_normal(&r, seed, 5 * 13, 1.0f);
    op_spec spec = {2, {2, 2}, {{5, 13}, {5, 6}}, {MW_F32, MW_F32}, build_slices_concat, NULL};
    void *inputs[] = {x, b};
    op_check_both("slices and concats", &spec, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
}

/* A sequence taken apart row by row and put together again in another order (what an LSTM
 * over the support set does): [x[4], b, x[0:2], x[6]], x [7, 5], b [2, 5]. Row ops are copies,
 * so the output is checked exactly by hand; the gradient (pads summed) by the harness. */
static int build_rows(mw_graph *g, const int *in, const void *ctx) {
    int r4 = mw_slice_rows(g, in[0], 4, 1), head = mw_slice_rows(g, in[0], 0, 2);
    int r6 = mw_slice_rows(g, in[0], 6, 1);
    return mw_concat_rows(g, mw_concat_rows(g, mw_concat_rows(g, r4, in[1]), head), r6);
}

static void test_rows(void **state) {
    test_rng r;
    test_rng_seed(&r, 33);
    enum { COLS = 5 };
    float x[7 * COLS], b[2 * COLS], seed[6 * COLS];
    test_fill_normal(&r, x, 7 * COLS, 1.0f);
    test_fill_normal(&r, b, 2 * COLS, 1.0f);
    test_fill_normal(&r, seed, 6 * COLS, 1.0f);
    op_spec spec = {2, {2, 2}, {{7, COLS}, {2, COLS}}, {MW_F32, MW_F32}, build_rows, NULL};
    void *inputs[] = {x, b};
    op_check_both("rows", &spec, inputs, seed, NULL, NULL, 1e-6, 1e-2f, 2e-3);
    op_result cl;
    op_run(&spec, test_runtime(), inputs, seed, &cl);
    const float *want_rows[6] = {x + 4 * COLS, b, b + COLS, x, x + COLS, x + 6 * COLS};
    for (int row = 0; row < 6; row++)
        assert_memory_equal(cl.out + row * COLS, want_rows[row], COLS * sizeof(float));
    /* x's gradient: seed rows 3, 4 at rows 0, 1; 0 at 4; 5 at 6; zeros elsewhere */
    const int from[7] = {3, 4, -1, -1, 0, -1, 5};
    for (int row = 0; row < 7; row++)
        for (int c = 0; c < COLS; c++)
            assert_true(cl.grad[0][row * COLS + c] ==
                        (from[row] < 0 ? 0.0f : seed[from[row] * COLS + c]));
    op_result_free(&cl);

    int64_t sa[2] = {4, 5}, sb[2] = {3, 6};
    mw_graph *g = mw_graph_create();
    int a = mw_graph_input(g, "a", MW_F32, 2, sa), c = mw_graph_input(g, "c", MW_F32, 2, sb);
    assert_int_equal(mw_concat_rows(g, a, c), -1);
    assert_non_null(strstr(mw_graph_error(g), "same columns"));
    mw_graph_free(g);
    g = mw_graph_create();
    a = mw_graph_input(g, "a", MW_F32, 2, sa);
    assert_int_equal(mw_slice_rows(g, a, 3, 2), -1);
    assert_non_null(strstr(mw_graph_error(g), "rows [3, 5) outside a"));
    mw_graph_free(g);
}

static void test_shape_errors(void **state) {
    int64_t sa[2] = {4, 5}, sb[2] = {3, 5};
    mw_graph *g = mw_graph_create();
    int a = mw_graph_input(g, "a", MW_F32, 2, sa), b = mw_graph_input(g, "b", MW_F32, 2, sb);
    assert_int_equal(mw_concat_cols(g, a, b), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_graph_error(g), "same rows"));
    mw_graph_free(g);

    const int bad[][2] = {{3, 3}, {0, 6}, {-1, 2}, {2, 0}, {5, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        g = mw_graph_create();
        a = mw_graph_input(g, "a", MW_F32, 2, sa);
        assert_int_equal(mw_slice_cols(g, a, bad[i][0], bad[i][1]), -1);
        assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
        assert_non_null(strstr(mw_graph_error(g), "slice_cols"));
        assert_non_null(strstr(mw_graph_error(g), "outside a"));
        mw_graph_free(g);
    }

    int64_t ma[4] = {3, 2, 4, 4}, mb[4] = {5, 2, 4, 5};
    g = mw_graph_create();
    a = mw_graph_input(g, "a", MW_F32, 4, ma), b = mw_graph_input(g, "b", MW_F32, 4, mb);
    assert_int_equal(mw_concat_channels(g, a, b), -1);
    assert_non_null(strstr(mw_graph_error(g), "same N, H and W"));
    mw_graph_free(g);

    /* Of more than two maps: a mismatch in the third is named; too few or too many maps. */
    g = mw_graph_create();
    a = mw_graph_input(g, "a", MW_F32, 4, ma), b = mw_graph_input(g, "b", MW_F32, 4, mb);
    int ok = mw_graph_input(g, "ok", MW_F32, 4, ma);
    assert_int_equal(mw_concat_channels_n(g, (const int[]){a, ok, b}, 3), -1);
    assert_non_null(strstr(mw_graph_error(g), "a and b must be maps"));
    mw_graph_free(g);
    const int counts[2] = {1, MW_CONCAT_MAX + 1};
    for (int i = 0; i < 2; i++) {
        g = mw_graph_create();
        a = mw_graph_input(g, "a", MW_F32, 4, ma);
        int many[MW_CONCAT_MAX + 1];
        for (int j = 0; j <= MW_CONCAT_MAX; j++)
            many[j] = a;
        assert_int_equal(mw_concat_channels_n(g, many, counts[i]), -1);
        assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
        assert_non_null(strstr(mw_graph_error(g), "it joins 2 to 6"));
        mw_graph_free(g);
    }

    g = mw_graph_create();
    a = mw_graph_input(g, "a", MW_F32, 4, ma);
    assert_int_equal(mw_slice_channels(g, a, 2, 2), -1);
    assert_non_null(strstr(mw_graph_error(g), "channels [2, 4) outside maps a"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_matches_pytorch),
        cmocka_unit_test(test_concat_channels_matches_pytorch),
        cmocka_unit_test(test_concat_channels4_matches_pytorch),
        cmocka_unit_test(test_split_channels_matches_pytorch),
        cmocka_unit_test(test_slice_against_reference),
        cmocka_unit_test(test_slices_and_concats),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
