/* See memwrap/results.h. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "memwrap/results.h"

static void copy_str(char *dst, size_t cap, const cJSON *item) {
    snprintf(dst, cap, "%s", cJSON_IsString(item) ? item->valuestring : "");
}

/* "repeat_accuracy" and "epochs" of one run (both optional: older files lack them). */
static mw_status read_run_logs(const char *path, const cJSON *it, mw_result_row *row) {
    const cJSON *reps = cJSON_GetObjectItemCaseSensitive(it, "repeat_accuracy");
    if (reps) {
        int n = cJSON_IsArray(reps) ? cJSON_GetArraySize(reps) : -1;
        if (n < 0 || n > MW_RESULT_MAX_REPEATS)
            return mw_error_set(MW_ERR_FORMAT,
                                "%s: run %d: \"repeat_accuracy\" is not a list of "
                                "at most %d numbers",
                                path, row->run, MW_RESULT_MAX_REPEATS);
        const cJSON *v;
        cJSON_ArrayForEach(v, reps) {
            if (!cJSON_IsNumber(v))
                return mw_error_set(MW_ERR_FORMAT,
                                    "%s: run %d: \"repeat_accuracy\" holds a "
                                    "non-number",
                                    path, row->run);
            row->repeat_accuracy[row->repeats++] = v->valuedouble;
        }
    }
    const cJSON *epochs = cJSON_GetObjectItemCaseSensitive(it, "epochs");
    if (!epochs) return MW_OK;
    if (!cJSON_IsArray(epochs))
        return mw_error_set(MW_ERR_FORMAT, "%s: run %d: \"epochs\" is not a list", path, row->run);
    int n = cJSON_GetArraySize(epochs);
    if (n == 0) return MW_OK;
    row->epochs = malloc((size_t)n * sizeof *row->epochs);
    if (!row->epochs) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    const cJSON *e;
    cJSON_ArrayForEach(e, epochs) {
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(e, "epoch");
        const cJSON *loss = cJSON_GetObjectItemCaseSensitive(e, "loss");
        const cJSON *lr = cJSON_GetObjectItemCaseSensitive(e, "lr");
        if (!cJSON_IsNumber(num) || !cJSON_IsNumber(loss) || !cJSON_IsNumber(lr))
            return mw_error_set(MW_ERR_FORMAT,
                                "%s: run %d: \"epochs\" entry %d lacks a numeric "
                                "\"epoch\", \"loss\" or \"lr\"",
                                path, row->run, row->n_epochs);
        row->epochs[row->n_epochs++] =
            (mw_epoch_stat){num->valueint, loss->valuedouble, lr->valuedouble};
    }
    return MW_OK;
}

mw_status mw_results_load(const char *dir, mw_results *r) {
    memset(r, 0, sizeof *r);
    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return MW_OK; /* a new grid */
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!text || got != (size_t)size) {
        free(text);
        return mw_error_set(MW_ERR_IO, "%s: cannot read", path);
    }
    text[size] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, true);
    long error_at = root ? -1 : (long)(cJSON_GetErrorPtr() - text);
    free(text);
    if (!root)
        return mw_error_set(MW_ERR_FORMAT, "%s: not valid JSON (error near byte %ld)", path,
                            error_at);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    if (!cJSON_IsArray(runs)) {
        cJSON_Delete(root);
        return mw_error_set(MW_ERR_FORMAT, "%s: not a memwrap results file (no \"runs\" list)",
                            path);
    }
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (cJSON_IsObject(config)) r->config_json = cJSON_PrintUnformatted(config);
    mw_status s = MW_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, runs) {
        mw_result_row row = {0};
        const cJSON *acc = cJSON_GetObjectItemCaseSensitive(it, "accuracy");
        const cJSON *run = cJSON_GetObjectItemCaseSensitive(it, "run");
        const cJSON *size_item = cJSON_GetObjectItemCaseSensitive(it, "train_examples");
        if (!cJSON_IsNumber(acc) || !cJSON_IsNumber(run)) {
            s = mw_error_set(MW_ERR_FORMAT, "%s: a run without accuracy or run index", path);
            break;
        }
        copy_str(row.dataset, sizeof row.dataset, cJSON_GetObjectItemCaseSensitive(it, "dataset"));
        copy_str(row.model, sizeof row.model, cJSON_GetObjectItemCaseSensitive(it, "model"));
        copy_str(row.variant, sizeof row.variant, cJSON_GetObjectItemCaseSensitive(it, "variant"));
        copy_str(row.device, sizeof row.device, cJSON_GetObjectItemCaseSensitive(it, "device"));
        copy_str(row.commit, sizeof row.commit, cJSON_GetObjectItemCaseSensitive(it, "commit"));
        copy_str(row.checkpoint, sizeof row.checkpoint,
                 cJSON_GetObjectItemCaseSensitive(it, "checkpoint"));
        row.train_examples = cJSON_IsNumber(size_item) ? (long)size_item->valuedouble : -1;
        row.run = run->valueint;
        row.accuracy = acc->valuedouble;
        const cJSON *secs = cJSON_GetObjectItemCaseSensitive(it, "seconds");
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(it, "train_count");
        row.seconds = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
        row.train_count = cJSON_IsNumber(count) ? count->valueint : 0;
        const cJSON *mvo = cJSON_GetObjectItemCaseSensitive(it, "mvo_accuracy");
        const cJSON *mvy = cJSON_GetObjectItemCaseSensitive(it, "mvy_accuracy");
        row.has_majority = cJSON_IsNumber(mvo) && cJSON_IsNumber(mvy); /* optional */
        if (row.has_majority)
            row.mvo_accuracy = mvo->valuedouble, row.mvy_accuracy = mvy->valuedouble;
        s = read_run_logs(path, it, &row);
        if (s == MW_OK) s = mw_results_add(r, &row);
        free(row.epochs);
        if (s != MW_OK) break;
    }
    cJSON_Delete(root);
    if (s != MW_OK) mw_results_free(r);
    return s;
}

void mw_results_free(mw_results *r) {
    for (int i = 0; i < r->count; i++)
        free(r->rows[i].epochs);
    free(r->rows);
    free(r->config_json);
    memset(r, 0, sizeof *r);
}

const mw_result_row *mw_results_find(const mw_results *r, const char *dataset, const char *model,
                                     const char *variant, long train_examples, int run) {
    for (int i = 0; i < r->count; i++) {
        const mw_result_row *w = &r->rows[i];
        if (strcmp(w->dataset, dataset) == 0 && strcmp(w->model, model) == 0 &&
            strcmp(w->variant, variant) == 0 && w->train_examples == train_examples &&
            w->run == run)
            return w;
    }
    return NULL;
}

mw_status mw_results_add(mw_results *r, const mw_result_row *row) {
    mw_epoch_stat *log = NULL;
    if (row->n_epochs > 0) {
        log = malloc((size_t)row->n_epochs * sizeof *log);
        if (!log) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for results");
        memcpy(log, row->epochs, (size_t)row->n_epochs * sizeof *log);
    }
    mw_result_row *same = (mw_result_row *)mw_results_find(
        r, row->dataset, row->model, row->variant, row->train_examples, row->run);
    if (!same && r->count == r->capacity) {
        int cap = r->capacity ? 2 * r->capacity : 16;
        mw_result_row *rows = realloc(r->rows, (size_t)cap * sizeof *rows);
        if (!rows) {
            free(log);
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for results");
        }
        r->rows = rows;
        r->capacity = cap;
    }
    if (same)
        free(same->epochs);
    else
        same = &r->rows[r->count++];
    *same = *row;
    same->epochs = log;
    return MW_OK;
}

static cJSON *row_json(const mw_result_row *w) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", w->dataset);
    cJSON_AddStringToObject(o, "model", w->model);
    cJSON_AddStringToObject(o, "variant", w->variant);
    if (w->train_examples < 0)
        cJSON_AddStringToObject(o, "train_examples", "full");
    else
        cJSON_AddNumberToObject(o, "train_examples", (double)w->train_examples);
    cJSON_AddNumberToObject(o, "train_count", w->train_count);
    cJSON_AddNumberToObject(o, "run", w->run);
    cJSON_AddNumberToObject(o, "seed", w->run);
    cJSON_AddNumberToObject(o, "accuracy", w->accuracy);
    cJSON_AddNumberToObject(o, "seconds", w->seconds);
    cJSON_AddStringToObject(o, "device", w->device);
    cJSON_AddStringToObject(o, "commit", w->commit);
    cJSON_AddStringToObject(o, "checkpoint", w->checkpoint);
    if (w->has_majority) {
        cJSON_AddNumberToObject(o, "mvo_accuracy", w->mvo_accuracy);
        cJSON_AddNumberToObject(o, "mvy_accuracy", w->mvy_accuracy);
    }
    cJSON *reps = cJSON_AddArrayToObject(o, "repeat_accuracy");
    for (int k = 0; k < w->repeats; k++)
        cJSON_AddItemToArray(reps, cJSON_CreateNumber(w->repeat_accuracy[k]));
    cJSON *log = cJSON_AddArrayToObject(o, "epochs");
    for (int k = 0; k < w->n_epochs; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "epoch", w->epochs[k].epoch);
        cJSON_AddNumberToObject(e, "loss", w->epochs[k].loss);
        cJSON_AddNumberToObject(e, "lr", w->epochs[k].lr);
        cJSON_AddItemToArray(log, e);
    }
    return o;
}

const char *mw_variant_paper_name(const char *variant) {
    if (strcmp(variant, "std") == 0) return "Std";
    if (strcmp(variant, "memory") == 0) return "Only Memory";
    if (strcmp(variant, "encoder_memory") == 0) return "Memory Wrap";
    if (strcmp(variant, "protonet") == 0) return "ProtoNet";
    if (strcmp(variant, "matching") == 0) return "MatchingNet";
    return variant;
}

static bool same_line(const mw_result_row *a, const mw_result_row *b) {
    return strcmp(a->dataset, b->dataset) == 0 && strcmp(a->model, b->model) == 0 &&
           strcmp(a->variant, b->variant) == 0;
}

/* "full" (-1) sorts after every size. */
static long size_key(long size) {
    return size < 0 ? LONG_MAX : size;
}

/* The value a table shows of a row, and whether the row has it. */
typedef enum table_value { VALUE_ACCURACY = 0, VALUE_MVO, VALUE_MVY } table_value;

static bool row_value(const mw_result_row *w, table_value v, double *out) {
    if (v != VALUE_ACCURACY && !w->has_majority) return false;
    *out = v == VALUE_ACCURACY ? w->accuracy : v == VALUE_MVO ? w->mvo_accuracy : w->mvy_accuracy;
    return true;
}

static mw_status table_make(const mw_results *r, table_value value, mw_results_table *t);

mw_status mw_results_table_make(const mw_results *r, mw_results_table *t) {
    return table_make(r, VALUE_ACCURACY, t);
}

/* The Table-1 grouping of the rows that have `value`. */
static mw_status table_make(const mw_results *r, table_value value, mw_results_table *t) {
    memset(t, 0, sizeof *t);
    double x;
    int n = r->count ? r->count : 1;
    t->sizes = malloc((size_t)n * sizeof *t->sizes);
    t->lines = malloc((size_t)n * sizeof *t->lines);
    if (!t->sizes || !t->lines) goto oom;
    for (int i = 0; i < r->count; i++) {
        const mw_result_row *w = &r->rows[i];
        if (!row_value(w, value, &x)) continue;
        int k = 0;
        while (k < t->n_sizes && t->sizes[k] != w->train_examples)
            k++;
        if (k == t->n_sizes) t->sizes[t->n_sizes++] = w->train_examples;
        k = 0;
        while (k < t->n_lines && !same_line(t->lines[k], w))
            k++;
        if (k == t->n_lines) t->lines[t->n_lines++] = w;
    }
    for (int a = 1; a < t->n_sizes; a++) /* insertion sort, ascending */
        for (int b = a; b > 0 && size_key(t->sizes[b]) < size_key(t->sizes[b - 1]); b--) {
            long tmp = t->sizes[b];
            t->sizes[b] = t->sizes[b - 1];
            t->sizes[b - 1] = tmp;
        }
    t->cells = calloc((size_t)(t->n_lines ? t->n_lines : 1) * (size_t)(t->n_sizes ? t->n_sizes : 1),
                      sizeof *t->cells);
    if (!t->cells) goto oom;
    for (int l = 0; l < t->n_lines; l++)
        for (int k = 0; k < t->n_sizes; k++) {
            mw_result_cell *c = &t->cells[(size_t)l * (size_t)t->n_sizes + (size_t)k];
            double sum = 0, sq = 0;
            for (int i = 0; i < r->count; i++)
                if (same_line(&r->rows[i], t->lines[l]) &&
                    r->rows[i].train_examples == t->sizes[k] && row_value(&r->rows[i], value, &x))
                    sum += x, c->n++;
            if (c->n == 0) continue;
            c->mean = sum / c->n;
            for (int i = 0; i < r->count; i++) /* two passes: no cancellation in the spread */
                if (same_line(&r->rows[i], t->lines[l]) &&
                    r->rows[i].train_examples == t->sizes[k] && row_value(&r->rows[i], value, &x))
                    sq += (x - c->mean) * (x - c->mean);
            c->std = sqrt(sq / c->n);
        }
    return MW_OK;
oom:
    mw_results_table_free(t);
    return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the results table");
}

void mw_results_table_free(mw_results_table *t) {
    free(t->sizes);
    free(t->lines);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* Bounded appends to a markdown buffer (snprintf semantics: `used` may pass `cap`, which
 * the caller checks at the end). */
typedef struct md_buffer {
    char *text;
    size_t used, cap;
} md_buffer;

#define OUT(b, ...)                                                                                \
    ((b)->used += (size_t)snprintf((b)->text + (b)->used,                                          \
                                   (b)->used < (b)->cap ? (b)->cap - (b)->used : 0, __VA_ARGS__))

static void table_header(md_buffer *b, const mw_results_table *t) {
    OUT(b, "| dataset | model | variant |");
    for (int k = 0; k < t->n_sizes; k++) {
        if (t->sizes[k] < 0)
            OUT(b, " full |");
        else
            OUT(b, " %ld |", t->sizes[k]);
    }
    OUT(b, "\n|---|---|---|");
    for (int k = 0; k < t->n_sizes; k++)
        OUT(b, "---|");
    OUT(b, "\n");
}

/* One line per (dataset, model, variant), its variant followed by `suffix`. */
static void table_rows(md_buffer *b, const mw_results_table *t, const char *suffix) {
    for (int l = 0; l < t->n_lines; l++) {
        const mw_result_row *w = t->lines[l];
        OUT(b, "| %s | %s | %s%s |", w->dataset, w->model, w->variant, suffix);
        for (int k = 0; k < t->n_sizes; k++) {
            const mw_result_cell *c = mw_results_table_cell(t, l, k);
            if (c->n == 0)
                OUT(b, " |");
            else
                OUT(b, " %.2f ± %.2f (%d) |", c->mean, c->std, c->n);
        }
        OUT(b, "\n");
    }
}

char *mw_results_markdown(const mw_results *r) {
    mw_results_table t, mvo, mvy;
    if (mw_results_table_make(r, &t) != MW_OK) return NULL;
    if (table_make(r, VALUE_MVO, &mvo) != MW_OK) {
        mw_results_table_free(&t);
        return NULL;
    }
    if (table_make(r, VALUE_MVY, &mvy) != MW_OK) {
        mw_results_table_free(&t);
        mw_results_table_free(&mvo);
        return NULL;
    }
    md_buffer b = {NULL, 0,
                   8192 + (size_t)(t.n_lines + 2 * mvo.n_lines) * (size_t)(t.n_sizes + 1) * 128};
    b.text = malloc(b.cap);
    if (b.text) {
        OUT(&b, "# Results\n\nTest accuracy (%%), mean ± std (population) over runs, as the "
                "paper's Table 1; the number of runs in brackets.\n\n");
        table_header(&b, &t);
        table_rows(&b, &t, "");
        if (mvo.n_lines > 0) {
            OUT(&b, "\n## Majority-vote baselines\n\nThe paper's baselines over the same "
                    "evaluation of each memory-variant run: the most frequent predicted class "
                    "(MVO) or true label (MVY) of the memory samples with non-zero weight, "
                    "taken as the prediction.\n\n");
            table_header(&b, &mvo);
            table_rows(&b, &mvo, " MVO");
            table_rows(&b, &mvy, " MVY");
        }
        if (b.used >= b.cap) b.text[b.cap - 1] = '\0';
    }
#undef OUT
    mw_results_table_free(&t);
    mw_results_table_free(&mvo);
    mw_results_table_free(&mvy);
    return b.text;
}

mw_status mw_results_write(const mw_results *r, const char *dir, const char *config_json) {
    cJSON *root = cJSON_CreateObject(), *runs = cJSON_CreateArray();
    if (config_json) {
        cJSON *cfg = cJSON_Parse(config_json);
        if (cfg) cJSON_AddItemToObject(root, "config", cfg);
    }
    for (int i = 0; i < r->count; i++)
        cJSON_AddItemToArray(runs, row_json(&r->rows[i]));
    cJSON_AddItemToObject(root, "runs", runs);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char *md = mw_results_markdown(r);
    if (!text || !md) {
        free(text), free(md);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory writing results");
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", dir);
    mw_status s = mw_write_file_atomic(path, text, strlen(text));
    snprintf(path, sizeof path, "%s/results.md", dir);
    if (s == MW_OK) s = mw_write_file_atomic(path, md, strlen(md));
    free(text), free(md);
    return s;
}
