/* Explanations (memwrap/explain.h): example and counterfactual selection on hand-made weight
 * rows, the three metrics on hand-computed cases, Gauss-Legendre nodes, the model split
 * into encoder and head parts (same logits, weights and input gradients as the whole
 * model), the attention mask that lets one head run give each row its own memory, and the
 * PNG panels decoded again and searched pixel by pixel for the pictures they must show. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/panels.h"

/* ---- selection ------------------------------------------------------------------------ */

static void test_select(void **state) {
    (void)state;
    int ex, cf;
    /* the highest weight of each kind wins; zero weights never count */
    const float w1[5] = {0.0f, 0.5f, 0.2f, 0.3f, 0.0f};
    const int32_t p1[5] = {1, 2, 1, 1, 2};
    mw_explain_select(w1, p1, 5, 1, &ex, &cf);
    assert_int_equal(ex, 3);
    assert_int_equal(cf, 1);
    /* ties go to the lower index */
    const float w2[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    const int32_t p2[4] = {3, 3, 1, 1};
    mw_explain_select(w2, p2, 4, 3, &ex, &cf);
    assert_int_equal(ex, 0);
    assert_int_equal(cf, 2);
    /* no counterfactual: every sample with weight > 0 agrees (index 2 disagrees, weight 0) */
    const float w3[3] = {0.0f, 1.0f, 0.0f};
    const int32_t p3[3] = {0, 0, 1};
    mw_explain_select(w3, p3, 3, 0, &ex, &cf);
    assert_int_equal(ex, 1);
    assert_int_equal(cf, -1);
    /* a single non-zero weight that disagrees: no example */
    mw_explain_select(w3, p3, 3, 5, &ex, &cf);
    assert_int_equal(ex, -1);
    assert_int_equal(cf, 1);
}

static void test_support(void **state) {
    (void)state;
    const float w[7] = {0.1f, 0.0f, 0.4f, 0.1f, 0.0f, 0.4f, 0.0f};
    int32_t order[7];
    int n = mw_explain_support(w, 7, order);
    assert_int_equal(n, 4);
    const int32_t want[4] = {2, 5, 0, 3}; /* by weight, ties in index order */
    for (int i = 0; i < 4; i++)
        assert_int_equal(order[i], want[i]);
    const float none[3] = {0, 0, 0};
    assert_int_equal(mw_explain_support(none, 3, order), 0);
}

/* Four inputs, three memory samples, worked out by hand. */
static void test_metrics(void **state) {
    (void)state;
    const float w[4 * 3] = {0.7f, 0.3f, 0.0f,  /* top 0 */
                            0.0f, 0.2f, 0.8f,  /* top 2 */
                            0.5f, 0.5f, 0.0f,  /* tie: top 0 */
                            0.0f, 1.0f, 0.0f}; /* top 1 */
    const int32_t mpred[3] = {4, 6, 4}, mlabel[3] = {4, 1, 1};
    const int32_t pred[4] = {4, 6, 6, 6}, label[4] = {4, 1, 6, 6};
    /* input 0: top predicts 4 = pred (example), correct
     * input 1: top predicts 4 != 6 (counterfactual), wrong
     * input 2: top 0 predicts 4 != 6 (counterfactual), correct
     * input 3: top predicts 6 = pred (example), correct */
    mw_explain_counts c = {0};
    mw_explain_count(w, 4, 3, pred, label, mpred, mlabel, &c);
    assert_int_equal(c.inputs, 4);
    assert_int_equal(c.correct, 3);
    assert_int_equal(c.explained, 2);
    assert_int_equal(c.example_inputs, 2);
    assert_int_equal(c.example_correct, 2);
    assert_int_equal(c.counterfactual_inputs, 2);
    assert_int_equal(c.counterfactual_correct, 1);
    mw_explain_metrics m = mw_explain_metrics_of(&c);
    assert_true(fabs(m.explanation_accuracy - 50.0) < 1e-12);
    assert_true(fabs(m.example_accuracy - 100.0) < 1e-12);
    assert_true(fabs(m.counterfactual_accuracy - 50.0) < 1e-12);
    assert_true(fabs(m.accuracy - 75.0) < 1e-12);
    /* majority votes over the samples with weight > 0 (ties to the smallest class):
     * input 0: predictions {4, 6} -> 4 = label; true labels {4, 1} -> 1 != 4
     * input 1: predictions {6, 4} -> 4 != 1;     labels {1, 1} -> 1 = label
     * input 2: predictions {4, 6} -> 4 != 6;     labels {4, 1} -> 1 != 6
     * input 3: predictions {6} -> 6 = label;      labels {1} -> 1 != 6 */
    assert_int_equal(c.mvo_correct, 2);
    assert_int_equal(c.mvy_correct, 1);
    assert_true(fabs(m.mvo_accuracy - 50.0) < 1e-12);
    assert_true(fabs(m.mvy_accuracy - 25.0) < 1e-12);
    /* counts add up over batches */
    mw_explain_count(w, 1, 3, pred, label, mpred, mlabel, &c);
    assert_int_equal(c.inputs, 5);
    assert_int_equal(c.example_inputs, 3);
    /* no counterfactual input at all: that accuracy is undefined, not 0 */
    mw_explain_counts only_examples = {0};
    mw_explain_count(w, 1, 3, pred, label, mpred, mlabel, &only_examples);
    m = mw_explain_metrics_of(&only_examples);
    assert_true(isnan(m.counterfactual_accuracy));
    assert_true(fabs(m.example_accuracy - 100.0) < 1e-12);
}

/* The majority vote on its own: counts, ties, weights that are not positive. */
static void test_majority(void **state) {
    (void)state;
    const float w[7] = {0.1f, 0.2f, 0.0f, 0.3f, 0.15f, 0.25f, -0.0f};
    const int32_t cls[7] = {0, 2, 1, 0, 1, 2, 1};
    /* positive: classes {0, 2, 0, 1, 2}: 0 and 2 twice, 1 once -> 0 (torch.mode's example) */
    assert_int_equal(mw_explain_majority(w, cls, 7), 0);
    const int32_t cls2[7] = {3, 2, 3, 5, 2, 2, 3}; /* {3, 2, 5, 2, 2}: 2 three times */
    assert_int_equal(mw_explain_majority(w, cls2, 7), 2);
    const int32_t cls3[7] = {9, 8, 0, 7, 6, 5, 0}; /* all once: the smallest, 5 */
    assert_int_equal(mw_explain_majority(w, cls3, 7), 5);
    const float none[3] = {0.0f, -1.0f, 0.0f};
    assert_int_equal(mw_explain_majority(none, cls, 3), -1);
}

/* Reference-spec 6.5 on hand-computed cases: the rankings, the first sample agreeing with
 * the prediction, the twin system's contributions and the two scores. */
static void test_example_pieces(void **state) {
    int32_t order[5];
    double scratch[5];
    const float weights[5] = {0, 0.5f, 0, 0.3f, 0.2f};
    mw_ebe_rank_by_weight(weights, 5, order, scratch);
    const int32_t by_weight[5] = {1, 3, 4, 0, 2}; /* the zero weights in index order */
    assert_memory_equal(order, by_weight, sizeof by_weight);

    const float query[2] = {0, 0}, keys[8] = {3, 4, 1, 0, 0, -1, 2, 2};
    mw_ebe_rank_by_distance(query, keys, 4, 2, order, scratch);
    const int32_t by_distance[4] = {1, 2, 3, 0}; /* 5, 1, 1, 2.83: the tie in index order */
    assert_memory_equal(order, by_distance, sizeof by_distance);

    const int32_t ranked[5] = {1, 3, 4, 0, 2}, mpred[5] = {7, 2, 2, 5, 9};
    assert_int_equal(mw_ebe_first_agreeing(ranked, 5, mpred, 2), 1);
    assert_int_equal(mw_ebe_first_agreeing(ranked, 5, mpred, 5), 3);
    assert_int_equal(mw_ebe_first_agreeing(ranked, 5, mpred, 4), 1); /* none: the first */

    const float hidden[3] = {1, 2, 3}, fc2[6] = {1, 1, 1, 0.5f, -1, 2};
    float twin[3];
    mw_ebe_twin_features(hidden, fc2, 1, 3, twin);
    const float want_twin[3] = {0.5f, -2, 6};
    assert_memory_equal(twin, want_twin, sizeof twin);

    const float logits[4] = {1, 2, 0, 0}, memory_logits[6] = {1, 1, 3, 2, 0, 1};
    const int32_t chosen[2] = {1, 2};
    assert_true(fabs(mw_ebe_l1(logits, memory_logits, chosen, 2, 2) - 0.75) < 1e-12);
    /* softmax of [0, ln 3] is [1/4, 3/4] */
    const float z[2] = {0, (float)log(3.0)};
    const int32_t one = 1, zero = 0, first = 0;
    assert_true(fabs(mw_ebe_cross_entropy(&one, z, &first, 1, 2) - (-log(0.75))) < 1e-7);
    assert_true(fabs(mw_ebe_cross_entropy(&zero, z, &first, 1, 2) - log(4.0)) < 1e-7);
    assert_string_equal(mw_ebe_method_name(MW_EBE_TWIN), "twin");
}

/* One input and five memory samples where each method picks another one. The input: logits
 * [2, 0] (predicted class 0), hidden [1, 0], weights [0.1, 0, 0.9, 0, 0]. The memory's
 * predicted classes [0, 0, 1, 0, 0]. Memory Wrap ranks 2, 0, ... and takes 0 (2 disagrees);
 * the hidden activations rank 2 (distance 0), 1 (0.1), ...: 1; the twin system (fc2 rows
 * [0, 1] and [1, 1]; the input's [0, 0], the memory's [0, 5], [0, 0.1], [1, 0], [0, 0],
 * [0, 9]) ranks 3 first; the random order starts with 4. */
static void test_example_scores(void **state) {
    const float logits[2] = {2, 0}, hidden[2] = {1, 0}, weights[5] = {0.1f, 0, 0.9f, 0, 0};
    const int32_t pred[1] = {0}, mpred[5] = {0, 0, 1, 0, 0}, random_order[5] = {4, 0, 1, 2, 3};
    const float memory_hidden[10] = {0, 5, 1, 0.1f, 1, 0, 3, 0, 9, 9};
    const float memory_logits[10] = {1, 0, 0, 1, 5, 5, 2, 0, 0, 3};
    const float fc2[4] = {0, 1, 1, 1};
    mw_ebe_batch_input in = {.n = 1,
                             .memory = 5,
                             .classes = 2,
                             .hidden_width = 2,
                             .logits = logits,
                             .hidden = hidden,
                             .weights = weights,
                             .predictions = pred,
                             .memory_logits = memory_logits,
                             .memory_hidden = memory_hidden,
                             .memory_predictions = mpred,
                             .fc2_weight = fc2,
                             .random_orders = random_order};
    mw_ebe_scores s;
    assert_int_equal(mw_ebe_batch(&in, &s), MW_OK);
    /* L1 over the two logits: samples 0, 3, 1, 4 */
    const double input[MW_EBE_METHODS] = {0.5, 0.0, 1.5, 2.5};
    /* cross-entropy against class 0: ln(1 + e^(z1 − z0)) */
    const double prediction[MW_EBE_METHODS] = {log(1 + exp(-1.0)), log(1 + exp(-2.0)),
                                               log(1 + exp(1.0)), log(1 + exp(3.0))};
    for (int m = 0; m < MW_EBE_METHODS; m++) {
        assert_true(fabs(s.input[m] - input[m]) < 1e-7);
        assert_true(fabs(s.prediction[m] - prediction[m]) < 1e-6);
    }
}

static void test_gauss_legendre(void **state) {
    (void)state;
    double a[40], w[40];
    TEST_OK(mw_gauss_legendre(1, a, w));
    assert_true(fabs(a[0] - 0.5) < 1e-15 && fabs(w[0] - 1.0) < 1e-15);
    TEST_OK(mw_gauss_legendre(2, a, w));
    assert_true(fabs(a[0] - (0.5 - 0.5 / sqrt(3.0))) < 1e-14);
    assert_true(fabs(a[1] - (0.5 + 0.5 / sqrt(3.0))) < 1e-14);
    assert_true(fabs(w[0] - 0.5) < 1e-14 && fabs(w[1] - 0.5) < 1e-14);
    for (int n = 3; n <= 40; n += 37) {
        TEST_OK(mw_gauss_legendre(n, a, w));
        double sum = 0;
        for (int i = 0; i < n; i++) {
            assert_true(a[i] > 0 && a[i] < 1);
            if (i) assert_true(a[i] > a[i - 1]);
            sum += w[i];
        }
        assert_true(fabs(sum - 1) < 1e-13);
        /* exact for polynomials of degree 2n - 1: ∫ x^p dx over [0, 1] = 1 / (p + 1) */
        for (int p = 0; p <= 2 * n - 1; p++) {
            double q = 0;
            for (int i = 0; i < n; i++)
                q += w[i] * pow(a[i], p);
            assert_true(fabs(q - 1.0 / (p + 1)) < 1e-12);
        }
    }
    assert_int_equal(mw_gauss_legendre(0, a, w), MW_ERR_INVALID_ARG);
}

/* ---- model parts ------------------------------------------------------------------------ */

enum { B = 3, M = 5, CLASSES = 10, SIZE = 28, ENC_BATCH = B + M };

static mw_model build(mw_variant v, mw_model_part part, int batch, int memory, bool grads,
                      bool bias) {
    mw_model_options o = {.encoder = &mw_encoder_efficientnet_b0, /* the cheapest encoder */
                          .variant = v,
                          .in_channels = 1,
                          .image_size = SIZE,
                          .classes = CLASSES,
                          .batch = batch,
                          .memory = memory,
                          .dropout = -1,
                          .part = part,
                          .input_gradients = grads,
                          .attention_bias = bias};
    mw_model m;
    TEST_OK(mw_model_build(&o, &m));
    return m;
}

static mw_exec *exec_of(mw_model *m) {
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(m->g, test_runtime(), &ex));
    return ex;
}

static float *read_f32(mw_exec *ex, int t, size_t n) {
    float *out = malloc(n * sizeof *out);
    test_poison(out, n);
    TEST_OK(mw_exec_read(ex, t, out, n * sizeof *out));
    return out;
}

static void write_f32(mw_exec *ex, int t, const float *x, size_t n) {
    TEST_OK(mw_exec_write(ex, t, x, n * sizeof *x));
}

/* The whole model and its encoder and head parts, loaded from one checkpoint, agree on
 * logits, content weights, and the gradients of the logits with respect to the images and
 * the memory images (the encoder's backward seeded with the head's input gradients). */
static void test_parts_match_whole(void **state) {
    (void)state;
    char dir[64], path[128];
    assert_true(test_make_tmpdir(dir, sizeof dir, "mw-explain-parts-"));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const size_t image = SIZE * SIZE, d = 320;
    test_rng r;
    test_rng_seed(&r, 42);
    float *x = malloc(ENC_BATCH * image * sizeof *x), *seed = malloc(B * CLASSES * sizeof *seed);
    test_fill_normal(&r, x, ENC_BATCH * image, 1.0f);
    test_fill_normal(&r, seed, B * CLASSES, 1.0f);

    mw_model whole = build(MW_VARIANT_ENCODER_MEMORY, MW_MODEL_WHOLE, B, M, true, false);
    mw_exec *wex = exec_of(&whole);
    TEST_OK(mw_exec_init_params(wex, 7));
    TEST_OK(mw_checkpoint_save(wex, path, NULL));
    write_f32(wex, whole.images, x, B * image);
    write_f32(wex, whole.memory, x + B * image, M * image);
    write_f32(wex, whole.output_grad, seed, B * CLASSES);
    TEST_OK(mw_exec_run(wex, MW_RUN_EVAL_BACKWARD));
    float *logits = read_f32(wex, whole.logits, B * CLASSES);
    float *weights = read_f32(wex, whole.content_weights, B * M);
    float *gx = read_f32(wex, whole.input_grad, B * image);
    float *gm = read_f32(wex, whole.memory_grad, M * image);

    mw_model enc = build(MW_VARIANT_ENCODER_MEMORY, MW_MODEL_ENCODER, ENC_BATCH, 0, true, false);
    mw_model head = build(MW_VARIANT_ENCODER_MEMORY, MW_MODEL_HEAD, B, M, true, false);
    assert_int_equal(enc.logits, -1);
    assert_int_equal(head.images, -1);
    mw_exec *eex = exec_of(&enc), *hex = exec_of(&head);
    /* a part is not the whole model: the strict load refuses, the part load takes its share */
    assert_int_equal(mw_checkpoint_load(eex, path), MW_ERR_FORMAT);
    TEST_OK(mw_checkpoint_load_part(eex, path));
    TEST_OK(mw_checkpoint_load_part(hex, path));
    write_f32(eex, enc.images, x, ENC_BATCH * image);
    TEST_OK(mw_exec_run(eex, MW_RUN_FORWARD));
    float *rows = read_f32(eex, enc.encodings, ENC_BATCH * d);
    write_f32(hex, head.encodings, rows, B * d);
    write_f32(hex, head.memory_encodings, rows + B * d, M * d);
    write_f32(hex, head.output_grad, seed, B * CLASSES);
    TEST_OK(mw_exec_run(hex, MW_RUN_EVAL_BACKWARD));
    float *plogits = read_f32(hex, head.logits, B * CLASSES);
    float *pweights = read_f32(hex, head.content_weights, B * M);
    test_assert_close("head part logits", plogits, logits, B * CLASSES, 1e-5);
    test_assert_close("head part weights", pweights, weights, B * M, 1e-5);
    float *grows = malloc(ENC_BATCH * d * sizeof *grows);
    TEST_OK(mw_exec_read(hex, head.input_grad, grows, B * d * sizeof(float)));
    TEST_OK(mw_exec_read(hex, head.memory_grad, grows + B * d, M * d * sizeof(float)));
    write_f32(eex, enc.output_grad, grows, ENC_BATCH * d);
    TEST_OK(mw_exec_run(eex, MW_RUN_EVAL_BACKWARD));
    float *gimages = read_f32(eex, enc.input_grad, ENC_BATCH * image);
    test_assert_close("input gradient through the parts", gimages, gx, B * image, 1e-4);
    test_assert_close("memory gradient through the parts", gimages + B * image, gm, M * image,
                      1e-4);
    /* attributions need no weight gradient: the part graphs train nothing */
    assert_int_equal(mw_exec_get_arenas(eex).trainable_floats, 0);

    free(x), free(seed), free(logits), free(weights), free(gx), free(gm), free(rows);
    free(plogits), free(pweights), free(grows), free(gimages);
    mw_exec_free(wex), mw_exec_free(eex), mw_exec_free(hex);
    mw_model_free(&whole), mw_model_free(&enc), mw_model_free(&head);
    test_remove_tree(dir);
}

/* One head run with the attention mask gives each row exactly what a run of that row alone
 * over its own memory block gives: logits, weights (zero outside the block) and gradients.
 * Every encoding is close to every other, so a mask that does not exclude a block exactly
 * would leak weight into it (with blocks of one sample, any score within 1 of the top would). */
static void blocks_case(int K) {
    enum { ROWS = 3 };
    const size_t d = 320;
    char dir[64], path[128];
    assert_true(test_make_tmpdir(dir, sizeof dir, "mw-explain-blocks-"));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    test_rng r;
    test_rng_seed(&r, 9 + (uint64_t)K);
    float *e = malloc(ROWS * d * sizeof *e), *m = malloc(ROWS * K * d * sizeof *m);
    float *bias = malloc(ROWS * ROWS * K * sizeof *bias);
    float *seed = malloc(ROWS * CLASSES * sizeof *seed), *base = malloc(d * sizeof *base);
    test_fill_uniform(&r, base, d, 0.5f, 1.0f);
    for (size_t i = 0; i < ROWS * d; i++)
        e[i] = base[i % d] + test_rng_uniform(&r, 0, 0.05f);
    for (size_t i = 0; i < ROWS * K * d; i++)
        m[i] = base[i % d] + test_rng_uniform(&r, 0, 0.05f);
    test_fill_normal(&r, seed, ROWS * CLASSES, 1.0f);
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < ROWS * K; j++)
            bias[i * ROWS * K + j] = j / K == i ? 0.0f : MW_ATTENTION_MASKED;

    mw_model blocks = build(MW_VARIANT_ENCODER_MEMORY, MW_MODEL_HEAD, ROWS, ROWS * K, true, true);
    mw_exec *bex = exec_of(&blocks);
    TEST_OK(mw_exec_init_params(bex, 3));
    TEST_OK(mw_checkpoint_save(bex, path, NULL));
    write_f32(bex, blocks.encodings, e, ROWS * d);
    write_f32(bex, blocks.memory_encodings, m, ROWS * K * d);
    write_f32(bex, blocks.attention_bias, bias, ROWS * ROWS * K);
    write_f32(bex, blocks.output_grad, seed, ROWS * CLASSES);
    TEST_OK(mw_exec_run(bex, MW_RUN_EVAL_BACKWARD));
    float *logits = read_f32(bex, blocks.logits, ROWS * CLASSES);
    float *weights = read_f32(bex, blocks.content_weights, ROWS * ROWS * K);
    float *ge = read_f32(bex, blocks.input_grad, ROWS * d);
    float *gm = read_f32(bex, blocks.memory_grad, ROWS * K * d);

    mw_model one = build(MW_VARIANT_ENCODER_MEMORY, MW_MODEL_HEAD, 1, K, true, false);
    mw_exec *oex = exec_of(&one);
    TEST_OK(mw_checkpoint_load_part(oex, path));
    for (int i = 0; i < ROWS; i++) {
        for (int j = 0; j < ROWS * K; j++)
            if (j / K != i) assert_true(weights[i * ROWS * K + j] == 0.0f);
        write_f32(oex, one.encodings, e + i * d, d);
        write_f32(oex, one.memory_encodings, m + i * K * d, K * d);
        write_f32(oex, one.output_grad, seed + i * CLASSES, CLASSES);
        TEST_OK(mw_exec_run(oex, MW_RUN_EVAL_BACKWARD));
        float *l = read_f32(oex, one.logits, CLASSES), *w = read_f32(oex, one.content_weights, K);
        float *g1 = read_f32(oex, one.input_grad, d), *g2 = read_f32(oex, one.memory_grad, K * d);
        test_assert_close("block logits", logits + i * CLASSES, l, CLASSES, 1e-5);
        test_assert_close("block weights", weights + i * ROWS * K + i * K, w, K, 1e-5);
        test_assert_close("block input gradient", ge + i * d, g1, d, 1e-4);
        test_assert_close("block memory gradient", gm + i * K * d, g2, K * d, 1e-4);
        free(l), free(w), free(g1), free(g2);
    }
    free(e), free(m), free(bias), free(seed), free(base), free(logits), free(weights), free(ge);
    free(gm);
    mw_exec_free(bex), mw_exec_free(oex);
    mw_model_free(&blocks), mw_model_free(&one);
    test_remove_tree(dir);
}

static void test_attention_blocks(void **state) {
    (void)state;
    blocks_case(1);
    blocks_case(4);
}

/* ---- panels ------------------------------------------------------------------------------ */

/* Where `tile` appears in `img` pixel for pixel: the first (x, y), or false. */
static bool find_tile(const mw_image *img, const mw_image *tile, int *fx, int *fy) {
    for (int y = 0; y + tile->height <= img->height; y++)
        for (int x = 0; x + tile->width <= img->width; x++) {
            bool same = true;
            for (int ty = 0; ty < tile->height && same; ty++)
                same = memcmp(mw_image_pixel(img, x, y + ty), mw_image_pixel(tile, 0, ty),
                              (size_t)tile->width * 3) == 0;
            if (same) {
                *fx = x, *fy = y;
                return true;
            }
        }
    return false;
}

typedef struct panel_case {
    mw_panel_input in;
    float image[3 * 8 * 8], memory[6 * 3 * 8 * 8], weights[6], attr_in[3 * 8 * 8];
    float attr_mem[6 * 3 * 8 * 8];
    int32_t mpred[6], support[6];
} panel_case;

static void panel_case_init(panel_case *p, int channels, bool with_counterfactual) {
    static const float mean[3] = {0.5f, 0.4f, 0.3f}, stdv[3] = {0.25f, 0.2f, 0.3f};
    test_rng r;
    test_rng_seed(&r, (uint64_t)channels * 10 + with_counterfactual);
    const int F = channels * 64;
    test_fill_normal(&r, p->image, (size_t)F, 1.0f);
    test_fill_normal(&r, p->memory, (size_t)6 * F, 1.0f);
    test_fill_normal(&r, p->attr_in, (size_t)F, 1.0f);
    test_fill_normal(&r, p->attr_mem, (size_t)6 * F, 1.0f);
    const float w[6] = {0.0f, 0.5f, 0.0f, 0.2f, 0.3f, 0.0f};
    memcpy(p->weights, w, sizeof w);
    const int32_t pred[6] = {1, 3, 3, with_counterfactual ? 7 : 3, 3, 7};
    memcpy(p->mpred, pred, sizeof pred);
    int ex, cf;
    mw_explain_select(p->weights, p->mpred, 6, 3, &ex, &cf);
    mw_panel_input in = {.dataset = "fashion-mnist",
                         .channels = channels,
                         .height = 8,
                         .width = 8,
                         .scale = 3,
                         .mean = mean,
                         .std = stdv,
                         .test_index = 17,
                         .label = 3,
                         .prediction = 3,
                         .image = p->image,
                         .memory_count = 6,
                         .memory = p->memory,
                         .weights = p->weights,
                         .memory_predictions = p->mpred,
                         .support = p->support,
                         .example = ex,
                         .counterfactual = cf,
                         .input_attribution = p->attr_in,
                         .memory_attribution = p->attr_mem,
                         .ig_steps = 40};
    in.support_count = mw_explain_support(p->weights, 6, p->support);
    p->in = in;
}

static void check_framed(const mw_image *img, int x, int y, const uint8_t rgb[3]) {
    assert_memory_equal(mw_image_pixel(img, x - 1, y), rgb, 3);
}

static void panels_case(int channels, bool with_counterfactual) {
    panel_case *p = calloc(1, sizeof *p);
    panel_case_init(p, channels, with_counterfactual);
    const mw_panel_input *in = &p->in;
    assert_int_equal(in->support_count, 3); /* memory 1, 4, 3 by weight */
    assert_int_equal(in->example, 1);
    assert_int_equal(in->counterfactual, with_counterfactual ? 3 : -1);
    char dir[64], mpath[128], hpath[128];
    assert_true(test_make_tmpdir(dir, sizeof dir, "mw-explain-panels-"));
    snprintf(mpath, sizeof mpath, "%s/memory.png", dir);
    snprintf(hpath, sizeof hpath, "%s/heat.png", dir);
    TEST_OK(mw_panel_memory(in, mpath));
    TEST_OK(mw_panel_heatmaps(in, hpath));
    mw_image mem = {0}, heat = {0}, tile = {0};
    TEST_OK(mw_png_read(mpath, &mem));
    TEST_OK(mw_png_read(hpath, &heat));
    const int F = channels * 64;
    int x = 0, y = 0;
    /* the memory panel shows the input and every memory sample with weight > 0, not others */
    TEST_OK(mw_image_from_normalized(p->image, channels, 8, 8, in->mean, in->std, 3, &tile));
    assert_true(find_tile(&mem, &tile, &x, &y));
    mw_image_free(&tile);
    int last_x = -1, last_y = -1;
    for (int j = 0; j < 6; j++) {
        TEST_OK(mw_image_from_normalized(p->memory + j * F, channels, 8, 8, in->mean, in->std, 3,
                                         &tile));
        bool shown = find_tile(&mem, &tile, &x, &y);
        assert_int_equal(shown, p->weights[j] > 0);
        if (j == in->example) check_framed(&mem, x, y, mw_panel_example_rgb);
        if (j == in->counterfactual) check_framed(&mem, x, y, mw_panel_counterfactual_rgb);
        mw_image_free(&tile);
    }
    /* ... in weight order, left to right */
    for (int k = 0; k < in->support_count; k++) {
        TEST_OK(mw_image_from_normalized(p->memory + in->support[k] * F, channels, 8, 8, in->mean,
                                         in->std, 3, &tile));
        assert_true(find_tile(&mem, &tile, &x, &y));
        assert_true(y > last_y || (y == last_y && x > last_x));
        last_x = x, last_y = y;
        mw_image_free(&tile);
    }
    /* the heatmap panel shows the input's and the example's blended heatmaps, computed from
     * their own attributions; the counterfactual's when there is one */
    float heatmap[64];
    const int cols[3] = {-1, in->example, in->counterfactual};
    for (int c = 0; c < 3; c++) {
        if (cols[c] < 0 && c > 0) continue;
        int pos = 0;
        while (c > 0 && in->support[pos] != cols[c])
            pos++;
        const float *img = c == 0 ? p->image : p->memory + cols[c] * F;
        const float *attr = c == 0 ? p->attr_in : p->attr_mem + pos * F;
        TEST_OK(mw_heatmap_normalize_positive(attr, channels, 8, 8, 20.0f, heatmap));
        TEST_OK(mw_heatmap_blend(img, channels, 8, 8, in->mean, in->std, heatmap, 0.4f,
                                 mw_panel_heat_scale(in), &tile));
        assert_true(find_tile(&heat, &tile, &x, &y));
        mw_image_free(&tile);
    }
    mw_image_free(&mem);
    mw_image_free(&heat);
    test_remove_tree(dir);
    free(p);
}

static void test_panels(void **state) {
    (void)state;
    panels_case(1, true);
    panels_case(3, true);
    panels_case(3, false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),           cmocka_unit_test(test_support),
        cmocka_unit_test(test_metrics),          cmocka_unit_test(test_majority),
        cmocka_unit_test(test_example_pieces),   cmocka_unit_test(test_example_scores),
        cmocka_unit_test(test_gauss_legendre),   cmocka_unit_test(test_parts_match_whole),
        cmocka_unit_test(test_attention_blocks), cmocka_unit_test(test_panels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
