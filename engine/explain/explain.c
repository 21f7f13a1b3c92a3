/* mw_explain_run: the pictures of a few test inputs, the explanation metrics over the test
 * set, explanations.json and index.html (see memwrap/explain.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "explain/explainer.h"
#include "explain/panels.h"
#include "io/atomic_file.h"
#include "io/html.h"
#include "memwrap/checkpoint_run.h"
#include "memwrap/runtime.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- what one explained input found ------------------------------------------------- */

typedef struct explained_input {
    int test_index, label, prediction;
    int memory_count, support_count;
    int32_t *memory_idx;         /* training-set indices of the memory set */
    float *weights;              /* [memory] */
    int32_t *memory_pred;        /* [memory] */
    int32_t *support;            /* memory positions with weight > 0, by weight */
    int example, counterfactual; /* memory positions, or -1 */
    double f_input, f_baseline, total, path_variation;
    char memory_png[64], heatmap_png[64];
} explained_input;

static void explained_input_free(explained_input *e) {
    free(e->memory_idx), free(e->weights), free(e->memory_pred), free(e->support);
}

/* Integrated Gradients' completeness: |Σ attributions − (f(x) − f(b))|, relative to the change
 * itself (captum's delta, normalised) and to the path's total variation (explainer.h). */
static double completeness_error(const explained_input *e) {
    double diff = e->f_input - e->f_baseline;
    return fabs(e->total - diff) / fmax(fabs(diff), 1e-12);
}

static double completeness_error_of_path(const explained_input *e) {
    return fabs(e->total - (e->f_input - e->f_baseline)) / fmax(e->path_variation, 1e-12);
}

/* ---- run context -------------------------------------------------------------------- */

typedef struct explain_ctx {
    mw_explainer x;
    const mw_trainer *t;
    const mw_run_spec *spec;
    mw_explain_options opt;
    int32_t *pool, *scratch; /* training images the memory is drawn from; draw scratch */
    int pool_count;
    double t0;
    const char *phase; /* of the counterfactual analysis, whose phases each time their own ETA */
    int last_step;
} explain_ctx;

static void report(const explain_ctx *c, const char *phase, int epoch, int epochs, int step,
                   int steps, double done, double total) {
    if (!c->t->progress) return;
    mw_progress p = {.spec = c->spec,
                     .epoch = epoch,
                     .epochs = epochs,
                     .step = step,
                     .steps = steps,
                     .phase = phase,
                     .elapsed_s = now_s() - c->t0};
    p.images_per_s = done / fmax(p.elapsed_s, 1e-9);
    p.eta_s = done > 0 ? p.elapsed_s / done * (total - done) : 0;
    c->t->progress(&p, c->t->progress_user);
}

static mw_status draw(explain_ctx *c, mw_rng *r, int32_t *out) {
    return mw_protocol_draw_memory(r, c->pool, c->pool_count, c->x.memory, c->scratch, out);
}

/* Test inputs for the pictures: a seeded random order, at most ceil(n / classes) per true
 * class so that the pictures cover the classes, then (a test set missing classes) any. */
static mw_status choose_inputs(const mw_dataset *test, int n, uint64_t seed, int32_t *out) {
    int32_t *order = malloc((size_t)test->count * sizeof *order);
    int *per_class = calloc((size_t)test->classes, sizeof *per_class);
    uint8_t *taken = calloc((size_t)test->count, 1);
    if (!order || !per_class || !taken) {
        free(order), free(per_class), free(taken);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory choosing test images");
    }
    mw_rng r;
    mw_rng_seed(&r, seed, MW_RNG_SHUFFLE);
    mw_rng_permutation(&r, order, test->count);
    int quota = (n + test->classes - 1) / test->classes, got = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < test->count && got < n; i++) {
            int t = order[i];
            if (taken[t] || (pass == 0 && per_class[test->labels[t]] >= quota)) continue;
            per_class[test->labels[t]]++;
            taken[t] = 1;
            out[got++] = t;
        }
    free(order), free(per_class), free(taken);
    return MW_OK;
}

/* One input: its memory, prediction, the memory's predictions, the support, example and
 * counterfactual, the attributions, and the two panels. */
static mw_status explain_input(explain_ctx *c, mw_rng *r, int test_index, int ordinal,
                               explained_input *e) {
    mw_explainer *x = &c->x;
    const mw_dataset *train = c->t->train, *test = c->t->test;
    const int M = x->memory, d = x->d;
    const size_t F = x->image_floats;
    memset(e, 0, sizeof *e);
    e->test_index = test_index;
    e->label = test->labels[test_index];
    e->memory_count = M;
    e->memory_idx = malloc((size_t)M * sizeof(int32_t));
    e->weights = malloc((size_t)M * sizeof(float));
    e->memory_pred = malloc((size_t)M * sizeof(int32_t));
    e->support = malloc((size_t)M * sizeof(int32_t));
    int32_t *aux = malloc((size_t)M * sizeof *aux);
    float *image = malloc(F * sizeof *image), *memory = malloc((size_t)M * F * sizeof *memory);
    float *support_images = malloc((size_t)M * F * sizeof *support_images);
    float *enc = malloc((size_t)d * sizeof *enc);
    float *mem_enc = malloc((size_t)M * d * sizeof *mem_enc);
    float *aux_enc = malloc((size_t)M * d * sizeof *aux_enc);
    float *logits = malloc((size_t)M * x->classes * sizeof *logits);
    mw_status s = e->memory_idx && e->weights && e->memory_pred && e->support && aux && image &&
                          memory && support_images && enc && mem_enc && aux_enc && logits
                      ? MW_OK
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory explaining");
    /* the memory set, then a second one to predict the memory samples' classes with */
    if (s == MW_OK) s = draw(c, r, e->memory_idx);
    if (s == MW_OK) s = draw(c, r, aux);
    if (s == MW_OK) {
        int32_t ti = test_index;
        mw_protocol_fill_batch(test, &ti, 1, &x->tf, NULL, image);
        mw_protocol_fill_batch(train, e->memory_idx, M, &x->tf, NULL, memory);
        s = explainer_encode(x, image, 1, enc);
    }
    if (s == MW_OK) s = explainer_train_encodings(x, e->memory_idx, NULL, M, mem_enc);
    if (s == MW_OK) s = explainer_train_encodings(x, aux, NULL, M, aux_enc);
    if (s == MW_OK) s = explainer_head_run(x, &x->memory_head, enc, 1, mem_enc, logits, e->weights);
    if (s == MW_OK) {
        explainer_argmax(logits, 1, x->classes, &e->memory_pred[0]);
        e->prediction = e->memory_pred[0];
        s = explainer_head_run(x, &x->memory_head, mem_enc, M, aux_enc, logits, NULL);
    }
    explain_attribution a = {0};
    if (s == MW_OK) {
        explainer_argmax(logits, M, x->classes, e->memory_pred);
        e->support_count = mw_explain_support(e->weights, M, e->support);
        mw_explain_select(e->weights, e->memory_pred, M, e->prediction, &e->example,
                          &e->counterfactual);
        for (int j = 0; j < e->support_count; j++)
            memcpy(support_images + (size_t)j * F, memory + (size_t)e->support[j] * F,
                   F * sizeof(float));
        s = explainer_integrated_gradients(x, image, support_images, e->support_count,
                                           e->prediction, c->opt.ig_steps, &a);
    }
    if (s == MW_OK) {
        e->f_input = a.f_input;
        e->f_baseline = a.f_baseline;
        e->total = a.total;
        e->path_variation = a.path_variation;
        mw_panel_input p = {.dataset = c->t->run->dataset,
                            .channels = test->channels,
                            .height = test->height,
                            .width = test->width,
                            .scale = c->opt.scale,
                            .mean = x->tf.mean,
                            .std = x->tf.std,
                            .test_index = test_index,
                            .label = e->label,
                            .prediction = e->prediction,
                            .image = image,
                            .memory_count = M,
                            .memory = memory,
                            .weights = e->weights,
                            .memory_predictions = e->memory_pred,
                            .support = e->support,
                            .support_count = e->support_count,
                            .example = e->example,
                            .counterfactual = e->counterfactual,
                            .input_attribution = a.input,
                            .memory_attribution = a.memory,
                            .ig_steps = c->opt.ig_steps};
        char path[1400];
        snprintf(e->memory_png, sizeof e->memory_png, "input-%02d-test%d-memory.png", ordinal,
                 test_index);
        snprintf(e->heatmap_png, sizeof e->heatmap_png, "input-%02d-test%d-heatmaps.png", ordinal,
                 test_index);
        snprintf(path, sizeof path, "%s/%s", c->opt.out_dir, e->memory_png);
        s = mw_panel_memory(&p, path);
        snprintf(path, sizeof path, "%s/%s", c->opt.out_dir, e->heatmap_png);
        if (s == MW_OK) s = mw_panel_heatmaps(&p, path);
    }
    explain_attribution_free(&a);
    free(aux), free(image), free(memory), free(support_images), free(enc), free(mem_enc);
    free(aux_enc), free(logits);
    return s;
}

/* ---- the metrics over the test set ---------------------------------------------------- */

/* The metrics in the order of explanations.json, index.html and the mean over repeats: the
 * accuracies (ACCURACIES of them, in percent), then the example scores, per method the input
 * (L1) score and then the prediction (cross-entropy) one. */
enum { ACCURACIES = 6, METRICS = ACCURACIES + 2 * MW_EBE_METHODS };
static double *metric_of(mw_explain_metrics *m, int k) {
    double *at[ACCURACIES] = {&m->explanation_accuracy, &m->counterfactual_accuracy,
                              &m->example_accuracy,     &m->accuracy,
                              &m->mvo_accuracy,         &m->mvy_accuracy};
    if (k < ACCURACIES) return at[k];
    k -= ACCURACIES;
    return k < MW_EBE_METHODS ? &m->example_scores.input[k]
                              : &m->example_scores.prediction[k - MW_EBE_METHODS];
}

/* Buffers of the example scores for one test batch (mw_ebe_batch). */
typedef struct example_scoring {
    int width; /* the head MLP's hidden width; 0: not scored */
    float *hidden, *memory_hidden, *memory_logits, *fc2;
    int32_t *orders;
    mw_rng order_rng;
    mw_ebe_scores sum; /* over the batches of the current repeat */
    int batches;
} example_scoring;

static mw_status example_scoring_init(explain_ctx *c, example_scoring *e) {
    mw_explainer *x = &c->x;
    memset(e, 0, sizeof *e);
    e->width = explainer_hidden_width(&x->test_head);
    if (e->width == 0) return MW_OK;
    const int B = x->test_head.batch, M = x->memory, H = e->width;
    e->hidden = malloc((size_t)B * H * sizeof(float));
    e->memory_hidden = malloc((size_t)M * H * sizeof(float));
    e->memory_logits = malloc((size_t)M * x->classes * sizeof(float));
    e->fc2 = malloc((size_t)x->classes * H * sizeof(float));
    e->orders = malloc((size_t)B * M * sizeof(int32_t));
    if (!e->hidden || !e->memory_hidden || !e->memory_logits || !e->fc2 || !e->orders)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the example scores");
    /* the random baseline's own stream: the memory draws stay as without it */
    mw_rng_seed(&e->order_rng, c->opt.seed, MW_RNG_SHUFFLE);
    return explainer_head_param(&x->test_head, "mw.classifier.fc2.weight", e->fc2,
                                (size_t)x->classes * H);
}

static void example_scoring_free(example_scoring *e) {
    free(e->hidden), free(e->memory_hidden), free(e->memory_logits), free(e->fc2), free(e->orders);
}

/* Scores one batch whose test head and memory head have just run: n inputs with logits and
 * predictions, content weights, the memory's logits (in e->memory_logits) and predictions. */
static mw_status example_scoring_batch(explain_ctx *c, example_scoring *e, int n,
                                       const float *logits, const int32_t *pred,
                                       const float *weights, const int32_t *mpred) {
    mw_explainer *x = &c->x;
    const int M = x->memory;
    MW_TRY(explainer_head_hidden(&x->test_head, n, e->hidden));
    MW_TRY(explainer_head_hidden(&x->memory_head, M, e->memory_hidden));
    for (int i = 0; i < n; i++)
        mw_rng_permutation(&e->order_rng, e->orders + (size_t)i * M, M);
    mw_ebe_batch_input in = {.n = n,
                             .memory = M,
                             .classes = x->classes,
                             .hidden_width = e->width,
                             .logits = logits,
                             .hidden = e->hidden,
                             .weights = weights,
                             .predictions = pred,
                             .memory_logits = e->memory_logits,
                             .memory_hidden = e->memory_hidden,
                             .memory_predictions = mpred,
                             .fc2_weight = e->fc2,
                             .random_orders = e->orders};
    mw_ebe_scores b;
    MW_TRY(mw_ebe_batch(&in, &b));
    for (int m = 0; m < MW_EBE_METHODS; m++) {
        e->sum.input[m] += b.input[m];
        e->sum.prediction[m] += b.prediction[m];
    }
    e->batches++;
    return MW_OK;
}

/* The repeat's example scores: the mean over its batches (the reference's), NaN unscored. */
static mw_ebe_scores example_scoring_take(example_scoring *e) {
    mw_ebe_scores out;
    for (int m = 0; m < MW_EBE_METHODS; m++) {
        out.input[m] = e->batches ? e->sum.input[m] / e->batches : NAN;
        out.prediction[m] = e->batches ? e->sum.prediction[m] / e->batches : NAN;
    }
    memset(&e->sum, 0, sizeof e->sum);
    e->batches = 0;
    return out;
}

static mw_status explain_metrics(explain_ctx *c, mw_explain_summary *out) {
    mw_explainer *x = &c->x;
    const mw_dataset *test = c->t->test;
    const int M = x->memory, d = x->d, B = x->test_head.batch;
    const int total = c->t->run->test_examples > 0 && c->t->run->test_examples < test->count
                          ? c->t->run->test_examples
                          : test->count;
    const int batches = (total + B - 1) / B, R = c->opt.repeats;
    const size_t F = x->image_floats;
    /* eval-mode encodings depend on nothing but the image: the test set is encoded once */
    float *test_enc = malloc((size_t)total * d * sizeof *test_enc);
    float *images = malloc((size_t)x->enc_batch * F * sizeof *images);
    int32_t *idx = malloc((size_t)x->enc_batch * sizeof *idx);
    int32_t *mem = malloc((size_t)M * sizeof *mem), *aux = malloc((size_t)M * sizeof *aux);
    float *mem_enc = malloc((size_t)M * d * sizeof *mem_enc);
    float *aux_enc = malloc((size_t)M * d * sizeof *aux_enc);
    float *logits = malloc((size_t)(B > M ? B : M) * x->classes * sizeof *logits);
    float *weights = malloc((size_t)B * M * sizeof *weights);
    int32_t *pred = malloc((size_t)B * sizeof *pred), *mpred = malloc((size_t)M * sizeof *mpred);
    int32_t *mlabel = malloc((size_t)M * sizeof *mlabel);
    mw_status s = test_enc && images && idx && mem && aux && mem_enc && aux_enc && logits &&
                          weights && pred && mpred && mlabel
                      ? MW_OK
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the metrics");
    example_scoring scoring = {0};
    if (s == MW_OK) s = example_scoring_init(c, &scoring);
    double work = (double)total * (R + 1), done = 0;
    c->t0 = now_s(); /* rates and ETA of this phase alone */
    for (int start = 0; start < total && s == MW_OK; start += x->enc_batch) {
        int n = total - start < x->enc_batch ? total - start : x->enc_batch;
        for (int i = 0; i < n; i++)
            idx[i] = start + i;
        mw_protocol_fill_batch(test, idx, n, &x->tf, NULL, images);
        s = explainer_encode(x, images, n, test_enc + (size_t)start * d);
        done += n;
        report(c, "encode", 1, 1, start / x->enc_batch + 1,
               (total + x->enc_batch - 1) / x->enc_batch, done, work);
    }
    mw_rng r;
    mw_rng_seed(&r, c->opt.seed, MW_RNG_MEMORY);
    for (int rep = 0; rep < R && s == MW_OK; rep++) {
        mw_explain_counts counts = {0};
        for (int b = 0; b < batches && s == MW_OK; b++) {
            int start = b * B, n = total - start < B ? total - start : B;
            /* as the reference: the memory, then an auxiliary memory for its predictions */
            s = draw(c, &r, mem);
            if (s == MW_OK) s = draw(c, &r, aux);
            if (s == MW_OK) s = explainer_train_encodings(x, mem, NULL, M, mem_enc);
            if (s == MW_OK) s = explainer_train_encodings(x, aux, NULL, M, aux_enc);
            if (s == MW_OK)
                s = explainer_head_run(x, &x->test_head, test_enc + (size_t)start * d, n, mem_enc,
                                       logits, weights);
            if (s == MW_OK) explainer_argmax(logits, n, x->classes, pred);
            /* the memory samples as inputs, into their own buffer when the test batch's logits
             * are still needed for the example scores */
            float *mlogits = scoring.width ? scoring.memory_logits : logits;
            if (s == MW_OK)
                s = explainer_head_run(x, &x->memory_head, mem_enc, M, aux_enc, mlogits, NULL);
            if (s == MW_OK) {
                explainer_argmax(mlogits, M, x->classes, mpred);
                for (int j = 0; j < M; j++) /* for the MVY baseline alone */
                    mlabel[j] = c->t->train->labels[mem[j]];
                mw_explain_count(weights, n, M, pred, test->labels + start, mpred, mlabel, &counts);
                if (scoring.width)
                    s = example_scoring_batch(c, &scoring, n, logits, pred, weights, mpred);
            }
            done += n;
            report(c, "metrics", rep + 1, R, b + 1, batches, done, work);
        }
        out->per_repeat[rep] = mw_explain_metrics_of(&counts);
        out->per_repeat[rep].example_scores = example_scoring_take(&scoring);
    }
    if (s == MW_OK) {
        out->has_metrics = true;
        out->repeats = R;
        out->test_inputs = total;
        /* the mean of the repeats; a metric undefined in a repeat (no such input) is left out */
        for (int k = 0; k < METRICS; k++) {
            double sum = 0;
            int n = 0;
            for (int rep = 0; rep < R; rep++) {
                double v = *metric_of(&out->per_repeat[rep], k);
                if (!isnan(v)) sum += v, n++;
            }
            *metric_of(&out->mean, k) = n ? sum / n : NAN;
        }
    }
    free(test_enc), free(images), free(idx), free(mem), free(aux), free(mem_enc), free(aux_enc);
    free(logits), free(weights), free(pred), free(mpred), free(mlabel);
    example_scoring_free(&scoring);
    return s;
}

/* ---- explanations.json and index.html ------------------------------------------------- */

static const char *const metric_keys[METRICS] = {"explanation_accuracy",  "counterfactual_accuracy",
                                                 "example_accuracy",      "accuracy",
                                                 "mvo_accuracy",          "mvy_accuracy",
                                                 "ebe_input_memory",      "ebe_input_twin",
                                                 "ebe_input_knn",         "ebe_input_random",
                                                 "ebe_prediction_memory", "ebe_prediction_twin",
                                                 "ebe_prediction_knn",    "ebe_prediction_random"};

static double metric_at(const mw_explain_metrics *m, int k) {
    return *metric_of((mw_explain_metrics *)m, k);
}

static void add_number(cJSON *o, const char *key, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static const char *memory_source_name(mw_memory_source m) {
    return m == MW_MEMORY_FROM_FULL_TRAIN ? "full" : "subset";
}

static const char *const cf_method_keys[MW_CF_METHODS] = {"memory", "proto"};

static void add_counterfactuals(cJSON *o, const mw_cf_summary *cf) {
    cJSON *q = cJSON_AddObjectToObject(o, "counterfactual_quality");
    cJSON_AddNumberToObject(q, "test_inputs", (double)cf->test_inputs);
    cJSON_AddNumberToObject(q, "search_iterations", cf->iterations);
    if (cf->pictures) cJSON_AddStringToObject(q, "picture", "counterfactuals.png");
    for (int m = 0; m < MW_CF_METHODS; m++) {
        const mw_cf_quality *v = &cf->method[m];
        cJSON *j = cJSON_AddObjectToObject(q, cf_method_keys[m]);
        cJSON_AddNumberToObject(j, "inputs", (double)v->inputs);
        cJSON_AddNumberToObject(j, "found", (double)v->found);
        const char *names[3] = {"im1", "iim1", "im2"};
        double mean[3] = {v->im1, v->iim1, v->im2}, sd[3] = {v->im1_std, v->iim1_std, v->im2_std};
        for (int k = 0; k < 3; k++) {
            char key[16];
            snprintf(key, sizeof key, "%s_std", names[k]);
            add_number(j, names[k], mean[k]);
            add_number(j, key, sd[k]);
        }
        add_number(j, "elastic_distance", v->distance);
    }
    cJSON *ae = cJSON_AddObjectToObject(q, "autoencoders");
    cJSON_AddNumberToObject(ae, "epochs", cf->ae_epochs);
    cJSON_AddNumberToObject(ae, "training_images", (double)cf->ae_images);
    cJSON_AddBoolToObject(ae, "reused", cf->ae_reused);
    cJSON *mse = cJSON_AddArrayToObject(ae, "test_mse");
    for (int k = 0; k <= cf->classes; k++) /* per class, then the one on every class */
        cJSON_AddItemToArray(mse, isfinite(cf->ae_test_mse[k])
                                      ? cJSON_CreateNumber(cf->ae_test_mse[k])
                                      : cJSON_CreateNull());
}

static mw_status write_json(const explain_ctx *c, const char *checkpoint,
                            const explained_input *inputs, int n, const mw_explain_summary *sum) {
    const mw_run_options *cfg = c->t->run;
    cJSON *o = cJSON_CreateObject();
    const char *slash = strrchr(checkpoint, '/');
    cJSON_AddStringToObject(o, "checkpoint", slash ? slash + 1 : checkpoint);
    cJSON_AddStringToObject(o, "dataset", cfg->dataset);
    cJSON_AddStringToObject(o, "model", c->spec->model.name);
    cJSON_AddStringToObject(o, "variant", mw_variant_name(c->spec->variant));
    if (c->spec->train_examples < 0)
        cJSON_AddStringToObject(o, "train_examples", "full");
    else
        cJSON_AddNumberToObject(o, "train_examples", (double)c->spec->train_examples);
    cJSON_AddNumberToObject(o, "run", c->spec->run);
    cJSON_AddStringToObject(o, "device", mw_runtime_device(c->t->rt)->name);
    cJSON_AddStringToObject(o, "memory_source", memory_source_name(c->opt.memory_source));
    cJSON_AddNumberToObject(o, "memory_examples", c->x.memory);
    cJSON_AddNumberToObject(o, "memory_pool", c->pool_count);
    cJSON_AddNumberToObject(o, "seed", (double)c->opt.seed);
    cJSON_AddNumberToObject(o, "ig_steps", c->opt.ig_steps);
    if (sum->has_metrics) {
        for (int k = 0; k < METRICS; k++)
            add_number(o, metric_keys[k], metric_at(&sum->mean, k));
        cJSON *per = cJSON_AddObjectToObject(o, "per_repeat");
        for (int k = 0; k < METRICS; k++) {
            cJSON *arr = cJSON_AddArrayToObject(per, metric_keys[k]);
            for (int r = 0; r < sum->repeats; r++) {
                double v = metric_at(&sum->per_repeat[r], k);
                cJSON_AddItemToArray(arr, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
            }
        }
        cJSON_AddNumberToObject(o, "repeats", sum->repeats);
        cJSON_AddNumberToObject(o, "test_inputs", (double)sum->test_inputs);
    }
    if (sum->has_counterfactuals) add_counterfactuals(o, &sum->counterfactuals);
    cJSON *panels = cJSON_AddArrayToObject(o, "panels");
    for (int i = 0; i < n; i++) {
        const explained_input *e = &inputs[i];
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "test_index", e->test_index);
        cJSON_AddNumberToObject(p, "label", e->label);
        cJSON_AddNumberToObject(p, "prediction", e->prediction);
        cJSON_AddStringToObject(p, "memory", e->memory_png);
        cJSON_AddStringToObject(p, "heatmap", e->heatmap_png);
        cJSON *support = cJSON_AddArrayToObject(p, "support");
        for (int j = 0; j < e->support_count; j++) {
            int m = e->support[j];
            cJSON *s = cJSON_CreateObject();
            cJSON_AddNumberToObject(s, "train_index", e->memory_idx[m]);
            cJSON_AddNumberToObject(s, "weight", e->weights[m]);
            cJSON_AddNumberToObject(s, "prediction", e->memory_pred[m]);
            cJSON_AddItemToArray(support, s);
        }
        if (e->example >= 0)
            cJSON_AddNumberToObject(p, "example", e->memory_idx[e->example]);
        else
            cJSON_AddNullToObject(p, "example");
        if (e->counterfactual >= 0)
            cJSON_AddNumberToObject(p, "counterfactual", e->memory_idx[e->counterfactual]);
        else
            cJSON_AddNullToObject(p, "counterfactual");
        cJSON *comp = cJSON_AddObjectToObject(p, "completeness");
        cJSON_AddNumberToObject(comp, "sum_of_attributions", e->total);
        cJSON_AddNumberToObject(comp, "f_input", e->f_input);
        cJSON_AddNumberToObject(comp, "f_baseline", e->f_baseline);
        cJSON_AddNumberToObject(comp, "relative_error", completeness_error(e));
        cJSON_AddNumberToObject(comp, "path_variation", e->path_variation);
        cJSON_AddNumberToObject(comp, "error_of_path_variation", completeness_error_of_path(e));
        cJSON_AddItemToArray(panels, p);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory writing JSON");
    char path[1400];
    snprintf(path, sizeof path, "%s/explanations.json", c->opt.out_dir);
    mw_status s = mw_write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

static const char *class_or_number(const char *dataset, int label, char *buf, size_t cap) {
    const char *name = mw_dataset_class_name(dataset, label);
    if (name) return name;
    snprintf(buf, cap, "class %d", label);
    return buf;
}

/* A table cell of `digits` decimals, a dash for NaN. */
static void html_number_cell(FILE *f, double v, int digits) {
    if (isfinite(v))
        fprintf(f, "<td>%.*f</td>", digits, v);
    else
        fprintf(f, "<td>&ndash;</td>");
}

static void html_metric_cell(FILE *f, double v) {
    html_number_cell(f, v, 2);
}

static void html_counterfactuals(FILE *f, const mw_cf_summary *cf) {
    fprintf(f, "<h2>Counterfactual quality</h2>\n<table>\n<tr><th>counterfactual</th>"
               "<th>inputs</th><th>found</th><th>IM1 &darr;</th><th>IIM1 &uarr;</th>"
               "<th>IM2 &darr;</th><th>elastic distance</th></tr>\n");
    const char *names[MW_CF_METHODS] = {"Memory Wrap's memory sample", "CF-Proto search"};
    for (int m = 0; m < MW_CF_METHODS; m++) {
        const mw_cf_quality *v = &cf->method[m];
        fprintf(f, "<tr><td>%s</td><td>%ld</td><td>%ld</td>", names[m], v->inputs, v->found);
        double mean[3] = {v->im1, v->iim1, v->im2}, sd[3] = {v->im1_std, v->iim1_std, v->im2_std};
        for (int k = 0; k < 3; k++) {
            if (isfinite(mean[k]))
                fprintf(f, "<td>%.3f &plusmn; %.3f</td>", mean[k], sd[k]);
            else
                fprintf(f, "<td>&ndash;</td>");
        }
        html_number_cell(f, v->distance, 1);
        fprintf(f, "</tr>\n");
    }
    fprintf(f,
            "</table>\n<p class=\"note\">The paper's counterfactual analysis (memory-wrap "
            "paper/scripts/run_counterfactuals.py; Van Looveren and Klaise's IM1 and IM2) over "
            "the first %ld test images, in batches of 64 with a fresh memory set. "
            "<i>Memory sample</i>: for each input with one, the memory sample of highest weight "
            "predicted as another class. <i>CF-Proto</i>: %d iterations of FISTA from the input "
            "toward the prototype of that sample's class (the mean autoencoder code of the "
            "training images predicted as it), kept when the model predicts it as that class. "
            "IM1: reconstruction error by the autoencoder of the counterfactual's class over "
            "that of the input's class (below 1: closer to its new class's data); IIM1 its "
            "inverse; IM2: how much the counterfactual class's autoencoder and the one trained "
            "on every class disagree, relative to the image's norm. Mean &plusmn; standard "
            "deviation over the counterfactuals found; elastic distance: "
            "&Vert;&delta;&Vert;&sup2; + 0.1&Vert;&delta;&Vert;&#8321; from the input in "
            "normalised space.</p>\n",
            cf->test_inputs, cf->iterations);
    if (cf->ae_image_cap)
        fprintf(f,
                "<p class=\"note\">Autoencoders: one per class and one on every class, %d "
                "epoch%s on at most %d training images each, drawn from the %ld outside the "
                "validation split",
                cf->ae_epochs, cf->ae_epochs == 1 ? "" : "s", cf->ae_image_cap, cf->ae_images);
    else
        fprintf(f,
                "<p class=\"note\">Autoencoders: one per class and one on every class, %d "
                "epoch%s on the %ld training images outside the validation split (each class's "
                "on its own)",
                cf->ae_epochs, cf->ae_epochs == 1 ? "" : "s", cf->ae_images);
    fprintf(f, "%s; test mean squared error per class ",
            cf->ae_reused ? " (loaded from autoencoders.safetensors)" : "");
    for (int k = 0; k < cf->classes; k++)
        fprintf(f, "%s%.4f", k ? ", " : "", cf->ae_test_mse[k]);
    fprintf(f, "; on every class %.4f.</p>\n", cf->ae_test_mse[cf->classes]);
    if (cf->pictures)
        fprintf(f,
                "<p class=\"note\">The first %d input%s %s: the memory counterfactual, "
                "CF-Proto's, and where CF-Proto changed the input (|&delta;| summed over the "
                "channels, in pixel units, from 0 to the largest change of that input).</p>\n"
                "<div class=\"panel\"><a href=\"counterfactuals.png\"><img "
                "src=\"counterfactuals.png\" alt=\"counterfactuals of the first "
                "inputs\"></a></div>\n",
                cf->pictures, cf->pictures == 1 ? "" : "s",
                cf->method[MW_CF_PROTO].inputs ? "searched" : "with a memory counterfactual");
}

static mw_status write_html(const explain_ctx *c, const char *checkpoint,
                            const explained_input *inputs, int n, const mw_explain_summary *sum) {
    const mw_run_options *cfg = c->t->run;
    const char *ds = cfg->dataset;
    const char *slash = strrchr(checkpoint, '/');
    const char *ckpt = slash ? slash + 1 : checkpoint;
    char size[64];
    if (c->spec->train_examples < 0)
        snprintf(size, sizeof size, "the full training set");
    else
        snprintf(size, sizeof size, "%ld training images", c->spec->train_examples);
    const char *variant =
        c->spec->variant == MW_VARIANT_ENCODER_MEMORY ? "Memory Wrap" : "Only Memory";
    char path[1400];
    snprintf(path, sizeof path, "%s/index.html", c->opt.out_dir);
    mw_atomic_file af = {0};
    MW_TRY(mw_atomic_begin(path, &af));
    FILE *f = af.f;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<title>Explanations: ");
    mw_html_text(f, ckpt);
    fprintf(
        f,
        "</title>\n<style>\n"
        "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;"
        "max-width:1100px;padding:0 1em;color:#222;line-height:1.45}\n"
        "h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\n"
        "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em "
        ".6em;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
        "\n"
        ".meta{color:#555;font-size:.92em}.panel{margin:1.6em 0 2.4em}.panel img{max-width:100%%;"
        "border:1px solid #ddd;margin:.3em .6em .3em "
        "0;vertical-align:top;image-rendering:pixelated}\n"
        ".ok{color:#007850}.bad{color:#be3c00}.note{color:#555;font-size:.92em}\n"
        "</style>\n</head>\n<body>\n");
    fprintf(f, "<h1>What the memory says: ");
    mw_html_text(f, ds);
    fprintf(f, ", %s %s, %s, run %d</h1>\n<p class=\"meta\">Checkpoint <code>", c->spec->model.name,
            variant, size, c->spec->run);
    mw_html_text(f, ckpt);
    fprintf(f, "</code> on ");
    mw_html_text(f, mw_runtime_device(c->t->rt)->name);
    fprintf(f,
            ". Memory sets of %d images drawn from %s (%d images), seed %llu. A memory "
            "sample's predicted class is the model's prediction for it with a second "
            "random memory set; labels of memory samples are used by the MVY baseline "
            "alone.</p>\n",
            c->x.memory,
            c->opt.memory_source == MW_MEMORY_FROM_FULL_TRAIN
                ? "every non-validation training image"
                : "the run's own training subset",
            c->pool_count, (unsigned long long)c->opt.seed);
    if (sum->has_metrics) {
        fprintf(f, "<h2>Explanation metrics</h2>\n<table>\n<tr><th>metric (%%)</th>"
                   "<th>mean</th>");
        for (int r = 0; r < sum->repeats; r++)
            fprintf(f, "<th>pass %d</th>", r + 1);
        fprintf(f, "</tr>\n");
        const char *labels[ACCURACIES] = {"explanation accuracy",
                                          "counterfactual accuracy",
                                          "example accuracy",
                                          "model accuracy",
                                          "majority vote of predictions (MVO)",
                                          "majority vote of labels (MVY)"};
        for (int k = 0; k < ACCURACIES; k++) {
            fprintf(f, "<tr><td>%s</td>", labels[k]);
            html_metric_cell(f, metric_at(&sum->mean, k));
            for (int r = 0; r < sum->repeats; r++)
                html_metric_cell(f, metric_at(&sum->per_repeat[r], k));
            fprintf(f, "</tr>\n");
        }
        fprintf(
            f,
            "</table>\n<p class=\"note\">Over %ld test images in batches of %d, each batch with "
            "a fresh memory set; %d passes. For each input, <i>top</i> is the memory sample with "
            "the highest weight. Explanation accuracy: how often the prediction equals top's "
            "predicted class. Example accuracy: the model's accuracy on the inputs where it does "
            "(top is an explanation by example); counterfactual accuracy: on the inputs where it "
            "does not (top is a counterfactual). MVO and MVY, the paper's majority-vote "
            "baselines: how often the most frequent predicted class (MVO) or true label (MVY) "
            "of the memory samples with non-zero weight is the input's label. A dash: no input "
            "of that kind.</p>\n",
            sum->test_inputs, c->x.test_head.batch, sum->repeats);
        if (isfinite(sum->mean.example_scores.input[MW_EBE_MEMORY])) {
            fprintf(f, "<h2>Explanation by example against its baselines</h2>\n<table>\n"
                       "<tr><th>chosen by</th><th>logit distance (L1)</th>"
                       "<th>cross-entropy to the prediction</th></tr>\n");
            const char *methods[MW_EBE_METHODS] = {"Memory Wrap's weights",
                                                   "twin system (contributions, 1-NN)",
                                                   "nearest hidden activations (1-NN)", "random"};
            for (int m = 0; m < MW_EBE_METHODS; m++) {
                fprintf(f, "<tr><td>%s</td>", methods[m]);
                html_number_cell(f, sum->mean.example_scores.input[m], 4);
                html_number_cell(f, sum->mean.example_scores.prediction[m], 4);
                fprintf(f, "</tr>\n");
            }
            fprintf(f,
                    "</table>\n<p class=\"note\">The paper's comparison (memory-wrap "
                    "paper/scripts/run_exp_by_examples.py): each method ranks the memory "
                    "samples for an input and offers the first one predicted as the input "
                    "as its explanation by example; the twin system ranks by the head "
                    "MLP's hidden activations times the predicted class's output weights, "
                    "the nearest-neighbour baseline by the hidden activations alone. Lower "
                    "is more representative: the mean absolute difference between the "
                    "example's logits and the input's, and the cross-entropy of the "
                    "example's logits against the input's predicted class; means over "
                    "the test batches and the %d pass%s.</p>\n",
                    sum->repeats, sum->repeats == 1 ? "" : "es");
        }
    }
    if (sum->has_counterfactuals) html_counterfactuals(f, &sum->counterfactuals);
    if (n > 0) {
        fprintf(
            f,
            "<h2>Explained test images</h2>\n<p class=\"note\">Left: the memory samples with "
            "non-zero content weight, largest first, each with its weight and predicted class; "
            "the <span style=\"color:#009E73\">explanation by example</span> (highest-weight "
            "sample predicted as the input) and the <span style=\"color:#D55E00\">counterfactual"
            "</span> (highest-weight sample predicted otherwise) are framed. Right: Integrated "
            "Gradients of the predicted class's logit (%d steps from a baseline of ones in "
            "normalised space) with respect to the input and to the memory images, the positive "
            "part blended over each image.</p>\n",
            c->opt.ig_steps);
    }
    for (int i = 0; i < n; i++) {
        const explained_input *e = &inputs[i];
        char b1[32], b2[32], b3[32];
        bool right = e->prediction == e->label;
        fprintf(f, "<div class=\"panel\">\n<h3>Test image #%d: predicted ", e->test_index);
        mw_html_text(f, class_or_number(ds, e->prediction, b1, sizeof b1));
        fprintf(f, ", true ");
        mw_html_text(f, class_or_number(ds, e->label, b2, sizeof b2));
        fprintf(f,
                " <span class=\"%s\">(%s)</span></h3>\n<p>%d of %d memory samples "
                "have non-zero weight. ",
                right ? "ok" : "bad", right ? "correct" : "wrong", e->support_count,
                e->memory_count);
        if (e->example >= 0) {
            fprintf(f, "Explanation by example: training image #%d (weight %.3f). ",
                    e->memory_idx[e->example], (double)e->weights[e->example]);
        } else {
            fprintf(f, "No explanation by example: no memory sample with non-zero "
                       "weight is predicted as the input. ");
        }
        if (e->counterfactual >= 0) {
            fprintf(f, "Counterfactual: training image #%d (weight %.3f, predicted ",
                    e->memory_idx[e->counterfactual], (double)e->weights[e->counterfactual]);
            mw_html_text(f, class_or_number(ds, e->memory_pred[e->counterfactual], b3, sizeof b3));
            fprintf(f, ").");
        } else {
            fprintf(f, "No counterfactual: every memory sample with non-zero weight is "
                       "predicted as the input.");
        }
        fprintf(f,
                "</p>\n<p class=\"note\">Completeness: the attributions sum to %.4g; "
                "f(input) &minus; f(baseline) = %.4g &minus; %.4g = %.4g (relative "
                "error %.2g%%).</p>\n",
                e->total, e->f_input, e->f_baseline, e->f_input - e->f_baseline,
                100 * completeness_error(e));
        fprintf(f,
                "<a href=\"%s\"><img src=\"%s\" alt=\"memory samples of test image "
                "%d\"></a>\n<a href=\"%s\"><img src=\"%s\" alt=\"heatmaps of test "
                "image %d\"></a>\n</div>\n",
                e->memory_png, e->memory_png, e->test_index, e->heatmap_png, e->heatmap_png,
                e->test_index);
    }
    fprintf(f,
            "<p class=\"meta\">Written by memwrap %s <code>memwrap explain</code>; "
            "the numbers are also in <a href=\"explanations.json\">explanations.json"
            "</a>.</p>\n</body>\n</html>\n",
            mw_version());
    if (ferror(f)) {
        mw_atomic_abort(&af);
        return mw_error_set(MW_ERR_IO, "%s: writing failed", path);
    }
    return mw_atomic_commit(&af);
}

void mw_explain_default_dir(const char *checkpoint, char *out, size_t cap) {
    char stem[512];
    mw_checkpoint_stem(checkpoint, stem, sizeof stem);
    const char *slash = strrchr(checkpoint, '/');
    int dir_len = slash ? (int)(slash - checkpoint) : 0;
    snprintf(out, cap, "%.*s%sexplain/%s", dir_len, checkpoint, slash ? "/" : "", stem);
}

/* ---- the whole run ------------------------------------------------------------------ */

static mw_status resolve_options(const mw_trainer *t, const mw_explain_options *in,
                                 mw_explain_options *o) {
    *o = *in;
    if (!o->out_dir || !*o->out_dir)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: no output directory");
    if (o->images < 0) o->images = 8;
    if (o->repeats <= 0) o->repeats = 5;
    if (o->ig_steps <= 0) o->ig_steps = 40;
    if (o->scale <= 0) o->scale = (96 + t->test->height - 1) / t->test->height;
    if (o->cf_inputs <= 0) o->cf_inputs = 640;
    if (o->cf_proto_inputs < 0) o->cf_proto_inputs = 64;
    if (o->cf_iterations <= 0) o->cf_iterations = 1000;
    if (o->ae_epochs <= 0) o->ae_epochs = 4;
    if (o->cf_iterations > 100000 || o->ae_epochs > 1000)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "explain: %d search iterations and %d autoencoder epochs, at most "
                            "100000 and 1000",
                            o->cf_iterations, o->ae_epochs);
    if (o->repeats > MW_EXPLAIN_MAX_REPEATS)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: %d repeats, at most %d", o->repeats,
                            MW_EXPLAIN_MAX_REPEATS);
    if (o->images > t->test->count)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: %d images, the test set has %d",
                            o->images, t->test->count);
    if (o->ig_steps > 1000)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "explain: %d integrated-gradients steps, at most "
                            "1000",
                            o->ig_steps);
    if (o->scale > 32)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: image scale %d, at most 32", o->scale);
    return MW_OK;
}

/* The training images memory sets are drawn from: the run's subset, or every image outside
 * the validation split (what the reference's explanation scripts did). */
static mw_status memory_pool(explain_ctx *c) {
    const mw_run_options *cfg = c->t->run;
    long size = c->opt.memory_source == MW_MEMORY_FROM_FULL_TRAIN ? -1 : c->spec->train_examples;
    MW_TRY(mw_protocol_subset(c->t->train->count, cfg->validation_examples, size,
                              (uint64_t)c->spec->run, &c->pool, &c->pool_count));
    if (c->pool_count < cfg->memory_examples)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "explain: memory sets of %d images from a pool of %d",
                            cfg->memory_examples, c->pool_count);
    c->scratch = malloc((size_t)c->pool_count * sizeof *c->scratch);
    if (!c->scratch) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < c->pool_count; i++)
        c->scratch[i] = i;
    return MW_OK;
}

static void cf_report(void *user, const char *phase, int item, int items, int step, int steps) {
    explain_ctx *c = user;
    /* the ETA of this phase's steps: timed from its start, or from the restart of its count
     * (each test batch's search) */
    if (c->phase != phase || step < c->last_step) c->t0 = now_s(), c->phase = phase;
    c->last_step = step;
    report(c, phase, item, items, step, steps, step, steps);
}

static mw_status explain_cf(explain_ctx *c, mw_explain_summary *out) {
    explain_cf_context cf = {.opt = &c->opt,
                             .pool = c->pool,
                             .pool_count = c->pool_count,
                             .scratch = c->scratch,
                             .report = cf_report,
                             .report_user = c};
    c->t0 = now_s();
    MW_TRY(explain_counterfactuals(&c->x, &cf, &out->counterfactuals));
    out->has_counterfactuals = true;
    return MW_OK;
}

mw_status mw_explain_run(const mw_trainer *t, const mw_run_spec *spec, const char *checkpoint,
                         const mw_explain_options *opt, mw_explain_summary *out) {
    memset(out, 0, sizeof *out);
    explain_ctx c = {.t = t, .spec = spec, .t0 = now_s()};
    MW_TRY(resolve_options(t, opt, &c.opt));
    if (!mw_variant_has_attention(spec->variant))
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: a %s model has no content weights to explain its predictions "
                            "with; explanations need the memory or encoder_memory variant",
                            checkpoint, mw_variant_name(spec->variant));
    mw_status s = mw_make_dirs(c.opt.out_dir);
    if (s == MW_OK) s = memory_pool(&c);
    if (s == MW_OK) s = explainer_init(&c.x, t, spec, checkpoint, true);
    int n = c.opt.images;
    explained_input *inputs = calloc((size_t)(n ? n : 1), sizeof *inputs);
    int32_t *chosen = malloc((size_t)(n ? n : 1) * sizeof *chosen);
    if (s == MW_OK && (!inputs || !chosen))
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    int done = 0;
    if (s == MW_OK) {
        s = choose_inputs(t->test, n, c.opt.seed, chosen);
        /* the pictures' memory draws have their own stream: --images changes no metric */
        mw_rng r;
        mw_rng_seed(&r, c.opt.seed ^ 0x9A7E5ull, MW_RNG_MEMORY);
        for (; done < n && s == MW_OK; done++) {
            s = explain_input(&c, &r, chosen[done], done, &inputs[done]);
            report(&c, "explain", 1, 1, done + 1, n, done + 1, n);
        }
    }
    for (int i = 0; i < done && s == MW_OK; i++) {
        out->images++;
        double err = completeness_error(&inputs[i]);
        if (err > out->worst_completeness_error) out->worst_completeness_error = err;
    }
    if (s == MW_OK && c.opt.metrics) s = explain_metrics(&c, out);
    if (s == MW_OK && c.opt.counterfactuals) s = explain_cf(&c, out);
    /* explanations.json last: `memwrap train` takes it as the mark of a finished explanation */
    if (s == MW_OK) s = write_html(&c, checkpoint, inputs, n, out);
    if (s == MW_OK) s = write_json(&c, checkpoint, inputs, n, out);
    for (int i = 0; i < n && inputs; i++)
        explained_input_free(&inputs[i]); /* calloc'd */
    free(inputs);
    free(chosen);
    explainer_free(&c.x);
    free(c.pool);
    free(c.scratch);
    return s;
}
