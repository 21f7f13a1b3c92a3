/* Batch norm (nn.BatchNorm2d on channel-major maps) with fused activations: train and eval
 * mode against PyTorch on both backends (outputs, gradients of x, γ and β, running
 * statistics and the batch counter), finite differences in both modes, fused against
 * unfused activations, two nodes sharing parameters and statistics (the encoder on the input
 * and the memory batch), ragged row lengths, errors.
 *
 * The op harness runs train-mode graphs without state, so these tests build their own: x
 * inputs, γ and β parameters, running statistics and counter as state tensors. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/launch.h" /* mw_group_size_override */

/* PyTorch's reference shapes: maps [C 5, N 3, 6, 6]. */
enum { C = 5, N = 3, HW = 6, LEN = N * HW * HW, NUMEL = C * LEN };

typedef struct bn_case {
    int64_t c, n, h, w;
    int nodes; /* 1, or 2 sharing γ, β and state; the output is y1 + 0.5 y2 */
    mw_activation act;
    bool unfused;     /* mw_batch_norm without activation, then mw_activate */
    int second_queue; /* queue of the second node */
    float momentum;   /* 0: PyTorch's default 0.1 */
} bn_case;

/* Host data of one run: inputs before, results after. */
typedef struct bn_data {
    float *x[2], *seed, *gamma, *beta, *mean, *var;
    int32_t count;
    float *y[2], *gx[2], *ggamma, *gbeta, *out;
} bn_data;

typedef struct bn_graph {
    mw_graph *g;
    int x[2], gamma, beta, mean, var, count, y[2], out, seed;
} bn_graph;

static size_t map_numel(const bn_case *bc) {
    return (size_t)(bc->c * bc->n * bc->h * bc->w);
}

static int bn_node(const bn_case *bc, mw_graph *g, const bn_graph *b, int x) {
    float momentum = bc->momentum > 0 ? bc->momentum : 0.1f;
    if (!bc->unfused)
        return mw_batch_norm(g, x, b->gamma, b->beta, b->mean, b->var, b->count, momentum, 1e-5f,
                             bc->act);
    int y = mw_batch_norm(g, x, b->gamma, b->beta, b->mean, b->var, b->count, momentum, 1e-5f,
                          MW_ACT_NONE);
    return mw_activate(g, y, bc->act);
}

static bn_graph bn_build(const bn_case *bc) {
    bn_graph b = {.g = mw_graph_create()};
    mw_graph *g = b.g;
    int64_t maps[4] = {bc->c, bc->n, bc->h, bc->w}, ch[1] = {bc->c}, one[1] = {1};
    for (int k = 0; k < bc->nodes; k++)
        b.x[k] = mw_graph_input(g, k ? "x2" : "x1", MW_F32, 4, maps);
    b.gamma = mw_graph_param(g, "bn.weight", 1, ch);
    b.beta = mw_graph_param(g, "bn.bias", 1, ch);
    b.mean = mw_graph_state(g, "bn.running_mean", MW_F32, 1, ch);
    b.var = mw_graph_state(g, "bn.running_var", MW_F32, 1, ch);
    b.count = mw_graph_state(g, "bn.num_batches_tracked", MW_I32, 1, one);
    b.y[0] = bn_node(bc, g, &b, b.x[0]);
    b.out = b.y[0];
    if (bc->nodes == 2) {
        mw_graph_set_queue(g, bc->second_queue);
        b.y[1] = bn_node(bc, g, &b, b.x[1]);
        mw_graph_set_queue(g, 0);
        b.out = mw_add(g, b.y[0], mw_affine(g, b.y[1], 0.5f, 0.0f));
    }
    for (int k = 0; k < bc->nodes; k++)
        mw_graph_keep(g, b.y[k]);
    mw_graph_keep(g, b.out);
    b.seed = mw_graph_input(g, "seed", MW_F32, 4, maps);
    if (mw_graph_status(g) != MW_OK) {
        print_error("building the batch-norm graph failed: %s\n", mw_graph_error(g));
        fail();
    }
    TEST_OK(mw_graph_backward_from(g, b.out, b.seed, b.x, bc->nodes));
    return b;
}

static void write_f32(mw_exec *ex, int t, const float *data, size_t n) {
    TEST_OK(mw_exec_write(ex, t, data, n * sizeof *data));
}

/* Allocates d's result arrays for case bc. */
static void bn_alloc_results(const bn_case *bc, bn_data *d) {
    size_t n = map_numel(bc), c = (size_t)bc->c;
    for (int k = 0; k < bc->nodes; k++) {
        d->y[k] = malloc(n * sizeof(float));
        d->gx[k] = malloc(n * sizeof(float));
    }
    d->out = malloc(n * sizeof(float));
    d->ggamma = malloc(c * sizeof(float));
    d->gbeta = malloc(c * sizeof(float));
}

static void bn_free(bn_data *d, bool inputs) {
    for (int k = 0; k < 2; k++) {
        free(d->y[k]), free(d->gx[k]);
        if (inputs) free(d->x[k]);
    }
    free(d->out), free(d->ggamma), free(d->gbeta);
    if (inputs) free(d->seed), free(d->gamma), free(d->beta), free(d->mean), free(d->var);
}

static void bn_write_inputs(mw_exec *ex, const bn_graph *b, const bn_case *bc, const bn_data *d) {
    size_t n = map_numel(bc), c = (size_t)bc->c;
    for (int k = 0; k < bc->nodes; k++)
        write_f32(ex, b->x[k], d->x[k], n);
    write_f32(ex, b->seed, d->seed, n);
    write_f32(ex, b->gamma, d->gamma, c);
    write_f32(ex, b->beta, d->beta, c);
    write_f32(ex, b->mean, d->mean, c);
    write_f32(ex, b->var, d->var, c);
    TEST_OK(mw_exec_write(ex, b->count, &d->count, sizeof d->count));
}

/* Runs case bc once in `mode` on rt (NULL: reference backend) from d's inputs; fills
 * `res` (results, and the updated running statistics and counter in res->mean/var/count,
 * which it allocates). Every result is poisoned with NaN first. */
static void bn_run(const bn_case *bc, mw_runtime *rt, mw_run_mode mode, const bn_data *d,
                   bn_data *res) {
    memset(res, 0, sizeof *res);
    bn_graph b = bn_build(bc);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(b.g, rt, &ex));
    size_t n = map_numel(bc), c = (size_t)bc->c;
    bn_alloc_results(bc, res);
    res->mean = malloc(c * sizeof(float));
    res->var = malloc(c * sizeof(float));
    bool backward = mode == MW_RUN_FORWARD_BACKWARD || mode == MW_RUN_EVAL_BACKWARD;
    int grads[4] = {mw_graph_grad(b.g, b.x[0]), bc->nodes == 2 ? mw_graph_grad(b.g, b.x[1]) : -1,
                    mw_graph_grad(b.g, b.gamma), mw_graph_grad(b.g, b.beta)};
    float *dst[4] = {res->gx[0], res->gx[1], res->ggamma, res->gbeta};
    size_t sizes[4] = {n, n, c, c};
    int outs[3] = {b.y[0], bc->nodes == 2 ? b.y[1] : -1, b.out};
    float *odst[3] = {res->y[0], res->y[1], res->out};
    for (int i = 0; i < 4; i++)
        if (grads[i] >= 0 && dst[i]) {
            test_poison(dst[i], sizes[i]);
            write_f32(ex, grads[i], dst[i], sizes[i]);
        }
    for (int i = 0; i < 3; i++)
        if (outs[i] >= 0) {
            test_poison(odst[i], n);
            write_f32(ex, outs[i], odst[i], n);
        }
    bn_write_inputs(ex, &b, bc, d);
    TEST_OK(mw_exec_run(ex, mode));
    for (int i = 0; i < 3; i++)
        if (outs[i] >= 0) TEST_OK(mw_exec_read(ex, outs[i], odst[i], n * sizeof(float)));
    for (int i = 0; backward && i < 4; i++)
        if (grads[i] >= 0 && dst[i]) TEST_OK(mw_exec_read(ex, grads[i], dst[i], sizes[i] * 4));
    TEST_OK(mw_exec_read(ex, b.mean, res->mean, c * sizeof(float)));
    TEST_OK(mw_exec_read(ex, b.var, res->var, c * sizeof(float)));
    TEST_OK(mw_exec_read(ex, b.count, &res->count, sizeof res->count));
    mw_exec_free(ex);
    mw_graph_free(b.g);
}

/* Central differences of <out, seed> on the reference backend, forward nodes only, in train
 * (batch statistics) or eval mode, against res's gradients of x1 (and x2), γ and β. */
static void bn_check_finite_differences(const bn_case *bc, const bn_data *d, const bn_data *res,
                                        bool training, float h, double tol) {
    bn_graph b = bn_build(bc);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(b.g, NULL, &ex));
    bn_write_inputs(ex, &b, bc, d);
    size_t n = map_numel(bc), c = (size_t)bc->c;
    float *out = malloc(n * sizeof *out);
    int tensors[4] = {b.x[0], b.x[1], b.gamma, b.beta};
    const float *values[4] = {d->x[0], d->x[1], d->gamma, d->beta};
    const float *analytic[4] = {res->gx[0], res->gx[1], res->ggamma, res->gbeta};
    size_t sizes[4] = {n, n, c, c};
    for (int i = 0; i < 4; i++) {
        if (i == 1 && bc->nodes == 1) continue;
        float *v = malloc(sizes[i] * sizeof *v);
        memcpy(v, values[i], sizes[i] * sizeof *v);
        double scale = 0;
        for (size_t k = 0; k < sizes[i]; k++)
            scale = fmax(scale, fabs(analytic[i][k]));
        for (size_t k = 0; k < sizes[i]; k++) {
            double dot[2];
            for (int side = 0; side < 2; side++) {
                v[k] = values[i][k] + (side ? -h : h);
                write_f32(ex, tensors[i], v, sizes[i]);
                /* Eval mode reads the running statistics: restore them (train runs move them). */
                write_f32(ex, b.mean, d->mean, c);
                write_f32(ex, b.var, d->var, c);
                TEST_OK(mw_exec_run(ex, training ? MW_RUN_TRAIN_FORWARD : MW_RUN_FORWARD));
                TEST_OK(mw_exec_read(ex, b.out, out, n * sizeof *out));
                dot[side] = 0;
                for (size_t j = 0; j < n; j++)
                    dot[side] += (double)out[j] * d->seed[j];
            }
            v[k] = values[i][k];
            write_f32(ex, tensors[i], v, sizes[i]);
            double fd = (dot[0] - dot[1]) / (2.0 * h), an = analytic[i][k];
            double err = fabs(fd - an) / fmax(fabs(an), 1e-2 * scale + 1e-12);
            if (!(err <= tol)) {
                print_error("finite differences (%s mode), tensor %d [%zu]: numeric %.7g, "
                            "analytic %.7g (relative error %.3g > %.3g)\n",
                            training ? "train" : "eval", i, k, fd, an, err, tol);
                fail();
            }
        }
        free(v);
    }
    free(out);
    mw_exec_free(ex);
    mw_graph_free(b.g);
}

/* ---- PyTorch cases ---- */

/* Reads case `prefix` of encoder_ops.safetensors: inputs into `in`, PyTorch's results into
 * `want` (y, gx, gγ, gβ, running statistics and counter after the forward). */
static void load_case(const char *prefix, int nodes, bn_data *in, bn_data *want) {
    mw_safetensors *ref = test_reference("encoder_ops.safetensors");
    memset(in, 0, sizeof *in);
    memset(want, 0, sizeof *want);
    char key[96];
#define LOAD(dst, field, n)                                                                        \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", prefix, field);                                         \
        dst = test_reference_f32(ref, key, n);                                                     \
    } while (0)
    const char *suffix[2] = {nodes == 2 ? "1" : "", "2"};
    for (int k = 0; k < nodes; k++) {
        char field[16];
        snprintf(field, sizeof field, "x%s", suffix[k]);
        LOAD(in->x[k], field, NUMEL);
        snprintf(field, sizeof field, "y%s", suffix[k]);
        LOAD(want->y[k], field, NUMEL);
        snprintf(field, sizeof field, "gx%s", suffix[k]);
        LOAD(want->gx[k], field, NUMEL);
    }
    LOAD(in->seed, "gy", NUMEL);
    LOAD(in->gamma, "gamma", C);
    LOAD(in->beta, "beta", C);
    LOAD(in->mean, "running_mean0", C);
    LOAD(in->var, "running_var0", C);
    LOAD(want->ggamma, "ggamma", C);
    LOAD(want->gbeta, "gbeta", C);
    LOAD(want->mean, "running_mean", C);
    LOAD(want->var, "running_var", C);
#undef LOAD
    snprintf(key, sizeof key, "%s.batches_tracked", prefix);
    int32_t *count = test_reference_i32(ref, key, 1);
    want->count = count[0];
    free(count);
    in->count = 0;
    mw_safetensors_free(ref);
}

/* Results of one backend against PyTorch's (or another backend's). */
static void check_results(const char *what, const bn_case *bc, const bn_data *got,
                          const bn_data *want, double rtol) {
    char label[160];
    size_t n = map_numel(bc), c = (size_t)bc->c;
    for (int k = 0; k < bc->nodes; k++) {
        snprintf(label, sizeof label, "%s: y%d", what, k + 1);
        test_assert_close(label, got->y[k], want->y[k], n, rtol);
        snprintf(label, sizeof label, "%s: gx%d", what, k + 1);
        test_assert_close(label, got->gx[k], want->gx[k], n, rtol);
    }
    snprintf(label, sizeof label, "%s: gweight", what);
    test_assert_close(label, got->ggamma, want->ggamma, c, rtol);
    snprintf(label, sizeof label, "%s: gbias", what);
    test_assert_close(label, got->gbeta, want->gbeta, c, rtol);
    snprintf(label, sizeof label, "%s: running_mean", what);
    test_assert_close(label, got->mean, want->mean, c, rtol);
    snprintf(label, sizeof label, "%s: running_var", what);
    test_assert_close(label, got->var, want->var, c, rtol);
    if (got->count != want->count) {
        print_error("%s: num_batches_tracked %d, want %d\n", what, (int)got->count,
                    (int)want->count);
        fail();
    }
}

/* Both backends against PyTorch's case `prefix`, then finite differences (fd_h > 0). */
static void check_pytorch_case(const char *prefix, const bn_case *bc, bool training, float fd_h) {
    bn_data in, want, got;
    load_case(prefix, bc->nodes, &in, &want);
    mw_run_mode mode = training ? MW_RUN_FORWARD_BACKWARD : MW_RUN_EVAL_BACKWARD;
    /* OpenCL with the device's work-group size, OpenCL with 64-item groups (the GPU path),
     * then the reference backend. */
    mw_runtime *backends[3] = {test_runtime(), test_runtime(), NULL};
    const size_t groups[3] = {0, 64, 0};
    for (int b = 0; b < 3; b++) {
        char what[96];
        snprintf(what, sizeof what, "%s (%s)", prefix,
                 b == 2 ? "reference"
                 : b    ? "opencl, 64-item groups"
                        : "opencl");
        mw_group_size_override = groups[b];
        bn_run(bc, backends[b], mode, &in, &got);
        mw_group_size_override = 0;
        check_results(what, bc, &got, &want, 1e-5);
        if (b == 2 && fd_h > 0) bn_check_finite_differences(bc, &in, &got, training, fd_h, 5e-3);
        bn_free(&got, true);
    }
    bn_free(&in, true);
    bn_free(&want, true);
}

static const bn_case PYTORCH_SHAPE = {C, N, HW, HW, 1, MW_ACT_NONE, false, 0, 0};

static void test_train_matches_pytorch(void **state) {
    check_pytorch_case("bn_train", &PYTORCH_SHAPE, true, 1e-2f);
}

/* WideResNet's last batch norm, BatchNorm2d(momentum=0.9): the running statistics take 90%
 * of the batch's. */
static void test_momentum_matches_pytorch(void **state) {
    bn_case momentum = PYTORCH_SHAPE;
    momentum.momentum = 0.9f;
    check_pytorch_case("bn_momentum", &momentum, true, 1e-2f);
}

/* Eval mode: running statistics normalise, stay as they were, and the counter too. */
static void test_eval_matches_pytorch(void **state) {
    check_pytorch_case("bn_eval", &PYTORCH_SHAPE, false, 1e-2f);
}

static void test_fused_activations_match_pytorch(void **state) {
    bn_case relu = PYTORCH_SHAPE, swish = PYTORCH_SHAPE;
    relu.act = MW_ACT_RELU;
    swish.act = MW_ACT_SWISH;
    check_pytorch_case("bn_relu", &relu, true, 0); /* kinks: no finite differences */
    check_pytorch_case("bn_swish", &swish, true, 1e-2f);
    check_pytorch_case("bn_eval_swish", &swish, false, 1e-2f);
}

/* The encoder on the input batch, then on the memory batch: one γ, β and set of running
 * statistics; batch statistics per node; running statistics updated twice, in graph order
 * (also when the second node runs on the other queue); γ and β gradients summed. */
static void test_two_nodes_share_state(void **state) {
    bn_case shared = PYTORCH_SHAPE;
    shared.nodes = 2;
    check_pytorch_case("bn_shared", &shared, true, 1e-2f);
    shared.second_queue = 1;
    check_pytorch_case("bn_shared", &shared, true, 0);
}

/* ---- properties on random data ---- */

static void random_data(const bn_case *bc, uint64_t seed, bn_data *d) {
    test_rng r;
    test_rng_seed(&r, seed);
    memset(d, 0, sizeof *d);
    size_t n = map_numel(bc), c = (size_t)bc->c;
    for (int k = 0; k < bc->nodes; k++) {
        d->x[k] = malloc(n * sizeof(float));
        test_fill_normal(&r, d->x[k], n, 2.0f);
        /* Per-channel offsets (the mean matters) of the order of the spread, as after a
         * convolution: with |mean| >> std, float32 itself (PyTorch's too) loses digits. */
        for (size_t i = 0; i < n; i++)
            d->x[k][i] += 0.75f * (float)(i / (n / c)) - 1.5f;
    }
    d->seed = malloc(n * sizeof(float));
    test_fill_normal(&r, d->seed, n, 1.0f);
    d->gamma = malloc(c * sizeof(float));
    d->beta = malloc(c * sizeof(float));
    d->mean = malloc(c * sizeof(float));
    d->var = malloc(c * sizeof(float));
    test_fill_uniform(&r, d->gamma, c, 0.5f, 1.5f);
    test_fill_normal(&r, d->beta, c, 0.3f);
    test_fill_normal(&r, d->mean, c, 1.0f);
    test_fill_uniform(&r, d->var, c, 0.5f, 4.0f);
    d->count = 7;
}

/* Fused activation == batch norm then a separate activation node, on both backends, in
 * both modes (the unfused graph is the reference path the fusion must reproduce). */
static void test_fused_equals_unfused(void **state) {
    const mw_activation acts[] = {MW_ACT_RELU, MW_ACT_SWISH, MW_ACT_SIGMOID};
    const mw_run_mode modes[] = {MW_RUN_FORWARD_BACKWARD, MW_RUN_EVAL_BACKWARD};
    mw_runtime *backends[2] = {test_runtime(), NULL};
    for (size_t a = 0; a < 3; a++) {
        bn_case fused = {4, 3, 5, 7, 1, acts[a], false, 0, 0}, unfused = fused;
        unfused.unfused = true;
        bn_data d;
        random_data(&fused, 60 + a, &d);
        for (int m = 0; m < 2; m++)
            for (int b = 0; b < 2; b++) {
                bn_data f, u;
                bn_run(&fused, backends[b], modes[m], &d, &f);
                bn_run(&unfused, backends[b], modes[m], &d, &u);
                char what[96];
                snprintf(what, sizeof what, "fused vs unfused, activation %d, %s mode, %s",
                         (int)acts[a], m ? "eval" : "train", b ? "reference" : "opencl");
                check_results(what, &fused, &f, &u, 1e-5);
                bn_free(&f, true);
                bn_free(&u, true);
            }
        bn_free(&d, true);
    }
}

static void check_row_lengths(size_t group) {
    const bn_case cases[] = {
        {3, 3, 1, 1, 1, MW_ACT_SWISH, false, 0, 0},   /* len 3 (2 would make gx exactly 0) */
        {4, 5, 7, 7, 1, MW_ACT_SWISH, false, 0, 0},   /* len 245 */
        {2, 40, 16, 17, 1, MW_ACT_RELU, false, 0, 0}, /* len 10880 */
        {6, 4, 4, 4, 2, MW_ACT_NONE, false, 1, 0},    /* len 64, two nodes on two queues */
    };
    const mw_run_mode modes[] = {MW_RUN_FORWARD_BACKWARD, MW_RUN_EVAL_BACKWARD};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bn_data d;
        random_data(&cases[i], 70 + i, &d);
        for (int m = 0; m < 2; m++) {
            bn_data cl, ref;
            bn_run(&cases[i], test_runtime(), modes[m], &d, &cl);
            bn_run(&cases[i], NULL, modes[m], &d, &ref);
            char what[128];
            snprintf(what, sizeof what,
                     "case %zu (len %lld), %s mode, work-group %zu: opencl vs reference", i,
                     (long long)(cases[i].n * cases[i].h * cases[i].w), m ? "eval" : "train",
                     group);
            check_results(what, &cases[i], &cl, &ref, 1e-5);
            assert_int_equal(cl.count, m ? 7 : 7 + cases[i].nodes);
            bn_free(&cl, true);
            bn_free(&ref, true);
        }
        bn_free(&d, true);
    }
}

/* Rows shorter than one vector, with ragged tails, and longer than a work-group's sweep
 * (256 items x 16): the OpenCL kernels against the reference backend, both modes, with the
 * device's work-group size (1 on CPUs) and with the wide groups GPUs use (the tree reduction
 * in local memory). */
static void test_row_lengths(void **state) {
    const size_t groups[] = {0, 256};
    for (int gi = 0; gi < 2; gi++) {
        mw_group_size_override = groups[gi];
        check_row_lengths(groups[gi]);
    }
    mw_group_size_override = 0;
}

/* Rows as long as MobileNetV2's stem on a 128-image Fashion-MNIST batch (len 100352): the
 * statistics and the backward's sums are summed in double, or with Kahan's compensation
 * where the device has no double (cl/row_group.clh, long_sum16; ctest's nofp64_batchnorm
 * runs this file on that path), so the outputs and gradients stay within a few float32
 * ulps of the reference backend's double accumulation: at most 1.4e-6 relative (y, the
 * float32 rounding of the normalisation itself), bound 3e-6. Plain float sums, 6272 values
 * per lane one after the other on the one-item groups of CPUs, missed by 8.2e-6 (y) and
 * 4.6e-6 (gβ). Both group shapes: one item, and the wide groups of GPUs. */
static void test_long_rows_sum_exactly(void **state) {
    /* Under Oclgrind (small shapes) 8 images: still 392 values per lane. */
    const bn_case bc = {2, test_small_shapes() ? 8 : 128, 28, 28, 1, MW_ACT_RELU, false, 0, 0};
    bn_data d, ref;
    random_data(&bc, 95, &d);
    bn_run(&bc, NULL, MW_RUN_FORWARD_BACKWARD, &d, &ref);
    const size_t groups[] = {0, 256};
    for (int gi = 0; gi < 2; gi++) {
        mw_group_size_override = groups[gi];
        bn_data cl;
        bn_run(&bc, test_runtime(), MW_RUN_FORWARD_BACKWARD, &d, &cl);
        char what[64];
        snprintf(what, sizeof what, "len %lld, work-group %zu", (long long)(bc.n * 28 * 28),
                 groups[gi]);
        check_results(what, &bc, &cl, &ref, 3e-6);
        bn_free(&cl, true);
    }
    mw_group_size_override = 0;
    bn_free(&ref, true);
    bn_free(&d, true);
}

/* A map past MW_STREAM_MIN_FLOATS (cl/row_group.clh: 4.3M floats here), whose y and gx CPU
 * devices write with streaming stores: channel 0's rows start on a 64-byte line and stream,
 * channels 1-4 start off it (len 859554) and take ordinary stores, the tail of each row too.
 * Against the reference backend, train mode with an activation. limits_nostream_batchnorm
 * runs it with ordinary stores throughout. */
static void test_streamed_maps(void **state) {
    (void)state;
    /* 17 MB a map is too large for the simulated device: there 2 x 9 x 9, ordinary stores */
    int n = (int)test_size(34, 2), hw = (int)test_size(159, 9);
    const bn_case bc = {5, n, hw, hw, 1, MW_ACT_RELU, false, 0, 0};
    bn_data d, ref, cl;
    random_data(&bc, 97, &d);
    bn_run(&bc, NULL, MW_RUN_FORWARD_BACKWARD, &d, &ref);
    bn_run(&bc, test_runtime(), MW_RUN_FORWARD_BACKWARD, &d, &cl);
    check_results("5 x 34 x 159 x 159 (streamed)", &bc, &cl, &ref, 1e-5);
    bn_free(&cl, true);
    bn_free(&ref, true);
    bn_free(&d, true);
}

/* Running statistics move once per train-mode forward node, never in the backward or in
 * eval mode: a train forward alone and a forward+backward leave the same state; an eval
 * run leaves it untouched. */
static void test_running_stats_move_once_per_forward(void **state) {
    bn_case bc = {3, 4, 2, 2, 1, MW_ACT_RELU, false, 0, 0};
    bn_data d;
    random_data(&bc, 80, &d);
    mw_runtime *backends[2] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        bn_data fwd, both, eval;
        bn_run(&bc, backends[b], MW_RUN_TRAIN_FORWARD, &d, &fwd);
        bn_run(&bc, backends[b], MW_RUN_FORWARD_BACKWARD, &d, &both);
        bn_run(&bc, backends[b], MW_RUN_FORWARD, &d, &eval);
        assert_int_equal(fwd.count, 8);
        assert_int_equal(both.count, 8);
        assert_int_equal(eval.count, 7);
        assert_memory_equal(fwd.mean, both.mean, 3 * sizeof(float));
        assert_memory_equal(fwd.var, both.var, 3 * sizeof(float));
        assert_memory_equal(eval.mean, d.mean, 3 * sizeof(float));
        assert_memory_equal(eval.var, d.var, 3 * sizeof(float));
        assert_memory_equal(fwd.y[0], both.y[0], map_numel(&bc) * sizeof(float));
        bn_free(&fwd, true);
        bn_free(&both, true);
        bn_free(&eval, true);
    }
    bn_free(&d, true);
}

/* Tensors for the builder's error cases, on a fresh graph each time (errors are sticky). */
typedef struct error_fixture {
    mw_graph *g;
    int x, gamma, beta, mean, var, count, gamma4, input_mean, float_count;
} error_fixture;

static error_fixture error_graph(void) {
    int64_t maps[4] = {3, 2, 4, 4}, ch[1] = {3}, four[1] = {4}, one[1] = {1};
    error_fixture f = {.g = mw_graph_create()};
    f.x = mw_graph_input(f.g, "x", MW_F32, 4, maps);
    f.gamma = mw_graph_param(f.g, "w", 1, ch);
    f.beta = mw_graph_param(f.g, "b", 1, ch);
    f.mean = mw_graph_state(f.g, "m", MW_F32, 1, ch);
    f.var = mw_graph_state(f.g, "v", MW_F32, 1, ch);
    f.count = mw_graph_state(f.g, "n", MW_I32, 1, one);
    f.gamma4 = mw_graph_param(f.g, "w4", 1, four);
    f.input_mean = mw_graph_input(f.g, "m_in", MW_F32, 1, ch);
    f.float_count = mw_graph_state(f.g, "n_f", MW_F32, 1, one);
    return f;
}

static void test_errors(void **state) {
    error_fixture f = error_graph();
    assert_true(mw_batch_norm(f.g, f.x, f.gamma, f.beta, f.mean, f.var, f.count, 0.1f, 1e-5f,
                              MW_ACT_SWISH) >= 0);
    mw_graph_free(f.g);
    enum { BAD_GAMMA, INPUT_MEAN, FLOAT_COUNT, MOMENTUM, EPS, ACT, X_ROWS, CASES };
    const char *messages[CASES] = {
        "must be float32 [3]", "state tensors", "int32 [1]", "momentum", "eps",
        "activation",          "[C, N, H, W]"};
    for (int i = 0; i < CASES; i++) {
        f = error_graph();
        int64_t rows[2] = {3, 32};
        int x = i == X_ROWS ? mw_graph_input(f.g, "x2d", MW_F32, 2, rows) : f.x;
        int y =
            mw_batch_norm(f.g, x, i == BAD_GAMMA ? f.gamma4 : f.gamma, f.beta,
                          i == INPUT_MEAN ? f.input_mean : f.mean, f.var,
                          i == FLOAT_COUNT ? f.float_count : f.count, i == MOMENTUM ? 1.5f : 0.1f,
                          i == EPS ? 0.0f : 1e-5f, i == ACT ? MW_ACT_COUNT : MW_ACT_NONE);
        assert_int_equal(y, -1);
        if (!strstr(mw_graph_error(f.g), messages[i])) {
            print_error("case %d: '%s' does not mention '%s'\n", i, mw_graph_error(f.g),
                        messages[i]);
            fail();
        }
        mw_graph_free(f.g);
    }
}

/* One value per channel: train mode fails as PyTorch does ("Expected more than 1 value per
 * channel when training"), eval mode works. */
static void test_single_value_per_channel(void **state) {
    bn_case bc = {3, 1, 1, 1, 1, MW_ACT_NONE, false, 0, 0};
    bn_data d;
    random_data(&bc, 90, &d);
    mw_runtime *backends[2] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        bn_graph g = bn_build(&bc);
        mw_exec *ex = NULL;
        TEST_OK(mw_exec_create(g.g, backends[b], &ex));
        bn_write_inputs(ex, &g, &bc, &d);
        assert_int_equal(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD), MW_ERR_INVALID_ARG);
        assert_non_null(strstr(mw_error_message(), "more than one value per channel"));
        TEST_OK(mw_exec_run(ex, MW_RUN_EVAL_BACKWARD));
        mw_exec_free(ex);
        mw_graph_free(g.g);
    }
    bn_free(&d, true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_matches_pytorch),
        cmocka_unit_test(test_momentum_matches_pytorch),
        cmocka_unit_test(test_eval_matches_pytorch),
        cmocka_unit_test(test_fused_activations_match_pytorch),
        cmocka_unit_test(test_two_nodes_share_state),
        cmocka_unit_test(test_fused_equals_unfused),
        cmocka_unit_test(test_row_lengths),
        cmocka_unit_test(test_long_rows_sum_exactly),
        cmocka_unit_test(test_streamed_maps),
        cmocka_unit_test(test_running_stats_move_once_per_forward),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_single_value_per_channel),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
