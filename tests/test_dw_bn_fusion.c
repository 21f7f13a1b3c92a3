/* A stride-1 depthwise convolution and the batch norms beside it run fused in training
 * (engine/ops/dw_bn_fusion.h): a depthwise convolution feeding a batch norm (train mode and
 * eval mode, every activation), with or without a batch norm before it (MobileNetV2's bn1),
 * run forward and backward on the OpenCL device fused and with fusion off, gives the same
 * output, running statistics and gradients of the input, the convolution's weights and the
 * batch norms' γ and β to the bit (the fused kernels sum in the unfused kernels' orders),
 * both match the reference backend, and the executor fuses exactly where it may: not on
 * stride 2, maps wider than 32 (rows ending inside a block fuse), maps whose channel does not fit
 * local memory (the first batch norm's backward alone where only one map fits), a gx another node
 * reads (the convolution's bias gradient: the backward only), or the GPU profile. Work-groups of 48
 * items too (the batch norms' GPU shape inside the fused kernels). Random inputs; outputs poisoned
 * before runs. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/launch.h" /* mw_group_size_override */
#include "runtime/kernel_defines.h"

extern int mw_kernel_profile; /* engine/ops/gemm.c: 1 GPU-shaped kernels, 2 CPU-shaped */
extern int mw_bn_dw_fuse_off; /* engine/graph/exec.c: 1 never fuses */

#define NO_BN1 ((mw_activation)-1)

typedef struct dw_case {
    const char *what;
    int c, n, h, w, k, stride;
    bool bias;
    mw_activation act;
    bool training;
    mw_activation bn1; /* the batch norm before the convolution: its activation, or -1: none */
    int fused;         /* backward: batch norms the executor must fuse with the convolution
                        * before them */
    int fused_bn1;     /* backward: batch norms before the convolution it must fuse too */
    int fused_fwd;     /* forward: batch norms it must run inside the convolution */
} dw_case;

/* Tensors of one case's graph, and its results: the four gradients. */
/* The results compared: the gradients, then the output and bn2's running statistics. */
enum { G_X, G_W, G_GAMMA, G_BETA, G_GAMMA1, G_BETA1, R_OUT, R_MEAN, R_VAR, G_COUNT };

/* A batch norm's tensors. */
typedef struct bn_params {
    int gamma, beta, mean, var, count;
} bn_params;

typedef struct dw_graph {
    mw_graph *g;
    int x, w, b, out, seed;
    bn_params bn, bn1;
} dw_graph;

typedef struct bn_data {
    float *gamma, *beta, *mean, *var;
} bn_data;

typedef struct dw_data {
    float *x, *w, *b, *seed;
    bn_data bn, bn1;
} dw_data;

static bool has_bn1(const dw_case *dc) {
    return (int)dc->bn1 >= 0;
}

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
    if ((which == G_GAMMA1 || which == G_BETA1) && !has_bn1(dc)) return 0;
    if (which == R_OUT) return y_numel(dc);
    return (size_t)dc->c;
}

static bn_params bn_tensors(mw_graph *g, const char *name, int64_t c) {
    int64_t ch[1] = {c}, one[1] = {1};
    char n[64];
    bn_params p;
    snprintf(n, sizeof n, "%s.weight", name);
    p.gamma = mw_graph_param(g, n, 1, ch);
    snprintf(n, sizeof n, "%s.bias", name);
    p.beta = mw_graph_param(g, n, 1, ch);
    snprintf(n, sizeof n, "%s.running_mean", name);
    p.mean = mw_graph_state(g, n, MW_F32, 1, ch);
    snprintf(n, sizeof n, "%s.running_var", name);
    p.var = mw_graph_state(g, n, MW_F32, 1, ch);
    snprintf(n, sizeof n, "%s.num_batches_tracked", name);
    p.count = mw_graph_state(g, n, MW_I32, 1, one);
    return p;
}

static int bn_apply(mw_graph *g, const bn_params *p, int x, mw_activation act) {
    return mw_batch_norm(g, x, p->gamma, p->beta, p->mean, p->var, p->count, 0.1f, 1e-5f, act);
}

static dw_graph dw_build(const dw_case *dc) {
    dw_graph d = {.g = mw_graph_create(), .b = -1};
    mw_graph *g = d.g;
    int64_t xs[4] = {dc->c, dc->n, dc->h, dc->w}, ws[4] = {dc->c, 1, dc->k, dc->k};
    int64_t ch[1] = {dc->c};
    d.x = mw_graph_input(g, "x", MW_F32, 4, xs);
    d.w = mw_graph_param(g, "conv.weight", 4, ws);
    if (dc->bias) d.b = mw_graph_param(g, "conv.bias", 1, ch);
    d.bn = bn_tensors(g, "bn2", dc->c);
    int conv_in = d.x;
    if (has_bn1(dc)) {
        d.bn1 = bn_tensors(g, "bn1", dc->c);
        conv_in = bn_apply(g, &d.bn1, d.x, dc->bn1);
    }
    int y = mw_conv2d(g, conv_in, d.w, d.b, dc->stride, (dc->k - 1) / 2, dc->c);
    d.out = bn_apply(g, &d.bn, y, dc->act);
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

/* γ away from zero and of both signs, running variances in [0.2, 2]. */
static bn_data bn_inputs(test_rng *r, size_t c) {
    bn_data d = {malloc(c * sizeof(float)), malloc(c * sizeof(float)), malloc(c * sizeof(float)),
                 malloc(c * sizeof(float))};
    test_fill_uniform(r, d.gamma, c, 0.5f, 1.5f);
    for (size_t i = 0; i < c; i += 3)
        d.gamma[i] = -d.gamma[i];
    test_fill_uniform(r, d.beta, c, -0.5f, 0.5f);
    test_fill_uniform(r, d.mean, c, -0.3f, 0.3f);
    test_fill_uniform(r, d.var, c, 0.2f, 2.0f);
    return d;
}

static void bn_data_free(bn_data *d) {
    free(d->gamma), free(d->beta), free(d->mean), free(d->var);
}

static dw_data dw_inputs(const dw_case *dc, uint64_t seed) {
    test_rng r;
    test_rng_seed(&r, seed);
    size_t xn = x_numel(dc), wn = grad_numel(dc, G_W), c = (size_t)dc->c, yn = y_numel(dc);
    dw_data d = {.x = malloc(xn * sizeof(float)),
                 .w = malloc(wn * sizeof(float)),
                 .b = malloc(c * sizeof(float)),
                 .seed = malloc(yn * sizeof(float))};
    float bound = 1.0f / sqrtf((float)(dc->k * dc->k));
    test_fill_normal(&r, d.x, xn, 1.0f);
    test_fill_uniform(&r, d.w, wn, -bound, bound);
    test_fill_uniform(&r, d.b, c, -bound, bound);
    test_fill_normal(&r, d.seed, yn, 1.0f);
    d.bn = bn_inputs(&r, c);
    d.bn1 = bn_inputs(&r, c);
    return d;
}

static void dw_free(dw_data *d) {
    free(d->x), free(d->w), free(d->b), free(d->seed);
    bn_data_free(&d->bn);
    bn_data_free(&d->bn1);
}

static void write_f32(mw_exec *ex, int t, const float *data, size_t n) {
    TEST_OK(mw_exec_write(ex, t, data, n * sizeof *data));
}

static void bn_write(mw_exec *ex, const bn_params *p, const bn_data *d, size_t c) {
    write_f32(ex, p->gamma, d->gamma, c);
    write_f32(ex, p->beta, d->beta, c);
    write_f32(ex, p->mean, d->mean, c);
    write_f32(ex, p->var, d->var, c);
    int32_t count = 3;
    TEST_OK(mw_exec_write(ex, p->count, &count, sizeof count));
}

/* One forward-backward run of case dc on rt (NULL: the reference backend); res[*] get the
 * results (malloc'd; bn1's gradients only with bn1), fused[] the executor's counts: batch-norm
 * backwards fused with the convolution before them, of those the ones with bn1 too, and
 * batch norms run inside the convolution in the forward. */
static void dw_run(const dw_case *dc, mw_runtime *rt, const dw_data *d, float **res, int fused[3]) {
    dw_graph b = dw_build(dc);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(b.g, rt, &ex));
    mw_exec_plan_stats st = mw_exec_get_plan_stats(ex);
    fused[0] = st.fused_bn_dw_backward;
    fused[1] = st.fused_bn_dw_bn_backward;
    fused[2] = st.fused_dw_bn_forward;
    size_t c = (size_t)dc->c;
    write_f32(ex, b.x, d->x, x_numel(dc));
    write_f32(ex, b.w, d->w, grad_numel(dc, G_W));
    if (dc->bias) write_f32(ex, b.b, d->b, c);
    bn_write(ex, &b.bn, &d->bn, c);
    if (has_bn1(dc)) bn_write(ex, &b.bn1, &d->bn1, c);
    write_f32(ex, b.seed, d->seed, y_numel(dc));
    int of[G_COUNT] = {b.x, b.w, b.bn.gamma, b.bn.beta, b.bn1.gamma, b.bn1.beta};
    for (int k = 0; k < R_OUT; k++)
        of[k] = grad_numel(dc, k) ? mw_graph_grad(b.g, of[k]) : -1;
    of[R_OUT] = b.out;
    of[R_MEAN] = b.bn.mean;
    of[R_VAR] = b.bn.var;
    for (int k = 0; k < G_COUNT; k++) {
        size_t n = grad_numel(dc, k);
        res[k] = NULL;
        if (n == 0) continue;
        res[k] = malloc(n * sizeof(float));
        test_poison(res[k], n);
        if (k <= R_OUT) write_f32(ex, of[k], res[k], n); /* outputs; the statistics are inputs */
    }
    TEST_OK(mw_exec_run(ex, dc->training ? MW_RUN_FORWARD_BACKWARD : MW_RUN_EVAL_BACKWARD));
    for (int k = 0; k < G_COUNT; k++)
        if (res[k]) TEST_OK(mw_exec_read(ex, of[k], res[k], grad_numel(dc, k) * sizeof(float)));
    mw_exec_free(ex);
    mw_graph_free(b.g);
}

static const char *const GRAD_NAMES[G_COUNT] = {
    "gx",        "gw",     "bn2 ggamma",       "bn2 gbeta",      "bn1 ggamma",
    "bn1 gbeta", "output", "bn2 running mean", "bn2 running var"};

/* Whether `maps` of case dc's channels (N·H·W floats each) and the reductions' scratch fit
 * the device's local memory: what the executor asks before fusing (MEMWRAP_LOCAL_MEM_SIZE
 * lowers it in the `limits` runs). */
static bool maps_fit(const dw_case *dc, size_t maps) {
    size_t floats = maps * (size_t)dc->n * (size_t)dc->h * (size_t)dc->w + 2 * MW_ROW_MAX_GROUP;
    return floats * sizeof(float) <= mw_runtime_device(test_runtime())->local_mem_bytes;
}

/* Case dc fused and not, against each other (bitwise) and the reference backend. */
static void check_case(const dw_case *dc, uint64_t seed) {
    dw_data d = dw_inputs(dc, seed);
    float *ref[G_COUNT], *got[G_COUNT], *plain[G_COUNT];
    int reference[3], fused[3], unfused[3];
    dw_run(dc, NULL, &d, ref, reference);
    dw_run(dc, test_runtime(), &d, got, fused);
    mw_bn_dw_fuse_off = 1;
    dw_run(dc, test_runtime(), &d, plain, unfused);
    mw_bn_dw_fuse_off = 0;
    int want[3] = {maps_fit(dc, 1) ? dc->fused : 0, maps_fit(dc, 2) ? dc->fused_bn1 : 0,
                   maps_fit(dc, 1) ? dc->fused_fwd : 0};
    for (int k = 0; k < 3; k++)
        if (fused[k] != want[k] || unfused[k] != 0 || reference[k] != 0) {
            print_error("%s: fusion count %d is %d (want %d), %d with fusion off, %d on the "
                        "reference backend\n",
                        dc->what, k, fused[k], want[k], unfused[k], reference[k]);
            fail();
        }
    for (int k = 0; k < G_COUNT; k++) {
        size_t n = grad_numel(dc, k);
        if (n == 0) continue;
        char what[160];
        snprintf(what, sizeof what, "%s: %s", dc->what, GRAD_NAMES[k]);
        if (memcmp(got[k], plain[k], n * sizeof(float)) != 0) {
            print_error("%s fused differs from unfused (max relative %g)\n", what,
                        test_max_rel_error(got[k], plain[k], n));
            fail();
        }
        /* the device's float sums against the reference backend's: a gβ of bn1 is a sum
         * over the channel through two batch norms' reductions (2.5e-4 seen, sigmoid twice) */
        test_assert_close(what, got[k], ref[k], n, 1e-3);
        free(ref[k]), free(got[k]), free(plain[k]);
    }
    dw_free(&d);
}

static void check_cases(const dw_case *cases, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++)
        check_case(&cases[i], seed + i);
}

static void test_dw_bn_fused(void **state) {
    (void)state;
    mw_kernel_profile = 2;
    const dw_case cases[] = {
        {"3x3 32x32 relu train", 5, 3, 32, 32, 3, 1, false, MW_ACT_RELU, true, NO_BN1, 1, 0, 1},
        {"bn1 relu, 3x3 16x16 none train (both batch norms)", 4, 3, 16, 16, 3, 1, false,
         MW_ACT_NONE, true, MW_ACT_RELU, 1, 1, 1},
        {"bn1 relu, 5x5 8x8 swish train (the 8x8 plane body)", 4, 3, 8, 8, 5, 1, false,
         MW_ACT_SWISH, true, MW_ACT_RELU, 1, 1, 1},
        {"3x3 16x16 swish train (g' parked in local memory)", 4, 2, 16, 16, 3, 1, false,
         MW_ACT_SWISH, true, NO_BN1, 1, 0, 1},
        /* eval mode: the forward pair is planned (and counted) but runs apart */
        {"bn1 swish, 3x3 8x8 relu eval", 6, 3, 8, 8, 3, 1, false, MW_ACT_RELU, false, MW_ACT_SWISH,
         1, 1, 1},
        {"bn1 sigmoid, 5x5 24x24 sigmoid train", 3, 2, 24, 24, 5, 1, false, MW_ACT_SIGMOID, true,
         MW_ACT_SIGMOID, 1, 1, 1},
        {"bn1 none, 3x3 5x8 relu train (ragged channel rows)", 4, 3, 5, 8, 3, 1, false, MW_ACT_RELU,
         true, MW_ACT_NONE, 1, 1, 1},
        /* rows that end inside a block (Fashion-MNIST's maps): 147 floats a channel, not a
         * multiple of 8 */
        {"bn1 relu, 3x3 28x28 relu train (rows of 3.5 vectors)", 3, 3, 28, 28, 3, 1, false,
         MW_ACT_RELU, true, MW_ACT_RELU, 1, 1, 1},
        {"5x5 7x7 swish train (one partial block a row)", 3, 3, 7, 7, 5, 1, false, MW_ACT_SWISH,
         true, NO_BN1, 1, 0, 1},
        {"bn1 relu, 3x3 7x7 relu train (the 7x7 plane body)", 4, 3, 7, 7, 3, 1, false, MW_ACT_RELU,
         true, MW_ACT_RELU, 1, 1, 1},
        {"bn1 relu, 3x3 14x14 none eval", 4, 2, 14, 14, 3, 1, false, MW_ACT_NONE, false,
         MW_ACT_RELU, 1, 1, 1},
        {"3x3 stride 2 relu (not fused)", 4, 2, 16, 16, 3, 2, false, MW_ACT_RELU, true, MW_ACT_RELU,
         0, 0, 0},
        {"3x3 40x40 relu (rows past 32: not fused)", 4, 2, 40, 40, 3, 1, false, MW_ACT_RELU, true,
         MW_ACT_RELU, 0, 0, 0},
        {"3x3 8x8 relu with bias (its gradient reads gx: the backward not fused)", 4, 2, 8, 8, 3, 1,
         true, MW_ACT_RELU, true, MW_ACT_RELU, 0, 0, 1},
        /* the expected counts where the maps fit (maps_fit): on PoCL's 2 MB of local memory
         * a channel of 5000 8x8 planes (1.3 MB) fits once, not twice; of 8400 (2.1 MB), not
         * once */
        {"bn1 relu, 3x3 8x8 relu, 5000 images (one map fits local memory)", 2, 5000, 8, 8, 3, 1,
         false, MW_ACT_RELU, true, MW_ACT_RELU, 1, 0, 1},
        {"3x3 8x8 relu, 8400 images (channel past local memory: not fused)", 2, 8400, 8, 8, 3, 1,
         false, MW_ACT_RELU, true, NO_BN1, 1, 0, 1},
        /* past 4M floats: the input gradient and the batch norm's gx stream (cl/row_group.clh) */
        {"3x3 32x32 relu, 33 x 128 x 32 x 32 (streamed)", 33, 128, 32, 32, 3, 1, false, MW_ACT_RELU,
         true, NO_BN1, 1, 0, 1},
        {"bn1 relu, 3x3 32x32 relu, 33 x 128 x 32 x 32 (streamed)", 33, 128, 32, 32, 3, 1, false,
         MW_ACT_RELU, true, MW_ACT_RELU, 1, 1, 1},
    };
    size_t count = sizeof cases / sizeof cases[0];
    if (test_small_shapes()) count = 10; /* the simulated device: the fused cases */
    check_cases(cases, count, 400);
    /* The batch norms' reductions in groups of 48 inside the fused kernel. */
    mw_group_size_override = 48;
    check_cases(cases, 4, 420);
    mw_group_size_override = 0;
    mw_kernel_profile = 0;
}

/* GPU-shaped kernels: the depthwise rows kernels, never fused. */
static void test_dw_bn_gpu_profile(void **state) {
    (void)state;
    mw_kernel_profile = 1;
    const dw_case cases[] = {
        {"GPU bn1 relu, 3x3 16x16 relu train (not fused)", 4, 2, 16, 16, 3, 1, false, MW_ACT_RELU,
         true, MW_ACT_RELU, 0, 0, 0},
    };
    check_cases(cases, 1, 440);
    mw_kernel_profile = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dw_bn_fused),
        cmocka_unit_test(test_dw_bn_gpu_profile),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
