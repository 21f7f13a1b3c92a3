/* The linear family: matmul (every transpose combination), nn.Linear, the memory read W·m,
 * against PyTorch, the reference backend and finite differences, on both GEMMs (CLBlast and
 * the own kernels of cl/gemm.cl, by forcing the GPU and CPU kernel profiles). */
#include "op_harness.h"
#include "ops/launch.h" /* mw_group_size_override */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* engine/ops/gemm.c: 1 the GPU profile (CLBlast), 2 the CPU profile (own kernels). */
extern int mw_kernel_profile;
static const char *const profile_names[3] = {"", "CLBlast", "own GEMM"};

typedef struct matmul_ctx {
    bool ta, tb;
} matmul_ctx;

static int build_matmul(mw_graph *g, const int *in, const void *ctx) {
    const matmul_ctx *c = ctx;
    return mw_matmul(g, in[0], in[1], c->ta, c->tb);
}

static int build_linear(mw_graph *g, const int *in, const void *ctx) {
    return mw_linear(g, in[0], in[1], in[2]);
}

static int build_linear_nobias(mw_graph *g, const int *in, const void *ctx) {
    return mw_linear(g, in[0], in[1], -1);
}

/* The spec of op(A)·op(B) = [m, k]·[k, n] with ctx's transposes. */
static op_spec matmul_spec(const matmul_ctx *ctx, int m, int k, int n) {
    op_spec spec = {2, {2, 2}, {{0}}, {MW_F32, MW_F32}, build_matmul, ctx};
    spec.shape[0][0] = ctx->ta ? k : m;
    spec.shape[0][1] = ctx->ta ? m : k;
    spec.shape[1][0] = ctx->tb ? n : k;
    spec.shape[1][1] = ctx->tb ? k : n;
    return spec;
}

static void run_against_pytorch(const char *what, const op_spec *spec, float **in,
                                const float *seed, const float *want, float **want_grad) {
    op_check_both(what, spec, (void *const *)in, seed, want, want_grad, 1e-5, 1e-2f, 2e-3);
}

static void test_matmul_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *in[] = {test_reference_f32(ref, "matmul.a", 45),
                   test_reference_f32(ref, "matmul.b", 54)};
    float *c = test_reference_f32(ref, "matmul.c", 30),
          *gc = test_reference_f32(ref, "matmul.gc", 30);
    float *want_grad[] = {test_reference_f32(ref, "matmul.ga", 45),
                          test_reference_f32(ref, "matmul.gb", 54)};
    matmul_ctx ctx = {false, false};
    op_spec spec = {2, {2, 2}, {{5, 9}, {9, 6}}, {MW_F32, MW_F32}, build_matmul, &ctx};
    run_against_pytorch("matmul", &spec, in, gc, c, want_grad);
    free(in[0]), free(in[1]), free(c), free(gc), free(want_grad[0]), free(want_grad[1]);
    mw_safetensors_free(ref);
}

/* All four transpose combinations, odd sizes, OpenCL vs reference backend. */
static void test_matmul_transposes(void **state) {
    test_rng r;
    test_rng_seed(&r, 21);
    enum { M = 7, N = 5, K = 11 };
    float a[M * K], b[K * N], seed[M * N];
    test_fill_normal(&r, a, M * K, 1.0f);
    test_fill_normal(&r, b, K * N, 1.0f);
    test_fill_normal(&r, seed, M * N, 1.0f);
    for (int t = 0; t < 8; t++) {
        matmul_ctx ctx = {t & 1, (t >> 1) & 1};
        mw_kernel_profile = 1 + (t >> 2);
        op_spec spec = matmul_spec(&ctx, M, K, N);
        void *inputs[] = {a, b};
        char what[64];
        snprintf(what, sizeof what, "matmul ta=%d tb=%d [%s]", ctx.ta, ctx.tb,
                 profile_names[mw_kernel_profile]);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-5, 1e-2f, 2e-3);
    }
    mw_kernel_profile = 0;
}

/* A Memory Wrap-sized linear layer on both GEMMs: edges of the own kernels' blocks in every
 * dimension (37 rows, 70 outputs; 9 and 10 under Oclgrind, which took 100 s for the larger)
 * and an inner dimension past one slice of the NT kernel (2100 > 2048: two slices summed
 * through the workspace). */
static void test_linear_wide(void **state) {
    enum { IN = 2100 };
    const int ROWS = test_small_shapes() ? 9 : 37, OUT = test_small_shapes() ? 10 : 70;
    test_rng r;
    test_rng_seed(&r, 33);
    float *x = malloc((size_t)ROWS * IN * sizeof *x), *w = malloc((size_t)OUT * IN * sizeof *w);
    float *b = malloc((size_t)OUT * sizeof *b), *seed = malloc((size_t)ROWS * OUT * sizeof *seed);
    test_fill_normal(&r, x, ROWS * IN, 1.0f);
    test_fill_normal(&r, w, OUT * IN, 0.02f);
    test_fill_normal(&r, b, OUT, 0.1f);
    test_fill_normal(&r, seed, ROWS * OUT, 1.0f);
    op_spec spec = {3, {2, 2, 1}, {{ROWS, IN}, {OUT, IN}, {OUT}}, {MW_F32, MW_F32, MW_F32},
                    build_linear, NULL};
    void *inputs[] = {x, w, b};
    for (int profile = 1; profile <= 2; profile++) {
        char what[64];
        snprintf(what, sizeof what, "linear %dx%d->%d [%s]", ROWS, IN, OUT,
                 profile_names[profile]);
        mw_kernel_profile = profile;
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-4, 0, 0);
    }
    mw_kernel_profile = 0;
    free(x), free(w), free(b), free(seed);
}

/* Inner dimensions past one slice of the own kernels: the NN and TN products run one launch
 * per 512 of it, each adding to the output (engine/ops/gemm.c), here two full slices and a
 * ragged third (1100); a slice that overwrote instead of adding, or skipped the remainder,
 * fails against the reference backend. Both profiles, every transpose of A. */
static void test_matmul_long_inner(void **state) {
    enum { K = 1100 };
    const int M = test_small_shapes() ? 5 : 19, N = test_small_shapes() ? 6 : 45;
    test_rng r;
    test_rng_seed(&r, 57);
    float *a = malloc((size_t)M * K * sizeof *a), *b = malloc((size_t)K * N * sizeof *b);
    float *seed = malloc((size_t)M * N * sizeof *seed);
    test_fill_normal(&r, a, (size_t)M * K, 1.0f);
    test_fill_normal(&r, b, (size_t)K * N, 1.0f);
    test_fill_normal(&r, seed, (size_t)M * N, 1.0f);
    for (int t = 0; t < 4; t++) {
        matmul_ctx ctx = {t & 1, false};
        mw_kernel_profile = 1 + (t >> 1);
        op_spec spec = matmul_spec(&ctx, M, K, N);
        void *inputs[] = {a, b};
        char what[80];
        snprintf(what, sizeof what, "matmul %dx%d·%dx%d ta=%d [%s]", M, K, K, N, ctx.ta,
                 profile_names[mw_kernel_profile]);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-4, 0, 0);
    }
    mw_kernel_profile = 0;
    free(a), free(b), free(seed);
}

/* engine/ops/gemm.c: 1 reads B in place for every own NN and TN product, 0 by device
 * (through local-memory panels on CPU devices). */
extern int mw_gemm_pack;

/* The own NN and TN products both ways B is read: copied into local memory (gemm_nn_panel),
 * in one-item groups and in groups of 3 and 64 items (op_check_both) that split the copy and
 * the blocks, and in place (gemm_nn); an inner dimension of several 256-row slices with a
 * ragged last one (1100), several column chunks with a ragged last block (4141; 70 under
 * Oclgrind), both layouts of A. Against the reference backend, backward included (the input
 * gradients are NT and TN products). */
static void test_matmul_b_reading(void **state) {
    const int M = test_small_shapes() ? 5 : 19, K = test_small_shapes() ? 300 : 1100,
              N = test_small_shapes() ? 70 : 4141;
    static const struct {
        bool ta;
        int pack;
        size_t group;
        const char *how;
    } runs[] = {{false, 0, 0, "panels"},
                {true, 0, 0, "panels"},
                {true, 0, 3, "panels, groups of 3"},
                {false, 1, 0, "in place"},
                {true, 1, 0, "in place"}};
    test_rng r;
    test_rng_seed(&r, 59);
    float *a = malloc((size_t)M * K * sizeof *a), *b = malloc((size_t)K * N * sizeof *b);
    float *seed = malloc((size_t)M * N * sizeof *seed);
    test_fill_normal(&r, a, (size_t)M * K, 1.0f);
    test_fill_normal(&r, b, (size_t)K * N, 1.0f);
    test_fill_normal(&r, seed, (size_t)M * N, 1.0f);
    mw_kernel_profile = 2;
    for (size_t t = 0; t < sizeof runs / sizeof runs[0]; t++) {
        matmul_ctx ctx = {runs[t].ta, false};
        mw_gemm_pack = runs[t].pack;
        mw_group_size_override = runs[t].group;
        op_spec spec = matmul_spec(&ctx, M, K, N);
        void *inputs[] = {a, b};
        char what[80];
        snprintf(what, sizeof what, "matmul %dx%d·%dx%d ta=%d, B read %s", M, K, K, N, ctx.ta,
                 runs[t].how);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-4, 0, 0);
    }
    mw_gemm_pack = 0;
    mw_group_size_override = 0;
    mw_kernel_profile = 0;
    free(a), free(b), free(seed);
}

/* engine/ops/gemm.c: 1 runs every own NT product through gemm_nt, 2 through gemm_nt_panel,
 * 0 by shape. */
extern int mw_gemm_nt_path;

/* NT products forced through gemm_nt (1) and through gemm_nt_panel (2): both orientations,
 * rows and columns ragged against gemm_nt's 16 x 16 tiles and 4 x 4 blocks and the panels'
 * 8 x 32 blocks, an inner dimension of several slices the last one short (the panels' splits
 * summed by gemm_reduce over 1100; gemm_nt's over 4200: three slices of several runs of 256
 * and a remainder past the last whole float16); then C wide enough (200 columns) for the
 * panels to write it in one split. The backward's products (NN and TN) check the rest of the
 * op as before. */
static void test_matmul_nt_paths(void **state) {
    const int M = test_small_shapes() ? 5 : 37, N = test_small_shapes() ? 19 : 45;
    const int WIDE = test_small_shapes() ? 70 : 200;
    test_rng r;
    test_rng_seed(&r, 61);
    const int ROWS = WIDE, MOST_K = 4200; /* either operand's rows, in either orientation */
    float *a = malloc((size_t)ROWS * MOST_K * sizeof *a);
    float *b = malloc((size_t)ROWS * MOST_K * sizeof *b);
    float *seed = malloc((size_t)M * WIDE * sizeof *seed);
    test_fill_normal(&r, a, (size_t)ROWS * MOST_K, 1.0f);
    test_fill_normal(&r, b, (size_t)ROWS * MOST_K, 1.0f);
    test_fill_normal(&r, seed, (size_t)M * WIDE, 1.0f);
    mw_kernel_profile = 2;
    for (int mode = 1; mode <= 2; mode++) {
        const int K = mode == 1 ? MOST_K : 1100;
        mw_gemm_nt_path = mode;
        for (int t = 0; t < 3; t++) {
            matmul_ctx ctx = {false, true};
            int m = t == 1 ? N : M, n = t == 0 ? N : t == 1 ? M : WIDE;
            op_spec spec = matmul_spec(&ctx, m, K, n);
            void *inputs[] = {a, b};
            char what[80];
            snprintf(what, sizeof what, "matmul %dx%d·(%dx%d)ᵀ through %s", m, K, n, K,
                     mode == 1 ? "gemm_nt" : "panels");
            op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-4, 0, 0);
        }
    }
    mw_gemm_nt_path = 0;
    mw_kernel_profile = 0;
    free(a), free(b), free(seed);
}

static void test_linear_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *in[] = {test_reference_f32(ref, "linear.x", 91),
                   test_reference_f32(ref, "linear.w", 143),
                   test_reference_f32(ref, "linear.b", 11)};
    float *y = test_reference_f32(ref, "linear.y", 77),
          *gy = test_reference_f32(ref, "linear.gy", 77);
    float *want_grad[] = {test_reference_f32(ref, "linear.gx", 91),
                          test_reference_f32(ref, "linear.gw", 143),
                          test_reference_f32(ref, "linear.gb", 11)};
    op_spec spec = {
        3, {2, 2, 1}, {{7, 13}, {11, 13}, {11}}, {MW_F32, MW_F32, MW_F32}, build_linear, NULL};
    run_against_pytorch("linear", &spec, in, gy, y, want_grad);
    for (int i = 0; i < 3; i++)
        free(in[i]), free(want_grad[i]);
    free(y), free(gy);
    mw_safetensors_free(ref);
}

static void test_linear_without_bias(void **state) {
    test_rng r;
    test_rng_seed(&r, 22);
    float x[9 * 17], w[6 * 17], seed[9 * 6];
    test_fill_normal(&r, x, 9 * 17, 1.0f);
    test_fill_normal(&r, w, 6 * 17, 0.3f);
    test_fill_normal(&r, seed, 9 * 6, 1.0f);
    op_spec spec = {2, {2, 2}, {{9, 17}, {6, 17}}, {MW_F32, MW_F32}, build_linear_nobias, NULL};
    void *inputs[] = {x, w};
    op_check_both("linear without bias", &spec, inputs, seed, NULL, NULL, 1e-5, 0, 0);
}

/* Memory Wrap's read V = W·m: a matmul whose W comes from sparsemax (many exact zeros). */
static void test_memory_read_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *in[] = {test_reference_f32(ref, "read.w", 54), test_reference_f32(ref, "read.m", 144)};
    float *v = test_reference_f32(ref, "read.v", 96), *gv = test_reference_f32(ref, "read.gv", 96);
    float *want_grad[] = {test_reference_f32(ref, "read.gw", 54),
                          test_reference_f32(ref, "read.gm", 144)};
    matmul_ctx ctx = {false, false};
    op_spec spec = {2, {2, 2}, {{6, 9}, {9, 16}}, {MW_F32, MW_F32}, build_matmul, &ctx};
    run_against_pytorch("read", &spec, in, gv, v, want_grad);
    free(in[0]), free(in[1]), free(v), free(gv), free(want_grad[0]), free(want_grad[1]);
    mw_safetensors_free(ref);
}

static void test_shape_errors(void **state) {
    mw_graph *g = mw_graph_create();
    int64_t sa[2] = {3, 4}, sb[2] = {5, 6};
    int a = mw_graph_input(g, "a", MW_F32, 2, sa), b = mw_graph_input(g, "b", MW_F32, 2, sb);
    assert_int_equal(mw_matmul(g, a, b, false, false), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_graph_error(g), "inner dimensions"));
    /* The error is sticky: later builders return -1 too, and execution refuses the graph. */
    assert_int_equal(mw_relu(g, a), -1);
    mw_exec *ex = NULL;
    assert_int_equal(mw_exec_create(g, NULL, &ex), MW_ERR_INVALID_ARG);
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_matches_pytorch),
        cmocka_unit_test(test_matmul_transposes),
        cmocka_unit_test(test_linear_matches_pytorch),
        cmocka_unit_test(test_linear_without_bias),
        cmocka_unit_test(test_linear_wide),
        cmocka_unit_test(test_matmul_long_inner),
        cmocka_unit_test(test_matmul_b_reading),
        cmocka_unit_test(test_matmul_nt_paths),
        cmocka_unit_test(test_memory_read_matches_pytorch),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
