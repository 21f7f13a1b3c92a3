/* The LSTM cell's elementwise op against PyTorch's nn.LSTMCell (with and without a previous
 * cell state), OpenCL vs the reference backend, finite differences; and a whole cell built
 * from two linear layers and the op, checked by finite differences through its weights. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 3, H = 5 };

static int build_cell(mw_graph *g, const int *in, const void *ctx) {
    return mw_lstm_cell(g, in[0], ctx ? in[1] : -1);
}

static void check_cell(const char *prefix, bool with_c) {
    mw_safetensors *ref = test_reference("matching_ops.safetensors");
    char name[64];
#define REF(field, n) (snprintf(name, sizeof name, "%s.%s", prefix, field), test_reference_f32(ref, name, n))
    float *gates = REF("gates", N * 4 * H), *gout = REF("gout", N * 2 * H);
    float *out = REF("out", N * 2 * H), *ggates = REF("ggates", N * 4 * H);
    float *c = with_c ? REF("c", N * H) : NULL, *gc = with_c ? REF("gc", N * H) : NULL;
#undef REF
    op_spec spec = {with_c ? 2 : 1, {2, 2}, {{N, 4 * H}, {N, H}}, {MW_F32, MW_F32}, build_cell,
                    with_c ? "c" : NULL};
    void *inputs[] = {gates, c};
    float *want_grad[] = {ggates, gc};
    op_check_both(prefix, &spec, inputs, gout, out, want_grad, 1e-5, 1e-2f, 2e-3);
    free(gates), free(gout), free(out), free(ggates), free(c), free(gc);
    mw_safetensors_free(ref);
}

static void test_cell_matches_pytorch(void **state) {
    check_cell("lstm_cell", true);
}

static void test_first_cell_matches_pytorch(void **state) {
    check_cell("lstm_cell_first", false);
}

/* nn.LSTMCell's whole step, x [N, D] and (h, c) -> [h' | c'], with [W_ih | W_hh] as one
 * input w [4H, D + H] (the harness takes four inputs; biases are plain adds, tested
 * elsewhere), so that the finite differences reach the weights through the products' and
 * the op's backward chained. */
static int build_full_cell(mw_graph *g, const int *in, const void *ctx) {
    int gates = mw_linear(g, mw_concat_cols(g, in[0], in[1]), in[3], -1);
    return mw_lstm_cell(g, gates, in[2]);
}

static void test_full_cell(void **state) {
    enum { D = 7 };
    test_rng r;
    test_rng_seed(&r, 51);
    float x[N * D], h[N * H], c[N * H], w[4 * H * (D + H)], seed[N * 2 * H];
    test_fill_normal(&r, x, N * D, 1.0f);
    test_fill_normal(&r, h, N * H, 1.0f);
    test_fill_normal(&r, c, N * H, 1.0f);
    test_fill_uniform(&r, w, 4 * H * (D + H), -0.4f, 0.4f);
    test_fill_normal(&r, seed, N * 2 * H, 1.0f);
    op_spec spec = {4, {2, 2, 2, 2}, {{N, D}, {N, H}, {N, H}, {4 * H, D + H}},
                    {MW_F32, MW_F32, MW_F32, MW_F32}, build_full_cell, NULL};
    void *inputs[] = {x, h, c, w};
    op_check_both("full cell", &spec, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
}

static int build_sequence(mw_graph *g, const int *in, const void *ctx) {
    return mw_lstm_sequence(g, in[0], in[1], in[2], ctx != NULL);
}

/* One direction of nn.LSTM over 6 steps, forward and reversed: hidden and cell states of
 * every step, the gradients of the projections, W_hh and b_hh (backpropagation through time
 * in one node), against PyTorch; both backends; finite differences. */
static void check_sequence(const char *prefix, bool reverse) {
    enum { T = 6 };
    mw_safetensors *ref = test_reference("matching_ops.safetensors");
    char name[64];
#define REF(field, n) (snprintf(name, sizeof name, "%s.%s", prefix, field), test_reference_f32(ref, name, n))
    float *p = REF("p", T * 4 * H), *w = REF("w", 4 * H * H), *b = REF("b", 4 * H);
    float *gy = REF("gy", T * 2 * H), *y = REF("y", T * 2 * H);
    float *gp = REF("gp", T * 4 * H), *gw = REF("gw", 4 * H * H), *gb = REF("gb", 4 * H);
#undef REF
    op_spec spec = {3, {2, 2, 1}, {{T, 4 * H}, {4 * H, H}, {4 * H}}, {MW_F32, MW_F32, MW_F32},
                    build_sequence, reverse ? "reverse" : NULL};
    void *inputs[] = {p, w, b};
    float *want_grad[] = {gp, gw, gb};
    /* six recurrent steps curve the loss more than one op does (central differences at
     * h = 1e-2 land 0.25% off; the analytic gradients match PyTorch to 1e-5 above) */
    op_check_both(prefix, &spec, inputs, gy, y, want_grad, 1e-5, 1e-2f, 5e-3);
    free(p), free(w), free(b), free(gy), free(y), free(gp), free(gw), free(gb);
    mw_safetensors_free(ref);
}

static void test_sequence_matches_pytorch(void **state) {
    check_sequence("lstm_seq", false);
    check_sequence("lstm_seq_reverse", true);
}

/* Longer and wider than the reference case (odd sizes, one step alone): OpenCL against the
 * reference backend, both directions. */
static void test_sequence_sizes(void **state) {
    test_rng r;
    test_rng_seed(&r, 52);
    const int shapes[][2] = {{1, 7}, {23, 33}, {100, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int T = shapes[s][0], Hs = shapes[s][1];
        float *p = malloc((size_t)T * 4 * Hs * 4), *w = malloc((size_t)4 * Hs * Hs * 4);
        float *b = malloc((size_t)4 * Hs * 4), *seed = malloc((size_t)T * 2 * Hs * 4);
        test_fill_normal(&r, p, (size_t)T * 4 * Hs, 1.0f);
        test_fill_uniform(&r, w, (size_t)4 * Hs * Hs, -0.3f, 0.3f);
        test_fill_uniform(&r, b, (size_t)4 * Hs, -0.3f, 0.3f);
        test_fill_normal(&r, seed, (size_t)T * 2 * Hs, 1.0f);
        for (int rev = 0; rev < 2; rev++) {
            op_spec spec = {3, {2, 2, 1}, {{T, 4 * Hs}, {4 * Hs, Hs}, {4 * Hs}},
                            {MW_F32, MW_F32, MW_F32}, build_sequence, rev ? "reverse" : NULL};
            void *inputs[] = {p, w, b};
            char what[64];
            snprintf(what, sizeof what, "sequence %dx%d%s", T, Hs, rev ? " reversed" : "");
            op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-4, 0, 0);
        }
        free(p), free(w), free(b), free(seed);
    }
}

/* Cell states of other shapes are refused. */
static void test_shape_errors(void **state) {
    mw_graph *g = mw_graph_create();
    int64_t sg[2] = {3, 18}, sc[2] = {3, 5};
    int gates = mw_graph_input(g, "gates", MW_F32, 2, sg), c = mw_graph_input(g, "c", MW_F32, 2, sc);
    assert_int_equal(mw_lstm_cell(g, gates, c), -1);
    assert_non_null(strstr(mw_graph_error(g), "lstm_cell: gates gates must be [N, 4H]"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_matches_pytorch),
        cmocka_unit_test(test_first_cell_matches_pytorch),
        cmocka_unit_test(test_full_cell),
        cmocka_unit_test(test_sequence_matches_pytorch),
        cmocka_unit_test(test_sequence_sizes),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
