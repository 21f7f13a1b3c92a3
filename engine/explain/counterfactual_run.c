/* The counterfactual-quality analysis of `memwrap explain --counterfactuals` (reference-spec
 * 6.6; memory-wrap paper/scripts/run_counterfactuals.py): per test batch of 64 with a fresh
 * memory set, each input's memory counterfactual (the highest-weight memory sample predicted
 * as another class) and, for the first inputs that have one, CF-Proto's search from the input
 * toward the prototype of that sample's class; both scored with IM1, IIM1 and IM2 by the
 * autoencoders of explain/autoencoders.c.
 *
 * Where this departs from the reference's script, on purpose:
 * - each input gets its own memory counterfactual (the script takes row 0's ranking for the
 *   whole batch) and its own target class and prototype (the script picks one prototype for
 *   the batch among all the batch's target classes), and a batch with a single such input
 *   counts (the script skips it);
 * - a search that finds no counterfactual is counted, not scored (the script scores the
 *   all-zero image it starts its best-so-far from);
 * - the search runs once: its constant c never enters the loss the script optimises (the
 *   attack term is commented out there), so its second c step repeats the first exactly;
 * - the scores are per counterfactual (the script's norms run over the whole batch), and IM2
 *   uses the counterfactual class's autoencoder as the paper defines it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/autoencoders.h"
#include "explain/explainer.h"
#include "explain/panels.h"

enum { CF_BATCH = 64, PICTURES = 6 }; /* the reference's test batch; inputs drawn */
/* alibi's CF-Proto settings as the reference passes them */
static const float BETA = 0.1f, THETA = 100.0f, CLIP = 1000.0f;
static const double LR0 = 0.1, LR_POWER = 0.5;

/* Running sums of one method's scores. */
typedef struct score_sums {
    long inputs, found;
    double sum[3], sq[3], distance;
} score_sums;

static void sums_add(score_sums *s, mw_cf_scores v, double distance) {
    double x[3] = {v.im1, v.iim1, v.im2};
    for (int k = 0; k < 3; k++)
        s->sum[k] += x[k], s->sq[k] += x[k] * x[k];
    s->distance += distance;
    s->found++;
}

static mw_cf_quality sums_quality(const score_sums *s) {
    mw_cf_quality q = {.inputs = s->inputs, .found = s->found};
    double mean[3], sd[3];
    for (int k = 0; k < 3; k++) {
        mean[k] = s->found ? s->sum[k] / s->found : NAN;
        sd[k] = s->found ? sqrt(fmax(s->sq[k] / s->found - mean[k] * mean[k], 0)) : NAN;
    }
    q.im1 = mean[0], q.iim1 = mean[1], q.im2 = mean[2];
    q.im1_std = sd[0], q.iim1_std = sd[1], q.im2_std = sd[2];
    q.distance = s->found ? s->distance / s->found : NAN;
    return q;
}

typedef struct cf_run {
    mw_explainer *x;
    const explain_cf_context *c;
    cf_autoencoders ae;
    float lo, hi;       /* the normalised pixel range of the training subset */
    float *protos;      /* [classes, code_floats] */
    bool *has_proto;    /* a class no subset image is predicted as has none */
    float *recon[3];    /* scratch reconstructions [CF_BATCH, F]: cf class, input class, all */
    float *rows, *logits;
    /* the first inputs searched (or, with no search, with a memory counterfactual), drawn in
     * counterfactuals.png: input, memory counterfactual, CF-Proto's [PICTURES, F] each */
    mw_cf_panel_row pics[PICTURES];
    float *picture[3];
    int pictured;
} cf_run;

static void progress(cf_run *r, const char *phase, int epoch, int epochs, int step, int steps) {
    if (r->c->report) r->c->report(r->c->report_user, phase, epoch, epochs, step, steps);
}

static void ae_progress(void *user, int which, int count, long done, long total) {
    progress(user, "autoencoders", which, count, (int)done, (int)total);
}

/* The range of normalised values over the run's training subset: the box the search stays in
 * (the reference's feature_range, the min and max over every channel). */
static void feature_range(cf_run *r) {
    const mw_dataset *train = r->x->t->train;
    const size_t plane = (size_t)train->height * train->width;
    r->lo = INFINITY, r->hi = -INFINITY;
    for (int c = 0; c < train->channels; c++) {
        int lo = 255, hi = 0;
        for (int i = 0; i < r->c->pool_count; i++) {
            const uint8_t *p = train->images + ((size_t)r->c->pool[i] * train->channels + c) * plane;
            for (size_t j = 0; j < plane; j++)
                lo = p[j] < lo ? p[j] : lo, hi = p[j] > hi ? p[j] : hi;
        }
        float flo = (lo / 255.0f - r->x->tf.mean[c]) / r->x->tf.std[c];
        float fhi = (hi / 255.0f - r->x->tf.mean[c]) / r->x->tf.std[c];
        r->lo = fminf(r->lo, flo), r->hi = fmaxf(r->hi, fhi);
    }
}

/* Predicted classes of n images against memory encodings mem_enc (the test head). */
static mw_status classify(cf_run *r, const float *images, int n, const float *mem_enc,
                          int32_t *out) {
    mw_explainer *x = r->x;
    MW_TRY(explainer_encode(x, images, n, r->rows));
    MW_TRY(explainer_head_run(x, &x->test_head, r->rows, n, mem_enc, r->logits, NULL));
    explainer_argmax(r->logits, n, x->classes, out);
    return MW_OK;
}

/* The class prototypes: the mean code (encoder of the autoencoder on every class) of the
 * training-subset images the model predicts as each class, against one memory set (the
 * reference's get_prototypes_from_memorynet). */
static mw_status prototypes(cf_run *r, mw_rng *rng, int32_t *mem, float *mem_enc) {
    mw_explainer *x = r->x;
    const explain_cf_context *c = r->c;
    const int C = x->classes;
    const size_t K = r->ae.code_floats, F = x->image_floats;
    MW_TRY(mw_protocol_draw_memory(rng, c->pool, c->pool_count, x->memory, c->scratch, mem));
    MW_TRY(explainer_train_encodings(x, mem, NULL, x->memory, mem_enc));
    double *sum = calloc((size_t)C * K, sizeof *sum);
    long *count = calloc((size_t)C, sizeof *count);
    float *images = malloc((size_t)CF_BATCH * F * sizeof *images);
    float *codes = malloc((size_t)CF_BATCH * K * sizeof *codes);
    int32_t *pred = malloc((size_t)CF_BATCH * sizeof *pred);
    mw_status s = sum && count && images && codes && pred
                      ? MW_OK
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for prototypes");
    for (int start = 0; start < c->pool_count && s == MW_OK; start += CF_BATCH) {
        int n = c->pool_count - start < CF_BATCH ? c->pool_count - start : CF_BATCH;
        mw_protocol_fill_batch(x->t->train, c->pool + start, n, &x->tf, NULL, images);
        s = classify(r, images, n, mem_enc, pred);
        if (s == MW_OK)
            s = cf_autoencoders_reconstruct(&r->ae, r->ae.classes, images, n, r->recon[0], codes);
        for (int i = 0; i < n && s == MW_OK; i++) {
            count[pred[i]]++;
            for (size_t k = 0; k < K; k++)
                sum[(size_t)pred[i] * K + k] += codes[(size_t)i * K + k];
        }
        progress(r, "prototypes", 1, 1, start / CF_BATCH + 1,
                 (c->pool_count + CF_BATCH - 1) / CF_BATCH);
    }
    for (int k = 0; k < C && s == MW_OK; k++) {
        r->has_proto[k] = count[k] > 0;
        for (size_t j = 0; j < K; j++)
            r->protos[(size_t)k * K + j] = count[k] ? (float)(sum[(size_t)k * K + j] / count[k]) : 0;
    }
    free(sum), free(count), free(images), free(codes), free(pred);
    return s;
}

/* CF-Proto's search for n inputs orig [n, F] (explain.h, mw_cf_fista_step): an iterate is a
 * counterfactual when the model (memory mem_enc) predicts it as the input's target class,
 * which differs from its prediction; the closest one by elastic distance is kept in best. */
static mw_status search(cf_run *r, const float *orig, int n, const float *mem_enc,
                        const int32_t *pred, const int32_t *target, int batch_no, float *best,
                        bool *found, double *best_distance) {
    const size_t F = r->x->image_floats, K = r->ae.code_floats, all = (size_t)n * F;
    const int steps = r->c->opt->cf_iterations;
    float *adv = malloc(all * sizeof *adv), *s_pt = malloc(all * sizeof *s_pt);
    float *grad = malloc(all * sizeof *grad), *protos = malloc((size_t)n * K * sizeof *protos);
    int32_t *cls = malloc((size_t)n * sizeof *cls);
    mw_status s = adv && s_pt && grad && protos && cls
                      ? MW_OK
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the search");
    if (s == MW_OK) {
        memcpy(adv, orig, all * sizeof *adv);
        memcpy(s_pt, orig, all * sizeof *s_pt);
        for (int i = 0; i < n; i++) {
            memcpy(protos + (size_t)i * K, r->protos + (size_t)target[i] * K, K * sizeof *protos);
            found[i] = false;
            best_distance[i] = INFINITY;
        }
    }
    for (int k = 0; k < steps && s == MW_OK; k++) {
        s = classify(r, adv, n, mem_enc, cls);
        for (int i = 0; i < n && s == MW_OK; i++) {
            if (cls[i] == pred[i] || cls[i] != target[i]) continue;
            double d = mw_cf_elastic_distance(orig + i * F, adv + i * F, BETA, F);
            if (d < best_distance[i]) {
                best_distance[i] = d;
                found[i] = true;
                memcpy(best + i * F, adv + i * F, F * sizeof *best);
            }
        }
        if (s == MW_OK) s = cf_autoencoders_proto_gradient(&r->ae, s_pt, n, protos, THETA, grad);
        if (s == MW_OK) {
            mw_cf_distance_gradient(orig, s_pt, BETA, CLIP, grad, all);
            float lr = (float)mw_cf_learning_rate(LR0, k, steps, LR_POWER);
            mw_cf_fista_step(orig, grad, lr, k, BETA, r->lo, r->hi, adv, s_pt, all);
        }
        if ((k + 1) % 10 == 0 || k + 1 == steps)
            progress(r, "search", batch_no, 0, k + 1, steps);
    }
    free(adv), free(s_pt), free(grad), free(protos), free(cls);
    return s;
}

/* Keeps an input for counterfactuals.png (its CF-Proto counterfactual is added once found):
 * the row, or -1 when the picture is full. */
static int picture(cf_run *r, int test_index, int prediction, const float *image,
                   const float *memory_cf, int memory_cf_class, bool searched) {
    if (r->pictured >= PICTURES) return -1;
    const size_t F = r->x->image_floats;
    int k = r->pictured++;
    memcpy(r->picture[0] + k * F, image, F * sizeof *image);
    memcpy(r->picture[1] + k * F, memory_cf, F * sizeof *image);
    r->pics[k] = (mw_cf_panel_row){.test_index = test_index,
                                   .prediction = prediction,
                                   .image = r->picture[0] + k * F,
                                   .memory_cf = r->picture[1] + k * F,
                                   .memory_cf_class = memory_cf_class,
                                   .proto_cf = NULL,
                                   .proto_cf_class = -1,
                                   .searched = searched};
    return k;
}

static mw_status write_picture(cf_run *r, mw_cf_summary *out) {
    const mw_dataset *test = r->x->t->test;
    mw_panel_input in = {.dataset = r->x->t->run->dataset,
                         .channels = test->channels,
                         .height = test->height,
                         .width = test->width,
                         .scale = r->c->opt->scale,
                         .mean = r->x->tf.mean,
                         .std = r->x->tf.std};
    char path[1400];
    snprintf(path, sizeof path, "%s/counterfactuals.png", r->c->opt->out_dir);
    MW_TRY(mw_panel_counterfactuals(&in, r->pics, r->pictured, path));
    out->pictures = r->pictured;
    return MW_OK;
}

/* Scores n counterfactuals cf [n, F] predicted as cf_class, of inputs predicted as
 * in_class, into sums. */
static mw_status score(cf_run *r, const float *cf, int n, const int32_t *cf_class,
                       const int32_t *in_class, const double *distance, score_sums *sums) {
    const size_t F = r->x->image_floats;
    const int all = r->ae.classes;
    MW_TRY(cf_autoencoders_reconstruct(&r->ae, all, cf, n, r->recon[2], NULL));
    /* each class's autoencoder on the whole group, its rows kept where it is needed */
    for (int k = 0; k < all; k++) {
        bool needed = false;
        for (int i = 0; i < n; i++)
            needed |= cf_class[i] == k || in_class[i] == k;
        if (!needed) continue;
        MW_TRY(cf_autoencoders_reconstruct(&r->ae, k, cf, n, r->recon[1], NULL));
        for (int i = 0; i < n; i++)
            if (cf_class[i] == k) memcpy(r->recon[0] + i * F, r->recon[1] + i * F, F * sizeof(float));
        for (int i = 0; i < n; i++) /* the input-class rows, into the all-class scratch's end */
            if (in_class[i] == k)
                memcpy(r->recon[2] + (size_t)(CF_BATCH + i) * F, r->recon[1] + i * F,
                       F * sizeof(float));
    }
    for (int i = 0; i < n; i++)
        sums_add(sums,
                 mw_cf_interpretability(cf + i * F, r->recon[0] + i * F,
                                        r->recon[2] + (size_t)(CF_BATCH + i) * F,
                                        r->recon[2] + i * F, F),
                 distance[i]);
    return MW_OK;
}

mw_status explain_counterfactuals(mw_explainer *x, const explain_cf_context *c,
                                  mw_cf_summary *out) {
    const mw_dataset *test = x->t->test, *train = x->t->train;
    const mw_explain_options *opt = c->opt;
    const int M = x->memory, C = x->classes;
    const size_t F = x->image_floats;
    memset(out, 0, sizeof *out);
    cf_run r = {.x = x, .c = c};
    char file[1400];
    snprintf(file, sizeof file, "%s/autoencoders.safetensors", opt->out_dir);
    cf_autoencoder_setup su = {.t = x->t,
                               .spec = &x->spec,
                               .file = file,
                               .epochs = opt->ae_epochs,
                               .max_images = opt->ae_images,
                               .seed = (uint64_t)x->spec.run,
                               .progress = ae_progress,
                               .progress_user = &r};
    mw_status s = cf_autoencoders_prepare(&r.ae, &su, out);
    out->iterations = opt->cf_iterations;
    const size_t K = r.ae.code_floats;
    int32_t *mem = malloc((size_t)M * sizeof *mem), *aux = malloc((size_t)M * sizeof *aux);
    float *mem_enc = malloc((size_t)M * x->d * sizeof *mem_enc);
    float *aux_enc = malloc((size_t)M * x->d * sizeof *aux_enc);
    float *weights = malloc((size_t)CF_BATCH * M * sizeof *weights);
    float *images = malloc((size_t)CF_BATCH * F * sizeof *images);
    float *cf = malloc((size_t)CF_BATCH * F * sizeof *cf);
    float *best = malloc((size_t)CF_BATCH * F * sizeof *best);
    int32_t *idx = malloc((size_t)CF_BATCH * sizeof *idx);
    int32_t *pred = malloc((size_t)CF_BATCH * sizeof *pred), *mpred = malloc((size_t)M * sizeof *mpred);
    int32_t *cf_class = malloc((size_t)CF_BATCH * sizeof *cf_class);
    int32_t *in_class = malloc((size_t)CF_BATCH * sizeof *in_class);
    int32_t *target = malloc((size_t)CF_BATCH * sizeof *target);
    double *distance = malloc((size_t)CF_BATCH * sizeof *distance);
    int32_t *slot = malloc((size_t)CF_BATCH * sizeof *slot);
    bool *found = malloc((size_t)CF_BATCH * sizeof *found);
    r.protos = calloc((size_t)C * (K ? K : 1), sizeof *r.protos);
    r.has_proto = calloc((size_t)C, sizeof *r.has_proto);
    r.rows = malloc((size_t)(CF_BATCH > M ? CF_BATCH : M) * x->d * sizeof *r.rows);
    r.logits = malloc((size_t)(CF_BATCH > M ? CF_BATCH : M) * C * sizeof *r.logits);
    for (int k = 0; k < 3; k++) {
        r.recon[k] = malloc((size_t)2 * CF_BATCH * F * sizeof(float));
        r.picture[k] = malloc((size_t)PICTURES * F * sizeof(float));
    }
    if (s == MW_OK &&
        !(mem && aux && mem_enc && aux_enc && weights && images && cf && best && idx && pred &&
          mpred && cf_class && in_class && target && distance && slot && found && r.protos &&
          r.has_proto && r.rows && r.logits && r.recon[0] && r.recon[1] && r.recon[2] &&
          r.picture[0] && r.picture[1] && r.picture[2]))
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for counterfactuals");
    mw_rng rng;
    mw_rng_seed(&rng, opt->seed ^ 0xCF5EEDull, MW_RNG_MEMORY);
    if (s == MW_OK) feature_range(&r);
    if (s == MW_OK && opt->cf_proto_inputs > 0) s = prototypes(&r, &rng, mem, mem_enc);
    const int total = opt->cf_inputs < test->count ? opt->cf_inputs : test->count;
    score_sums sums[MW_CF_METHODS] = {{0}};
    for (int start = 0; start < total && s == MW_OK; start += CF_BATCH) {
        int n = total - start < CF_BATCH ? total - start : CF_BATCH;
        for (int i = 0; i < n; i++)
            idx[i] = start + i;
        mw_protocol_fill_batch(test, idx, n, &x->tf, NULL, images);
        /* as the reference: the batch's memory, then the auxiliary memory */
        s = mw_protocol_draw_memory(&rng, c->pool, c->pool_count, M, c->scratch, mem);
        if (s == MW_OK) s = mw_protocol_draw_memory(&rng, c->pool, c->pool_count, M, c->scratch, aux);
        if (s == MW_OK) s = explainer_train_encodings(x, mem, NULL, M, mem_enc);
        if (s == MW_OK) s = explainer_train_encodings(x, aux, NULL, M, aux_enc);
        if (s == MW_OK) s = explainer_encode(x, images, n, r.rows);
        if (s == MW_OK)
            s = explainer_head_run(x, &x->test_head, r.rows, n, mem_enc, r.logits, weights);
        if (s == MW_OK) explainer_argmax(r.logits, n, C, pred);
        if (s == MW_OK) s = explainer_head_run(x, &x->memory_head, mem_enc, M, aux_enc, r.logits, NULL);
        if (s == MW_OK) explainer_argmax(r.logits, M, C, mpred);
        /* the memory counterfactuals, compacted to the front with their test indices (idx):
         * the scores and the search run on these rows */
        int with = 0, searched = 0;
        for (int i = 0; i < n && s == MW_OK; i++) {
            int example, counterfactual;
            mw_explain_select(weights + (size_t)i * M, mpred, M, pred[i], &example, &counterfactual);
            if (counterfactual < 0) continue;
            mw_protocol_fill_image(train, mem[counterfactual], &x->tf, false, cf + with * F);
            memmove(images + with * F, images + i * F, F * sizeof *images);
            idx[with] = idx[i];
            cf_class[with] = mpred[counterfactual]; /* its prediction with the auxiliary memory */
            in_class[with] = pred[i];
            distance[with] = mw_cf_elastic_distance(images + with * F, cf + with * F, BETA, F);
            if (opt->cf_proto_inputs == 0) /* no search: the pictures show these */
                picture(&r, idx[with], pred[i], images + with * F, cf + with * F,
                        cf_class[with], false);
            with++;
        }
        sums[MW_CF_MEMORY].inputs += with;
        if (s == MW_OK && with) s = score(&r, cf, with, cf_class, in_class, distance, &sums[MW_CF_MEMORY]);
        /* CF-Proto on the inputs whose target class has a prototype, within the budget; the
         * inputs move to the front again, slot[] says where their memory row is */
        for (int i = 0; i < with && s == MW_OK; i++) {
            if (sums[MW_CF_PROTO].inputs + searched >= opt->cf_proto_inputs) break;
            if (!r.has_proto[cf_class[i]]) continue;
            memmove(images + searched * F, images + i * F, F * sizeof *images);
            target[searched] = cf_class[i];
            in_class[searched] = in_class[i];
            slot[searched] = i;
            searched++;
        }
        /* the search encodes its few inputs at every step: an encoder part of their size */
        if (s == MW_OK && searched) s = explainer_small_encoder(x, searched);
        if (s == MW_OK && searched) {
            s = search(&r, images, searched, mem_enc, in_class, target, start / CF_BATCH + 1, best,
                       found, distance);
            int kept = 0, row_of[CF_BATCH], kept_from[CF_BATCH];
            for (int i = 0; i < searched && s == MW_OK; i++) {
                int m = slot[i];
                row_of[i] = picture(&r, idx[m], in_class[i], images + i * F, cf + m * F,
                                    cf_class[m], true);
                if (row_of[i] >= 0 && found[i])
                    memcpy(r.picture[2] + (size_t)row_of[i] * F, best + i * F, F * sizeof *best);
            }
            for (int i = 0; i < searched; i++) {
                if (!found[i]) continue;
                memmove(best + kept * F, best + i * F, F * sizeof *best);
                in_class[kept] = in_class[i], distance[kept] = distance[i];
                kept_from[kept++] = i;
            }
            /* their classes with the auxiliary memory, as the memory samples' */
            if (s == MW_OK && kept) s = classify(&r, best, kept, aux_enc, target);
            for (int j = 0; j < kept && s == MW_OK; j++) {
                int row = row_of[kept_from[j]];
                if (row < 0) continue;
                r.pics[row].proto_cf = r.picture[2] + (size_t)row * F;
                r.pics[row].proto_cf_class = target[j];
            }
            if (s == MW_OK && kept) s = score(&r, best, kept, target, in_class, distance, &sums[MW_CF_PROTO]);
            sums[MW_CF_PROTO].inputs += searched;
        }
        progress(&r, "counterfactuals", 1, 1, start / CF_BATCH + 1, (total + CF_BATCH - 1) / CF_BATCH);
    }
    out->test_inputs = total;
    if (s == MW_OK && r.pictured) s = write_picture(&r, out);
    for (int m = 0; m < MW_CF_METHODS; m++)
        out->method[m] = sums_quality(&sums[m]);
    cf_autoencoders_free(&r.ae);
    free(mem), free(aux), free(mem_enc), free(aux_enc), free(weights), free(images), free(cf);
    free(best), free(idx), free(pred), free(mpred), free(cf_class), free(in_class), free(target);
    free(distance), free(slot), free(found), free(r.protos), free(r.has_proto), free(r.rows);
    free(r.logits);
    for (int k = 0; k < 3; k++)
        free(r.recon[k]), free(r.picture[k]);
    return s;
}
