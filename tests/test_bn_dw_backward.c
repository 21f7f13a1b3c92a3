/* The batch-norm backward fused with the backward of the depthwise convolution before it
 * (engine/ops/bn_dw_backward.h): a depthwise convolution feeding a batch norm (train mode and
 * eval mode, every activation), run forward and backward on the OpenCL device fused and
 * with fusion off, gives the same gradients of the input, the convolution's weights, γ and β
 * to the bit (the fused kernel sums in the unfused kernels' orders), both match the reference
 * backend, and the executor fuses exactly where it may: not on stride 2, rows that are not
 * whole vectors, maps whose channel does not fit local memory, a gx another node reads (the
 * convolution's bias gradient), or the GPU profile. Work-groups of 48 items too (the batch
 * norm's GPU shape inside the fused kernel). Random inputs; outputs poisoned before runs. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/launch.h" /* mw_group_size_override */

extern int mw_kernel_profile; /* engine/ops/gemm.c: 1 GPU-shaped kernels, 2 CPU-shaped */
extern int mw_bn_dw_fuse_off; /* engine/graph/exec.c: 1 never fuses */

typedef struct dw_case {
    const char *what;
    int c, n, h, w, k, stride;
    bool bias;
    mw_activation act;
    bool training;
    int fused; /* pairs the executor must fuse */
} dw_case;

/* Tensors of one case's graph, and its results: the four gradients. */
enum { G_X, G_W, G_GAMMA, G_BETA, G_COUNT };

typedef struct dw_graph {
    mw_graph *g;
    int x, w, b, gamma, beta, mean, var, count, out, seed;
} dw_graph;

typedef struct dw_data {
    float *x, *w, *b, *gamma, *beta, *mean, *var, *seed;
} dw_data;

static size_t x_numel(const dw_case *dc) {
    return (size_t)dc->c * (size_t)dc->n * (size_t)dc->h * (size_t)dc->w;
}

static size_t y_numel(const dw_case *dc) {
    size_t p = (size_t)(dc->k - 1) / 2, s = (size_t)dc->stride;
    size_t ho = ((size_t)dc->h + 2 * p - (size_t)dc->k) / s + 1;
    size_t wo = ((size_t)dc->w + 2 * p - (size_t)dc->k) / s + 1;
    return (size_t)dc->c * (size_t)dc->n * ho * wo;
}

static size_t grad_numel(const dw_case *dc, int which) {
    if (which == G_X) return x_numel(dc);
    if (which == G_W) return (size_t)dc->c * (size_t)(dc->k * dc->k);
    return (size_t)dc->c;
}

static dw_graph dw_build(const dw_case *dc) {
    dw_graph d = {.g = mw_graph_create(), .b = -1};
    mw_graph *g = d.g;
    int64_t xs[4] = {dc->c, dc->n, dc->h, dc->w}, ws[4] = {dc->c, 1, dc->k, dc->k};
    int64_t ch[1] = {dc->c}, one[1] = {1};
    d.x = mw_graph_input(g, "x", MW_F32, 4, xs);
    d.w = mw_graph_param(g, "conv.weight", 4, ws);
    if (dc->bias) d.b = mw_graph_param(g, "conv.bias", 1, ch);
    d.gamma = mw_graph_param(g, "bn.weight", 1, ch);
    d.beta = mw_graph_param(g, "bn.bias", 1, ch);
    d.mean = mw_graph_state(g, "bn.running_mean", MW_F32, 1, ch);
    d.var = mw_graph_state(g, "bn.running_var", MW_F32, 1, ch);
    d.count = mw_graph_state(g, "bn.num_batches_tracked", MW_I32, 1, one);
    int y = mw_conv2d(g, d.x, d.w, d.b, dc->stride, (dc->k - 1) / 2, dc->c);
    d.out = mw_batch_norm(g, y, d.gamma, d.beta, d.mean, d.var, d.count, 0.1f, 1e-5f, dc->act);
    mw_graph_keep(g, d.out);
    const mw_tensor *t = mw_graph_tensor(g, d.out);
    d.seed = t ? mw_graph_input(g, "seed", MW_F32, t->ndim, t->shape) : -1;
    if (mw_graph_status(g) != MW_OK) {
        print_error("building %s failed: %s\n", dc->what, mw_graph_error(g));
        fail();
    }
    TEST_OK(mw_graph_backward_from(g, d.out, d.seed, &d.x, 1));
    return d;
}

static dw_data dw_inputs(const dw_case *dc, uint64_t seed) {
    test_rng r;
    test_rng_seed(&r, seed);
    size_t xn = x_numel(dc), wn = grad_numel(dc, G_W), c = (size_t)dc->c, yn = y_numel(dc);
    dw_data d = {malloc(xn * sizeof(float)), malloc(wn * sizeof(float)), malloc(c * sizeof(float)),
                 malloc(c * sizeof(float)),  malloc(c * sizeof(float)),  malloc(c * sizeof(float)),
                 malloc(c * sizeof(float)),  malloc(yn * sizeof(float))};
    float bound = 1.0f / sqrtf((float)(dc->k * dc->k));
    test_fill_normal(&r, d.x, xn, 1.0f);
    test_fill_uniform(&r, d.w, wn, -bound, bound);
    test_fill_uniform(&r, d.b, c, -bound, bound);
    test_fill_uniform(&r, d.gamma, c, 0.5f, 1.5f);
    for (size_t i = 0; i < c; i += 3)
        d.gamma[i] = -d.gamma[i];
    test_fill_uniform(&r, d.beta, c, -0.5f, 0.5f);
    test_fill_uniform(&r, d.mean, c, -0.3f, 0.3f);
    test_fill_uniform(&r, d.var, c, 0.2f, 2.0f);
    test_fill_normal(&r, d.seed, yn, 1.0f);
    return d;
}

static void dw_free(dw_data *d) {
    free(d->x), free(d->w), free(d->b), free(d->gamma), free(d->beta), free(d->mean);
    free(d->var), free(d->seed);
}

static void write_f32(mw_exec *ex, int t, const float *data, size_t n) {
    TEST_OK(mw_exec_write(ex, t, data, n * sizeof *data));
}

/* One forward-backward run of case dc on rt (NULL: the reference backend); grads[G_*] get
 * the four gradients (malloc'd), *fused the pairs the executor fused. */
static void dw_run(const dw_case *dc, mw_runtime *rt, const dw_data *d, float **grads, int *fused) {
    dw_graph b = dw_build(dc);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(b.g, rt, &ex));
    *fused = mw_exec_get_plan_stats(ex).fused_bn_dw_backward;
    size_t c = (size_t)dc->c;
    write_f32(ex, b.x, d->x, x_numel(dc));
    write_f32(ex, b.w, d->w, grad_numel(dc, G_W));
    if (dc->bias) write_f32(ex, b.b, d->b, c);
    write_f32(ex, b.gamma, d->gamma, c);
    write_f32(ex, b.beta, d->beta, c);
    write_f32(ex, b.mean, d->mean, c);
    write_f32(ex, b.var, d->var, c);
    int32_t count = 3;
    TEST_OK(mw_exec_write(ex, b.count, &count, sizeof count));
    write_f32(ex, b.seed, d->seed, y_numel(dc));
    int of[G_COUNT] = {b.x, b.w, b.gamma, b.beta};
    for (int k = 0; k < G_COUNT; k++) {
        size_t n = grad_numel(dc, k);
        grads[k] = malloc(n * sizeof(float));
        test_poison(grads[k], n);
        write_f32(ex, mw_graph_grad(b.g, of[k]), grads[k], n);
    }
    TEST_OK(mw_exec_run(ex, dc->training ? MW_RUN_FORWARD_BACKWARD : MW_RUN_EVAL_BACKWARD));
    for (int k = 0; k < G_COUNT; k++)
        TEST_OK(mw_exec_read(ex, mw_graph_grad(b.g, of[k]), grads[k],
                             grad_numel(dc, k) * sizeof(float)));
    mw_exec_free(ex);
    mw_graph_free(b.g);
}

static const char *const GRAD_NAMES[G_COUNT] = {"gx", "gw", "ggamma", "gbeta"};

/* Case dc fused and not, against each other (bitwise) and the reference backend. */
static void check_case(const dw_case *dc, uint64_t seed) {
    dw_data d = dw_inputs(dc, seed);
    float *want[G_COUNT], *got[G_COUNT], *plain[G_COUNT];
    int reference = -1, fused = -1, unfused = -1;
    dw_run(dc, NULL, &d, want, &reference);
    dw_run(dc, test_runtime(), &d, got, &fused);
    mw_bn_dw_fuse_off = 1;
    dw_run(dc, test_runtime(), &d, plain, &unfused);
    mw_bn_dw_fuse_off = 0;
    if (fused != dc->fused || unfused != 0 || reference != 0) {
        print_error("%s: %d pairs fused (want %d), %d with fusion off, %d on the reference "
                    "backend\n",
                    dc->what, fused, dc->fused, unfused, reference);
        fail();
    }
    for (int k = 0; k < G_COUNT; k++) {
        size_t n = grad_numel(dc, k);
        char what[160];
        snprintf(what, sizeof what, "%s: %s", dc->what, GRAD_NAMES[k]);
        if (memcmp(got[k], plain[k], n * sizeof(float)) != 0) {
            print_error("%s fused differs from unfused (max relative %g)\n", what,
                        test_max_rel_error(got[k], plain[k], n));
            fail();
        }
        test_assert_close(what, got[k], want[k], n, 1e-4);
        free(want[k]), free(got[k]), free(plain[k]);
    }
    dw_free(&d);
}

static void check_cases(const dw_case *cases, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++)
        check_case(&cases[i], seed + i);
}

static void test_bn_dw_backward_fused(void **state) {
    (void)state;
    mw_kernel_profile = 2;
    const dw_case cases[] = {
        {"3x3 32x32 relu train", 5, 3, 32, 32, 3, 1, false, MW_ACT_RELU, true, 1},
        {"3x3 16x16 swish train (g' parked in local memory)", 4, 2, 16, 16, 3, 1, false,
         MW_ACT_SWISH, true, 1},
        {"3x3 8x8 none eval", 6, 3, 8, 8, 3, 1, false, MW_ACT_NONE, false, 1},
        {"5x5 24x24 sigmoid train", 3, 2, 24, 24, 5, 1, false, MW_ACT_SIGMOID, true, 1},
        {"3x3 5x8 relu train (ragged channel rows)", 4, 3, 5, 8, 3, 1, false, MW_ACT_RELU, true, 1},
        {"3x3 stride 2 relu (not fused)", 4, 2, 16, 16, 3, 2, false, MW_ACT_RELU, true, 0},
        {"3x3 12x12 relu (rows not whole vectors: not fused)", 4, 2, 12, 12, 3, 1, false,
         MW_ACT_RELU, true, 0},
        {"3x3 8x8 relu with bias (its gradient reads gx: not fused)", 4, 2, 8, 8, 3, 1, true,
         MW_ACT_RELU, true, 0},
        /* 2 x 8400 x 8 x 8 floats: a channel of 2.1 MB, past PoCL's 2 MB of local memory */
        {"3x3 8x8 relu, 8400 images (channel past local memory: not fused)", 2, 8400, 8, 8, 3, 1,
         false, MW_ACT_RELU, true, 0},
    };
    size_t count = sizeof cases / sizeof cases[0];
    if (test_small_shapes()) count = 5; /* the simulated device: the fused cases */
    check_cases(cases, count, 400);
    /* The batch norm's reductions in groups of 48 inside the fused kernel. */
    mw_group_size_override = 48;
    check_cases(cases, 2, 420);
    mw_group_size_override = 0;
    mw_kernel_profile = 0;
}

/* GPU-shaped kernels: the depthwise rows kernels, never fused. */
static void test_bn_dw_backward_gpu_profile(void **state) {
    (void)state;
    mw_kernel_profile = 1;
    const dw_case cases[] = {
        {"GPU 3x3 16x16 relu train (not fused)", 4, 2, 16, 16, 3, 1, false, MW_ACT_RELU, true, 0},
    };
    check_cases(cases, 1, 440);
    mw_kernel_profile = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_dw_backward_fused),
        cmocka_unit_test(test_bn_dw_backward_gpu_profile),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
