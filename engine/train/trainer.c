/* One run of the paper's protocol (see memwrap/trainer.h and reference-spec 3-4). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "explain/explainer.h"
#include "memwrap/checkpoint.h"
#include "memwrap/config.h"
#include "memwrap/protocol.h"
#include "memwrap/trainer.h"
#include "memwrap/train.h"
#include "train/data_parallel.h"

enum { MW_CHECKPOINT_FORMAT = 1 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void mw_run_basename(const mw_run_options *run, const mw_run_spec *spec, char *out, size_t cap) {
    char size[32];
    if (spec->train_examples < 0)
        snprintf(size, sizeof size, "full");
    else
        snprintf(size, sizeof size, "%ld", spec->train_examples);
    snprintf(out, cap, "%s-%s-%s-%s-run%d", run->dataset, spec->model.name,
             mw_variant_name(spec->variant), size, spec->run);
}

/* Everything a run needs besides the model: its subset, the memory pool, the generators. */
typedef struct run_data {
    int32_t *subset, *pool, *scratch, *order;
    int count, pool_count;
    mw_transform tf;
    bool memory_flips; /* memory from the subset takes the training transform (flips) */
} run_data;

static void run_data_free(run_data *d) {
    free(d->subset), free(d->pool), free(d->scratch), free(d->order);
    memset(d, 0, sizeof *d); /* freeing again is harmless */
}

static mw_status run_data_init(const mw_trainer *t, const mw_run_spec *spec, run_data *d) {
    memset(d, 0, sizeof *d);
    const mw_run_options *c = t->run;
    MW_TRY(mw_protocol_transform(c->dataset, &d->tf));
    MW_TRY(mw_protocol_subset(t->train->count, c->validation_examples, spec->train_examples,
                              (uint64_t)spec->run, &d->subset, &d->count));
    bool full = c->memory_source == MW_MEMORY_FROM_FULL_TRAIN;
    d->pool_count = full ? t->train->count : d->count;
    d->pool = malloc((size_t)d->pool_count * sizeof *d->pool);
    d->scratch = malloc((size_t)d->pool_count * sizeof *d->scratch);
    d->order = malloc((size_t)d->count * sizeof *d->order);
    if (!d->pool || !d->scratch || !d->order) {
        run_data_free(d);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the run's indices");
    }
    for (int i = 0; i < d->pool_count; i++) {
        d->pool[i] = full ? i : d->subset[i];
        d->scratch[i] = i;
    }
    d->memory_flips = d->tf.flip && !full;
    if (spec->variant == MW_VARIANT_PROTONET) { /* before any training: every class drawable */
        mw_status s = mw_protocol_check_support(d->pool, d->pool_count, c->memory_examples,
                                                t->train->labels, t->train->classes);
        if (s != MW_OK) {
            char base[512], why[1024];
            mw_run_basename(c, spec, base, sizeof base);
            snprintf(why, sizeof why, "%s", mw_error_message());
            run_data_free(d);
            return mw_error_set(s, "%s: %s", base, why);
        }
    }
    return MW_OK;
}

/* The run's memory for one step or test batch into midx: memory_examples samples of the pool,
 * and for protonet a support set that holds every class. */
static mw_status draw_memory(const mw_trainer *t, const mw_run_spec *spec, run_data *d,
                             mw_rng *r, int32_t *midx) {
    const int M = t->run->memory_examples;
    if (spec->variant == MW_VARIANT_PROTONET)
        return mw_protocol_draw_support(r, d->pool, d->pool_count, M, d->scratch,
                                        t->train->labels, t->train->classes, midx);
    return mw_protocol_draw_memory(r, d->pool, d->pool_count, M, d->scratch, midx);
}

static mw_model_options model_options(const mw_trainer *t, const mw_run_spec *spec, int batch,
                                      bool training) {
    const mw_device_info *dev = mw_runtime_device(t->rt);
    mw_model_options o = {.encoder = &spec->model,
                          .variant = spec->variant,
                          .in_channels = t->train->channels,
                          .image_size = t->train->height,
                          .classes = t->train->classes,
                          .batch = batch,
                          .memory = t->run->memory_examples,
                          .distance = t->run->distance,
                          .dropout = -1,
                          .training = training,
                          /* the branches overlap on GPUs; on CPUs every kernel has the cores */
                          .overlap_branches = !(dev->type & CL_DEVICE_TYPE_CPU)};
    return o;
}

static void report(const mw_trainer *t, mw_progress *p) {
    if (t->progress) t->progress(p, t->progress_user);
}

/* The device cannot hold the graph of a batch this large: the message says which key
 * sets it and suggests half (the activations, most of the memory, scale with it). */
static mw_status batch_too_large(const char *base, const char *key, int batch) {
    char why[1024];
    snprintf(why, sizeof why, "%s", mw_error_message());
    return mw_error_set(MW_ERR_OUT_OF_MEMORY,
                        "%s: a batch of %d (%s) does not fit on the "
                        "device: %s. Try %s=%d",
                        base, batch, key, why, key, batch > 1 ? batch / 2 : 1);
}

/* ---- resume files: the model, the momentum buffers and the generators after an epoch ---- */

/* The training log travels in the resume file as `resume.epochs`, float64 [n, 3] (epoch,
 * mean loss, lr), so a resumed run ends with the log of an uninterrupted one. */
enum { LOG_COLUMNS = 3 };

static mw_status save_resume(const char *path, mw_exec *ex, mw_sgd *sgd, int epochs_done,
                             const mw_rng *rngs, int n_rngs, const mw_epoch_stat *log, int n_log) {
    size_t n = mw_sgd_state_floats(sgd);
    float *momentum = malloc((n ? n : 1) * sizeof *momentum);
    if (!momentum) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
    bool stepped = false;
    mw_status s = mw_sgd_get_state(sgd, momentum, &stepped);
    int64_t state[2 + 4 * MW_RNG_PURPOSES] = {epochs_done, (int64_t)mw_exec_run_count(ex)};
    for (int r = 0; r < n_rngs; r++)
        for (int k = 0; k < 4; k++)
            state[2 + 4 * r + k] = (int64_t)rngs[r].s[k];
    double *table = malloc((size_t)n_log * LOG_COLUMNS * sizeof *table); /* n_log >= 1 */
    if (!table && s == MW_OK)
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
    for (int e = 0; e < n_log && table; e++) {
        table[LOG_COLUMNS * e] = log[e].epoch;
        table[LOG_COLUMNS * e + 1] = log[e].loss;
        table[LOG_COLUMNS * e + 2] = log[e].lr;
    }
    int64_t mshape[1] = {(int64_t)(n ? n : 1)}, sshape[1] = {2 + 4 * n_rngs};
    int64_t lshape[2] = {n_log, LOG_COLUMNS};
    mw_st_write_item extra[3] = {{"resume.momentum", MW_ST_F32, 1, mshape, momentum},
                                 {"resume.state", MW_ST_I64, 1, sshape, state},
                                 {"resume.epochs", MW_ST_F64, 2, lshape, table}};
    char meta[128];
    snprintf(meta, sizeof meta, "{\"epochs_done\":\"%d\",\"stepped\":\"%d\"}", epochs_done,
             (int)stepped);
    if (s == MW_OK) s = mw_checkpoint_save_with(ex, path, meta, extra, 3);
    free(momentum);
    free(table);
    return s;
}

/* Restores the log saved by save_resume. A resume file written before the log existed has
 * no resume.epochs: the log then starts at the resume epoch. */
static mw_status load_log(const mw_safetensors *st, const char *path, int epochs_done,
                          mw_epoch_stat *log, int cap, int *n_log) {
    *n_log = 0;
    const mw_st_tensor *t = mw_safetensors_find(st, "resume.epochs");
    if (!t) return MW_OK;
    int most = epochs_done < cap ? epochs_done : cap;
    if (t->ndim != 2 || t->shape[1] != LOG_COLUMNS || t->shape[0] < 1 || t->shape[0] > most)
        return mw_error_set(MW_ERR_FORMAT, "%s: resume.epochs is not [n <= %d, %d]", path, most,
                            LOG_COLUMNS);
    int n = (int)t->shape[0];
    double *table = malloc((size_t)n * LOG_COLUMNS * sizeof *table);
    if (!table) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
    mw_status s =
        mw_safetensors_read_f64(st, "resume.epochs", 2, t->shape, table, (size_t)n * LOG_COLUMNS);
    for (int e = 0; e < n && s == MW_OK; e++)
        log[e] = (mw_epoch_stat){(int)table[LOG_COLUMNS * e], table[LOG_COLUMNS * e + 1],
                                 table[LOG_COLUMNS * e + 2]};
    if (s == MW_OK) *n_log = n;
    free(table);
    return s;
}

/* Returns the epochs already done (0 when there is no resume file) and their log. */
static mw_status load_resume(const char *path, mw_exec *ex, mw_sgd *sgd, mw_rng *rngs, int n_rngs,
                             int *epochs_done, mw_epoch_stat *log, int log_cap, int *n_log) {
    *epochs_done = 0;
    *n_log = 0;
    if (access(path, F_OK) != 0) return MW_OK;
    MW_TRY(mw_checkpoint_load(ex, path));
    mw_safetensors *st = NULL;
    MW_TRY(mw_safetensors_load(path, &st));
    size_t n = mw_sgd_state_floats(sgd);
    float *momentum = malloc((n ? n : 1) * sizeof *momentum);
    const mw_st_tensor *state = mw_safetensors_find(st, "resume.state");
    mw_status s = momentum ? MW_OK : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == MW_OK && (!state || state->dtype != MW_ST_I64 || (int)state->numel != 2 + 4 * n_rngs))
        s = mw_error_set(MW_ERR_FORMAT, "%s: no resume.state of %d int64 values", path,
                         2 + 4 * n_rngs);
    if (s == MW_OK)
        s = mw_safetensors_read_f32(st, "resume.momentum", -1, NULL, momentum, n ? n : 1);
    if (s == MW_OK) {
        const int64_t *v = (const int64_t *)state->data; /* little-endian int64, as written */
        int64_t vals[2 + 4 * MW_RNG_PURPOSES];
        memcpy(vals, v, state->nbytes);
        *epochs_done = (int)vals[0];
        mw_exec_set_run_count(ex, (uint64_t)vals[1]);
        for (int r = 0; r < n_rngs; r++)
            for (int k = 0; k < 4; k++)
                rngs[r].s[k] = (uint64_t)vals[2 + 4 * r + k];
        s = mw_sgd_set_state(sgd, momentum, *epochs_done > 0);
    }
    if (s == MW_OK) s = load_log(st, path, *epochs_done, log, log_cap, n_log);
    free(momentum);
    mw_safetensors_free(st);
    return s;
}

/* ---- evaluation ---------------------------------------------------------------------- */

/* The paper's majority-vote baselines during a memory variant's evaluation (reference-spec
 * 6.7, memory-wrap paper/eval_dir_mv.py): for each test batch, the memory samples' own
 * predictions, each against a second memory set as the reference draws it, and their true
 * labels; mw_explain_count takes the votes of the samples with weight > 0. The second sets
 * come from streams of their own, so the accuracy's draws are those of an evaluation
 * without the baselines. */
typedef struct majority_votes {
    int memory;
    float *weights; /* [batch, memory] content weights of the batch */
    int32_t *pred;  /* [batch] the batch's predictions */
    int32_t *aux, *mpred, *mlabel;
    uint8_t *aux_flips;
    float *aux_enc, *mlogits;
    mw_rng aux_rng, aux_flip_rng;
} majority_votes;

static void majority_free(majority_votes *v) {
    free(v->weights), free(v->pred), free(v->aux), free(v->mpred), free(v->mlabel);
    free(v->aux_flips), free(v->aux_enc), free(v->mlogits);
    memset(v, 0, sizeof *v);
}

/* memory 0: a std model, predictions only. */
static mw_status majority_init(majority_votes *v, int memory, int batch, int dim, int classes,
                               int run) {
    memset(v, 0, sizeof *v);
    v->memory = memory;
    size_t m = memory ? (size_t)memory : 1;
    v->pred = malloc((size_t)batch * sizeof *v->pred);
    v->weights = memory ? malloc((size_t)batch * m * sizeof *v->weights) : NULL;
    v->aux = malloc(m * sizeof *v->aux);
    v->mpred = malloc(m * sizeof *v->mpred);
    v->mlabel = malloc(m * sizeof *v->mlabel);
    v->aux_flips = malloc(m);
    v->aux_enc = malloc(m * (size_t)dim * sizeof *v->aux_enc);
    v->mlogits = malloc(m * (size_t)classes * sizeof *v->mlogits);
    if (!v->pred || (memory && !v->weights) || !v->aux || !v->mpred || !v->mlabel ||
        !v->aux_flips || !v->aux_enc || !v->mlogits) {
        majority_free(v);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory evaluating");
    }
    mw_rng_seed(&v->aux_rng, (uint64_t)run + 0x5EED0001ull, MW_RNG_MEMORY);
    mw_rng_seed(&v->aux_flip_rng, (uint64_t)run + 0x5EED0001ull, MW_RNG_AUGMENT);
    return MW_OK;
}

/* Counts the votes of a batch of n inputs (v->weights and v->pred filled by the head run)
 * whose memory set was midx, encoded as mem_enc. */
static mw_status majority_batch(majority_votes *v, mw_explainer *x, const run_data *d,
                                const mw_dataset *train, const int32_t *midx, const float *mem_enc,
                                int n, const int32_t *labels, mw_explain_counts *votes) {
    const int M = v->memory;
    MW_TRY(mw_protocol_draw_memory(&v->aux_rng, d->pool, d->pool_count, M, d->scratch, v->aux));
    for (int i = 0; i < M; i++)
        v->aux_flips[i] = d->memory_flips && mw_protocol_draw_flip(&v->aux_flip_rng);
    MW_TRY(explainer_train_encodings(x, v->aux, v->aux_flips, M, v->aux_enc));
    MW_TRY(explainer_head_run(x, &x->memory_head, mem_enc, M, v->aux_enc, v->mlogits, NULL));
    explainer_argmax(v->mlogits, M, x->classes, v->mpred);
    for (int j = 0; j < M; j++)
        v->mlabel[j] = train->labels[midx[j]];
    mw_explain_count(v->weights, n, M, v->pred, labels, v->mpred, v->mlabel, votes);
    return MW_OK;
}

/* The protocol's evaluation (reference-spec 4) on the model as encoder and head parts: in eval
 * mode an image's encoding depends on nothing else, so the test set is encoded once and each
 * drawn memory image (mirrored or not) once, and every pass and memory draw then runs the head
 * alone. The draws are those of evaluating the whole model batch by batch. In a data-parallel
 * group (`group`, else NULL) each process encodes every K-th chunk of the test set and one sum
 * gives every process all the encodings (the others' chunks are zeros, and x + 0 is x): the
 * same bits as one process's, so every process then computes the same accuracy. */
static mw_status evaluate(const mw_trainer *t, const mw_run_spec *spec, const char *checkpoint,
                          run_data *d, const mw_collective *group, mw_run_result *out) {
    const mw_run_options *c = t->run;
    const mw_dataset *test = t->test;
    const int total =
        c->test_examples > 0 && c->test_examples < test->count ? c->test_examples : test->count;
    const bool memory = mw_variant_has_memory(spec->variant);
    /* protonet and matching: one pass, as the reference's run_protonet.py and run_matching.py */
    const bool attention = mw_variant_has_attention(spec->variant);
    const int repeats = attention ? c->eval_repeats : 1, M = c->memory_examples;
    if (repeats < 1 || repeats > MW_RESULT_MAX_REPEATS)
        return mw_error_set(MW_ERR_INVALID_ARG, "eval_repeats %d: 1 to %d", repeats,
                            MW_RESULT_MAX_REPEATS);
    mw_explainer x;
    mw_status init = explainer_init(&x, t, spec, checkpoint, false);
    if (init == MW_ERR_OUT_OF_MEMORY) {
        char base[512];
        mw_run_basename(c, spec, base, sizeof base);
        init = batch_too_large(base, "test_batch_size", c->test_batch_size);
    }
    MW_TRY(mw_collective_agree(group, init, "preparing the evaluation"));
    const int batch = x.test_head.batch, dim = x.d, chunk = x.enc_batch;
    const size_t image = x.image_floats;
    float *test_enc = malloc((size_t)total * dim * sizeof *test_enc);
    float *images = malloc((size_t)chunk * image * sizeof *images);
    float *mem_enc = malloc((size_t)(memory ? M : 1) * dim * sizeof *mem_enc);
    float *logits = malloc((size_t)batch * test->classes * sizeof *logits);
    int32_t *midx = malloc((size_t)(memory ? M : 1) * sizeof *midx);
    uint8_t *flips = malloc((size_t)(memory ? M : 1));
    majority_votes mv;
    mw_status s = test_enc && images && mem_enc && logits && midx && flips
                      ? majority_init(&mv, attention ? M : 0, batch, dim, test->classes, spec->run)
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory evaluating");
    s = mw_collective_agree(group, s, "preparing the evaluation");
    double t0 = now_s(), sum = 0;
    const int batches = (total + batch - 1) / batch, chunks = (total + chunk - 1) / chunk;
    for (int k = 0; k < chunks && s == MW_OK; k++) {
        int start = k * chunk, n = total - start < chunk ? total - start : chunk;
        if (group && k % group->size != group->rank) { /* another process's chunk */
            memset(test_enc + (size_t)start * dim, 0, (size_t)n * dim * sizeof *test_enc);
            continue;
        }
        for (int i = 0; i < n; i++)
            mw_protocol_fill_image(test, start + i, &d->tf, false, images + (size_t)i * image);
        s = explainer_encode(&x, images, n, test_enc + (size_t)start * dim);
        mw_progress p = {.spec = spec,
                         .epoch = 1,
                         .epochs = 1,
                         .step = k + 1,
                         .steps = chunks,
                         .phase = "encode",
                         .elapsed_s = now_s() - t0};
        p.images_per_s = (start + n) / fmax(p.elapsed_s, 1e-9);
        report(t, &p);
    }
    if (group) {
        s = mw_collective_agree(group, s, "encoding the test set");
        if (s == MW_OK) s = group->sum_f32(group, test_enc, (size_t)total * dim);
    }
    /* Evaluation draws its memory from its own stream (a purpose of its own would change
     * nothing else): the same checkpoint evaluated twice gives the same accuracy. */
    mw_rng memory_rng, flip_rng;
    mw_rng_seed(&memory_rng, (uint64_t)spec->run + 0x5EED0000ull, MW_RNG_MEMORY);
    mw_rng_seed(&flip_rng, (uint64_t)spec->run + 0x5EED0000ull, MW_RNG_AUGMENT);
    for (int r = 0; r < repeats && s == MW_OK; r++) {
        long correct = 0;
        mw_explain_counts votes = {0};
        for (int b = 0; b < batches && s == MW_OK; b++) {
            int start = b * batch, n = total - start < batch ? total - start : batch;
            if (memory) {
                s = draw_memory(t, spec, d, &memory_rng, midx);
                for (int i = 0; i < M; i++) /* as the training transform draws them */
                    flips[i] = d->memory_flips && mw_protocol_draw_flip(&flip_rng);
                if (s == MW_OK) s = explainer_train_encodings(&x, midx, flips, M, mem_enc);
                if (s == MW_OK && mw_variant_has_support_labels(spec->variant))
                    s = explainer_head_support(&x, &x.test_head, midx);
            }
            if (s == MW_OK)
                s = explainer_head_run(&x, &x.test_head, test_enc + (size_t)start * dim, n, mem_enc,
                                       logits, mv.weights);
            for (int i = 0; i < n && s == MW_OK; i++) {
                explainer_argmax(logits + (size_t)i * test->classes, 1, test->classes, &mv.pred[i]);
                correct += mv.pred[i] == test->labels[start + i];
            }
            if (s == MW_OK && attention)
                s = majority_batch(&mv, &x, d, t->train, midx, mem_enc, n, test->labels + start,
                                   &votes);
            mw_progress p = {.spec = spec,
                             .epoch = r + 1,
                             .epochs = repeats,
                             .step = b + 1,
                             .steps = batches,
                             .phase = "eval",
                             .elapsed_s = now_s() - t0};
            p.images_per_s = ((double)r * total + start + n) / fmax(p.elapsed_s, 1e-9);
            report(t, &p);
        }
        out->repeat_accuracy[r] = 100.0 * (double)correct / total;
        sum += out->repeat_accuracy[r];
        out->mvo_accuracy += 100.0 * (double)votes.mvo_correct / total / repeats;
        out->mvy_accuracy += 100.0 * (double)votes.mvy_correct / total / repeats;
    }
    if (s == MW_OK) {
        out->repeats = repeats;
        out->accuracy = sum / repeats;
        out->has_majority = attention;
    }
    explainer_free(&x);
    majority_free(&mv);
    free(test_enc), free(images), free(mem_enc), free(logits), free(midx), free(flips);
    return s;
}

mw_status mw_evaluate_run(const mw_trainer *t, const mw_run_spec *spec, const char *checkpoint,
                          mw_run_result *out) {
    memset(out, 0, sizeof *out);
    run_data d;
    MW_TRY(run_data_init(t, spec, &d));
    double t0 = now_s();
    out->train_count = d.count;
    mw_status s = evaluate(t, spec, checkpoint, &d, NULL, out);
    out->seconds = now_s() - t0;
    snprintf(out->checkpoint, sizeof out->checkpoint, "%s", checkpoint);
    run_data_free(&d);
    return s;
}

/* ---- training ------------------------------------------------------------------------ */

void mw_run_result_free(mw_run_result *r) {
    free(r->epochs);
    r->epochs = NULL;
    r->n_epochs = 0;
}

/* The checkpoint's __metadata__: the run, and the config that rebuilds it (the grid's, or
 * one of this run alone). NULL when out of memory. */
static char *checkpoint_metadata(const mw_trainer *t, const mw_run_spec *spec, int epochs) {
    char *config = NULL;
    if (t->config_json) {
        config = strdup(t->config_json);
    } else {
        mw_config *one = malloc(sizeof *one);
        if (one && mw_config_for_run(t->run, spec, one) == MW_OK) config = mw_config_to_json(one);
        free(one);
    }
    if (!config) return NULL;
    /* __metadata__ values are strings: the config goes in as escaped JSON text. */
    size_t len = strlen(config), cap = 2 * len + 1024;
    char *out = malloc(cap), *w;
    if (!out) {
        free(config);
        return NULL;
    }
    w = out + snprintf(out, cap,
                       "{\"format\":\"memwrap-checkpoint-%d\",\"dataset\":\"%s\",\"model\":\"%s\","
                       "\"variant\":\"%s\",\"train_examples\":\"%ld\",\"run\":\"%d\","
                       "\"epochs\":\"%d\",\"config\":\"",
                       MW_CHECKPOINT_FORMAT, t->run->dataset, spec->model.name,
                       mw_variant_name(spec->variant), spec->train_examples, spec->run, epochs);
    for (size_t i = 0; i < len; i++) {
        char ch = config[i];
        if (ch == '"' || ch == '\\') *w++ = '\\';
        if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
        *w++ = ch;
    }
    strcpy(w, "\"}");
    free(config);
    return out;
}

/* A step whose loss or gradients hold a NaN or an infinity: stops the run before the
 * optimizer applies them, naming the first op that produced one (mw_exec_find_nonfinite) and
 * where the last good state is. */
static mw_status nonfinite_error(mw_exec *ex, const char *base, float loss, int epoch, int step,
                                 float lr, const char *kept) {
    char where[512];
    mw_status s = mw_exec_find_nonfinite(ex, MW_RUN_FORWARD_BACKWARD, where, sizeof where);
    if (s != MW_OK) snprintf(where, sizeof where, "not found (%s)", mw_error_message());
    char what[64];
    if (isfinite(loss))
        snprintf(what, sizeof what, "the gradients became non-finite (loss %g)", (double)loss);
    else
        snprintf(what, sizeof what, "the loss became %g", (double)loss);
    return mw_error_set(MW_ERR_NUMERIC,
                        "%s: %s at epoch %d, step %d (lr %g); first non-finite value: %s. "
                        "Nothing was applied; %s%s. A smaller learning rate usually helps",
                        base, what, epoch + 1, step + 1, (double)lr, where[0] ? where : "none",
                        kept ? "the last completed epoch is kept in " : "no epoch had completed",
                        kept ? kept : "");
}

void mw_train_resume_path(const mw_trainer *t, const mw_run_spec *spec, char *out, size_t cap) {
    char base[512];
    mw_run_basename(t->run, spec, base, sizeof base);
    snprintf(out, cap, "%s/%s.resume.safetensors", t->out_dir, base);
}

void mw_train_remove_resume(const mw_trainer *t, const mw_run_spec *spec) {
    char resume[1200];
    mw_train_resume_path(t, spec, resume, sizeof resume);
    remove(resume);
}

mw_status mw_train_run(const mw_trainer *t, const mw_run_spec *spec, mw_run_result *out) {
    memset(out, 0, sizeof *out);
    const mw_run_options *c = t->run;
    const mw_dataset *train = t->train;
    run_data d = {0};
    mw_status s = mw_make_dirs(t->out_dir);
    if (s == MW_OK) s = run_data_init(t, spec, &d);
    /* in a group, a process that fails here must not leave the others waiting */
    s = mw_collective_agree(t->group, s, "preparing the run");
    if (s != MW_OK) {
        run_data_free(&d);
        return s;
    }
    out->train_count = d.count;
    int batch = c->batch_size < d.count ? c->batch_size : d.count; /* min(128, train_examples) */
    int steps = mw_protocol_steps_per_epoch(d.count, batch);
    bool memory = mw_variant_has_memory(spec->variant);
    bool labelled = mw_variant_has_support_labels(spec->variant);
    char base[512], resume[1200], final_path[1200];
    mw_run_basename(c, spec, base, sizeof base);
    mw_train_resume_path(t, spec, resume, sizeof resume);
    snprintf(final_path, sizeof final_path, "%s/%s.safetensors", t->out_dir, base);
    mw_data_parallel dp; /* this process's part of each batch (all of it when alone) */
    s = mw_dp_init(&dp, t->group, batch, base);
    if (s != MW_OK) {
        run_data_free(&d);
        return s;
    }

    mw_model_options o = model_options(t, spec, dp.shard, true);
    mw_model m = {0};
    mw_exec *ex = NULL;
    mw_sgd *sgd = NULL;
    size_t image = (size_t)train->channels * train->height * train->width;
    float *x = malloc((size_t)batch * image * 4);
    float *mem = malloc((size_t)c->memory_examples * image * 4);
    int32_t *labels = malloc((size_t)batch * 4), *midx = malloc((size_t)c->memory_examples * 4);
    int32_t *idx = malloc((size_t)batch * sizeof *idx), *support = NULL;
    float *average = NULL; /* the support input of protonet and matching [classes x memory] */
    if (labelled) {
        support = malloc((size_t)c->memory_examples * sizeof *support);
        average = malloc((size_t)train->classes * c->memory_examples * sizeof *average);
    }
    mw_epoch_stat *log = malloc((size_t)c->epochs * sizeof *log);
    int n_log = 0;
    s = (x && mem && labels && midx && idx && log && (!labelled || (support && average)))
            ? MW_OK
            : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for batches");
    mw_rng rngs[MW_RNG_PURPOSES];
    mw_protocol_run_generators((uint64_t)spec->run, rngs);
    mw_sgd_options so = {c->momentum, c->weight_decay, c->nesterov};
    if (s == MW_OK) s = mw_model_build(&o, &m);
    if (s == MW_OK) s = mw_exec_create(m.g, t->rt, &ex);
    if (s == MW_ERR_OUT_OF_MEMORY) s = batch_too_large(base, "batch_size", dp.shard);
    if (s == MW_OK) s = mw_exec_init_params(ex, mw_rng_next(&rngs[MW_RNG_INIT]));
    if (s == MW_OK) s = mw_sgd_create(ex, &so, &sgd);
    if (s == MW_OK) s = mw_dp_bind(&dp, ex);
    /* CosineAnnealingLR(T_max = epochs) as the reference (reference-spec 3.1), whatever the
     * options' t_max says */
    mw_lr_schedule schedule = c->schedule;
    schedule.t_max = c->epochs;
    int start_epoch = 0;
    if (s == MW_OK)
        s = load_resume(resume, ex, sgd, rngs, MW_RNG_PURPOSES, &start_epoch, log, c->epochs,
                        &n_log);
    s = mw_collective_agree(dp.group, s, "preparing the model");
    out->resumed_from_epoch = start_epoch;
    long global_step = (long)start_epoch * steps;
    double t0 = now_s();
    for (int epoch = start_epoch; epoch < c->epochs && s == MW_OK; epoch++) {
        double epoch_lr = mw_lr_at_epoch(&schedule, epoch); /* logged as the schedule says */
        float lr = (float)epoch_lr;
        mw_rng_permutation(&rngs[MW_RNG_SHUFFLE], d.order, d.count);
        double loss_sum = 0;
        for (int step = 0; step < steps && s == MW_OK; step++) {
            mw_protocol_batch_indices(d.subset, d.order, step, batch, idx);
            for (int i = 0; i < batch; i++)
                labels[i] = train->labels[idx[i]];
            /* every process draws the whole batch (the generators stay in step) and
             * trains on its part */
            mw_protocol_fill_batch(train, idx, batch, &d.tf,
                                   d.tf.flip ? &rngs[MW_RNG_AUGMENT] : NULL, x);
            s = mw_exec_write(ex, m.images, x + (size_t)dp.shard_start * image,
                              (size_t)dp.shard * image * 4);
            if (s == MW_OK)
                s = mw_exec_write(ex, m.labels, labels + dp.shard_start, (size_t)dp.shard * 4);
            if (s == MW_OK && memory) {
                s = draw_memory(t, spec, &d, &rngs[MW_RNG_MEMORY], midx);
                for (int j = 0; labelled && j < c->memory_examples && s == MW_OK; j++)
                    support[j] = train->labels[midx[j]];
                if (s == MW_OK && labelled)
                    s = mw_support_fill(spec->variant, support, c->memory_examples,
                                        train->classes, average);
                if (s == MW_OK && labelled)
                    s = mw_exec_write(ex, m.support, average,
                                      (size_t)train->classes * c->memory_examples * 4);
                if (s == MW_OK) {
                    mw_protocol_fill_batch(train, midx, c->memory_examples, &d.tf,
                                           d.memory_flips ? &rngs[MW_RNG_AUGMENT] : NULL, mem);
                    s = mw_exec_write(ex, m.memory, mem, (size_t)c->memory_examples * image * 4);
                }
            }
            if (s == MW_OK) s = mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD);
            float loss = 0;
            bool grads_finite = true;
            if (mw_dp_active(&dp)) { /* the group's gradients and loss, then the check */
                if (s == MW_OK) s = mw_exec_read(ex, m.loss, &loss, 4);
                s = mw_dp_reduce_step(&dp, ex, s, &loss);
                if (s == MW_OK) s = mw_dp_local(&dp, mw_sgd_gradients_finite(sgd, &grads_finite));
            } else {
                /* the check first: its 4-byte read waits for the step, so the loss read
                 * after it adds no second wait */
                if (s == MW_OK) s = mw_sgd_gradients_finite(sgd, &grads_finite);
                if (s == MW_OK) s = mw_exec_read(ex, m.loss, &loss, 4);
            }
            if (s == MW_OK && (!isfinite(loss) || !grads_finite))
                s = nonfinite_error(ex, base, loss, epoch, step, lr, epoch > 0 ? resume : NULL);
            if (s == MW_OK) s = mw_dp_local(&dp, mw_sgd_step(sgd, lr));
            if (s == MW_OK) s = mw_dp_local(&dp, mw_dp_check_params(&dp, ex, ++global_step));
            loss_sum += loss;
            double elapsed = now_s() - t0;
            long done = (long)(epoch - start_epoch) * steps + step + 1;
            long left = (long)(c->epochs - epoch) * steps - step - 1;
            mw_progress p = {.spec = spec,
                             .epoch = epoch + 1,
                             .epochs = c->epochs,
                             .step = step + 1,
                             .steps = steps,
                             .loss = loss,
                             .lr = lr,
                             .elapsed_s = elapsed,
                             .phase = "train"};
            p.images_per_s = done * batch / fmax(elapsed, 1e-9);
            p.eta_s = elapsed / done * left;
            report(t, &p);
        }
        if (s == MW_OK) log[n_log++] = (mw_epoch_stat){epoch + 1, loss_sum / steps, epoch_lr};
        bool group_ok = s == MW_OK; /* the same on every process of a group here */
        if (s == MW_OK) s = mw_dp_local(&dp, mw_dp_average_state(&dp, ex));
        if (s == MW_OK && mw_dp_writer(&dp))
            s = save_resume(resume, ex, sgd, epoch + 1, rngs, MW_RNG_PURPOSES, log, n_log);
        if (group_ok) s = mw_collective_agree(dp.group, s, "saving the resume file");
    }
    if (s == MW_OK) {
        if (mw_dp_writer(&dp)) {
            char *meta = checkpoint_metadata(t, spec, c->epochs);
            s = meta ? mw_checkpoint_save(ex, final_path, meta)
                     : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
            free(meta);
        }
        s = mw_collective_agree(dp.group, s, "saving the checkpoint");
    }
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_model_free(&m);
    free(x), free(mem), free(labels), free(midx), free(idx), free(support), free(average);
    if (s == MW_OK) { /* a group shares the test set's encoding */
        s = evaluate(t, spec, final_path, &d, dp.group, out);
        s = mw_collective_agree(dp.group, s, "evaluating");
    }
    mw_dp_free(&dp);
    if (s == MW_OK) {
        /* the final checkpoint and result supersede it */
        if (!t->keep_resume && mw_dp_writer(&dp)) remove(resume);
        out->seconds = now_s() - t0;
        snprintf(out->checkpoint, sizeof out->checkpoint, "%s", final_path);
        out->epochs = log;
        out->n_epochs = n_log;
    } else {
        free(log);
    }
    run_data_free(&d);
    return s;
}
