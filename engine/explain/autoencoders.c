/* The counterfactual-quality autoencoders (explain/autoencoders.h). */
#define _POSIX_C_SOURCE 200809L /* access */
#include "explain/autoencoders.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memwrap/models.h"
#include "memwrap/ops.h"
#include "memwrap/protocol.h"
#include "memwrap/safetensors.h"
#include "memwrap/train.h"

enum { TRAIN_BATCH = 32, EVAL_BATCH = 64 };
static const float ADAM_LR = 1e-3f; /* torch.optim.Adam's default, which the reference keeps */

/* images [batch, C, H, W] -> maps -> the autoencoder; the graph's ids through the pointers */
static int build(mw_graph *g, const cf_autoencoders *a, int batch, int *images, int *maps,
                 int *code) {
    int64_t shape[4] = {batch, a->channels, a->height, a->width};
    *images = mw_graph_input(g, "images", MW_F32, 4, shape);
    *maps = mw_images_to_maps(g, *images);
    return mw_autoencoder(g, *maps, code);
}

static size_t param_floats(const mw_graph *g) {
    size_t n = 0;
    for (int i = 0; i < mw_graph_param_count(g); i++)
        n += mw_tensor_numel(g, mw_graph_param_at(g, i));
    return n;
}

/* Copies every parameter of ex to (to_host) or from host, in graph order. */
static mw_status move_weights(mw_exec *ex, float *host, bool to_host) {
    const mw_graph *g = mw_exec_graph(ex);
    size_t at = 0;
    for (int i = 0; i < mw_graph_param_count(g); i++) {
        int p = mw_graph_param_at(g, i);
        size_t n = mw_tensor_numel(g, p);
        MW_TRY(to_host ? mw_exec_read(ex, p, host + at, n * sizeof *host)
                       : mw_exec_write(ex, p, host + at, n * sizeof *host));
        at += n;
    }
    return MW_OK;
}

static mw_status eval_graph(cf_autoencoders *a, mw_runtime *rt) {
    mw_graph *g = a->g = mw_graph_create();
    if (!g) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for an autoencoder");
    int maps;
    a->batch = EVAL_BATCH;
    a->recon = build(g, a, a->batch, &a->images, &maps, &a->code);
    int64_t code_shape[4] = {1, a->batch, a->height / 2, a->width / 2}, one = 1;
    a->protos = mw_graph_input(g, "protos", MW_F32, 4, code_shape);
    a->seed = mw_graph_input(g, "seed", MW_F32, 1, &one);
    int loss = mw_mse_loss(g, a->code, a->protos);
    MW_TRY(mw_graph_status(g));
    MW_TRY(mw_graph_backward_inputs(g, loss, a->seed, &a->images, 1));
    a->grad = mw_graph_grad(g, a->images);
    mw_graph_keep(g, a->recon);
    mw_graph_keep(g, a->code);
    mw_graph_keep(g, a->grad);
    MW_TRY(mw_graph_status(g));
    MW_TRY(mw_exec_create(g, rt, &a->ex));
    a->weight_floats = param_floats(g);
    a->code_floats = (size_t)(a->height / 2) * (a->width / 2);
    a->image_floats = (size_t)a->channels * a->height * a->width;
    a->loaded = -1;
    a->staging = calloc((size_t)a->batch * a->image_floats, sizeof *a->staging);
    a->maps = malloc((size_t)a->batch * a->image_floats * sizeof *a->maps);
    a->weights = calloc((size_t)a->count * a->weight_floats, sizeof *a->weights);
    if (!a->staging || !a->maps || !a->weights)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the autoencoders");
    /* the prototypes are read by the loss even when only reconstructions are wanted */
    float *zeros = calloc((size_t)a->batch * a->code_floats, sizeof *zeros);
    if (!zeros) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    mw_status s = mw_exec_write(a->ex, a->protos, zeros, a->batch * a->code_floats * sizeof *zeros);
    free(zeros);
    return s;
}

void cf_autoencoders_free(cf_autoencoders *a) {
    mw_exec_free(a->ex);
    mw_graph_free(a->g);
    free(a->weights), free(a->staging), free(a->maps);
    memset(a, 0, sizeof *a);
}

static mw_status use(cf_autoencoders *a, int which) {
    if (a->loaded == which) return MW_OK;
    MW_TRY(move_weights(a->ex, a->weights + (size_t)which * a->weight_floats, false));
    a->loaded = which;
    return MW_OK;
}

/* Stages n <= batch images, the rest of the batch copies of the first (eval mode: each
 * image's result depends on it alone). */
static mw_status stage(cf_autoencoders *a, const float *images, int n) {
    memcpy(a->staging, images, (size_t)n * a->image_floats * sizeof *images);
    for (int i = n; i < a->batch; i++)
        memcpy(a->staging + (size_t)i * a->image_floats, images, a->image_floats * sizeof *images);
    return mw_exec_write(a->ex, a->images, a->staging,
                         (size_t)a->batch * a->image_floats * sizeof *a->staging);
}

mw_status cf_autoencoders_reconstruct(cf_autoencoders *a, int which, const float *images, int n,
                                      float *recon, float *code) {
    for (int start = 0; start < n; start += a->batch) {
        int m = n - start < a->batch ? n - start : a->batch;
        MW_TRY(use(a, which));
        MW_TRY(stage(a, images + (size_t)start * a->image_floats, m));
        MW_TRY(mw_exec_run(a->ex, MW_RUN_FORWARD));
        MW_TRY(mw_exec_read(a->ex, a->recon, a->maps,
                            (size_t)a->batch * a->image_floats * sizeof *a->maps));
        /* maps [C, batch, H, W] -> images [m, C, H, W] */
        size_t plane = (size_t)a->height * a->width;
        for (int i = 0; i < m; i++)
            for (int c = 0; c < a->channels; c++)
                memcpy(recon + ((size_t)(start + i) * a->channels + c) * plane,
                       a->maps + ((size_t)c * a->batch + i) * plane, plane * sizeof *recon);
        if (code) { /* one channel: the maps layout is the rows layout */
            MW_TRY(mw_exec_read(a->ex, a->code, a->maps,
                                (size_t)a->batch * a->code_floats * sizeof *a->maps));
            memcpy(code + (size_t)start * a->code_floats, a->maps,
                   (size_t)m * a->code_floats * sizeof *code);
        }
    }
    return MW_OK;
}

mw_status cf_autoencoders_proto_gradient(cf_autoencoders *a, const float *images, int n,
                                         const float *protos, float theta, float *grad) {
    if (n > a->batch)
        return mw_error_set(MW_ERR_INVALID_ARG, "counterfactual search: %d inputs at once, at "
                                                "most %d", n, a->batch);
    MW_TRY(use(a, a->classes));
    MW_TRY(stage(a, images, n));
    /* padding rows: prototypes of the first input (their gradients are dropped) */
    memcpy(a->maps, protos, (size_t)n * a->code_floats * sizeof *protos);
    for (int i = n; i < a->batch; i++)
        memcpy(a->maps + (size_t)i * a->code_floats, protos, a->code_floats * sizeof *protos);
    MW_TRY(mw_exec_write(a->ex, a->protos, a->maps,
                         (size_t)a->batch * a->code_floats * sizeof *a->maps));
    /* the loss is the mean over batch x code values: scaled back to θ times the sum */
    float seed = theta * (float)((size_t)a->batch * a->code_floats);
    MW_TRY(mw_exec_write(a->ex, a->seed, &seed, sizeof seed));
    MW_TRY(mw_exec_run(a->ex, MW_RUN_EVAL_BACKWARD));
    MW_TRY(mw_exec_read(a->ex, a->grad, a->staging,
                        (size_t)a->batch * a->image_floats * sizeof *a->staging));
    memcpy(grad, a->staging, (size_t)n * a->image_floats * sizeof *grad);
    return MW_OK;
}

/* ---- training ----------------------------------------------------------------------- */

typedef struct trainer_graph {
    mw_graph *g;
    mw_exec *ex;
    int images, batch;
} trainer_graph;

static void trainer_graph_free(trainer_graph *tg) {
    mw_exec_free(tg->ex);
    mw_graph_free(tg->g);
}

static mw_status trainer_graph_init(trainer_graph *tg, const cf_autoencoders *a, int batch,
                                    mw_runtime *rt) {
    tg->batch = batch;
    tg->g = mw_graph_create();
    if (!tg->g) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    int maps, code;
    int recon = build(tg->g, a, batch, &tg->images, &maps, &code);
    int loss = mw_mse_loss(tg->g, recon, maps);
    MW_TRY(mw_graph_status(tg->g));
    MW_TRY(mw_graph_backward(tg->g, loss, NULL, 0));
    return mw_exec_create(tg->g, rt, &tg->ex);
}

/* Trains autoencoder `which` on training images idx[0..n) into a->weights; *done counts the
 * steps of every autoencoder, of `total`. */
static mw_status train_one(cf_autoencoders *a, trainer_graph *tg, const cf_autoencoder_setup *su,
                           int which, const int32_t *idx, int n, const mw_transform *tf, long *done,
                           long total) {
    const int B = tg->batch, steps = n / B; /* the last partial batch is dropped */
    int32_t *order = malloc((size_t)n * sizeof *order), *batch = malloc((size_t)B * sizeof *batch);
    float *images = malloc((size_t)B * a->image_floats * sizeof *images);
    mw_adam *adam = NULL;
    mw_status s = order && batch && images ? MW_OK
                                           : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    /* a stream per autoencoder: training one more class changes none of the others */
    if (s == MW_OK) s = mw_exec_init_params(tg->ex, su->seed * 1000003u + (uint64_t)which);
    mw_adam_options opt = mw_adam_defaults();
    if (s == MW_OK) s = mw_adam_create(tg->ex, &opt, &adam);
    mw_rng r;
    mw_rng_seed(&r, su->seed * 1000003u + (uint64_t)which, MW_RNG_SHUFFLE);
    for (int e = 0; e < su->epochs && s == MW_OK; e++) {
        mw_rng_permutation(&r, order, n);
        for (int step = 0; step < steps && s == MW_OK; step++) {
            for (int i = 0; i < B; i++)
                batch[i] = idx[order[step * B + i]];
            mw_protocol_fill_batch(su->t->train, batch, B, tf, NULL, images);
            s = mw_exec_write(tg->ex, tg->images, images, (size_t)B * a->image_floats * sizeof *images);
            if (s == MW_OK) s = mw_exec_run(tg->ex, MW_RUN_FORWARD_BACKWARD);
            if (s == MW_OK) s = mw_adam_step(adam, ADAM_LR);
            ++*done;
            if (su->progress && step + 1 == steps) /* once per epoch: a line in a log */
                su->progress(su->progress_user, which + 1, a->count, *done, total);
        }
    }
    if (s == MW_OK) s = move_weights(tg->ex, a->weights + (size_t)which * a->weight_floats, true);
    mw_adam_free(adam);
    free(order), free(batch), free(images);
    return s;
}

/* ---- the file ------------------------------------------------------------------------ */

/* What the weights depend on, as the file's metadata value "trained_on". */
static void provenance(const cf_autoencoders *a, const cf_autoencoder_setup *su, char *out,
                       size_t cap) {
    snprintf(out, cap,
             "%s %dx%dx%d, %d classes, validation %d, run %d, %d epochs, at most %d images, "
             "seed %llu",
             su->t->train->name, a->channels, a->height, a->width, a->classes,
             su->t->run->validation_examples, su->spec->run, su->epochs,
             su->max_images > 0 ? su->max_images : 0, (unsigned long long)su->seed);
}

static void item_name(const cf_autoencoders *a, int which, const char *param, char *out,
                      size_t cap) {
    if (which == a->classes)
        snprintf(out, cap, "all.%s", param);
    else
        snprintf(out, cap, "class_%d.%s", which, param);
}

/* true when the file exists, was trained on the same data and settings, and was read */
static mw_status load_file(cf_autoencoders *a, const cf_autoencoder_setup *su, bool *loaded) {
    *loaded = false;
    if (access(su->file, F_OK) != 0) return MW_OK;
    mw_safetensors *st = NULL;
    MW_TRY(mw_safetensors_load(su->file, &st));
    char want[256];
    provenance(a, su, want, sizeof want);
    cJSON *meta = st->metadata_json ? cJSON_Parse(st->metadata_json) : NULL;
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(meta, "trained_on");
    bool same = cJSON_IsString(on) && strcmp(on->valuestring, want) == 0;
    cJSON_Delete(meta);
    mw_status s = MW_OK;
    for (int k = 0; k < a->count && same && s == MW_OK; k++) {
        size_t at = 0;
        for (int i = 0; i < mw_graph_param_count(a->g) && s == MW_OK; i++) {
            int p = mw_graph_param_at(a->g, i);
            char name[MW_NAME_MAX + 16];
            item_name(a, k, mw_tensor_name(a->g, p), name, sizeof name);
            int64_t shape[MW_MAX_DIMS];
            for (int d = 0; d < mw_tensor_ndim(a->g, p); d++)
                shape[d] = mw_tensor_dim(a->g, p, d);
            s = mw_safetensors_read_f32(st, name, mw_tensor_ndim(a->g, p), shape,
                                        a->weights + (size_t)k * a->weight_floats + at,
                                        mw_tensor_numel(a->g, p));
            at += mw_tensor_numel(a->g, p);
        }
    }
    mw_safetensors_free(st);
    *loaded = same && s == MW_OK;
    return s;
}

static mw_status write_file(const cf_autoencoders *a, const cf_autoencoder_setup *su) {
    int per = mw_graph_param_count(a->g), n = a->count * per;
    mw_st_write_item *items = calloc((size_t)n, sizeof *items);
    char(*names)[MW_NAME_MAX + 16] = calloc((size_t)n, sizeof *names);
    int64_t(*shapes)[MW_MAX_DIMS] = calloc((size_t)n, sizeof *shapes);
    cJSON *meta = cJSON_CreateObject();
    if (!items || !names || !shapes || !meta) {
        free(items), free(names), free(shapes), cJSON_Delete(meta);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int k = 0; k < a->count; k++) {
        size_t at = 0;
        for (int i = 0; i < per; i++) {
            int p = mw_graph_param_at(a->g, i), j = k * per + i;
            item_name(a, k, mw_tensor_name(a->g, p), names[j], sizeof names[j]);
            for (int d = 0; d < mw_tensor_ndim(a->g, p); d++)
                shapes[j][d] = mw_tensor_dim(a->g, p, d);
            items[j] = (mw_st_write_item){names[j], MW_ST_F32, mw_tensor_ndim(a->g, p), shapes[j],
                                          a->weights + (size_t)k * a->weight_floats + at};
            at += mw_tensor_numel(a->g, p);
        }
    }
    char on[256];
    provenance(a, su, on, sizeof on);
    cJSON_AddStringToObject(meta, "trained_on", on);
    char *json = cJSON_PrintUnformatted(meta);
    mw_status s = json ? mw_safetensors_write(su->file, items, n, json)
                       : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    free(json), cJSON_Delete(meta), free(items), free(names), free(shapes);
    return s;
}

/* ---- prepare ------------------------------------------------------------------------- */

/* Mean squared error of autoencoder `which` over test images of `label` (< 0: all). */
static mw_status test_error(cf_autoencoders *a, const cf_autoencoder_setup *su, int which,
                            int label, const mw_transform *tf, double *out) {
    const mw_dataset *test = su->t->test;
    int32_t *idx = malloc((size_t)a->batch * sizeof *idx);
    float *images = malloc((size_t)a->batch * a->image_floats * sizeof *images);
    float *recon = malloc((size_t)a->batch * a->image_floats * sizeof *recon);
    mw_status s = idx && images && recon ? MW_OK
                                         : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    double sum = 0;
    long values = 0;
    for (int i = 0; i < test->count && s == MW_OK;) {
        int n = 0;
        for (; i < test->count && n < a->batch; i++)
            if (label < 0 || test->labels[i] == label) idx[n++] = i;
        if (n == 0) break;
        mw_protocol_fill_batch(test, idx, n, tf, NULL, images);
        s = cf_autoencoders_reconstruct(a, which, images, n, recon, NULL);
        for (size_t j = 0; s == MW_OK && j < (size_t)n * a->image_floats; j++) {
            double d = (double)recon[j] - images[j];
            sum += d * d;
        }
        values += (long)n * (long)a->image_floats;
    }
    *out = values ? sum / (double)values : NAN;
    free(idx), free(images), free(recon);
    return s;
}

mw_status cf_autoencoders_prepare(cf_autoencoders *a, const cf_autoencoder_setup *su,
                                  mw_cf_summary *summary) {
    const mw_dataset *train = su->t->train;
    memset(a, 0, sizeof *a);
    a->classes = train->classes;
    a->count = a->classes + 1;
    a->channels = train->channels, a->height = train->height, a->width = train->width;
    if (a->classes > MW_CF_MAX_CLASSES)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "counterfactuals: %s has %d classes, at most %d autoencoders are "
                            "trained",
                            train->name, a->classes, MW_CF_MAX_CLASSES);
    mw_transform tf;
    MW_TRY(mw_protocol_transform(train->name, &tf));
    MW_TRY(eval_graph(a, su->t->rt));
    summary->classes = a->classes;
    summary->ae_epochs = su->epochs;
    /* every non-validation training image, as the reference (size_train=100000) */
    int32_t *all = NULL, *mine = NULL;
    int n_all = 0;
    mw_status s = mw_protocol_subset(train->count, su->t->run->validation_examples, -1,
                                     (uint64_t)su->spec->run, &all, &n_all);
    /* the subset is in a random order: its first images are a random sample of it */
    summary->ae_images = n_all;
    summary->ae_image_cap = su->max_images > 0 ? su->max_images : 0;
    bool loaded = false;
    if (s == MW_OK) s = load_file(a, su, &loaded);
    summary->ae_reused = loaded;
    if (s == MW_OK && !loaded) {
        mine = malloc((size_t)(n_all ? n_all : 1) * sizeof *mine);
        int smallest = n_all;
        for (int k = 0; k < a->classes && mine; k++) {
            int n = 0;
            for (int i = 0; i < n_all; i++)
                n += train->labels[all[i]] == k;
            if (su->max_images > 0 && n > su->max_images) n = su->max_images;
            smallest = n < smallest ? n : smallest;
        }
        /* batches of 32, fewer when a class has fewer images (one graph serves every class) */
        int batch = smallest < TRAIN_BATCH ? smallest : TRAIN_BATCH;
        trainer_graph tg = {0};
        if (!mine) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
        else if (batch < 1)
            s = mw_error_set(MW_ERR_INVALID_ARG,
                             "counterfactuals: a class of %s has no training image outside the "
                             "validation split, so it gets no autoencoder",
                             train->name);
        if (s == MW_OK) s = trainer_graph_init(&tg, a, batch, su->t->rt);
        long done = 0, total = 0;
        for (int pass = 0; pass < 2; pass++) /* the steps of all, then the training */
            for (int k = 0; k <= a->classes && s == MW_OK; k++) {
                int n = 0;
                for (int i = 0; i < n_all && (su->max_images <= 0 || n < su->max_images); i++)
                    if (k == a->classes || train->labels[all[i]] == k) mine[n++] = all[i];
                if (pass == 0)
                    total += (long)su->epochs * (n / batch);
                else
                    s = train_one(a, &tg, su, k, mine, n, &tf, &done, total);
            }
        trainer_graph_free(&tg);
        if (s == MW_OK) s = write_file(a, su);
    }
    for (int k = 0; k <= a->classes && s == MW_OK; k++)
        s = test_error(a, su, k, k == a->classes ? -1 : k, &tf, &summary->ae_test_mse[k]);
    free(all), free(mine);
    return s;
}
