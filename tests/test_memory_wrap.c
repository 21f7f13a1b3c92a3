/* The Memory Wrap heads end to end: 20 SGD steps from the reference's initial weights on the
 * reference's feature batches give PyTorch's losses, step-0 logits, content weights and
 * input/memory gradients, and final weights (memorywrap 1.1.7, every distance, both heads);
 * a head learns clustered features; bad options are errors. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 16, M = 20, D = 32, C = 10, STEPS = 20 };

typedef struct head_graph {
    mw_graph *g;
    int e, m, y, loss;
    mw_head_outputs out;
} head_graph;

static head_graph build_head(mw_head_kind kind, const char *distance, int batch, int memory) {
    head_graph h = {mw_graph_create(), -1, -1, -1, -1, {-1, -1, -1, -1}};
    int64_t es[2] = {batch, D}, ms[2] = {memory, D}, ys[1] = {batch};
    h.e = mw_graph_input(h.g, "e", MW_F32, 2, es);
    h.m = mw_graph_input(h.g, "m", MW_F32, 2, ms);
    h.y = mw_graph_input(h.g, "y", MW_I32, 1, ys);
    mw_head_options opt = {
        .kind = kind, .distance = distance, .classes = C, .prefix = "", .return_weights = true};
    TEST_OK(mw_head_build(h.g, h.e, h.m, &opt, &h.out));
    /* the default MLP's hidden layer: 4d wide after Memory Wrap's [e, W·m], 2d after W·m */
    assert_true(h.out.hidden >= 0);
    assert_int_equal(mw_tensor_dim(h.g, h.out.hidden, 0), batch);
    assert_int_equal(mw_tensor_dim(h.g, h.out.hidden, 1),
                     kind == MW_HEAD_MEMORY_WRAP ? 4 * D : 2 * D);
    h.loss = mw_softmax_cross_entropy(h.g, h.out.logits, h.y);
    mw_graph_keep(h.g, h.loss);
    mw_graph_keep(h.g, h.out.logits);
    int wrt[2] = {h.e, h.m};
    TEST_OK(mw_graph_backward(h.g, h.loss, wrt, 2));
    return h;
}

static void replay_reference(const char *file, mw_head_kind kind, const char *distance,
                             mw_runtime *rt) {
    mw_safetensors *ref = test_reference(file);
    float *e = test_reference_f32(ref, "e", STEPS * B * D);
    float *m = test_reference_f32(ref, "m", STEPS * M * D);
    int32_t *y = test_reference_i32(ref, "y", STEPS * B);
    float *losses = test_reference_f32(ref, "losses", STEPS);
    head_graph h = build_head(kind, distance, B, M);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(h.g, rt, &ex));
    char name[256];
    for (int i = 0; i < mw_graph_param_count(h.g); i++) {
        int p = mw_graph_param_at(h.g, i);
        snprintf(name, sizeof name, "init.%s", mw_tensor_name(h.g, p));
        float *init = test_reference_f32(ref, name, mw_tensor_numel(h.g, p));
        TEST_OK(mw_exec_write(ex, p, init, mw_tensor_numel(h.g, p) * 4));
        free(init);
    }
    mw_sgd_options so = {0.9f, 5e-4f, true};
    mw_sgd *sgd = NULL;
    TEST_OK(mw_sgd_create(ex, &so, &sgd));
    float got_losses[STEPS];
    char what[512];
    for (int s = 0; s < STEPS; s++) {
        TEST_OK(mw_exec_write(ex, h.e, e + s * B * D, B * D * 4));
        TEST_OK(mw_exec_write(ex, h.m, m + s * M * D, M * D * 4));
        TEST_OK(mw_exec_write(ex, h.y, y + s * B, B * 4));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(mw_exec_read(ex, h.loss, &got_losses[s], 4));
        if (s == 0) {
            struct {
                const char *ref;
                int tensor;
                size_t n;
            } step0[] = {{"logits0", h.out.logits, B * C},
                         {"weights0", h.out.content_weights, B * M},
                         {"ge0", mw_graph_grad(h.g, h.e), B * D},
                         {"gm0", mw_graph_grad(h.g, h.m), M * D}};
            for (int k = 0; k < 4; k++) {
                float *want = test_reference_f32(ref, step0[k].ref, step0[k].n);
                float *got = malloc(step0[k].n * 4);
                TEST_OK(mw_exec_read(ex, step0[k].tensor, got, step0[k].n * 4));
                snprintf(what, sizeof what, "%s %s", file, step0[k].ref);
                test_assert_close(what, got, want, step0[k].n, 1e-4);
                free(want), free(got);
            }
        }
        TEST_OK(mw_sgd_step(sgd, 0.1f));
    }
    snprintf(what, sizeof what, "%s losses", file);
    test_assert_close(what, got_losses, losses, STEPS, 1e-4);
    for (int i = 0; i < mw_graph_param_count(h.g); i++) {
        int p = mw_graph_param_at(h.g, i);
        size_t n = mw_tensor_numel(h.g, p);
        snprintf(name, sizeof name, "final.%s", mw_tensor_name(h.g, p));
        float *want = test_reference_f32(ref, name, n), *got = malloc(n * 4);
        TEST_OK(mw_exec_read(ex, p, got, n * 4));
        snprintf(what, sizeof what, "%s %s after %d steps", file, name, STEPS);
        test_assert_close(what, got, want, n, 1e-4);
        free(want), free(got);
    }
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_graph_free(h.g);
    free(e), free(m), free(y), free(losses);
    mw_safetensors_free(ref);
}

#define REPLAY_TEST(kind_name, kind, dist)                                                         \
    static void test_##kind_name##_##dist##_matches_pytorch(void **state) {                        \
        replay_reference("head_" #kind_name "_" #dist ".safetensors", kind, #dist,                 \
                         test_runtime());                                                          \
        replay_reference("head_" #kind_name "_" #dist ".safetensors", kind, #dist, NULL);          \
    }
REPLAY_TEST(encoder_memory, MW_HEAD_MEMORY_WRAP, cosine)
REPLAY_TEST(encoder_memory, MW_HEAD_MEMORY_WRAP, l2)
REPLAY_TEST(encoder_memory, MW_HEAD_MEMORY_WRAP, dot)
REPLAY_TEST(memory, MW_HEAD_BASELINE_MEMORY, cosine)
REPLAY_TEST(memory, MW_HEAD_BASELINE_MEMORY, l2)
REPLAY_TEST(memory, MW_HEAD_BASELINE_MEMORY, dot)

/* Clustered synthetic encodings: 10 classes around random centres; a Memory Wrap head
 * trained with fresh memory draws classifies held-out points with > 95% accuracy. */
static void make_points(test_rng *r, const float *centres, float *x, int32_t *labels, int n) {
    for (int i = 0; i < n; i++) {
        labels[i] = (int32_t)(test_rng_uniform(r, 0, 1) * C) % C;
        for (int k = 0; k < D; k++)
            x[i * D + k] = fmaxf(centres[labels[i] * D + k] + 0.6f * test_rng_normal(r), 0.0f);
    }
}

static void draw_memory(test_rng *r, const float *pool, int pool_n, float *mem) {
    int picked[M];
    for (int j = 0; j < M; j++) { /* distinct, as the reference's shuffled loader */
        int k, dup;
        do {
            k = (int)(test_rng_uniform(r, 0, 1) * pool_n) % pool_n;
            dup = 0;
            for (int q = 0; q < j; q++)
                dup |= picked[q] == k;
        } while (dup);
        picked[j] = k;
        memcpy(mem + j * D, pool + k * D, D * 4);
    }
}

static void test_head_learns_clustered_features(void **state) {
    enum { TRAIN = 600, TEST = 480, BATCH = 32 };
    test_rng r;
    test_rng_seed(&r, 51);
    float centres[C * D], *train = malloc(TRAIN * D * 4), *test = malloc(TEST * D * 4);
    int32_t ytrain[TRAIN], ytest[TEST];
    test_fill_normal(&r, centres, C * D, 1.0f);
    make_points(&r, centres, train, ytrain, TRAIN);
    make_points(&r, centres, test, ytest, TEST);
    head_graph h = build_head(MW_HEAD_MEMORY_WRAP, "cosine", BATCH, M);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(h.g, test_runtime(), &ex));
    TEST_OK(mw_exec_init_params(ex, 7));
    mw_sgd_options so = {0.9f, 5e-4f, true};
    mw_sgd *sgd = NULL;
    TEST_OK(mw_sgd_create(ex, &so, &sgd));
    float mem[M * D], loss = 0;
    for (int step = 0; step < 150; step++) {
        int start = (step * BATCH) % (TRAIN - BATCH);
        draw_memory(&r, train, TRAIN, mem);
        TEST_OK(mw_exec_write(ex, h.e, train + start * D, BATCH * D * 4));
        TEST_OK(mw_exec_write(ex, h.m, mem, sizeof mem));
        TEST_OK(mw_exec_write(ex, h.y, ytrain + start, BATCH * 4));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(mw_exec_read(ex, h.loss, &loss, 4));
        assert_true(isfinite(loss));
        TEST_OK(mw_sgd_step(sgd, 0.05f));
    }
    int correct = 0;
    float logits[BATCH * C];
    for (int start = 0; start < TEST; start += BATCH) {
        draw_memory(&r, train, TRAIN, mem);
        TEST_OK(mw_exec_write(ex, h.e, test + start * D, BATCH * D * 4));
        TEST_OK(mw_exec_write(ex, h.m, mem, sizeof mem));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
        TEST_OK(mw_exec_read(ex, h.out.logits, logits, sizeof logits));
        for (int i = 0; i < BATCH; i++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (logits[i * C + c] > logits[i * C + best]) best = c;
            correct += best == ytest[start + i];
        }
    }
    double accuracy = 100.0 * correct / TEST;
    print_message("[ learned ] held-out accuracy %.1f%% (final training loss %.4f)\n", accuracy,
                  (double)loss);
    assert_true(accuracy > 95.0);
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_graph_free(h.g);
    free(train), free(test);
}

static int tiny_classifier(mw_graph *g, int features, int classes, const char *prefix, void *user) {
    (*(int *)user)++;
    return mw_linear_layer(g, features, classes, prefix);
}

static void test_options_and_errors(void **state) {
    /* parameter names and counts of memorywrap's defaults */
    head_graph h = build_head(MW_HEAD_MEMORY_WRAP, "cosine", 4, 5);
    assert_true(mw_graph_find(h.g, "classifier.fc1.weight") >= 0);
    assert_int_equal(mw_tensor_dim(h.g, mw_graph_find(h.g, "classifier.fc1.weight"), 0), 4 * D);
    assert_int_equal(mw_tensor_dim(h.g, mw_graph_find(h.g, "classifier.fc1.weight"), 1), 2 * D);
    mw_graph_free(h.g);
    h = build_head(MW_HEAD_BASELINE_MEMORY, "cosine", 4, 5);
    assert_int_equal(mw_tensor_dim(h.g, mw_graph_find(h.g, "classifier.fc1.weight"), 1), D);
    assert_int_equal(mw_tensor_dim(h.g, mw_graph_find(h.g, "classifier.fc1.weight"), 0), 2 * D);
    mw_graph_free(h.g);

    /* a user-supplied classifier replaces the MLP */
    mw_graph *g = mw_graph_create();
    int64_t es[2] = {4, D}, ms[2] = {5, D};
    int e = mw_graph_input(g, "e", MW_F32, 2, es), m = mw_graph_input(g, "m", MW_F32, 2, ms);
    int calls = 0;
    mw_head_options opt = {.kind = MW_HEAD_MEMORY_WRAP,
                           .distance = "l2",
                           .classes = C,
                           .prefix = "mw.",
                           .classifier = tiny_classifier,
                           .classifier_user = &calls};
    mw_head_outputs out;
    TEST_OK(mw_head_build(g, e, m, &opt, &out));
    assert_int_equal(out.hidden, -1); /* a user classifier's layers are its own */
    assert_int_equal(calls, 1);
    assert_true(mw_graph_find(g, "mw.classifier.weight") >= 0);
    assert_int_equal(mw_graph_find(g, "mw.classifier.fc1.weight"), -1);
    assert_int_equal(mw_graph_param_count(g), 2);
    mw_graph_free(g);

    /* an unknown distance name is an error that lists the valid ones */
    g = mw_graph_create();
    e = mw_graph_input(g, "e", MW_F32, 2, es);
    m = mw_graph_input(g, "m", MW_F32, 2, ms);
    mw_head_options bad = {
        .kind = MW_HEAD_MEMORY_WRAP, .distance = "cosin", .classes = C, .prefix = "mw."};
    assert_int_equal(mw_head_build(g, e, m, &bad, &out), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_graph_error(g), "'cosin'"));
    assert_non_null(strstr(mw_graph_error(g), "cosine, l2, dot"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_memory_cosine_matches_pytorch),
        cmocka_unit_test(test_encoder_memory_l2_matches_pytorch),
        cmocka_unit_test(test_encoder_memory_dot_matches_pytorch),
        cmocka_unit_test(test_memory_cosine_matches_pytorch),
        cmocka_unit_test(test_memory_l2_matches_pytorch),
        cmocka_unit_test(test_memory_dot_matches_pytorch),
        cmocka_unit_test(test_head_learns_clustered_features),
        cmocka_unit_test(test_options_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
