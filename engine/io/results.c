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
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    if (!root || !cJSON_IsArray(runs)) {
        cJSON_Delete(root);
        return mw_error_set(MW_ERR_FORMAT, "%s: not a memwrap results file (no \"runs\" list); "
                                           "move it away or choose another --out",
                            path);
    }
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
        if ((s = mw_results_add(r, &row)) != MW_OK) break;
    }
    cJSON_Delete(root);
    if (s != MW_OK) mw_results_free(r);
    return s;
}

void mw_results_free(mw_results *r) {
    free(r->rows);
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
    mw_result_row *same = (mw_result_row *)mw_results_find(r, row->dataset, row->model,
                                                           row->variant, row->train_examples,
                                                           row->run);
    if (same) {
        *same = *row;
        return MW_OK;
    }
    if (r->count == r->capacity) {
        int cap = r->capacity ? 2 * r->capacity : 16;
        mw_result_row *rows = realloc(r->rows, (size_t)cap * sizeof *rows);
        if (!rows) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for results");
        r->rows = rows;
        r->capacity = cap;
    }
    r->rows[r->count++] = *row;
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
    return o;
}

/* Distinct values of a column in first-seen order. */
static int distinct_sizes(const mw_results *r, long *out, int cap) {
    int n = 0;
    for (int i = 0; i < r->count; i++) {
        bool seen = false;
        for (int k = 0; k < n; k++) seen |= out[k] == r->rows[i].train_examples;
        if (!seen && n < cap) out[n++] = r->rows[i].train_examples;
    }
    /* ascending, "full" (-1) last */
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++) {
            long x = out[a] < 0 ? LONG_MAX : out[a], y = out[b] < 0 ? LONG_MAX : out[b];
            if (y < x) {
                long t = out[a];
                out[a] = out[b];
                out[b] = t;
            }
        }
    return n;
}

char *mw_results_markdown(const mw_results *r) {
    long sizes[32];
    int ns = distinct_sizes(r, sizes, 32);
    size_t cap = 4096 + (size_t)r->count * 256, used = 0;
    char *md = malloc(cap);
    if (!md) return NULL;
#define OUT(...) used += (size_t)snprintf(md + used, used < cap ? cap - used : 0, __VA_ARGS__)
    OUT("# Results\n\nTest accuracy (%%), mean ± std (population) over runs, as the paper's "
        "Table 1; the number of runs in brackets.\n\n| dataset | model | variant |");
    for (int k = 0; k < ns; k++) {
        if (sizes[k] < 0)
            OUT(" full |");
        else
            OUT(" %ld |", sizes[k]);
    }
    OUT("\n|---|---|---|");
    for (int k = 0; k < ns; k++) OUT("---|");
    OUT("\n");
    for (int i = 0; i < r->count; i++) {
        const mw_result_row *w = &r->rows[i];
        bool first = true; /* one line per (dataset, model, variant), at its first row */
        for (int j = 0; j < i && first; j++)
            first = !(strcmp(r->rows[j].dataset, w->dataset) == 0 &&
                      strcmp(r->rows[j].model, w->model) == 0 &&
                      strcmp(r->rows[j].variant, w->variant) == 0);
        if (!first) continue;
        OUT("| %s | %s | %s |", w->dataset, w->model, w->variant);
        for (int k = 0; k < ns; k++) {
            double sum = 0, sq = 0;
            int n = 0;
            for (int j = 0; j < r->count; j++) {
                const mw_result_row *v = &r->rows[j];
                if (strcmp(v->dataset, w->dataset) || strcmp(v->model, w->model) ||
                    strcmp(v->variant, w->variant) || v->train_examples != sizes[k])
                    continue;
                sum += v->accuracy;
                sq += v->accuracy * v->accuracy;
                n++;
            }
            if (n == 0) {
                OUT(" |");
                continue;
            }
            double mean = sum / n, var = sq / n - mean * mean;
            OUT(" %.2f ± %.2f (%d) |", mean, sqrt(var > 0 ? var : 0), n);
        }
        OUT("\n");
    }
#undef OUT
    if (used >= cap) md[cap - 1] = '\0';
    return md;
}

mw_status mw_results_write(const mw_results *r, const char *dir, const char *config_json) {
    cJSON *root = cJSON_CreateObject(), *runs = cJSON_CreateArray();
    if (config_json) {
        cJSON *cfg = cJSON_Parse(config_json);
        if (cfg) cJSON_AddItemToObject(root, "config", cfg);
    }
    for (int i = 0; i < r->count; i++) cJSON_AddItemToArray(runs, row_json(&r->rows[i]));
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
