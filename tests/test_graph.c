/* The graph engine: gradient accumulation for a parameter used by two branches (the encoder
 * on inputs and on memory), liveness reuse of the activation pool and the same results
 * without it, no allocation in a steady-state step, two queues giving the same results as
 * one, and a complete op table. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "ops/reference.h"

enum { N = 9, IN = 13, OUT = 7, MEM = 11 };

/* Two branches share W (as the encoder runs on the batch and on the memory):
 * e = relu(x Wᵀ + b) and m = relu(mem Wᵀ + b), then a cosine Memory Wrap-like score
 * loss = mean CE over sparsemax(cos(e, m) − 1) · m fed to a linear layer.
 * Branch A on queue `qa`, branch B on queue `qb`. */
typedef struct shared_graph {
    mw_graph *g;
    int x, mem, y, w, b, v, loss;
} shared_graph;

static shared_graph build_shared(int qa, int qb) {
    shared_graph s = {mw_graph_create(), 0, 0, 0, 0, 0, 0, 0};
    mw_graph *g = s.g;
    int64_t xs[2] = {N, IN}, ms[2] = {MEM, IN}, ws[2] = {OUT, IN}, bs[1] = {OUT}, ys[1] = {N};
    int64_t vs[2] = {3, OUT};
    s.x = mw_graph_input(g, "x", MW_F32, 2, xs);
    s.mem = mw_graph_input(g, "mem", MW_F32, 2, ms);
    s.y = mw_graph_input(g, "y", MW_I32, 1, ys);
    s.w = mw_graph_param(g, "w", 2, ws);
    s.b = mw_graph_param(g, "b", 1, bs);
    s.v = mw_graph_param(g, "v", 2, vs);
    mw_graph_set_queue(g, qa);
    int e = mw_relu(g, mw_linear(g, mw_relu(g, mw_linear(g, s.x, s.w, s.b)), s.v, -1));
    mw_graph_set_queue(g, qb);
    int m = mw_relu(g, mw_linear(g, mw_relu(g, mw_linear(g, s.mem, s.w, s.b)), s.v, -1));
    mw_graph_set_queue(g, 0);
    int weights = mw_sparsemax(g, mw_affine(g, mw_distance(g, e, m, "cosine"), -1.0f, 0.0f));
    int logits = mw_concat_cols(g, e, mw_matmul(g, weights, m, false, false));
    s.loss = mw_softmax_cross_entropy(g, logits, s.y);
    mw_graph_keep(g, s.loss);
    TEST_OK(mw_graph_backward(g, s.loss, NULL, 0));
    return s;
}

typedef struct shared_data {
    float x[N * IN], mem[MEM * IN], w[OUT * IN], b[OUT], v[3 * OUT];
    int32_t y[N];
} shared_data;

static void make_data(shared_data *d, uint64_t seed) {
    test_rng r;
    test_rng_seed(&r, seed);
    test_fill_normal(&r, d->x, N * IN, 1.0f);
    test_fill_normal(&r, d->mem, MEM * IN, 1.0f);
    test_fill_normal(&r, d->w, OUT * IN, 0.5f);
    test_fill_normal(&r, d->b, OUT, 0.5f);
    test_fill_normal(&r, d->v, 3 * OUT, 0.5f);
    for (int i = 0; i < N; i++)
        d->y[i] = (int32_t)(test_rng_uniform(&r, 0, 1) * 6) % 6;
}

static void load(mw_exec *ex, const shared_graph *s, const shared_data *d) {
    TEST_OK(mw_exec_write(ex, s->x, d->x, sizeof d->x));
    TEST_OK(mw_exec_write(ex, s->mem, d->mem, sizeof d->mem));
    TEST_OK(mw_exec_write(ex, s->y, d->y, sizeof d->y));
    TEST_OK(mw_exec_write(ex, s->w, d->w, sizeof d->w));
    TEST_OK(mw_exec_write(ex, s->b, d->b, sizeof d->b));
    TEST_OK(mw_exec_write(ex, s->v, d->v, sizeof d->v));
}

static void run_and_read(const shared_graph *s, mw_runtime *rt, const shared_data *d, float *loss,
                         float *gw) {
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(s->g, rt, &ex));
    load(ex, s, d);
    test_poison(gw, OUT * IN);
    TEST_OK(mw_exec_write(ex, mw_graph_grad(s->g, s->w), gw, OUT * IN * 4));
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
    TEST_OK(mw_exec_read(ex, s->loss, loss, 4));
    TEST_OK(mw_exec_read(ex, mw_graph_grad(s->g, s->w), gw, OUT * IN * 4));
    mw_exec_free(ex);
}

/* The shared weight's gradient sums both branches: checked against central differences of
 * the loss on the reference backend, and OpenCL against the reference. */
static void test_shared_parameter_accumulates(void **state) {
    shared_graph s = build_shared(0, 0);
    shared_data d;
    make_data(&d, 61);
    float loss_cpu, loss_cl, gw_cpu[OUT * IN], gw_cl[OUT * IN];
    run_and_read(&s, NULL, &d, &loss_cpu, gw_cpu);
    run_and_read(&s, test_runtime(), &d, &loss_cl, gw_cl);
    test_assert_close("loss opencl vs reference", &loss_cl, &loss_cpu, 1, 1e-5);
    test_assert_close("shared weight gradient opencl vs reference", gw_cl, gw_cpu, OUT * IN, 1e-4);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(s.g, NULL, &ex));
    load(ex, &s, &d);
    double scale = 0;
    for (int i = 0; i < OUT * IN; i++)
        scale = fmax(scale, fabs(gw_cpu[i]));
    const float h = 4e-3f; /* float32 losses: smaller steps drown in rounding */
    for (int i = 0; i < OUT * IN; i++) {
        float w = d.w[i], up, down;
        d.w[i] = w + h;
        TEST_OK(mw_exec_write(ex, s.w, d.w, sizeof d.w));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
        TEST_OK(mw_exec_read(ex, s.loss, &up, 4));
        d.w[i] = w - h;
        TEST_OK(mw_exec_write(ex, s.w, d.w, sizeof d.w));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
        TEST_OK(mw_exec_read(ex, s.loss, &down, 4));
        d.w[i] = w;
        double fd = ((double)up - down) / (2.0 * h);
        double err = fabs(fd - gw_cpu[i]) / fmax(fabs(gw_cpu[i]), 5e-2 * scale);
        if (!(err < 2e-2)) {
            print_error("d loss / d w[%d]: numeric %.6g analytic %.6g\n", i, fd, gw_cpu[i]);
            fail();
        }
    }
    mw_exec_free(ex);
    mw_graph_free(s.g);
}

/* Both branches on separate queues give exactly the one-queue results, run after run. */
static void test_two_queues_match_one(void **state) {
    shared_graph one = build_shared(0, 0), two = build_shared(0, 1);
    shared_data d;
    make_data(&d, 62);
    float loss1, loss2, gw1[OUT * IN], gw2[OUT * IN];
    run_and_read(&one, test_runtime(), &d, &loss1, gw1);
    for (int rep = 0; rep < 3; rep++) {
        run_and_read(&two, test_runtime(), &d, &loss2, gw2);
        assert_memory_equal(&loss1, &loss2, sizeof loss1);
        assert_memory_equal(gw1, gw2, sizeof gw1);
    }
    /* branch B's nodes really are on queue 1, and the join waits on an event */
    int on_q1 = 0;
    for (int i = 0; i < two.g->n_nodes; i++)
        on_q1 += two.g->nodes[i].queue == 1;
    assert_true(on_q1 >= 4);
    mw_graph_free(one.g);
    mw_graph_free(two.g);
}

static mw_exec_plan_stats plan_stats(const shared_graph *s) {
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(s->g, test_runtime(), &ex));
    mw_exec_plan_stats st = mw_exec_get_plan_stats(ex);
    mw_exec_free(ex);
    return st;
}

/* Activations in buffers of their own (the placement on NVIDIA's platform, whose driver
 * crashed releasing pool sub-buffers) give bit for bit the pooled results, on two queues;
 * MEMWRAP_ACTIVATION_POOL forces either placement and rejects other values. */
static void test_unpooled_matches_pooled(void **state) {
    shared_graph s = build_shared(0, 1);
    shared_data d;
    make_data(&d, 64);
    float loss_pooled, loss_own, gw_pooled[OUT * IN], gw_own[OUT * IN];
    /* Pooled where the platform allows it; on NVIDIA's the reference backend stands in. */
    bool nvidia = strstr(mw_runtime_device(test_runtime())->platform_name, "NVIDIA") != NULL;
    setenv("MEMWRAP_ACTIVATION_POOL", "on", 1);
    run_and_read(&s, nvidia ? NULL : test_runtime(), &d, &loss_pooled, gw_pooled);
    if (!nvidia) assert_true(plan_stats(&s).pooled_tensors > 0);
    setenv("MEMWRAP_ACTIVATION_POOL", "off", 1);
    run_and_read(&s, test_runtime(), &d, &loss_own, gw_own);
    mw_exec_plan_stats st = plan_stats(&s);
    assert_int_equal(st.pooled_tensors, 0);
    assert_int_equal(st.pool_bytes, 0);
    assert_true(st.unpooled_bytes > 0); /* the activations, each in a buffer of its own */
    if (!nvidia) {
        setenv("MEMWRAP_ACTIVATION_POOL", "on", 1);
        assert_int_equal(plan_stats(&s).unpooled_bytes, st.unpooled_bytes);
        setenv("MEMWRAP_ACTIVATION_POOL", "off", 1);
    }
    if (nvidia) {
        test_assert_close("loss own buffers vs reference", &loss_own, &loss_pooled, 1, 1e-5);
        test_assert_close("gradient own buffers vs reference", gw_own, gw_pooled, OUT * IN, 1e-4);
    } else {
        assert_memory_equal(&loss_pooled, &loss_own, sizeof loss_own);
        assert_memory_equal(gw_pooled, gw_own, sizeof gw_own);
    }
    setenv("MEMWRAP_ACTIVATION_POOL", "yes", 1);
    mw_exec *ex = NULL;
    assert_int_equal(mw_exec_create(s.g, test_runtime(), &ex), MW_ERR_INVALID_ARG);
    assert_null(ex);
    assert_non_null(strstr(mw_error_message(), "MEMWRAP_ACTIVATION_POOL"));
    unsetenv("MEMWRAP_ACTIVATION_POOL");
    mw_graph_free(s.g);
}

/* The per-node profile (`memwrap bench --profile-nodes`): every node of a run timed once,
 * slowest first; a node named by its layer's parameter, also the weight-gradient products
 * of a weight shared by two branches, whose sum is the gradient; bytes and FLOP counted
 * from the shapes; a short list keeps the slowest nodes. */
static void test_profile_nodes(void **state) {
    shared_graph s = build_shared(0, 0);
    shared_data d;
    make_data(&d, 65);
    mw_runtime *rt = test_profiling_runtime();
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(s.g, rt, &ex));
    load(ex, &s, &d);
    TEST_OK(mw_exec_set_profiling(ex, true));
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
    mw_exec_profile_reset(ex);
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
    int total = s.g->n_nodes;
    mw_node_time *all = calloc((size_t)total, sizeof *all);
    assert_non_null(all);
    assert_int_equal(mw_exec_profile_nodes(ex, all, total), total);
    int first_linear = -1, weight_products = 0;
    for (int i = 0; i < total; i++) {
        const mw_node *nd = &s.g->nodes[all[i].node];
        assert_int_equal(all[i].runs, 1);
        assert_string_equal(all[i].op, mw_op_name(nd->op));
        assert_int_equal(all[i].backward, nd->backward);
        if (i) assert_true(all[i].ms <= all[i - 1].ms);
        assert_true(all[i].bytes > 0);
        if (nd->op == MW_OP_LINEAR && nd->in[0] == s.x) first_linear = i;
        /* the products that make W's gradient, one per branch: [OUT, IN] outputs */
        const mw_tensor *o = &s.g->tensors[nd->out[0]];
        if (nd->backward && nd->op == MW_OP_MATMUL && o->ndim == 2 && o->shape[0] == OUT &&
            o->shape[1] == IN) {
            assert_true(strncmp(all[i].what, "w ", 2) == 0);
            assert_true(all[i].flops == 2.0 * OUT * IN * N || all[i].flops == 2.0 * OUT * IN * MEM);
            weight_products++;
        }
        if (nd->op != MW_OP_LINEAR && nd->op != MW_OP_MATMUL) assert_true(all[i].flops == 0);
    }
    assert_int_equal(weight_products, 2);
    assert_true(first_linear >= 0);
    const mw_node_time *lin = &all[first_linear];
    assert_string_equal(lin->what, "w in 9x13 w 7x13 out 9x7");
    assert_true(lin->bytes == 4.0 * (N * IN + OUT * IN + OUT + N * OUT));
    assert_true(lin->flops == 2.0 * N * OUT * IN);
    mw_node_time top[3];
    assert_int_equal(mw_exec_profile_nodes(ex, top, 3), total);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(top[i].node, all[i].node);
        assert_true(top[i].ms == all[i].ms);
    }
    free(all);
    mw_exec_free(ex);
    mw_runtime_free(rt);
    mw_graph_free(s.g);
}

/* A chain of activations reuses pool memory, and repeated training steps allocate nothing. */
static void test_pool_reuse_and_steady_state(void **state) {
    if (strstr(mw_runtime_device(test_runtime())->platform_name, "NVIDIA")) skip();
    setenv("MEMWRAP_ACTIVATION_POOL", "on", 1); /* whatever the device's platform */
    mw_graph *g = mw_graph_create();
    int64_t xs[2] = {64, 64};
    int x = mw_graph_input(g, "x", MW_F32, 2, xs), w = mw_graph_param(g, "w", 2, xs);
    mw_graph_param_init_uniform_fan_in(g, w, 64);
    int h = x;
    for (int i = 0; i < 12; i++)
        h = mw_relu(g, mw_linear(g, h, w, -1));
    int64_t one = 1;
    int labels = mw_graph_input(g, "labels", MW_I32, 1, xs);
    int loss = mw_softmax_cross_entropy(g, h, labels);
    (void)one;
    mw_graph_keep(g, loss);
    TEST_OK(mw_graph_backward(g, loss, NULL, 0));
    mw_exec *ex = NULL;
    mw_runtime *rt = test_runtime();
    TEST_OK(mw_exec_create(g, rt, &ex));
    mw_exec_plan_stats st = mw_exec_get_plan_stats(ex);
    print_message("[ pool    ] %d pooled tensors: %zu bytes instead of %zu\n", st.pooled_tensors,
                  st.pool_bytes, st.unpooled_bytes);
    assert_true(st.pool_bytes * 3 < st.unpooled_bytes);
    float data[64 * 64];
    int32_t y[64];
    test_rng r;
    test_rng_seed(&r, 63);
    test_fill_normal(&r, data, 64 * 64, 0.25f); /* He-like scale: the signal survives 12 layers */
    TEST_OK(mw_exec_write(ex, w, data, sizeof data));
    test_fill_normal(&r, data, 64 * 64, 1.0f);
    for (int i = 0; i < 64; i++)
        y[i] = i % 64;
    TEST_OK(mw_exec_write(ex, x, data, sizeof data));
    TEST_OK(mw_exec_write(ex, labels, y, sizeof y));
    mw_sgd_options so = {0.9f, 5e-4f, true};
    mw_sgd *sgd = NULL;
    TEST_OK(mw_sgd_create(ex, &so, &sgd));
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD)); /* first step compiles kernels */
    TEST_OK(mw_sgd_step(sgd, 0.01f));
    mw_runtime_stats before = *mw_runtime_get_stats(rt);
    float losses[5];
    for (int step = 0; step < 5; step++) {
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(mw_sgd_step(sgd, 0.01f));
        TEST_OK(mw_exec_read(ex, loss, &losses[step], 4));
        assert_true(isfinite(losses[step]));
    }
    mw_runtime_stats after = *mw_runtime_get_stats(rt);
    assert_int_equal(after.buffers_created, before.buffers_created);
    assert_int_equal(after.program_builds, before.program_builds);
    assert_true(after.kernels_enqueued > before.kernels_enqueued);
    assert_true(losses[4] != losses[0]); /* the steps change the parameters */
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_graph_free(g);
    unsetenv("MEMWRAP_ACTIVATION_POOL");
}

static void test_op_table_is_complete(void **state) {
    for (int op = MW_OP_NONE + 1; op < MW_OP_COUNT; op++) {
        const mw_op_def *def = mw_op_get((mw_op)op);
        assert_non_null(def);
        assert_non_null(mw_op_name((mw_op)op));
        assert_non_null(def->run_cl);
        assert_non_null(def->run_cpu);
    }
    assert_null(mw_op_get(MW_OP_NONE));
}

static void test_backward_errors(void **state) {
    mw_graph *g = mw_graph_create();
    int64_t s[2] = {2, 3};
    int x = mw_graph_input(g, "x", MW_F32, 2, s);
    int y = mw_relu(g, x);
    assert_int_equal(mw_graph_backward(g, y, NULL, 0), MW_ERR_INVALID_ARG); /* not a scalar */
    assert_non_null(strstr(mw_error_message(), "scalar"));
    /* reading a pooled activation is refused with a hint */
    int64_t one = 1;
    int seed = mw_graph_input(g, "seed", MW_F32, 1, &one);
    (void)seed;
    int z = mw_relu(g, y);
    float buf[6];
    for (int own = 0; own < 2; own++) { /* pooled or not, the same refusal */
        if (own) setenv("MEMWRAP_ACTIVATION_POOL", "off", 1);
        mw_exec *ex = NULL;
        TEST_OK(mw_exec_create(g, test_runtime(), &ex));
        assert_int_equal(mw_exec_read(ex, y, buf, sizeof buf), MW_ERR_INVALID_ARG);
        assert_non_null(strstr(mw_error_message(), "mw_graph_keep"));
        assert_int_equal(mw_exec_write(ex, x, buf, 4), MW_ERR_INVALID_ARG); /* wrong size */
        mw_exec_free(ex);
    }
    unsetenv("MEMWRAP_ACTIVATION_POOL");
    (void)z;
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_parameter_accumulates),
        cmocka_unit_test(test_two_queues_match_one),
        cmocka_unit_test(test_unpooled_matches_pooled),
        cmocka_unit_test(test_pool_reuse_and_steady_state),
        cmocka_unit_test(test_profile_nodes),
        cmocka_unit_test(test_op_table_is_complete),
        cmocka_unit_test(test_backward_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
