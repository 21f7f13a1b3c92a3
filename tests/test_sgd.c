/* The fused SGD step against torch.optim.SGD (momentum, Nesterov, weight decay) and the fused
 * Adam step against torch.optim.Adam, on both backends, their option checks, and parameters
 * without a gradient left untouched. And the guard before a step: the gradient check
 * (mw_sgd_gradients_finite) and the search for the node that produced a NaN or an infinity
 * (mw_exec_find_nonfinite). */
#include <math.h>
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NP = 37, NQ = 5 };

/* loss = p [1, 37] · G [37, 1]: d loss / d p = Gᵀ, so writing G = g gives p exactly the
 * gradient g. With `unused`, a parameter q declared first but absent from the loss. */
typedef struct sgd_graph {
    mw_graph *g;
    int p, q, G;
} sgd_graph;

static sgd_graph build(bool unused) {
    sgd_graph s = {mw_graph_create(), -1, -1, -1};
    assert_non_null(s.g);
    int64_t sq[1] = {NQ}, sp[2] = {1, NP}, sG[2] = {NP, 1};
    if (unused) s.q = mw_graph_param(s.g, "q", 1, sq);
    s.p = mw_graph_param(s.g, "p", 2, sp);
    s.G = mw_graph_input(s.g, "G", MW_F32, 2, sG);
    int loss = mw_matmul(s.g, s.p, s.G, false, false);
    TEST_OK(mw_graph_status(s.g));
    TEST_OK(mw_graph_backward(s.g, loss, NULL, 0));
    return s;
}

/* A reference case: `steps` steps of SGD (`sgd` set) or Adam (`adam` set) in `file`. */
typedef struct optim_case {
    const char *file, *prefix;
    int steps;
    const mw_sgd_options *sgd;
    const mw_adam_options *adam;
} optim_case;

/* The case's steps from <prefix>.p0 with gradients <prefix>.g[k] and LRs <prefix>.lr[k]; after
 * each, p must equal <prefix>.p[k]. Returns q after the steps (if `unused`) in q_out. */
static void run_steps(const optim_case *c, mw_runtime *rt, bool unused, const float *q0,
                      float *q_out) {
    const char *prefix = c->prefix;
    const int steps = c->steps;
    mw_safetensors *ref = test_reference(c->file);
    char name[64];
    snprintf(name, sizeof name, "%s.p0", prefix);
    float *p0 = test_reference_f32(ref, name, NP);
    snprintf(name, sizeof name, "%s.g", prefix);
    float *grads = test_reference_f32(ref, name, steps * NP);
    snprintf(name, sizeof name, "%s.lr", prefix);
    float *lr = test_reference_f32(ref, name, steps);
    snprintf(name, sizeof name, "%s.p", prefix);
    float *want = test_reference_f32(ref, name, steps * NP);

    sgd_graph s = build(unused);
    mw_exec *ex = NULL;
    mw_sgd *sgd = NULL;
    mw_adam *adam = NULL;
    TEST_OK(mw_exec_create(s.g, rt, &ex));
    if (c->sgd)
        TEST_OK(mw_sgd_create(ex, c->sgd, &sgd));
    else
        TEST_OK(mw_adam_create(ex, c->adam, &adam));
    TEST_OK(mw_exec_write(ex, s.p, p0, NP * sizeof(float)));
    if (unused) TEST_OK(mw_exec_write(ex, s.q, q0, NQ * sizeof(float)));
    float p[NP];
    for (int k = 0; k < steps; k++) {
        TEST_OK(mw_exec_write(ex, s.G, grads + k * NP, NP * sizeof(float)));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(sgd ? mw_sgd_step(sgd, lr[k]) : mw_adam_step(adam, lr[k]));
        test_poison(p, NP);
        TEST_OK(mw_exec_read(ex, s.p, p, sizeof p));
        snprintf(name, sizeof name, "%s %s, step %d", prefix, rt ? "opencl" : "reference", k);
        test_assert_close(name, p, want + k * NP, NP, 1e-5);
    }
    if (unused) {
        test_poison(q_out, NQ);
        TEST_OK(mw_exec_read(ex, s.q, q_out, NQ * sizeof(float)));
    }
    mw_sgd_free(sgd);
    mw_adam_free(adam);
    mw_exec_free(ex);
    mw_graph_free(s.g);
    free(p0), free(grads), free(lr), free(want);
    mw_safetensors_free(ref);
}

static const mw_sgd_options nesterov_wd = {0.9f, 5e-4f, true}, plain = {0.9f, 0.0f, false};
static const optim_case sgd_case = {"ops.safetensors", "sgd", 3, &nesterov_wd, NULL},
                        sgd_plain_case = {"ops.safetensors", "sgd_plain", 3, &plain, NULL};

static void test_sgd_matches_pytorch(void **state) {
    mw_runtime *rts[] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        run_steps(&sgd_case, rts[b], false, NULL, NULL);
        run_steps(&sgd_plain_case, rts[b], false, NULL, NULL);
    }
}

/* adam.safetensors (make_adam_reference.py): torch's defaults; betas (0.8, 0.99), eps 1e-3
 * and weight decay 0.1; betas (0, 0.5). */
static const mw_adam_options adam_wd = {0.8f, 0.99f, 1e-3f, 0.1f},
                             adam_beta0 = {0.0f, 0.5f, 1e-8f, 0.0f};
static const optim_case adam_wd_case = {"adam.safetensors", "adam_wd", 7, NULL, &adam_wd};

static void test_adam_matches_pytorch(void **state) {
    const mw_adam_options defaults = mw_adam_defaults();
    assert_true(defaults.beta1 == 0.9f && defaults.beta2 == 0.999f && defaults.eps == 1e-8f &&
                defaults.weight_decay == 0.0f);
    const optim_case cases[] = {{"adam.safetensors", "adam", 6, NULL, &defaults},
                                adam_wd_case,
                                {"adam.safetensors", "adam_beta0", 4, NULL, &adam_beta0}};
    mw_runtime *rts[] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
            run_steps(&cases[i], rts[b], false, NULL, NULL);
}

/* PyTorch skips parameters whose grad is None, weight decay included. */
static void test_param_without_gradient_is_not_updated(void **state) {
    const float q0[NQ] = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f};
    mw_runtime *rts[] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        for (int c = 0; c < 2; c++) { /* both with weight decay, which must not reach q */
            float q[NQ];
            run_steps(c ? &adam_wd_case : &sgd_case, rts[b], true, q0, q);
            for (int i = 0; i < NQ; i++) {
                if (q[i] != q0[i]) {
                    print_error("%s %s: unused parameter q[%d] changed from %g to %g\n",
                                c ? "adam" : "sgd", rts[b] ? "opencl" : "reference", i,
                                (double)q0[i], (double)q[i]);
                    fail();
                }
            }
        }
    }
}

static void test_invalid_options(void **state) {
    sgd_graph s = build(false);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(s.g, NULL, &ex));
    const mw_sgd_options bad[] = {{-0.1f, 0.0f, false}, {0.0f, 5e-4f, true}, {0.9f, -1e-4f, false}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mw_sgd *sgd = (mw_sgd *)&s; /* must be reset to NULL */
        assert_int_equal(mw_sgd_create(ex, &bad[i], &sgd), MW_ERR_INVALID_ARG);
        assert_null(sgd);
        assert_non_null(strstr(mw_error_message(), "sgd"));
    }
    assert_non_null(strstr(mw_error_message(), "weight_decay"));
    mw_exec_free(ex);
    mw_graph_free(s.g);
}

static void test_adam_invalid_options(void **state) {
    sgd_graph s = build(false);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(s.g, NULL, &ex));
    /* each with one bad field: {beta1, beta2, eps, weight_decay} */
    const mw_adam_options bad[] = {
        {1.0f, 0.999f, 1e-8f, 0.0f},    {-0.1f, 0.999f, 1e-8f, 0.0f},  {NAN, 0.999f, 1e-8f, 0.0f},
        {0.9f, 1.0f, 1e-8f, 0.0f},      {0.9f, -1e-3f, 1e-8f, 0.0f},   {0.9f, NAN, 1e-8f, 0.0f},
        {0.9f, 0.999f, 0.0f, 0.0f},     {0.9f, 0.999f, -1e-8f, 0.0f},  {0.9f, 0.999f, NAN, 0.0f},
        {0.9f, 0.999f, INFINITY, 0.0f}, {0.9f, 0.999f, 1e-8f, -1e-4f}, {0.9f, 0.999f, 1e-8f, NAN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mw_adam *adam = (mw_adam *)&s; /* must be reset to NULL */
        assert_int_equal(mw_adam_create(ex, &bad[i], &adam), MW_ERR_INVALID_ARG);
        assert_null(adam);
        const char *msg = mw_error_message();
        assert_non_null(strstr(msg, "adam"));
        assert_non_null(strstr(msg, "beta1"));
        assert_non_null(strstr(msg, "eps"));
        assert_non_null(strstr(msg, "weight_decay"));
    }
    /* the edges allowed: betas 0, tiny eps, no weight decay */
    const mw_adam_options edge = {0.0f, 0.0f, 1e-30f, 0.0f};
    mw_adam *adam = NULL;
    TEST_OK(mw_adam_create(ex, &edge, &adam));
    assert_non_null(adam);
    mw_adam_free(adam);
    mw_exec_free(ex);
    mw_graph_free(s.g);
}

/* loss = p·G with p = 3e38 everywhere: the matmul overflows to +inf from finite inputs; its
 * gradient (G) is finite. With a NaN in G instead, the matmul's input is already bad and the
 * gradient dp = Gᵀ holds the NaN. */
static void test_nonfinite_guard(void **state) {
    mw_runtime *rts[] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        const char *backend = rts[b] ? "opencl" : "reference";
        sgd_graph s = build(false);
        mw_exec *ex = NULL;
        mw_sgd *sgd = NULL;
        TEST_OK(mw_exec_create(s.g, rts[b], &ex));
        TEST_OK(mw_sgd_create(ex, &plain, &sgd));
        float p[NP], G[NP];
        for (int i = 0; i < NP; i++) p[i] = 0.5f + 0.01f * i, G[i] = 1.0f - 0.03f * i;
        char where[512];
        bool finite = false;
        /* finite everywhere: the check passes and the search finds nothing */
        TEST_OK(mw_exec_write(ex, s.p, p, sizeof p));
        TEST_OK(mw_exec_write(ex, s.G, G, sizeof G));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(mw_sgd_gradients_finite(sgd, &finite));
        assert_true(finite);
        TEST_OK(mw_exec_find_nonfinite(ex, MW_RUN_FORWARD_BACKWARD, where, sizeof where));
        assert_string_equal(where, "");
        /* a NaN in the last gradient, then an infinity in the first: the check fails */
        for (int k = 0; k < 2; k++) {
            float bad[NP];
            memcpy(bad, G, sizeof G);
            bad[k == 0 ? NP - 1 : 0] = k == 0 ? NAN : -INFINITY;
            TEST_OK(mw_exec_write(ex, s.G, bad, sizeof bad));
            TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
            finite = true;
            TEST_OK(mw_sgd_gradients_finite(sgd, &finite));
            if (finite) {
                print_error("%s: a %s gradient passed the check\n", backend, k ? "-inf" : "NaN");
                fail();
            }
            TEST_OK(mw_exec_find_nonfinite(ex, MW_RUN_FORWARD_BACKWARD, where, sizeof where));
            if (!strstr(where, "forward node 0 (matmul") || !strstr(where, "input G was already")) {
                print_error("%s: found '%s'\n", backend, where);
                fail();
            }
        }
        /* overflow from finite inputs: named as the producer, with its count */
        for (int i = 0; i < NP; i++) p[i] = 3e38f;
        TEST_OK(mw_exec_write(ex, s.p, p, sizeof p));
        TEST_OK(mw_exec_write(ex, s.G, G, sizeof G));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(mw_exec_find_nonfinite(ex, MW_RUN_FORWARD_BACKWARD, where, sizeof where));
        if (!strstr(where, "forward node 0 (matmul") ||
            !strstr(where, "produced 1 non-finite value of 1 from finite inputs")) {
            print_error("%s: found '%s'\n", backend, where);
            fail();
        }
        mw_sgd_free(sgd);
        mw_exec_free(ex);
        mw_graph_free(s.g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_matches_pytorch),
        cmocka_unit_test(test_param_without_gradient_is_not_updated),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_adam_matches_pytorch),
        cmocka_unit_test(test_adam_invalid_options),
        cmocka_unit_test(test_nonfinite_guard),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
