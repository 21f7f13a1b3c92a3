/* Dropout: eval mode is the identity, train mode keeps about 1 − p of the elements scaled
 * exactly by 1/(1 − p), draws a fresh mask every run and one per node, the same mask on the
 * OpenCL and reference backends, and its backward multiplies by the saved mask. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct drop_graph {
    mw_graph *g;
    int x, y[2], mask[2], out, seed, gx;
    mw_exec *ex;
    size_t n;
} drop_graph;

/* x [n] -> dropout (p) -> y; with `two`, a second dropout node on x too, out = y1 + y2.
 * The masks are the nodes' second outputs, named "dropout:<node>:mask". */
static drop_graph drop_build(mw_runtime *rt, size_t n, float p, bool two) {
    drop_graph d = {.g = mw_graph_create(), .n = n, .mask = {-1, -1}, .y = {-1, -1}};
    int64_t shape[1] = {(int64_t)n};
    d.x = mw_graph_input(d.g, "x", MW_F32, 1, shape);
    for (int k = 0; k < (two ? 2 : 1); k++) {
        char name[64];
        snprintf(name, sizeof name, "dropout:%d:mask", mw_graph_node_count(d.g));
        d.y[k] = mw_dropout(d.g, d.x, p);
        d.mask[k] = mw_graph_find(d.g, name);
        assert_true(d.y[k] >= 0 && d.mask[k] >= 0);
        mw_graph_keep(d.g, d.y[k]);
        mw_graph_keep(d.g, d.mask[k]);
    }
    d.out = two ? mw_add(d.g, d.y[0], d.y[1]) : d.y[0];
    d.seed = mw_graph_input(d.g, "seed", MW_F32, 1, shape);
    TEST_OK(mw_graph_backward_from(d.g, d.out, d.seed, &d.x, 1));
    d.gx = mw_graph_grad(d.g, d.x);
    TEST_OK(mw_exec_create(d.g, rt, &d.ex));
    return d;
}

static void drop_free(drop_graph *d) {
    mw_exec_free(d->ex);
    mw_graph_free(d->g);
}

static void drop_write(drop_graph *d, const float *x, const float *seed) {
    TEST_OK(mw_exec_write(d->ex, d->x, x, d->n * 4));
    TEST_OK(mw_exec_write(d->ex, d->seed, seed, d->n * 4));
}

static void drop_read(drop_graph *d, int t, float *out) {
    TEST_OK(mw_exec_read(d->ex, t, out, d->n * 4));
}

static float *random_array(size_t n, uint64_t seed) {
    test_rng r;
    test_rng_seed(&r, seed);
    float *x = malloc(n * sizeof *x);
    test_fill_normal(&r, x, n, 1.0f);
    return x;
}

static void test_eval_is_identity(void **state) {
    enum { N = 1001 };
    float *x = random_array(N, 1), *seed = random_array(N, 2), y[N], mask[N], gx[N];
    mw_runtime *backends[2] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        drop_graph d = drop_build(backends[b], N, 0.3f, false);
        drop_write(&d, x, seed);
        TEST_OK(mw_exec_run(d.ex, MW_RUN_EVAL_BACKWARD));
        drop_read(&d, d.y[0], y);
        drop_read(&d, d.mask[0], mask);
        drop_read(&d, d.gx, gx);
        for (int i = 0; i < N; i++) {
            assert_true(y[i] == x[i]);
            assert_true(mask[i] == 1.0f);
            assert_true(gx[i] == seed[i]);
        }
        drop_free(&d);
    }
    free(x), free(seed);
}

/* Kept fraction within 5 standard deviations of 1 − p, kept values exactly x / (1 − p) (as
 * PyTorch: x times the float 1/(1 − p)), dropped ones exactly 0, gx = mask · gy exactly. */
static void check_train_run(drop_graph *d, const float *x, const float *seed, float p,
                            float *mask) {
    float *y = malloc(d->n * sizeof *y), *gx = malloc(d->n * sizeof *gx);
    drop_read(d, d->y[0], y);
    drop_read(d, d->mask[0], mask);
    drop_read(d, d->gx, gx);
    float scale = (float)(1.0 / (1.0 - (double)p));
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++) {
        bool keep = mask[i] != 0.0f;
        kept += keep;
        assert_true(mask[i] == (keep ? scale : 0.0f));
        assert_true(y[i] == (keep ? x[i] * scale : 0.0f));
        assert_true(gx[i] == seed[i] * mask[i]);
    }
    double fraction = (double)kept / (double)d->n;
    double sigma = sqrt((double)p * (1 - p) / (double)d->n);
    if (fabs(fraction - (1 - p)) > 5 * sigma) {
        print_error("kept %.5f of the elements, want %.5f ± %.5f\n", fraction, 1 - p, 5 * sigma);
        fail();
    }
    free(y), free(gx);
}

/* Train mode on both backends: statistics, exact scaling, a fresh mask on the next run, and
 * the same masks on both backends run for run. */
static void test_train_masks(void **state) {
    const float ps[] = {0.2f, 0.5f, 0.9f};
    const size_t large = test_size(1 << 18, 1 << 14);
    float *x = random_array(large, 3), *seed = random_array(large, 4);
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        float *masks[2][2]; /* [backend][run] */
        mw_runtime *backends[2] = {test_runtime(), NULL};
        for (int b = 0; b < 2; b++) {
            drop_graph d = drop_build(backends[b], large, ps[k], false);
            drop_write(&d, x, seed);
            for (int run = 0; run < 2; run++) {
                masks[b][run] = malloc(large * sizeof(float));
                TEST_OK(mw_exec_run(d.ex, MW_RUN_FORWARD_BACKWARD));
                check_train_run(&d, x, seed, ps[k], masks[b][run]);
            }
            drop_free(&d);
        }
        size_t differ = 0;
        for (size_t i = 0; i < large; i++)
            differ += masks[0][0][i] != masks[0][1][i];
        /* Independent masks differ at a fraction 2p(1 − p) of the positions. */
        double want = 2.0 * ps[k] * (1 - ps[k]), got = (double)differ / large;
        if (fabs(got - want) > 0.01) {
            print_error("p %.1f: consecutive masks differ at %.4f of positions, want %.4f\n",
                        (double)ps[k], got, want);
            fail();
        }
        for (int run = 0; run < 2; run++) {
            assert_memory_equal(masks[0][run], masks[1][run], large * sizeof(float));
            free(masks[0][run]), free(masks[1][run]);
        }
    }
    free(x), free(seed);
}

/* Two dropout nodes in one graph (EfficientNet drops the input and the memory encodings
 * independently) draw different masks in the same run. */
static void test_nodes_draw_their_own_masks(void **state) {
    enum { N = 4096 };
    float *x = random_array(N, 5), *seed = random_array(N, 6), m1[N], m2[N];
    drop_graph d = drop_build(test_runtime(), N, 0.5f, true);
    drop_write(&d, x, seed);
    TEST_OK(mw_exec_run(d.ex, MW_RUN_FORWARD_BACKWARD));
    drop_read(&d, d.mask[0], m1);
    drop_read(&d, d.mask[1], m2);
    int differ = 0;
    for (int i = 0; i < N; i++)
        differ += m1[i] != m2[i];
    assert_true(differ > N / 2 - 200 && differ < N / 2 + 200); /* 2p(1 − p) = 1/2 */
    drop_free(&d);
    free(x), free(seed);
}

/* p = 0 keeps everything unscaled; p = 1 zeroes everything (PyTorch's special case), never
 * NaN. */
static void test_extreme_probabilities(void **state) {
    enum { N = 333 };
    float *x = random_array(N, 7), *seed = random_array(N, 8), y[N], gx[N];
    const float ps[] = {0.0f, 1.0f};
    for (int k = 0; k < 2; k++) {
        drop_graph d = drop_build(test_runtime(), N, ps[k], false);
        drop_write(&d, x, seed);
        TEST_OK(mw_exec_run(d.ex, MW_RUN_FORWARD_BACKWARD));
        drop_read(&d, d.y[0], y);
        drop_read(&d, d.gx, gx);
        for (int i = 0; i < N; i++) {
            assert_true(y[i] == (k ? 0.0f : x[i]));
            assert_true(gx[i] == (k ? 0.0f : seed[i]));
        }
        drop_free(&d);
    }
    free(x), free(seed);
}

static void test_errors(void **state) {
    int64_t shape[1] = {4};
    const float bad[] = {-0.1f, 1.5f, NAN};
    for (int i = 0; i < 3; i++) {
        mw_graph *g = mw_graph_create();
        int x = mw_graph_input(g, "x", MW_F32, 1, shape);
        assert_int_equal(mw_dropout(g, x, bad[i]), -1);
        assert_non_null(strstr(mw_graph_error(g), "in [0, 1]"));
        mw_graph_free(g);
    }
    mw_graph *g = mw_graph_create();
    int labels = mw_graph_input(g, "labels", MW_I32, 1, shape);
    assert_int_equal(mw_dropout(g, labels, 0.2f), -1);
    assert_non_null(strstr(mw_graph_error(g), "float32"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_is_identity),
        cmocka_unit_test(test_train_masks),
        cmocka_unit_test(test_nodes_draw_their_own_masks),
        cmocka_unit_test(test_extreme_probabilities),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
