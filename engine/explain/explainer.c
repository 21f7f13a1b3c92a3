/* The trained model as parts, and the cached encodings (see explainer.h). */
#include <stdlib.h>
#include <string.h>

#include "explain/explainer.h"
#include "memwrap/checkpoint.h"

static mw_model_options part_options(const mw_explainer *x, mw_model_part part, int batch,
                                     int memory, bool gradients, bool blocks) {
    const mw_dataset *d = x->t->train;
    mw_model_options o = {.encoder = &x->spec.model,
                          .variant = x->spec.variant,
                          .in_channels = d->channels,
                          .image_size = d->height,
                          .classes = d->classes,
                          .batch = batch,
                          .memory = memory,
                          .distance = x->t->run->distance,
                          .dropout = -1,
                          .part = part,
                          .input_gradients = gradients,
                          .attention_bias = blocks,
                          /* the plain heads keep the MLP's hidden layer: the example scores */
                          .return_hidden = part == MW_MODEL_HEAD && !gradients};
    return o;
}

static mw_status head_init(mw_explainer *x, explain_head *h, int batch, int memory,
                           bool gradients) {
    memset(h, 0, sizeof *h);
    h->batch = batch;
    h->memory = memory;
    /* the attribution heads give each row a memory block of its own */
    mw_model_options o = part_options(x, MW_MODEL_HEAD, batch, memory, gradients, gradients);
    MW_TRY(mw_model_build(&o, &h->m));
    mw_status s = mw_exec_create(h->m.g, x->t->rt, &h->ex);
    if (s == MW_OK) s = mw_checkpoint_load_part(h->ex, x->checkpoint);
    return s;
}

static void head_free(explain_head *h) {
    mw_exec_free(h->ex);
    mw_model_free(&h->m);
    memset(h, 0, sizeof *h);
}

mw_status explainer_init(mw_explainer *x, const mw_trainer *t, const mw_run_spec *spec,
                         const char *checkpoint, bool gradients) {
    memset(x, 0, sizeof *x);
    x->t = t;
    x->spec = *spec;
    x->checkpoint = checkpoint;
    const mw_dataset *train = t->train;
    MW_TRY(mw_protocol_transform(t->run->dataset, &x->tf));
    x->d = spec->model.dim;
    x->classes = train->classes;
    x->memory = t->run->memory_examples;
    x->image_floats = (size_t)train->channels * train->height * train->width;
    int test_batch =
        t->run->test_batch_size < t->test->count ? t->run->test_batch_size : t->test->count;
    /* Encodings in eval mode do not depend on the chunk; a test_batch_size below 100 (a
     * small device's) bounds it too. */
    x->enc_batch = test_batch < 100 ? test_batch : 100;
    bool memory = mw_variant_has_memory(spec->variant);
    x->slot_of = malloc(2 * (size_t)train->count * sizeof *x->slot_of);
    x->enc_images = malloc((size_t)x->enc_batch * x->image_floats * sizeof(float));
    x->enc_rows = malloc((size_t)x->enc_batch * x->d * sizeof(float));
    mw_status s = x->slot_of && x->enc_images && x->enc_rows
                      ? MW_OK
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory explaining");
    if (s == MW_OK)
        for (int i = 0; i < 2 * train->count; i++)
            x->slot_of[i] = -1;
    mw_model_options o = part_options(x, MW_MODEL_ENCODER, x->enc_batch, 0, gradients, false);
    if (s == MW_OK) s = mw_model_build(&o, &x->enc);
    if (s == MW_OK) s = mw_exec_create(x->enc.g, t->rt, &x->enc_ex);
    if (s == MW_OK) s = mw_checkpoint_load_part(x->enc_ex, checkpoint);
    if (s == MW_OK) s = head_init(x, &x->test_head, test_batch, memory ? x->memory : 0, false);
    /* the memory samples' own predictions (explanations and the majority votes only) */
    if (s == MW_OK && mw_variant_has_attention(spec->variant)) s = head_init(x, &x->memory_head, x->memory, x->memory, false);
    if (s != MW_OK) explainer_free(x);
    return s;
}

void explainer_free(mw_explainer *x) {
    head_free(&x->test_head);
    head_free(&x->memory_head);
    for (int i = 0; i < EXPLAIN_ATTRIBUTION_HEADS; i++)
        head_free(&x->attribution[i]);
    mw_exec_free(x->enc_ex);
    mw_model_free(&x->enc);
    mw_exec_free(x->small_ex);
    mw_model_free(&x->small);
    free(x->slot_of), free(x->cache), free(x->enc_images), free(x->enc_rows);
    memset(x, 0, sizeof *x);
}

mw_status explainer_small_encoder(mw_explainer *x, int batch) {
    if (x->small_ex && x->small_batch == batch) return MW_OK;
    mw_exec_free(x->small_ex);
    mw_model_free(&x->small);
    x->small_ex = NULL, x->small_batch = 0;
    if (batch >= x->enc_batch) return MW_OK; /* the main part is as small */
    mw_model_options o = part_options(x, MW_MODEL_ENCODER, batch, 0, false, false);
    MW_TRY(mw_model_build(&o, &x->small));
    MW_TRY(mw_exec_create(x->small.g, x->t->rt, &x->small_ex));
    MW_TRY(mw_checkpoint_load_part(x->small_ex, x->checkpoint));
    x->small_batch = batch;
    return MW_OK;
}

mw_status explainer_encode(mw_explainer *x, const float *images, int n, float *rows) {
    /* the staging buffers hold enc_batch >= small_batch images and rows */
    bool small = x->small_ex && n <= x->small_batch;
    const mw_model *m = small ? &x->small : &x->enc;
    mw_exec *ex = small ? x->small_ex : x->enc_ex;
    const int batch = small ? x->small_batch : x->enc_batch;
    size_t chunk_bytes = (size_t)batch * x->image_floats * sizeof(float);
    for (int start = 0; start < n; start += batch) {
        int c = n - start < batch ? n - start : batch;
        memcpy(x->enc_images, images + (size_t)start * x->image_floats,
               (size_t)c * x->image_floats * sizeof(float));
        /* pad with zeros: in eval mode each image is encoded on its own */
        memset(x->enc_images + (size_t)c * x->image_floats, 0,
               (size_t)(batch - c) * x->image_floats * sizeof(float));
        MW_TRY(mw_exec_write(ex, m->images, x->enc_images, chunk_bytes));
        MW_TRY(mw_exec_run(ex, MW_RUN_FORWARD));
        MW_TRY(mw_exec_read(ex, m->encodings, x->enc_rows, (size_t)batch * x->d * sizeof(float)));
        memcpy(rows + (size_t)start * x->d, x->enc_rows, (size_t)c * x->d * sizeof(float));
    }
    return MW_OK;
}

mw_status explainer_train_encodings(mw_explainer *x, const int32_t *idx, const uint8_t *flips,
                                    int n, float *rows) {
    const mw_dataset *train = x->t->train;
    /* slot of (image, mirrored): each encoded once per explainer, however often drawn */
#define SLOT(i) x->slot_of[(size_t)(flips && flips[i]) * train->count + idx[i]]
    int32_t *missing = malloc((size_t)(n ? n : 1) * sizeof *missing);
    if (!missing) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    int n_missing = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= train->count) {
            free(missing);
            return mw_error_set(MW_ERR_INVALID_ARG, "training image %d of %d", idx[i],
                                train->count);
        }
        if (SLOT(i) >= 0) continue;
        SLOT(i) = -2; /* marked while collecting */
        missing[n_missing++] = i;
    }
    mw_status s = MW_OK;
    if (x->cached + n_missing > x->cache_rows) {
        int want = x->cache_rows ? x->cache_rows : 1024;
        while (want < x->cached + n_missing)
            want *= 2;
        float *bigger = realloc(x->cache, (size_t)want * x->d * sizeof(float));
        if (bigger) {
            x->cache = bigger;
            x->cache_rows = want;
        } else {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for %d encodings", want);
        }
    }
    float *images = malloc((size_t)x->enc_batch * x->image_floats * sizeof(float));
    if (!images && s == MW_OK) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int start = 0; start < n_missing && s == MW_OK; start += x->enc_batch) {
        int c = n_missing - start < x->enc_batch ? n_missing - start : x->enc_batch;
        for (int k = 0; k < c; k++) { /* the evaluation transform, mirrored where drawn so */
            int i = missing[start + k];
            mw_protocol_fill_image(train, idx[i], &x->tf, flips && flips[i],
                                   images + (size_t)k * x->image_floats);
        }
        s = explainer_encode(x, images, c, x->cache + (size_t)x->cached * x->d);
        for (int k = 0; k < c && s == MW_OK; k++) {
            int i = missing[start + k];
            SLOT(i) = x->cached++;
        }
    }
    free(images);
    if (s != MW_OK) /* unmark what was not encoded */
        for (int k = 0; k < n_missing; k++) {
            int i = missing[k];
            if (SLOT(i) == -2) SLOT(i) = -1;
        }
    free(missing);
    for (int i = 0; i < n && s == MW_OK; i++)
        memcpy(rows + (size_t)i * x->d, x->cache + (size_t)SLOT(i) * x->d,
               (size_t)x->d * sizeof(float));
#undef SLOT
    return s;
}

mw_status explainer_head_support(mw_explainer *x, explain_head *h, const int32_t *midx) {
    const int M = h->memory, C = x->classes;
    int32_t *labels = malloc((size_t)M * sizeof *labels);
    float *average = malloc((size_t)C * M * sizeof *average);
    mw_status s = labels && average ? MW_OK
                                    : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int j = 0; j < M && s == MW_OK; j++)
        labels[j] = x->t->train->labels[midx[j]];
    if (s == MW_OK) s = mw_support_fill(x->spec.variant, labels, M, C, average);
    if (s == MW_OK)
        s = mw_exec_write(h->ex, h->m.support, average, (size_t)C * M * sizeof *average);
    free(labels), free(average);
    return s;
}

mw_status explainer_head_run(mw_explainer *x, explain_head *h, const float *rows, int n,
                             const float *memory_rows, float *logits, float *weights) {
    if (n < 1 || n > h->batch)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: %d rows for a head of %d", n, h->batch);
    size_t row_bytes = (size_t)x->d * sizeof(float);
    float *in = NULL;
    const float *e = rows;
    if (n < h->batch) { /* pad with zero rows; each row is classified on its own */
        in = calloc((size_t)h->batch, row_bytes);
        if (!in) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
        memcpy(in, rows, (size_t)n * row_bytes);
        e = in;
    }
    mw_status s = mw_exec_write(h->ex, h->m.encodings, e, (size_t)h->batch * row_bytes);
    free(in);
    if (s == MW_OK && h->m.memory_encodings >= 0)
        s = mw_exec_write(h->ex, h->m.memory_encodings, memory_rows, (size_t)h->memory * row_bytes);
    if (s == MW_OK) s = mw_exec_run(h->ex, MW_RUN_FORWARD);
    float *all = NULL;
    if (s == MW_OK && (n < h->batch)) {
        size_t most = (size_t)h->batch * (h->memory > x->classes ? h->memory : x->classes);
        /* (a std head has no memory: h->memory is 0 and only logits are read) */
        all = malloc(most * sizeof(float));
        if (!all) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    /* read everything, keep the first n rows */
    if (s == MW_OK) {
        size_t bytes = (size_t)h->batch * x->classes * sizeof(float);
        s = mw_exec_read(h->ex, h->m.logits, all ? all : logits, bytes);
        if (s == MW_OK && all) memcpy(logits, all, (size_t)n * x->classes * sizeof(float));
    }
    if (s == MW_OK && weights) {
        size_t bytes = (size_t)h->batch * h->memory * sizeof(float);
        s = mw_exec_read(h->ex, h->m.content_weights, all ? all : weights, bytes);
        if (s == MW_OK && all) memcpy(weights, all, (size_t)n * h->memory * sizeof(float));
    }
    free(all);
    return s;
}

int explainer_hidden_width(const explain_head *h) {
    return h->m.hidden >= 0 ? (int)mw_tensor_dim(h->m.g, h->m.hidden, 1) : 0;
}

mw_status explainer_head_hidden(explain_head *h, int n, float *hidden) {
    int width = explainer_hidden_width(h);
    if (width == 0)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: the head has no hidden layer");
    size_t row = (size_t)width * sizeof(float);
    if (n == h->batch) return mw_exec_read(h->ex, h->m.hidden, hidden, (size_t)n * row);
    float *all = malloc((size_t)h->batch * row);
    if (!all) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    mw_status s = mw_exec_read(h->ex, h->m.hidden, all, (size_t)h->batch * row);
    if (s == MW_OK) memcpy(hidden, all, (size_t)n * row);
    free(all);
    return s;
}

mw_status explainer_head_param(explain_head *h, const char *name, float *out, size_t count) {
    int t = mw_graph_find(h->m.g, name);
    if (t < 0 || mw_tensor_numel(h->m.g, t) != count)
        return mw_error_set(MW_ERR_INVALID_ARG, "explain: the head has no %zu-value %s", count,
                            name);
    return mw_exec_read(h->ex, t, out, count * sizeof(float));
}

mw_status explainer_attribution_head(mw_explainer *x, int rows, int k, explain_head **out) {
    explain_head *pick = &x->attribution[0];
    for (int i = 0; i < EXPLAIN_ATTRIBUTION_HEADS; i++) {
        explain_head *h = &x->attribution[i];
        if (h->ex && h->batch == rows && h->memory == rows * k) {
            pick = h;
            break;
        }
        /* otherwise the least recently used (an empty slot has last_use 0) */
        if (h->last_use < pick->last_use) pick = h;
    }
    if (!pick->ex || pick->batch != rows || pick->memory != rows * k) {
        head_free(pick);
        MW_TRY(head_init(x, pick, rows, rows * k, true));
    }
    pick->last_use = ++x->uses;
    *out = pick;
    return MW_OK;
}

void explainer_argmax(const float *logits, int n, int classes, int32_t *out) {
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * classes;
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (row[k] > row[best]) best = k;
        out[i] = best;
    }
}
