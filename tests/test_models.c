/* The seven encoders x three variants, and the ProtoNet and Matching Networks baselines,
 * against the reference PyTorch models (tests/reference/make_encoder_reference.py,
 * make_baselines_reference.py): parameter names, shapes and counts; eval-mode
 * logits and content weights; one training step (two encoder passes with separate batch
 * statistics, running statistics updated twice) compared through per-tensor fingerprints of
 * every parameter and running statistic; checkpoints. Weights come from the hashed init
 * that tests/hashed_init.c shares with the Python side. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashed_init.h"

enum { B = 4, M = 6, CLASSES = 10 };
/* The ProtoNet files' support set holds 3 classes (tests/reference/make_baselines_reference.py). */
enum { PROTONET_CLASSES = 3 };

static int classes_of(mw_variant v) {
    return v == MW_VARIANT_PROTONET ? PROTONET_CLASSES : CLASSES;
}

static mw_model build(const mw_encoder *e, mw_variant v, int channels, int size, bool training) {
    mw_model_options o = {.encoder = e,
                          .variant = v,
                          .in_channels = channels,
                          .image_size = size,
                          .classes = classes_of(v),
                          .batch = B,
                          .memory = M,
                          .dropout = 0.0f, /* masks cannot match PyTorch's (see the script) */
                          .training = training,
                          .overlap_branches = getenv("MW_ONE_QUEUE") == NULL};
    mw_model m;
    TEST_OK(mw_model_build(&o, &m));
    return m;
}

static size_t saved_count(const mw_graph *g) {
    return (size_t)(mw_graph_param_count(g) + mw_graph_state_count(g));
}

static int saved_at(const mw_graph *g, int i) {
    int np = mw_graph_param_count(g);
    return i < np ? mw_graph_param_at(g, i) : mw_graph_state_at(g, i - np);
}

static void write_inputs(mw_exec *ex, const mw_model *m, int channels, int size) {
    size_t image = (size_t)channels * size * size;
    float *x = malloc(B * image * 4), *mem = malloc(M * image * 4);
    hashed_fill("input", x, B * image, -1.0, 2.0);
    hashed_fill("memory", mem, M * image, -1.0, 2.0);
    TEST_OK(mw_exec_write(ex, m->images, x, B * image * 4));
    if (m->memory >= 0) TEST_OK(mw_exec_write(ex, m->memory, mem, M * image * 4));
    free(x), free(mem);
}

static void compare(const mw_safetensors *ref, const char *key, mw_exec *ex, int tensor, size_t n,
                    double rtol) {
    float *want = test_reference_f32(ref, key, n), *got = malloc(n * 4);
    test_poison(got, n);
    TEST_OK(mw_exec_read(ex, tensor, got, n * 4));
    char what[300];
    snprintf(what, sizeof what, "%s: %s", ref->path, key);
    test_assert_close(what, got, want, n, rtol);
    free(want), free(got);
}

/* How far float32 PyTorch itself lands from the float64 oracle on `key` (max deviation over
 * the max magnitude, stored by the generator as noise.<key>); memwrap is allowed
 * max(NOISE_FLOOR, NOISE_FACTOR x that). A one-step update through train-mode batch norm on
 * four images is a small residual of large terms: PyTorch's own float32 step misses the
 * oracle by up to ~1e-2 on some parameters, so a flat 1e-4 would test the arithmetic, not
 * the model. The floor is 5e-4, not 1e-4: one MobileNetV2 weight (layers.9.conv3) lands
 * 4e-4 off while PyTorch's float32 lands within 1e-5 (see bench/RESULTS.md, precision). */
enum { NOISE_FACTOR = 10 };
static const double NOISE_FLOOR = 5e-4;
/* With MEMWRAP_WORK_GROUP_SIZE (ctest label `limits`) the batch-norm and loss reductions add
 * in another order than in the default run. They stay as accurate (within 3.4 u·Σ|terms| at
 * groups of 1, 48, 49 and 64, u = 2^-24; tests/probe_reduction_order.c), but the step is not
 * continuous: 1-3 of the fused batch-norm + ReLU outputs lie within rounding of 0 and
 * land on the other side, which moves the gradient reaching layers.9.conv3.weight by 0.2-0.8%
 * and the updated weight by up to 2.4e-3 of its largest entry (groups 1 against 49). Its
 * samples then miss the float64 oracle by 2.9e-4 (64 items) to 9.9e-4 (49 items). So the
 * floor of the after-step checks there is 3e-3, above that scatter; loss and logits keep
 * 5e-4, and a lost or doubled partial sum (part of a channel's row missing from its
 * statistics) shows there. */
static const double FORCED_GROUP_NOISE_FLOOR = 3e-3;
static double worst_noise_ratio;
static const char *current_encoder = ""; /* the model check_against_reference checks */

/* Two reference cases sit on a float32 knife-edge that PyTorch's own float32 run happened
 * to miss, so their tolerances are set from what was measured (both of memwrap's backends,
 * against the float64 oracle):
 * - MobileNetV2's Fashion-MNIST-shape check: logit [0][5] is −7.75e-4 where the largest is
 *   0.197, a near-cancellation in fc2, which the comparison measures against 1% of the
 *   largest: memwrap lands 2.0e-7 off, 1.0e-4 on that scale (PyTorch float32: 2.8e-5).
 *   The content weights, computed without cancellation (engine/ops/distance.c), agree to
 *   1.7e-7, 30 times closer than PyTorch float32's; the rest is the encodings' float32
 *   noise carried through the MLP. (DenseNet was the other eval case, at 1.2e-4, before
 *   the cosine distance lost its cancellation; it now holds 1e-4.)
 * - ShuffleNetV2's train step at 4 images: 2 of its ~160,000 fused batch-norm + ReLU outputs
 *   lie within float32 error of 0 (forward deviations grow to 1.4e-5 by the last batch
 *   norm) and land on the other side, which moves single entries of the weight gradients
 *   by up to 70% (conv2.weight[146][150]: -1.30e-3 against the oracle's -7.63e-4, which
 *   the plain-C backend, with its double accumulators, reproduces) and the updated weights
 *   by up to 8.4e-3 of their largest entry. The same with any forced work-group size. */
static const struct {
    const char *encoder;
    double eval_rtol, after_step_floor;
} knife_edges[] = {{"mobilenetv2", 2e-4, 0}, {"shufflenetv2", 0, 1e-2}};

static double eval_rtol(const mw_encoder *e) {
    for (size_t i = 0; i < sizeof knife_edges / sizeof *knife_edges; i++)
        if (strcmp(e->name, knife_edges[i].encoder) == 0 && knife_edges[i].eval_rtol > 0)
            return knife_edges[i].eval_rtol;
    return 1e-4;
}

static double after_step_floor(const char *encoder) {
    for (size_t i = 0; i < sizeof knife_edges / sizeof *knife_edges; i++)
        if (strcmp(encoder, knife_edges[i].encoder) == 0 && knife_edges[i].after_step_floor > 0)
            return knife_edges[i].after_step_floor;
    return 0;
}

static double allowed(const mw_safetensors *ref, const char *key, bool after_step) {
    char nkey[300];
    double noise = 0;
    snprintf(nkey, sizeof nkey, "noise.%s", key);
    TEST_OK(mw_safetensors_read_f64(ref, nkey, -1, NULL, &noise, 1));
    const char *forced = getenv("MEMWRAP_WORK_GROUP_SIZE");
    double floor = after_step && forced && *forced ? FORCED_GROUP_NOISE_FLOOR : NOISE_FLOOR;
    if (after_step) floor = fmax(floor, after_step_floor(current_encoder));
    return fmax(floor, NOISE_FACTOR * noise);
}

static void note_ratio(const mw_safetensors *ref, const char *key, double deviation) {
    char nkey[300];
    double noise = 0;
    snprintf(nkey, sizeof nkey, "noise.%s", key);
    TEST_OK(mw_safetensors_read_f64(ref, nkey, -1, NULL, &noise, 1));
    if (noise > 0 && deviation / noise > worst_noise_ratio) worst_noise_ratio = deviation / noise;
}

/* max |got − want| / max |want| */
static double deviation(const float *got, const double *want, size_t n) {
    double d = 0, scale = 1e-300;
    for (size_t k = 0; k < n; k++) {
        scale = fmax(scale, fabs(want[k]));
        double e = fabs((double)got[k] - want[k]);
        d = isnan(e) ? INFINITY : fmax(d, e);
    }
    return d / scale;
}

static void compare_train(const mw_safetensors *ref, const char *key, mw_exec *ex, int tensor,
                          size_t n) {
    float *got = malloc(n * 4);
    double *want = malloc(n * 8);
    test_poison(got, n);
    TEST_OK(mw_exec_read(ex, tensor, got, n * 4));
    TEST_OK(mw_safetensors_read_f64(ref, key, -1, NULL, want, n));
    double dev = deviation(got, want, n), tol = allowed(ref, key, false);
    note_ratio(ref, key, dev);
    if (!(dev <= tol)) {
        print_error("%s: %s deviates %.3g from the float64 reference (allowed %.3g)\n", ref->path,
                    key, dev, tol);
        fail();
    }
    free(got), free(want);
}

/* After the step, each state_dict entry against its fingerprint: eight samples and the sum
 * of squares to the allowance above, the sum to the allowance times norm·√n (sums cancel),
 * counters exactly. */
static void compare_fingerprints(const mw_safetensors *ref, mw_exec *ex, const mw_graph *g) {
    for (size_t i = 0; i < saved_count(g); i++) {
        int t = saved_at(g, (int)i);
        const char *name = mw_tensor_name(g, t);
        size_t n = mw_tensor_numel(g, t);
        char key[256];
        if (mw_tensor_dtype(g, t) == MW_I32) {
            int32_t got, want;
            snprintf(key, sizeof key, "after.%s", name);
            TEST_OK(mw_exec_read(ex, t, &got, 4));
            TEST_OK(mw_safetensors_read_i32(ref, key, -1, NULL, &want, 1));
            if (got != want) {
                print_error("%s: %s is %d, PyTorch %d\n", ref->path, key, got, want);
                fail();
            }
            continue;
        }
        float *v = malloc(n * 4);
        TEST_OK(mw_exec_read(ex, t, v, n * 4));
        double sum = 0, sumsq = 0, want_sum, want_sumsq, want_sample[8];
        int32_t index[8];
        float sample[8];
        for (size_t k = 0; k < n; k++)
            sum += v[k], sumsq += (double)v[k] * v[k];
        snprintf(key, sizeof key, "after.%s.sum", name);
        TEST_OK(mw_safetensors_read_f64(ref, key, -1, NULL, &want_sum, 1));
        snprintf(key, sizeof key, "after.%s.sumsq", name);
        TEST_OK(mw_safetensors_read_f64(ref, key, -1, NULL, &want_sumsq, 1));
        snprintf(key, sizeof key, "after.%s.sample", name);
        TEST_OK(mw_safetensors_read_f64(ref, key, -1, NULL, want_sample, 8));
        snprintf(key, sizeof key, "after.%s.index", name);
        TEST_OK(mw_safetensors_read_i32(ref, key, -1, NULL, index, 8));
        for (int k = 0; k < 8; k++)
            sample[k] = v[index[k]];
        snprintf(key, sizeof key, "after.%s", name);
        double tol = allowed(ref, key, true), dev = deviation(sample, want_sample, 8);
        note_ratio(ref, key, dev);
        bool ok = dev <= tol && fabs(sumsq - want_sumsq) <= 2 * tol * want_sumsq + 1e-30 &&
                  fabs(sum - want_sum) <= tol * sqrt(want_sumsq * (double)n) + 1e-30;
        if (!ok) {
            print_error("%s: %s after one step: samples deviate %.3g (allowed %.3g); sum %.9g "
                        "(PyTorch %.9g), sumsq %.9g (%.9g)\n",
                        ref->path, name, dev, tol, sum, want_sum, sumsq, want_sumsq);
            fail();
        }
        free(v);
    }
}

static void check_against_reference(const mw_encoder *e, mw_variant v) {
    char file[128];
    snprintf(file, sizeof file, "encoder_%s_%s.safetensors", e->name, mw_variant_name(v));
    mw_safetensors *ref = test_reference(file);
    current_encoder = e->name;
    mw_model m = build(e, v, 3, 32, true);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(m.g, test_runtime(), &ex));
    test_hashed_load(ex, m.g, ref);
    write_inputs(ex, &m, 3, 32);
    int32_t labels[B];
    int32_t *ref_labels = test_reference_i32(ref, "train.labels", B);
    memcpy(labels, ref_labels, sizeof labels);
    free(ref_labels);
    TEST_OK(mw_exec_write(ex, m.labels, labels, sizeof labels));
    const int C = classes_of(v);
    if (m.support >= 0) { /* ProtoNet and Matching Networks: the support labels */
        int32_t *support = test_reference_i32(ref, "support.labels", M);
        float matrix[CLASSES * M];
        TEST_OK(mw_support_fill(v, support, M, C, matrix));
        TEST_OK(mw_exec_write(ex, m.support, matrix, (size_t)C * M * sizeof *matrix));
        free(support);
    }

    /* eval mode from the initial state */
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
    compare(ref, "eval.logits", ex, m.logits, B * C, eval_rtol(e));
    if (m.content_weights >= 0)
        compare(ref, "eval.weights", ex, m.content_weights, B * M, eval_rtol(e));

    /* one training step */
    mw_sgd_options so = {0.9f, 5e-4f, true};
    mw_sgd *sgd = NULL;
    TEST_OK(mw_sgd_create(ex, &so, &sgd));
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
    compare_train(ref, "train.loss", ex, m.loss, 1);
    compare_train(ref, "train.logits", ex, m.logits, B * C);
    if (m.content_weights >= 0) compare_train(ref, "train.weights", ex, m.content_weights, B * M);
    TEST_OK(mw_sgd_step(sgd, 0.1f));
    compare_fingerprints(ref, ex, m.g);
    print_message("[ step    ] %s %s: worst deviation so far %.2fx PyTorch float32's own\n",
                  e->name, mw_variant_name(v), worst_noise_ratio);
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_model_free(&m);
    mw_safetensors_free(ref);
}

#define REFERENCE_TEST(enc, var)                                                                   \
    static void test_##enc##_##var(void **state) {                                                 \
        check_against_reference(&mw_encoder_##enc, MW_VARIANT_##var);                              \
    }
REFERENCE_TEST(mobilenetv2, STD)
REFERENCE_TEST(mobilenetv2, MEMORY)
REFERENCE_TEST(mobilenetv2, ENCODER_MEMORY)
REFERENCE_TEST(resnet18, STD)
REFERENCE_TEST(resnet18, MEMORY)
REFERENCE_TEST(resnet18, ENCODER_MEMORY)
REFERENCE_TEST(efficientnet_b0, STD)
REFERENCE_TEST(efficientnet_b0, MEMORY)
REFERENCE_TEST(efficientnet_b0, ENCODER_MEMORY)
REFERENCE_TEST(googlenet, STD)
REFERENCE_TEST(googlenet, MEMORY)
REFERENCE_TEST(googlenet, ENCODER_MEMORY)
REFERENCE_TEST(densenet_cifar, STD)
REFERENCE_TEST(densenet_cifar, MEMORY)
REFERENCE_TEST(densenet_cifar, ENCODER_MEMORY)
REFERENCE_TEST(shufflenetv2, STD)
REFERENCE_TEST(shufflenetv2, MEMORY)
REFERENCE_TEST(shufflenetv2, ENCODER_MEMORY)
REFERENCE_TEST(wrn28_10, STD)
REFERENCE_TEST(wrn28_10, MEMORY)
REFERENCE_TEST(wrn28_10, ENCODER_MEMORY)
REFERENCE_TEST(mobilenetv2, PROTONET)
REFERENCE_TEST(resnet18, PROTONET)
REFERENCE_TEST(mobilenetv2, MATCHING)

/* Fashion-MNIST's shape: 1x28x28, eval only. For GoogLeNet, DenseNet and WideResNet the
 * reference pools globally there too (its fixed window does not fit the 7x7 or 3x3 map). */
static void check_fashion_mnist_shape(const mw_encoder *e) {
    char file[128];
    snprintf(file, sizeof file, "encoder_%s_encoder_memory_1x28.safetensors", e->name);
    mw_safetensors *ref = test_reference(file);
    mw_model m = build(e, MW_VARIANT_ENCODER_MEMORY, 1, 28, false);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(m.g, test_runtime(), &ex));
    test_hashed_load(ex, m.g, ref);
    write_inputs(ex, &m, 1, 28);
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
    compare(ref, "eval.logits", ex, m.logits, B * CLASSES, eval_rtol(e));
    compare(ref, "eval.weights", ex, m.content_weights, B * M, eval_rtol(e));
    mw_exec_free(ex);
    mw_model_free(&m);
    mw_safetensors_free(ref);
}

static void test_fashion_mnist_shape(void **state) {
    const mw_encoder *encoders[] = {&mw_encoder_mobilenetv2, &mw_encoder_googlenet,
                                    &mw_encoder_densenet_cifar, &mw_encoder_shufflenetv2,
                                    &mw_encoder_wrn28_10};
    for (size_t i = 0; i < sizeof encoders / sizeof *encoders; i++)
        check_fashion_mnist_shape(encoders[i]);
}

/* Reads parameter `name` of an executor after mw_exec_init_params: how many of its values
 * are zero, out of n. */
static size_t zeros_in(mw_exec *ex, const mw_graph *g, const char *name, size_t *n) {
    int t = mw_graph_find(g, name);
    assert_true(t >= 0);
    *n = mw_tensor_numel(g, t);
    float *v = malloc(*n * 4);
    TEST_OK(mw_exec_read(ex, t, v, *n * 4));
    size_t zeros = 0;
    for (size_t k = 0; k < *n; k++)
        zeros += v[k] == 0.0f;
    free(v);
    return zeros;
}

/* WideResNet's init loop zeroes every linear bias of the head (its std head is named
 * classifier.5), where the other encoders keep PyTorch's U(±1/√fan_in). */
static void test_head_bias_init(void **state) {
    const struct {
        const mw_encoder *e;
        mw_variant v;
        const char *bias, *weight;
        bool zero;
    } cases[] = {
        {&mw_encoder_wrn28_10, MW_VARIANT_STD, "classifier.5.bias", "classifier.5.weight", true},
        {&mw_encoder_wrn28_10, MW_VARIANT_ENCODER_MEMORY, "mw.classifier.fc1.bias",
         "mw.classifier.fc1.weight", true},
        {&mw_encoder_wrn28_10, MW_VARIANT_MEMORY, "mw.classifier.fc2.bias",
         "mw.classifier.fc2.weight", true},
        {&mw_encoder_shufflenetv2, MW_VARIANT_STD, "linear.bias", "linear.weight", false},
        {&mw_encoder_googlenet, MW_VARIANT_ENCODER_MEMORY, "mw.classifier.fc1.bias",
         "mw.classifier.fc1.weight", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mw_model_options o = {.encoder = cases[i].e,
                              .variant = cases[i].v,
                              .in_channels = 1,
                              .image_size = 28,
                              .classes = CLASSES,
                              .batch = 1,
                              .memory = 2,
                              .dropout = -1,
                              .part = MW_MODEL_HEAD};
        mw_model m;
        TEST_OK(mw_model_build(&o, &m));
        mw_exec *ex = NULL;
        TEST_OK(mw_exec_create(m.g, test_runtime(), &ex));
        TEST_OK(mw_exec_init_params(ex, 7));
        size_t n, zeros = zeros_in(ex, m.g, cases[i].bias, &n);
        assert_int_equal(zeros, cases[i].zero ? n : 0);
        assert_int_equal(zeros_in(ex, m.g, cases[i].weight, &n), 0);
        mw_exec_free(ex);
        mw_model_free(&m);
    }
}

/* WideResNet's last dropout follows the head: after pooling for the std head and Only
 * Memory, none before Memory Wrap's; its blocks' dropout is in every variant. The encoder
 * part alone shows it: one node more. */
static void test_wrn_final_dropout(void **state) {
    int nodes[MW_VARIANT_COUNT];
    for (int v = 0; v < MW_VARIANT_COUNT; v++) {
        mw_model_options o = {.encoder = &mw_encoder_wrn28_10,
                              .variant = (mw_variant)v,
                              .in_channels = 3,
                              .image_size = 32,
                              .classes = CLASSES,
                              .batch = 2,
                              .memory = 2,
                              .dropout = -1,
                              .part = MW_MODEL_ENCODER};
        mw_model m;
        TEST_OK(mw_model_build(&o, &m));
        nodes[v] = mw_graph_node_count(m.g);
        mw_model_free(&m);
    }
    assert_int_equal(nodes[MW_VARIANT_STD], nodes[MW_VARIANT_MEMORY]);
    assert_int_equal(nodes[MW_VARIANT_STD], nodes[MW_VARIANT_ENCODER_MEMORY] + 1);
    /* ProtoNet's encoder is the std network's (run_protonet.py) */
    assert_int_equal(nodes[MW_VARIANT_STD], nodes[MW_VARIANT_PROTONET]);
}

/* Names, shapes and order of the state_dict, and the spec's parameter counts. */
static void test_state_dict_names_and_counts(void **state) {
    char path[1024];
    snprintf(path, sizeof path, "%s/encoder_keys.txt", MEMWRAP_REFERENCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int checked_models = 0;
    mw_model m = {0};
    int index = 0;
    long want_params = -1;
    while (fgets(line, sizeof line, f)) {
        char enc[64], var[64];
        long params;
        int channels, size;
        if (sscanf(line, "# %63s %63s (%dx%dx%*d, 10 classes): %*d tensors, %ld parameters", enc,
                   var, &channels, &size, &params) == 5) {
            if (m.g) mw_model_free(&m);
            const mw_encoder *e;
            mw_variant v;
            TEST_OK(mw_encoder_from_name(enc, &e));
            TEST_OK(mw_variant_from_name(var, &v));
            m = build(e, v, channels, size, false);
            long total = 0;
            for (int i = 0; i < mw_graph_param_count(m.g); i++)
                total += (long)mw_tensor_numel(m.g, mw_graph_param_at(m.g, i));
            want_params = params;
            if (total != want_params) {
                print_error("%s %s: %ld parameters, PyTorch %ld\n", enc, var, total, want_params);
                fail();
            }
            index = 0;
            checked_models++;
            continue;
        }
        if (line[0] == '#' || !m.g) continue;
        char name[256], shape[128];
        if (sscanf(line, "%255s %127s", name, shape) != 2) continue;
        int t = mw_graph_find(m.g, name);
        if (t < 0 || (mw_tensor_get_role(m.g, t) != MW_ROLE_PARAM &&
                      mw_tensor_get_role(m.g, t) != MW_ROLE_STATE)) {
            print_error("state_dict key %s missing from memwrap's model\n", name);
            fail();
        }
        char got[128] = "[";
        for (int d = 0; d < mw_tensor_ndim(m.g, t); d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)mw_tensor_dim(m.g, t, d));
        strcat(got, "]");
        /* PyTorch's num_batches_tracked is a scalar "[]"; memwrap's counter is [1]. */
        if (strcmp(got, shape) != 0 && !(strcmp(shape, "[]") == 0 && strcmp(got, "[1]") == 0)) {
            print_error("%s: shape %s, PyTorch %s\n", name, got, shape);
            fail();
        }
        index++;
        (void)index;
    }
    fclose(f);
    if (m.g) mw_model_free(&m);
    assert_int_equal(checked_models, 26); /* 21 models at 3x32x32 and 5 at 1x28x28 */
}

/* ProtoNet's averaging matrix on a hand-made support set, and the class without a sample. */
static void test_support_average(void **state) {
    const int32_t labels[5] = {2, 0, 2, 1, 2};
    float average[3 * 5];
    test_poison(average, 15);
    TEST_OK(mw_support_average(labels, 5, 3, average));
    const float third = 1.0f / 3.0f;
    const float want[15] = {0, 1, 0, 0, 0, /* class 0: sample 1 */
                            0, 0, 0, 1, 0, /* class 1: sample 3 */
                            third, 0, third, 0, third};
    assert_memory_equal(average, want, sizeof want);
    const int32_t missing[4] = {0, 2, 2, 0};
    assert_int_equal(mw_support_average(missing, 4, 3, average), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "class 1 has no sample"));
}

static void test_names_and_errors(void **state) {
    const mw_encoder *e;
    mw_variant v;
    TEST_OK(mw_encoder_from_name("mobilenet", &e));
    assert_ptr_equal(e, &mw_encoder_mobilenetv2);
    TEST_OK(mw_encoder_from_name("efficientnet", &e));
    assert_ptr_equal(e, &mw_encoder_efficientnet_b0);
    const struct {
        const char *alias;
        const mw_encoder *e;
    } aliases[] = {{"densenet", &mw_encoder_densenet_cifar},
                   {"shufflenet", &mw_encoder_shufflenetv2},
                   {"wide-resnet", &mw_encoder_wrn28_10},
                   {"googlenet", &mw_encoder_googlenet}};
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        TEST_OK(mw_encoder_from_name(aliases[i].alias, &e));
        assert_ptr_equal(e, aliases[i].e);
        TEST_OK(mw_encoder_from_name(aliases[i].e->name, &e));
        assert_ptr_equal(e, aliases[i].e);
    }
    assert_null(mw_encoder_builtin("vgg16"));
    assert_int_equal(mw_encoder_from_name("vgg16", &e), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "resnet18"));
    assert_int_equal(mw_variant_from_name("memory_wrap", &v), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "encoder_memory"));
    /* an input size whose final map is not divisible by the pooling is a build error */
    mw_model_options o = {.encoder = &mw_encoder_mobilenetv2,
                          .variant = MW_VARIANT_STD,
                          .in_channels = 3,
                          .image_size = 20,
                          .classes = 10,
                          .batch = 2,
                          .dropout = -1};
    mw_model m;
    assert_int_not_equal(mw_model_build(&o, &m), MW_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_errors),
        cmocka_unit_test(test_state_dict_names_and_counts),
        cmocka_unit_test(test_mobilenetv2_STD),
        cmocka_unit_test(test_mobilenetv2_MEMORY),
        cmocka_unit_test(test_mobilenetv2_ENCODER_MEMORY),
        cmocka_unit_test(test_resnet18_STD),
        cmocka_unit_test(test_resnet18_MEMORY),
        cmocka_unit_test(test_resnet18_ENCODER_MEMORY),
        cmocka_unit_test(test_efficientnet_b0_STD),
        cmocka_unit_test(test_efficientnet_b0_MEMORY),
        cmocka_unit_test(test_efficientnet_b0_ENCODER_MEMORY),
        cmocka_unit_test(test_googlenet_STD),
        cmocka_unit_test(test_googlenet_MEMORY),
        cmocka_unit_test(test_googlenet_ENCODER_MEMORY),
        cmocka_unit_test(test_densenet_cifar_STD),
        cmocka_unit_test(test_densenet_cifar_MEMORY),
        cmocka_unit_test(test_densenet_cifar_ENCODER_MEMORY),
        cmocka_unit_test(test_shufflenetv2_STD),
        cmocka_unit_test(test_shufflenetv2_MEMORY),
        cmocka_unit_test(test_shufflenetv2_ENCODER_MEMORY),
        cmocka_unit_test(test_wrn28_10_STD),
        cmocka_unit_test(test_wrn28_10_MEMORY),
        cmocka_unit_test(test_wrn28_10_ENCODER_MEMORY),
        cmocka_unit_test(test_mobilenetv2_PROTONET),
        cmocka_unit_test(test_mobilenetv2_MATCHING),
        cmocka_unit_test(test_support_average),
        cmocka_unit_test(test_resnet18_PROTONET),
        cmocka_unit_test(test_fashion_mnist_shape),
        cmocka_unit_test(test_head_bias_init),
        cmocka_unit_test(test_wrn_final_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
