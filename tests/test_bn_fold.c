/* Eval-mode batch norms folded into their convolutions (engine/ops/bn_fold.h): on every
 * convolution path that applies the activation as it stores (pointwise and im2col products
 * on the own NN kernel, in one slice, several, and with B packed; the four depthwise
 * kernels) and on the paths that only take the folded bias (the 3x3 kernels, CLBlast on
 * the GPU profile), a MW_RUN_FORWARD run matches the reference backend and the same
 * OpenCL graph with folding off, the executor reports the pairs it folded, and it folds
 * none where it must not: an activation the path cannot apply, a convolution output that
 * something else reads or that is kept. Random weights, biases, γ, β and running
 * statistics; outputs poisoned before each run. */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern int mw_kernel_profile; /* engine/ops/gemm.c: 1 GPU-shaped kernels, 2 CPU-shaped */
extern int mw_bn_fold_off;    /* engine/graph/exec.c: 1 never folds */
extern int mw_conv_direct;    /* engine/ops/conv.c: 2 padded-row 3x3 kernels, 4 Winograd */

typedef struct fold_case {
    const char *what;
    int cin, cout, n, hw, k, stride, groups;
    bool bias;
    mw_activation act;
    int folded;     /* batch norms the executor must fold */
    bool shared;    /* the convolution's output also feeds an add */
    bool keep_conv; /* the convolution's output is kept */
} fold_case;

typedef struct fold_graph {
    mw_graph *g;
    int x, w, b, gamma, beta, mean, var, count, out;
} fold_graph;

static fold_graph fold_build(const fold_case *fc) {
    fold_graph f = {.g = mw_graph_create(), .b = -1};
    mw_graph *g = f.g;
    int64_t xs[4] = {fc->cin, fc->n, fc->hw, fc->hw};
    int64_t ws[4] = {fc->cout, fc->cin / fc->groups, fc->k, fc->k};
    int64_t ch[1] = {fc->cout}, one[1] = {1};
    f.x = mw_graph_input(g, "x", MW_F32, 4, xs);
    f.w = mw_graph_param(g, "conv.weight", 4, ws);
    if (fc->bias) f.b = mw_graph_param(g, "conv.bias", 1, ch);
    f.gamma = mw_graph_param(g, "bn.weight", 1, ch);
    f.beta = mw_graph_param(g, "bn.bias", 1, ch);
    f.mean = mw_graph_state(g, "bn.running_mean", MW_F32, 1, ch);
    f.var = mw_graph_state(g, "bn.running_var", MW_F32, 1, ch);
    f.count = mw_graph_state(g, "bn.num_batches_tracked", MW_I32, 1, one);
    int y = mw_conv2d(g, f.x, f.w, f.b, fc->stride, (fc->k - 1) / 2, fc->groups);
    f.out = mw_batch_norm(g, y, f.gamma, f.beta, f.mean, f.var, f.count, 0.1f, 1e-5f, fc->act);
    if (fc->shared) f.out = mw_add(g, f.out, y);
    if (fc->keep_conv) mw_graph_keep(g, y);
    mw_graph_keep(g, f.out);
    if (mw_graph_status(g) != MW_OK) {
        print_error("building %s failed: %s\n", fc->what, mw_graph_error(g));
        fail();
    }
    return f;
}

typedef struct fold_data {
    float *x, *w, *b, *gamma, *beta, *mean, *var;
} fold_data;

static size_t out_numel(const fold_case *fc) {
    size_t ho = (size_t)((fc->hw + 2 * ((fc->k - 1) / 2) - fc->k) / fc->stride + 1);
    return (size_t)fc->cout * (size_t)fc->n * ho * ho;
}

static void write_f32(mw_exec *ex, int t, const float *data, size_t n) {
    TEST_OK(mw_exec_write(ex, t, data, n * sizeof *data));
}

/* One MW_RUN_FORWARD run of case fc on rt (NULL: the reference backend); returns the output
 * (malloc'd) and the number of batch norms the executor folded. */
static float *fold_run(const fold_case *fc, mw_runtime *rt, const fold_data *d, int *folded) {
    fold_graph f = fold_build(fc);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(f.g, rt, &ex));
    *folded = mw_exec_get_plan_stats(ex).folded_batch_norms;
    size_t wn = (size_t)fc->cout * (size_t)(fc->cin / fc->groups) * (size_t)(fc->k * fc->k);
    size_t xn = (size_t)fc->cin * (size_t)fc->n * (size_t)(fc->hw * fc->hw), c = (size_t)fc->cout;
    write_f32(ex, f.x, d->x, xn);
    write_f32(ex, f.w, d->w, wn);
    if (fc->bias) write_f32(ex, f.b, d->b, c);
    write_f32(ex, f.gamma, d->gamma, c);
    write_f32(ex, f.beta, d->beta, c);
    write_f32(ex, f.mean, d->mean, c);
    write_f32(ex, f.var, d->var, c);
    int32_t count = 7;
    TEST_OK(mw_exec_write(ex, f.count, &count, sizeof count));
    size_t n = out_numel(fc);
    float *out = malloc(n * sizeof *out);
    test_poison(out, n);
    write_f32(ex, f.out, out, n);
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
    TEST_OK(mw_exec_read(ex, f.out, out, n * sizeof *out));
    mw_exec_free(ex);
    mw_graph_free(f.g);
    return out;
}

/* Random inputs for case fc: weights at PyTorch's default scale, running variances in
 * [0.2, 2] and γ away from zero, so that the folded scales differ from one another. */
static fold_data fold_inputs(const fold_case *fc, uint64_t seed) {
    test_rng r;
    test_rng_seed(&r, seed);
    size_t fan_in = (size_t)(fc->cin / fc->groups) * (size_t)(fc->k * fc->k);
    size_t wn = (size_t)fc->cout * fan_in, c = (size_t)fc->cout;
    size_t xn = (size_t)fc->cin * (size_t)fc->n * (size_t)(fc->hw * fc->hw);
    fold_data d = {malloc(xn * sizeof(float)), malloc(wn * sizeof(float)),
                   malloc(c * sizeof(float)),  malloc(c * sizeof(float)),
                   malloc(c * sizeof(float)),  malloc(c * sizeof(float)),
                   malloc(c * sizeof(float))};
    float bound = 1.0f / sqrtf((float)fan_in);
    test_fill_normal(&r, d.x, xn, 1.0f);
    test_fill_uniform(&r, d.w, wn, -bound, bound);
    test_fill_uniform(&r, d.b, c, -bound, bound);
    test_fill_uniform(&r, d.gamma, c, 0.5f, 1.5f);
    for (size_t i = 0; i < c; i += 3)
        d.gamma[i] = -d.gamma[i];
    test_fill_uniform(&r, d.beta, c, -0.5f, 0.5f);
    test_fill_uniform(&r, d.mean, c, -0.3f, 0.3f);
    test_fill_uniform(&r, d.var, c, 0.2f, 2.0f);
    return d;
}

static void fold_free(fold_data *d) {
    free(d->x), free(d->w), free(d->b), free(d->gamma), free(d->beta), free(d->mean), free(d->var);
}

/* Case fc on the OpenCL device folded and not, against the reference backend. */
static void check_case(const fold_case *fc, uint64_t seed) {
    fold_data d = fold_inputs(fc, seed);
    int folded = -1, unfolded = -1, reference = -1;
    float *want = fold_run(fc, NULL, &d, &reference);
    float *got = fold_run(fc, test_runtime(), &d, &folded);
    mw_bn_fold_off = 1;
    float *plain = fold_run(fc, test_runtime(), &d, &unfolded);
    mw_bn_fold_off = 0;
    if (folded != fc->folded || unfolded != 0 || reference != 0) {
        print_error("%s: %d batch norms folded (want %d), %d with folding off, %d on the "
                    "reference backend\n",
                    fc->what, folded, fc->folded, unfolded, reference);
        fail();
    }
    size_t n = out_numel(fc);
    /* The folded weights round differently from normalising the sums: a few ulps of s·w. */
    test_assert_close(fc->what, got, want, n, 2e-5);
    test_assert_close(fc->what, plain, want, n, 2e-5);
    free(want), free(got), free(plain);
    fold_free(&d);
}

static void check_cases(const fold_case *cases, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++)
        check_case(&cases[i], seed + i);
}

/* CPU-shaped kernels: the own NN products and the depthwise kernels take the activation. */
static void test_bn_fold_cpu_paths(void **state) {
    (void)state;
    mw_kernel_profile = 2;
    const fold_case cases[] = {
        {"pointwise 24 -> 40 relu", 24, 40, 3, 8, 1, 1, 1, false, MW_ACT_RELU, 1, false, false},
        {"pointwise 600 -> 20 swish, bias (two slices)", 600, 20, 2, 6, 1, 1, 1, true, MW_ACT_SWISH,
         1, false, false},
        {"pointwise 12 -> 36 none, ragged columns", 12, 36, 3, 7, 1, 1, 1, false, MW_ACT_NONE, 1,
         false, false},
        {"3x3 stride 2 (implicit GEMM) 5 -> 7 relu", 5, 7, 3, 9, 3, 2, 1, true, MW_ACT_RELU, 1,
         false, false},
        /* the implicit GEMM's 40·9 = 360 rows in two slices: the activation on the last only */
        {"3x3 stride 2 (implicit GEMM) 40 -> 12 swish, two slices", 40, 12, 2, 7, 3, 2, 1, true,
         MW_ACT_SWISH, 1, false, false},
        {"grouped 3x3 stride 2 8 -> 12 sigmoid", 8, 12, 2, 7, 3, 2, 2, false, MW_ACT_SIGMOID, 1,
         false, false},
        {"depthwise 3x3 8x8 planes relu", 16, 16, 3, 8, 3, 1, 16, false, MW_ACT_RELU, 1, false,
         false},
        {"depthwise 3x3 16x16 planes swish", 6, 6, 2, 16, 3, 1, 6, true, MW_ACT_SWISH, 1, false,
         false},
        {"depthwise 3x3 4x4 small planes relu", 10, 10, 3, 4, 3, 1, 10, false, MW_ACT_RELU, 1,
         false, false},
        {"depthwise 3x3 stride 2 small planes swish", 10, 10, 3, 8, 3, 2, 10, false, MW_ACT_SWISH,
         1, false, false},
        {"depthwise 3x3 12x12 rows sigmoid", 5, 5, 2, 12, 3, 1, 5, true, MW_ACT_SIGMOID, 1, false,
         false},
        {"depthwise 5x5 stride 2 rows relu", 7, 7, 2, 13, 5, 2, 7, false, MW_ACT_RELU, 1, false,
         false},
        {"depthwise 3x3 stride 2 32x32 planes relu", 6, 6, 2, 32, 3, 2, 6, true, MW_ACT_RELU, 1,
         false, false},
        {"depthwise 5x5 stride 2 16x16 planes swish", 5, 5, 3, 16, 5, 2, 5, false, MW_ACT_SWISH, 1,
         false, false},
        {"dense 3x3 stride 1 relu (im2col)", 6, 8, 2, 8, 3, 1, 1, false, MW_ACT_RELU, 1, false,
         false},
        {"conv output also added (not folded)", 8, 8, 2, 6, 1, 1, 1, false, MW_ACT_RELU, 0, true,
         false},
        {"conv output kept (not folded)", 8, 8, 2, 6, 1, 1, 1, false, MW_ACT_RELU, 0, false, true},
    };
    check_cases(cases, sizeof cases / sizeof cases[0], 100);
    /* The direct and Winograd 3x3 kernels add to a filled bias and apply no activation. */
    const fold_case dense[] = {
        {"dense 3x3 none (bias only)", 6, 8, 2, 8, 3, 1, 1, false, MW_ACT_NONE, 1, false, false},
        {"dense 3x3 relu (not folded)", 6, 8, 2, 8, 3, 1, 1, true, MW_ACT_RELU, 0, false, false},
    };
    for (int direct = 2; direct <= 4; direct += 2) { /* padded rows, Winograd */
        mw_conv_direct = direct;
        check_cases(dense, 2, 150 + (uint64_t)direct);
    }
    mw_conv_direct = 0;
    const fold_case panels[] = {
        /* B copied in slices of 256: the activation on the last only */
        {"pointwise 300 -> 72 relu, B in panels", 300, 72, 2, 8, 1, 1, 1, true, MW_ACT_RELU, 1,
         false, false},
    };
    check_cases(panels, 1, 200);
    mw_kernel_profile = 0;
}

/* GPU-shaped kernels: CLBlast's products take only the folded bias; the depthwise rows
 * kernel takes the activation. */
static void test_bn_fold_gpu_paths(void **state) {
    (void)state;
    mw_kernel_profile = 1;
    const fold_case cases[] = {
        {"GPU pointwise 24 -> 40 none", 24, 40, 3, 8, 1, 1, 1, true, MW_ACT_NONE, 1, false, false},
        {"GPU pointwise 24 -> 40 relu (not folded)", 24, 40, 3, 8, 1, 1, 1, false, MW_ACT_RELU, 0,
         false, false},
        {"GPU depthwise 3x3 8x8 swish", 16, 16, 3, 8, 3, 1, 16, false, MW_ACT_SWISH, 1, false,
         false},
        {"GPU depthwise 5x5 stride 2 relu", 7, 7, 2, 13, 5, 2, 7, true, MW_ACT_RELU, 1, false,
         false},
    };
    check_cases(cases, sizeof cases / sizeof cases[0], 300);
    mw_kernel_profile = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_fold_cpu_paths),
        cmocka_unit_test(test_bn_fold_gpu_paths),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
