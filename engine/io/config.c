/* Experiment configs (JSON, cJSON). One table, `keys`, lists every key of the schema with
 * its type and where it lives in mw_config; loading, the unknown-key check, the override
 * parser and mw_config_to_json all walk that table, so a new key is one new row.
 *
 * Loading: parse the file, merge each --set override into the parsed tree, reject unknown
 * or repeated keys, take dataset.name (so an override of it picks that dataset's defaults),
 * start from mw_config_defaults, copy every key present over them, then check the values
 * that depend on each other. Every message starts with the file (and the override, when
 * the offending key came from one). */
#define _POSIX_C_SOURCE 200809L

#include "io/encoder_json.h"
#include "memwrap/config.h"
#include "memwrap/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "memwrap/ops.h"

/* ---- datasets: names and per-dataset defaults (reference-spec 3.1, 3.3) --------------- */

typedef struct dataset_defaults {
    const char *names[3]; /* canonical spelling first, then aliases (as memwrap/data.h) */
    int epochs;
    mw_schedule_kind schedule;
    int milestones[2], n_milestones;
    int validation_examples;
    const char *root;   /* "" = must be given */
    const char *source; /* where the files come from */
} dataset_defaults;

static const dataset_defaults datasets[] = {
    /* Not in the paper: its SVHN protocol, on the dataset Debian ships. */
    {{"fashion-mnist", "fmnist", "fashion_mnist"},
     40,
     MW_SCHEDULE_MULTISTEP,
     {20, 30},
     2,
     6000,
     "/usr/share/datasets/fashion-mnist",
     "Fashion-MNIST: 'apt install dataset-fashion-mnist' (files in "
     "/usr/share/datasets/fashion-mnist), or the four *-ubyte.gz files of "
     "https://github.com/zalandoresearch/fashion-mnist"},
    {{"mnist"},
     40,
     MW_SCHEDULE_MULTISTEP,
     {20, 30},
     2,
     6000,
     "",
     "MNIST: the four IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] of "
     "http://yann.lecun.com/exdb/mnist/ (or a mirror) in one directory"},
    {{"cifar10", "cifar-10"},
     300,
     MW_SCHEDULE_MULTISTEP,
     {150, 225},
     2,
     6000,
     "",
     "CIFAR-10: the binary version, https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, "
     "unpacked (root holds data_batch_1.bin or cifar-10-batches-bin/)"},
    {{"svhn"},
     40,
     MW_SCHEDULE_MULTISTEP,
     {20, 30},
     2,
     6000,
     "",
     "SVHN: train_32x32.mat and test_32x32.mat of http://ufldl.stanford.edu/housenumbers/ "
     "in one directory"},
    /* The reference's yaml lists milestones for CINIC-10 but train.py uses
     * CosineAnnealingLR(T_max=epochs, eta_min=0) (reference-spec 3.1, 8.6). */
    {{"cinic10", "cinic-10"},
     300,
     MW_SCHEDULE_COSINE,
     {0, 0},
     0,
     10,
     "",
     "CINIC-10: CINIC-10.tar.gz of https://datashare.ed.ac.uk/handle/10283/3192 "
     "(see https://github.com/BayesWatch/cinic-10), unpacked (root holds train/ and test/)"},
};
enum { N_DATASETS = sizeof datasets / sizeof datasets[0] };

static const dataset_defaults *find_dataset(const char *name) {
    for (int i = 0; name && i < N_DATASETS; i++)
        for (int k = 0; k < 3 && datasets[i].names[k]; k++)
            if (strcmp(name, datasets[i].names[k]) == 0) return &datasets[i];
    return NULL;
}

static mw_status unknown_dataset(const char *name) {
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; i < N_DATASETS; i++)
        for (int k = 0; k < 3 && datasets[i].names[k]; k++)
            len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                    len ? ", " : "", datasets[i].names[k]);
    return mw_error_set(MW_ERR_INVALID_ARG, "unknown dataset '%s': valid datasets are %s",
                        name ? name : "(null)", list);
}

const char *mw_config_dataset_source(const char *dataset) {
    const dataset_defaults *d = find_dataset(dataset);
    return d ? d->source : "";
}

mw_status mw_config_defaults(const char *dataset, mw_config *out) {
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_config_defaults: NULL output");
    const dataset_defaults *d = find_dataset(dataset);
    if (!d) return unknown_dataset(dataset);
    /* Zero first so that unused array slots and string tails are deterministic (round trips
     * and memcmp-based comparisons see equal structs). */
    memset(out, 0, sizeof *out);
    snprintf(out->run.dataset, sizeof out->run.dataset, "%s", d->names[0]);
    snprintf(out->data_root, sizeof out->data_root, "%s", d->root);
    out->n_models = 1;
    snprintf(out->models[0], sizeof out->models[0], "%s", mw_encoder_mobilenetv2.name);
    out->n_variants = 3;
    out->variants[0] = MW_VARIANT_STD;
    out->variants[1] = MW_VARIANT_MEMORY;
    out->variants[2] = MW_VARIANT_ENCODER_MEMORY;
    static const long sizes[] = {1000, 2000, 5000, -1};
    out->n_sizes = 4;
    memcpy(out->train_examples, sizes, sizeof sizes);
    out->runs = 15;
    out->run.epochs = d->epochs;
    out->run.schedule.kind = d->schedule;
    out->run.schedule.base_lr = 0.1;
    out->run.schedule.n_milestones = d->n_milestones;
    memcpy(out->run.schedule.milestones, d->milestones, sizeof d->milestones);
    out->run.schedule.gamma = 0.1; /* MultiStepLR's default; the yaml sets none */
    out->run.schedule.t_max = d->epochs;
    out->run.schedule.eta_min = 0.0;
    out->run.momentum = 0.9f;
    out->run.weight_decay = 5e-4f;
    out->run.nesterov = true;
    out->run.batch_size = 128;
    out->run.test_batch_size = 500;
    out->run.memory_examples = 100;
    out->run.eval_repeats = 5;
    out->run.test_examples = 0;
    snprintf(out->run.distance, sizeof out->run.distance, "cosine");
    out->run.memory_source = MW_MEMORY_FROM_SUBSET; /* arXiv-era code (reference-spec 8.1) */
    out->run.validation_examples = d->validation_examples;
    out->explain.images = 0;
    out->explain.metrics = false;
    out->explain.repeats = 5;
    out->explain.counterfactuals = false;
    out->explain.cf_inputs = 640;
    out->explain.cf_proto_inputs = 64;
    out->explain.cf_iterations = 1000;
    out->explain.ae_epochs = 4;
    out->explain.ae_images = 0;
    return MW_OK;
}

mw_status mw_run_options_defaults(const char *dataset, mw_run_options *out) {
    mw_config c;
    MW_TRY(mw_config_defaults(dataset, &c));
    *out = c.run;
    return MW_OK;
}

mw_status mw_config_for_run(const mw_run_options *run, const mw_run_spec *spec, mw_config *out) {
    MW_TRY(mw_config_defaults(run->dataset, out));
    out->run = *run;
    snprintf(out->name, sizeof out->name, "%s-run", run->dataset);
    out->n_variants = out->n_sizes = 1;
    out->variants[0] = spec->variant;
    out->train_examples[0] = spec->train_examples;
    out->runs = spec->run + 1;
    const mw_layer_list *list = mw_layer_list_of(&spec->model);
    if (list) {
        out->n_encoders = 1;
        out->encoders[0] = *list;
    }
    if (list || mw_encoder_builtin(spec->model.name))
        snprintf(out->models[0], sizeof out->models[0], "%s", spec->model.name);
    return MW_OK;
}

/* ---- the schema ------------------------------------------------------------------------ */

typedef enum key_kind {
    K_OBJECT,     /* a nested level: dataset, schedule, optimizer */
    K_STRING,     /* char array at `offset`, `size` bytes */
    K_INT,        /* int at `offset`, >= lo */
    K_DOUBLE,     /* double at `offset`, >= lo (> lo when lo_open) */
    K_FLOAT,      /* float at `offset`, same bounds */
    K_BOOL,       /* bool at `offset` */
    K_DATASET,    /* dataset name, normalised to the canonical spelling */
    K_DISTANCE,   /* one of mw_distance_names */
    K_MEM_SOURCE, /* "subset" | "full" */
    K_SCHED_KIND, /* mw_schedule_kind_name spellings */
    K_ENCODERS,   /* {name: [layer, ...]}: encoders the config defines (io/encoder_json.h) */
    K_MODELS,     /* [str], built-in (mw_encoder_builtin) or config-defined encoders */
    K_VARIANTS,   /* [str], mw_variant_from_name */
    K_SIZES,      /* [int >= 1 or "full"] */
    K_MILESTONES, /* [int], possibly empty (constant LR under multistep) */
} key_kind;

typedef struct key_spec {
    const char *path; /* dotted */
    key_kind kind;
    size_t offset, size;
    double lo;
    bool lo_open;
} key_spec;

#define AT(member) offsetof(mw_config, member), sizeof(((mw_config *)0)->member)
#define NO_FIELD 0, 0
#define NO_BOUND (-INFINITY), false

/* Emission order of mw_config_to_json; nested keys follow their object. */
static const key_spec keys[] = {
    {"name", K_STRING, AT(name), NO_BOUND},
    {"dataset", K_OBJECT, NO_FIELD, NO_BOUND},
    {"dataset.name", K_DATASET, AT(run.dataset), NO_BOUND},
    {"dataset.root", K_STRING, AT(data_root), NO_BOUND},
    {"dataset.validation_examples", K_INT, AT(run.validation_examples), 0, false},
    {"dataset.memory_source", K_MEM_SOURCE, NO_FIELD, NO_BOUND},
    {"encoders", K_ENCODERS, NO_FIELD, NO_BOUND}, /* before models, which may name them */
    {"models", K_MODELS, NO_FIELD, NO_BOUND},
    {"variants", K_VARIANTS, NO_FIELD, NO_BOUND},
    {"train_examples", K_SIZES, NO_FIELD, NO_BOUND},
    {"runs", K_INT, AT(runs), 1, false},
    {"epochs", K_INT, AT(run.epochs), 1, false},
    /* gamma, eta_min and the milestones' order are checked by mw_lr_schedule_validate. */
    {"schedule", K_OBJECT, NO_FIELD, NO_BOUND},
    {"schedule.kind", K_SCHED_KIND, NO_FIELD, NO_BOUND},
    {"schedule.milestones", K_MILESTONES, NO_FIELD, NO_BOUND},
    {"schedule.gamma", K_DOUBLE, AT(run.schedule.gamma), NO_BOUND},
    {"schedule.eta_min", K_DOUBLE, AT(run.schedule.eta_min), NO_BOUND},
    {"optimizer", K_OBJECT, NO_FIELD, NO_BOUND},
    {"optimizer.lr", K_DOUBLE, AT(run.schedule.base_lr), 0, true},
    {"optimizer.momentum", K_FLOAT, AT(run.momentum), 0, false},
    {"optimizer.nesterov", K_BOOL, AT(run.nesterov), NO_BOUND},
    {"optimizer.weight_decay", K_FLOAT, AT(run.weight_decay), 0, false},
    /* train_examples below batch_size is allowed: the reference trains with batch
     * min(batch_size, train_examples) (reference-spec 3.1), and so does the trainer. */
    {"batch_size", K_INT, AT(run.batch_size), 1, false},
    {"test_batch_size", K_INT, AT(run.test_batch_size), 1, false},
    {"test_examples", K_INT, AT(run.test_examples), 0, false},
    /* >= 1 when a memory variant is in the grid: checked with the variants. */
    {"memory_examples", K_INT, AT(run.memory_examples), 0, false},
    {"eval_repeats", K_INT, AT(run.eval_repeats), 1, false},
    {"distance", K_DISTANCE, AT(run.distance), NO_BOUND},
    {"device", K_STRING, AT(device), NO_BOUND},
    {"explain", K_OBJECT, NO_FIELD, NO_BOUND},
    {"explain.images", K_INT, AT(explain.images), 0, false},
    {"explain.metrics", K_BOOL, AT(explain.metrics), NO_BOUND},
    {"explain.repeats", K_INT, AT(explain.repeats), 1, false},
    {"explain.counterfactuals", K_BOOL, AT(explain.counterfactuals), NO_BOUND},
    {"explain.cf_inputs", K_INT, AT(explain.cf_inputs), 1, false},
    {"explain.cf_proto_inputs", K_INT, AT(explain.cf_proto_inputs), 0, false},
    {"explain.cf_iterations", K_INT, AT(explain.cf_iterations), 1, false},
    {"explain.ae_epochs", K_INT, AT(explain.ae_epochs), 1, false},
    {"explain.ae_images", K_INT, AT(explain.ae_images), 0, false},
};
enum { N_KEYS = sizeof keys / sizeof keys[0] };
_Static_assert((int)MW_SCHEDULE_MAX_MILESTONES >= (int)MW_CONFIG_MAX_LIST,
               "set_value parses every list into one milestones-sized buffer");

static const char *const memory_source_names[] = {"subset", "full"};

static const key_spec *find_key(const char *path) {
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0) return &keys[i];
    return NULL;
}

/* Length of the parent part of a dotted path ("dataset.root" -> 7, "runs" -> 0). */
static size_t parent_len(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

/* "name, dataset, models, ..." : the keys one level below `parent` ("" = top level). */
static void keys_of_level(const char *parent, char *buf, size_t cap) {
    size_t len = 0, plen = strlen(parent);
    buf[0] = '\0';
    for (int i = 0; i < N_KEYS; i++) {
        const char *p = keys[i].path;
        if (parent_len(p) != plen || strncmp(p, parent, plen) != 0) continue;
        const char *leaf = plen ? p + plen + 1 : p;
        len +=
            (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s", len ? ", " : "", leaf);
    }
}

/* ---- error context: which file, and which override set a key --------------------------- */

typedef struct override {
    char key[128];
    const char *text; /* the whole "KEY=VALUE" */
} override;

typedef struct load_ctx {
    const char *file;
    const override *overrides;
    int n_overrides;
} load_ctx;

/* Whether dotted `a` is `b` or lies above or below it ("schedule" and "schedule.gamma"). */
static bool related(const char *a, const char *b) {
    size_t n = strlen(a) < strlen(b) ? strlen(a) : strlen(b);
    return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '.') && (b[n] == '\0' || b[n] == '.');
}

/* "cfg.json", or "cfg.json (--set optimizer.lr=0)" when the last override touching `key`
 * (the key itself, an object above it, or a key below it) or, when there is none, `also`
 * (a second key the value was checked against; NULL for none). */
static const char *origin(const load_ctx *x, const char *key, const char *also, char *buf,
                          size_t cap) {
    for (int pass = 0; pass < 2; pass++) {
        const char *k = pass ? also : key;
        for (int i = x->n_overrides - 1; k && i >= 0; i--) {
            if (related(k, x->overrides[i].key)) {
                snprintf(buf, cap, "%s (--set %s)", x->file, x->overrides[i].text);
                return buf;
            }
        }
    }
    return x->file;
}

#define ORIGIN(x, key) origin((x), (key), NULL, (char[768]){0}, 768)
#define ORIGIN2(x, key, also) origin((x), (key), (also), (char[768]){0}, 768)

static const char *json_type(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an unknown JSON value";
}

static mw_status type_error(const load_ctx *x, const char *key, const char *expected,
                            const cJSON *got) {
    return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s': expected %s, got %s", ORIGIN(x, key),
                        key, expected, json_type(got));
}

/* ---- reading values -------------------------------------------------------------------- */

/* An integral JSON number in [lo, hi]. */
static bool json_long(const cJSON *v, long lo, long hi, long *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) return false;
    *out = (long)d;
    return true;
}

/* A string no longer than the field it goes into. */
static mw_status get_string(const load_ctx *x, const char *key, const cJSON *v, size_t cap,
                            const char **out) {
    if (!cJSON_IsString(v)) return type_error(x, key, "a string", v);
    if (strlen(v->valuestring) >= cap) {
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s': longer than %zu characters",
                            ORIGIN(x, key), key, cap - 1);
    }
    *out = v->valuestring;
    return MW_OK;
}

static mw_status check_lower_bound(const load_ctx *x, const key_spec *k, double value) {
    if (k->lo_open ? value > k->lo : value >= k->lo) return MW_OK;
    return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s' must be %s %g (got %g)",
                        ORIGIN(x, k->path), k->path, k->lo_open ? ">" : ">=", k->lo, value);
}

/* A JSON array of 1..max entries (0..max when allow_empty). */
static mw_status get_list(const load_ctx *x, const char *key, const cJSON *v, int max,
                          bool allow_empty, int *n) {
    if (!cJSON_IsArray(v)) return type_error(x, key, "an array", v);
    *n = cJSON_GetArraySize(v);
    if ((*n == 0 && !allow_empty) || *n > max) {
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s': %d entries (%d to %d allowed)",
                            ORIGIN(x, key), key, *n, allow_empty ? 0 : 1, max);
    }
    return MW_OK;
}

/* A repeated grid entry would run the same cell twice and collide in the results. */
static mw_status check_unique(const load_ctx *x, const char *key, const long *values, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (values[i] == values[j]) {
                return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s': entry %d repeats entry %d",
                                    ORIGIN(x, key), key, i, j);
            }
    return MW_OK;
}

/* Model and variant lists: names through the models module's own parser. */
typedef mw_status (*enum_parser)(const char *name, int *out);

static mw_status parse_variant(const char *name, int *out) {
    mw_variant v;
    MW_TRY(mw_variant_from_name(name, &v));
    *out = (int)v;
    return MW_OK;
}

static mw_status get_name_list(const load_ctx *x, const char *key, const cJSON *v,
                               enum_parser parse, int *n, long *values) {
    MW_TRY(get_list(x, key, v, MW_CONFIG_MAX_LIST, false, n));
    for (int i = 0; i < *n; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(e)) {
            return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s'[%d]: expected a string, got %s",
                                ORIGIN(x, key), key, i, json_type(e));
        }
        int value;
        mw_status s = parse(e->valuestring, &value);
        if (s != MW_OK) return mw_error_wrap(s, "%s: key '%s'[%d]: ", ORIGIN(x, key), key, i);
        values[i] = value;
    }
    return check_unique(x, key, values, *n);
}

/* A string that must be one of `names` (n of them). */
static mw_status get_choice(const load_ctx *x, const char *key, const cJSON *v,
                            const char *const *names, int n, int *out) {
    char list[128] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return MW_OK;
        }
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                i ? ", " : "", names[i]);
    }
    if (!cJSON_IsString(v)) return type_error(x, key, "a string", v);
    return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s': unknown value '%s' (valid: %s)",
                        ORIGIN(x, key), key, v->valuestring, list);
}

static int count_names(const char *const *names) {
    int n = 0;
    while (names[n])
        n++;
    return n;
}

/* Copies the JSON value `v` of key `k` into `c`. */
/* Encoder names become file names (checkpoints, explanation folders): plain characters, and
 * none that would hide a built-in encoder. */
static bool plain_name(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* "encoders": each member a layer list, checked on the dataset's image shape now, so that a
 * mistake in the last model of a grid stops the grid before the first one trains. */
static mw_status set_encoders(const load_ctx *x, const char *key, const cJSON *v, mw_config *c) {
    if (!cJSON_IsObject(v)) return type_error(x, key, "an object {name: [layers]}", v);
    int channels, size;
    MW_TRY(mw_dataset_image_shape(c->run.dataset, &channels, &size));
    c->n_encoders = 0;
    for (const cJSON *m = v->child; m; m = m->next) {
        char where[700];
        snprintf(where, sizeof where, "%s: key '%s.%s'", ORIGIN(x, key), key, m->string);
        if (c->n_encoders == MW_CONFIG_MAX_ENCODERS)
            return mw_error_set(MW_ERR_INVALID_ARG, "%s: more than %d encoders", where,
                                MW_CONFIG_MAX_ENCODERS);
        if (!plain_name(m->string) || strlen(m->string) >= MW_LAYER_NAME_MAX)
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "%s: an encoder's name is 1 to %d letters, digits or _", where,
                                MW_LAYER_NAME_MAX - 1);
        if (mw_encoder_builtin(m->string))
            return mw_error_set(MW_ERR_INVALID_ARG, "%s: '%s' is a built-in encoder's name", where,
                                m->string);
        mw_layer_list *l = &c->encoders[c->n_encoders];
        for (int i = 0; i < c->n_encoders; i++) /* cJSON keeps repeated members */
            if (strcmp(c->encoders[i].name, m->string) == 0)
                return mw_error_set(MW_ERR_INVALID_ARG, "%s: defined twice", where);
        snprintf(l->name, sizeof l->name, "%s", m->string);
        MW_TRY(mw_layer_list_from_json(m, where, l));
        mw_status s = mw_layer_list_check(l, channels, size);
        if (s != MW_OK) return mw_error_wrap(s, "%s: ", where);
        c->n_encoders++;
    }
    return MW_OK;
}

static mw_status set_value(const load_ctx *x, const key_spec *k, const cJSON *v, mw_config *c) {
    char *field = (char *)c + k->offset;
    /* Initialised for the compiler's sake: each is set before use on every OK path. */
    const char *s = NULL;
    long l = 0;
    int n = 0, choice = 0;
    long values[MW_SCHEDULE_MAX_MILESTONES];
    switch (k->kind) {
    case K_OBJECT:
        return MW_OK; /* its members are keys of their own */
    case K_STRING:
        MW_TRY(get_string(x, k->path, v, k->size, &s));
        memcpy(field, s, strlen(s) + 1);
        return MW_OK;
    case K_INT:
        if (!json_long(v, INT_MIN, INT_MAX, &l)) return type_error(x, k->path, "an integer", v);
        MW_TRY(check_lower_bound(x, k, (double)l));
        *(int *)(void *)field = (int)l;
        return MW_OK;
    case K_DOUBLE:
    case K_FLOAT: {
        /* Finite as stored: 1e39 is a double but overflows a float. */
        double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (k->kind == K_FLOAT) d = (float)d;
        if (!isfinite(d)) return type_error(x, k->path, "a finite number", v);
        MW_TRY(check_lower_bound(x, k, d));
        if (k->kind == K_DOUBLE)
            *(double *)(void *)field = d;
        else
            *(float *)(void *)field = (float)d;
        return MW_OK;
    }
    case K_BOOL:
        if (!cJSON_IsBool(v)) return type_error(x, k->path, "true or false", v);
        *(bool *)(void *)field = cJSON_IsTrue(v);
        return MW_OK;
    case K_DATASET: {
        MW_TRY(get_string(x, k->path, v, 64, &s));
        const dataset_defaults *d = find_dataset(s);
        if (!d)
            return mw_error_wrap(unknown_dataset(s), "%s: key '%s': ", ORIGIN(x, k->path), k->path);
        snprintf(c->run.dataset, sizeof c->run.dataset, "%s", d->names[0]);
        return MW_OK;
    }
    case K_DISTANCE:
        MW_TRY(
            get_choice(x, k->path, v, mw_distance_names, count_names(mw_distance_names), &choice));
        snprintf(c->run.distance, sizeof c->run.distance, "%s", mw_distance_names[choice]);
        return MW_OK;
    case K_MEM_SOURCE:
        MW_TRY(get_choice(x, k->path, v, memory_source_names, 2, &choice));
        c->run.memory_source = (mw_memory_source)choice;
        return MW_OK;
    case K_SCHED_KIND: {
        const char *names[MW_SCHEDULE_KIND_COUNT];
        for (int i = 0; i < MW_SCHEDULE_KIND_COUNT; i++)
            names[i] = mw_schedule_kind_name((mw_schedule_kind)i);
        MW_TRY(get_choice(x, k->path, v, names, MW_SCHEDULE_KIND_COUNT, &choice));
        c->run.schedule.kind = (mw_schedule_kind)choice;
        return MW_OK;
    }
    case K_ENCODERS:
        return set_encoders(x, k->path, v, c);
    case K_MODELS:
        MW_TRY(get_list(x, k->path, v, MW_CONFIG_MAX_LIST, false, &n));
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsString(e))
                return mw_error_set(MW_ERR_INVALID_ARG,
                                    "%s: key '%s'[%d]: expected a string, got %s",
                                    ORIGIN(x, k->path), k->path, i, json_type(e));
            mw_encoder enc = {0};
            mw_status found = mw_config_encoder(c, e->valuestring, &enc);
            if (found != MW_OK)
                return mw_error_wrap(found, "%s: key '%s'[%d]: ", ORIGIN(x, k->path), k->path, i);
            snprintf(c->models[i], sizeof c->models[i], "%s", enc.name); /* canonical */
            for (int j = 0; j < i; j++)
                if (strcmp(c->models[j], c->models[i]) == 0)
                    return mw_error_set(MW_ERR_INVALID_ARG,
                                        "%s: key '%s': entry %d repeats entry %d",
                                        ORIGIN(x, k->path), k->path, i, j);
        }
        c->n_models = n;
        return MW_OK;
    case K_VARIANTS:
        MW_TRY(get_name_list(x, k->path, v, parse_variant, &n, values));
        for (int i = 0; i < n; i++)
            c->variants[i] = (mw_variant)values[i];
        c->n_variants = n;
        return MW_OK;
    case K_SIZES:
        MW_TRY(get_list(x, k->path, v, MW_CONFIG_MAX_LIST, false, &n));
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (cJSON_IsString(e) && strcmp(e->valuestring, "full") == 0)
                values[i] = -1;
            else if (!json_long(e, 1, INT_MAX, &values[i])) {
                return mw_error_set(MW_ERR_INVALID_ARG,
                                    "%s: key '%s'[%d]: expected an integer >= 1 or \"full\", "
                                    "got %s",
                                    ORIGIN(x, k->path), k->path, i, json_type(e));
            }
        }
        MW_TRY(check_unique(x, k->path, values, n));
        memcpy(c->train_examples, values, (size_t)n * sizeof values[0]);
        c->n_sizes = n;
        return MW_OK;
    case K_MILESTONES:
        MW_TRY(get_list(x, k->path, v, MW_SCHEDULE_MAX_MILESTONES, true, &n));
        for (int i = 0; i < n; i++) {
            if (!json_long(cJSON_GetArrayItem(v, i), INT_MIN, INT_MAX, &values[i])) {
                return mw_error_set(
                    MW_ERR_INVALID_ARG, "%s: key '%s'[%d]: expected an integer, got %s",
                    ORIGIN(x, k->path), k->path, i, json_type(cJSON_GetArrayItem(v, i)));
            }
            c->run.schedule.milestones[i] = (int)values[i];
        }
        for (int i = n; i < MW_SCHEDULE_MAX_MILESTONES; i++)
            c->run.schedule.milestones[i] = 0;
        c->run.schedule.n_milestones = n;
        return MW_OK;
    }
    return mw_error_set(MW_ERR_INVALID_ARG, "config: key '%s' has no reader", k->path);
}

/* ---- the JSON tree: lookup by dotted path, unknown keys, overrides --------------------- */

/* The value at dotted `path`, or NULL. */
static cJSON *lookup(cJSON *root, const char *path) {
    char part[128];
    cJSON *v = root;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part || !cJSON_IsObject(v)) return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        v = cJSON_GetObjectItemCaseSensitive(v, part);
        path += n + (path[n] == '.');
    }
    return v;
}

/* Rejects keys the schema does not have, repeated keys and nested levels that are not
 * objects, at every level under `obj` (whose dotted path is `prefix`). */
static mw_status check_keys(const load_ctx *x, const cJSON *obj, const char *prefix) {
    for (const cJSON *m = obj->child; m; m = m->next) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", m->string);
        const key_spec *k = find_key(path);
        if (!k) {
            char valid[512];
            keys_of_level(prefix, valid, sizeof valid);
            return mw_error_set(MW_ERR_INVALID_ARG, "%s: unknown key '%s' (valid keys%s%s: %s)",
                                ORIGIN(x, path), path, *prefix ? " in " : "", prefix, valid);
        }
        for (const cJSON *p = obj->child; p != m; p = p->next) {
            if (strcmp(p->string, m->string) == 0) {
                return mw_error_set(MW_ERR_INVALID_ARG, "%s: key '%s' appears twice",
                                    ORIGIN(x, path), path);
            }
        }
        if (k->kind == K_OBJECT) {
            if (!cJSON_IsObject(m)) return type_error(x, path, "an object", m);
            MW_TRY(check_keys(x, m, path));
        }
    }
    return MW_OK;
}

/* Puts `value` (owned) at member `name` of `obj`; objects merge member by member, so
 * --set dataset={"root":"/d"} keeps the file's dataset.name. */
static bool put(cJSON *obj, const char *name, cJSON *value) {
    /* cJSON frees a replacement's old key before copying the new one, and a merged member
     * comes with its own key: copy it first. */
    char key[128];
    snprintf(key, sizeof key, "%s", name);
    cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (old && cJSON_IsObject(old) && cJSON_IsObject(value)) {
        bool ok = true;
        while (ok && value->child) {
            cJSON *m = cJSON_DetachItemViaPointer(value, value->child);
            ok = put(old, m->string, m);
        }
        cJSON_Delete(value);
        return ok;
    }
    bool ok = old ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value)
                  : cJSON_AddItemToObject(obj, key, value);
    if (!ok) cJSON_Delete(value);
    return ok;
}

/* Applies "KEY=VALUE" to the tree. */
static mw_status apply_override(const load_ctx *x, cJSON *root, const char *text, override *ov) {
    const char *eq = strchr(text, '=');
    size_t klen = eq ? (size_t)(eq - text) : 0;
    if (!eq || klen == 0 || klen >= sizeof ov->key) {
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: override '%s' is not KEY=VALUE (e.g. optimizer.lr=0.05)", x->file,
                            text);
    }
    memcpy(ov->key, text, klen);
    ov->key[klen] = '\0';
    ov->text = text;
    const key_spec *k = find_key(ov->key);
    if (!k) {
        /* List the keys of the deepest level that exists ("foo.bar": the top level). */
        char valid[512], parent[128];
        snprintf(parent, sizeof parent, "%s", ov->key);
        const key_spec *up;
        do
            parent[parent_len(parent)] = '\0';
        while (parent[0] && !((up = find_key(parent)) && up->kind == K_OBJECT));
        keys_of_level(parent, valid, sizeof valid);
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: --set %s: unknown key '%s' (valid keys%s%s: %s)", x->file, text,
                            ov->key, parent[0] ? " in " : "", parent, valid);
    }
    /* JSON when it parses (runs=3, train_examples=[1000], root="/d"), the text itself
     * otherwise (dataset.root=/data); string keys take the text as written unless it is a
     * quoted JSON string, so name=2024 names a run "2024". */
    const char *raw = eq + 1;
    cJSON *value = cJSON_ParseWithOpts(raw, NULL, true);
    bool wants_string = k->kind == K_STRING || k->kind == K_DATASET || k->kind == K_DISTANCE ||
                        k->kind == K_MEM_SOURCE || k->kind == K_SCHED_KIND;
    if (!value || (wants_string && !cJSON_IsString(value))) {
        cJSON_Delete(value);
        value = cJSON_CreateString(raw);
    }
    /* A single entry stands for a one-entry list: train_examples=full, models=resnet18. */
    bool wants_list = k->kind == K_MODELS || k->kind == K_VARIANTS || k->kind == K_SIZES ||
                      k->kind == K_MILESTONES;
    if (value && wants_list && !cJSON_IsArray(value)) {
        cJSON *list = cJSON_CreateArray();
        if (!list || !cJSON_AddItemToArray(list, value)) cJSON_Delete(value);
        value = list;
    }
    if (!value) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: --set %s", x->file, text);

    /* Walk (creating) the objects above the key. */
    cJSON *obj = root;
    const char *p = ov->key;
    for (const char *dot; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
        char part[128];
        snprintf(part, sizeof part, "%.*s", (int)(dot - p), p);
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (next && !cJSON_IsObject(next)) {
            mw_status s =
                mw_error_set(MW_ERR_INVALID_ARG,
                             "%s: key '%.*s': expected an object, got %s (cannot "
                             "apply --set %s)",
                             x->file, (int)(dot - ov->key), ov->key, json_type(next), text);
            cJSON_Delete(value);
            return s;
        }
        if (!next && (!(next = cJSON_CreateObject()) || !put(obj, part, next))) {
            cJSON_Delete(value);
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: --set %s", x->file, text);
        }
        obj = next;
    }
    if (!put(obj, p, value))
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: --set %s", x->file, text);
    return MW_OK;
}

/* ---- checks across keys ---------------------------------------------------------------- */

static mw_status check_config(const load_ctx *x, mw_config *c) {
    bool memory = false;
    for (int i = 0; i < c->n_variants; i++)
        memory |= mw_variant_has_memory(c->variants[i]);
    if (memory && c->run.memory_examples < 1) {
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: key 'memory_examples' must be >= 1 with a memory variant in "
                            "'variants' (got %d)",
                            ORIGIN2(x, "memory_examples", "variants"), c->run.memory_examples);
    }
    /* ProtoNet needs a prototype of every class in each support set. */
    for (int i = 0; i < c->n_variants; i++)
        if (c->variants[i] == MW_VARIANT_PROTONET &&
            c->run.memory_examples < MW_DATASET_CLASSES)
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "%s: key 'memory_examples' is %d: the protonet variant needs a "
                                "support set that holds each of the %d classes (the paper's "
                                "is 100)",
                                ORIGIN2(x, "memory_examples", "variants"),
                                c->run.memory_examples, MW_DATASET_CLASSES);
    /* The memory set is drawn without replacement from the training subset. */
    for (int i = 0; memory && c->run.memory_source == MW_MEMORY_FROM_SUBSET && i < c->n_sizes;
         i++) {
        if (c->train_examples[i] >= 0 && c->train_examples[i] < c->run.memory_examples) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "%s: key 'train_examples'[%d] is %ld, fewer than "
                                "memory_examples %d drawn from it (dataset.memory_source "
                                "\"subset\")",
                                ORIGIN2(x, "train_examples", "memory_examples"), i,
                                c->train_examples[i], c->run.memory_examples);
        }
    }
    c->warning[0] = '\0';
    for (int i = 0; i < c->n_sizes; i++) {
        long n = c->train_examples[i];
        if (n >= 0 && n < c->run.batch_size) {
            snprintf(c->warning, sizeof c->warning,
                     "%s: batch_size %d is larger than train_examples %ld: runs of %ld images "
                     "train with batches of %ld, one step per epoch (the reference's "
                     "min(batch_size, train_examples))",
                     ORIGIN2(x, "batch_size", "train_examples"), c->run.batch_size, n, n, n);
            break;
        }
    }
    if (c->run.eval_repeats > MW_RESULT_MAX_REPEATS)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: key 'eval_repeats' is %d, at most %d",
                            ORIGIN(x, "eval_repeats"), c->run.eval_repeats, MW_RESULT_MAX_REPEATS);
    if (c->explain.repeats > MW_RESULT_MAX_REPEATS)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: key 'explain.repeats' is %d, at most %d",
                            ORIGIN(x, "explain.repeats"), c->explain.repeats,
                            MW_RESULT_MAX_REPEATS);
    if (c->explain.cf_iterations > 100000)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: key 'explain.cf_iterations' is %d, at most "
                            "100000", ORIGIN(x, "explain.cf_iterations"), c->explain.cf_iterations);
    if (c->explain.ae_epochs > 1000)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: key 'explain.ae_epochs' is %d, at most 1000",
                            ORIGIN(x, "explain.ae_epochs"), c->explain.ae_epochs);
    c->run.schedule.t_max = c->run.epochs; /* CosineAnnealingLR(T_max=epochs), reference-spec 3.1 */
    mw_status s = mw_lr_schedule_validate(&c->run.schedule);
    if (s != MW_OK) {
        return mw_error_wrap(s, "%s: key 'schedule': ", ORIGIN2(x, "schedule", "optimizer.lr"));
    }
    if (c->run.schedule.kind == MW_SCHEDULE_MULTISTEP) {
        for (int i = 0; i < c->run.schedule.n_milestones; i++) {
            if (c->run.schedule.milestones[i] >= c->run.epochs) {
                return mw_error_set(MW_ERR_INVALID_ARG,
                                    "%s: key 'schedule.milestones'[%d] is %d, never reached in "
                                    "%d epochs (epochs 0..%d)",
                                    ORIGIN2(x, "schedule.milestones", "epochs"), i,
                                    c->run.schedule.milestones[i], c->run.epochs,
                                    c->run.epochs - 1);
            }
        }
    }
    return MW_OK;
}

/* ---- loading --------------------------------------------------------------------------- */

static mw_status read_text(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return mw_error_set(e == ENOENT ? MW_ERR_NOT_FOUND : MW_ERR_IO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (size_t n; buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    bool failed = buf && ferror(f);
    fclose(f);
    if (!buf) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: out of memory reading it", path);
    if (failed) {
        free(buf);
        return mw_error_set(MW_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *out = buf;
    return MW_OK;
}

static mw_status parse_json(const char *path, const char *text, cJSON **out) {
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, true);
    if (*out) return MW_OK;
    if (!end) end = text;
    int line = 1, col = 1;
    for (const char *p = text; p < end; p++) {
        if (*p == '\n')
            line++, col = 1;
        else
            col++;
    }
    return mw_error_set(MW_ERR_FORMAT, "%s:%d:%d: malformed JSON near '%.20s'", path, line, col,
                        end);
}

/* "configs/fmnist/quick.json" -> "quick": the default run name. */
static void stem(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".json") == 0) n -= 5;
    snprintf(buf, cap, "%.*s", (int)n, base);
}

static mw_status load_tree(const load_ctx *x, cJSON *root, mw_config *c) {
    MW_TRY(check_keys(x, root, ""));
    const cJSON *ds = lookup(root, "dataset.name");
    if (!ds) {
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: missing key 'dataset.name'", x->file);
    }
    const key_spec *dk = find_key("dataset.name");
    const char *name = NULL;
    MW_TRY(get_string(x, dk->path, ds, 64, &name));
    if (!find_dataset(name)) {
        return mw_error_wrap(unknown_dataset(name),
                             "%s: key 'dataset.name': ", ORIGIN(x, dk->path));
    }
    MW_TRY(mw_config_defaults(name, c));
    stem(x->file, c->name, sizeof c->name);
    for (int i = 0; i < N_KEYS; i++) {
        const cJSON *v = lookup(root, keys[i].path);
        if (v) MW_TRY(set_value(x, &keys[i], v, c));
    }
    MW_TRY(check_config(x, c));
    snprintf(c->path, sizeof c->path, "%s", x->file);
    return MW_OK;
}

mw_status mw_config_load(const char *path, const char *const *sets, int n_sets, mw_config *out) {
    if (!path || !out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_config_load: NULL argument");
    char *text = NULL;
    MW_TRY(read_text(path, &text));
    mw_status s = mw_config_load_text(path, text, sets, n_sets, out);
    free(text);
    return s;
}

mw_status mw_config_load_text(const char *origin, const char *text, const char *const *sets,
                              int n_sets, mw_config *out) {
    if (!origin || !text || !out || n_sets < 0 || (n_sets > 0 && !sets)) {
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_config_load: NULL argument");
    }
    if (strlen(origin) >= sizeof out->path) {
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: path longer than %zu characters", origin,
                            sizeof out->path - 1);
    }
    cJSON *root = NULL;
    mw_status s = parse_json(origin, text, &root);
    if (s != MW_OK) return s;

    if (!cJSON_IsObject(root)) {
        s = mw_error_set(MW_ERR_FORMAT, "%s: the top level must be a JSON object, not %s", origin,
                         json_type(root));
        cJSON_Delete(root);
        return s;
    }
    override *ovs = n_sets ? calloc((size_t)n_sets, sizeof *ovs) : NULL;
    load_ctx x = {origin, ovs, 0};
    if (n_sets && !ovs) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: overrides", origin);
    for (int i = 0; s == MW_OK && i < n_sets; i++) {
        if (!sets[i]) {
            s = mw_error_set(MW_ERR_INVALID_ARG, "mw_config_load: override %d is NULL", i);
            break;
        }
        s = apply_override(&x, root, sets[i], &ovs[i]);
        if (s == MW_OK) x.n_overrides = i + 1;
    }
    /* Built aside so that a failed load leaves *out untouched. */
    mw_config c;
    if (s == MW_OK) s = load_tree(&x, root, &c);
    if (s == MW_OK) memcpy(out, &c, sizeof c);
    free(ovs);
    cJSON_Delete(root);
    return s;
}

/* ---- writing --------------------------------------------------------------------------- */

/* The shortest decimal that reads back as the same float, so 5e-4f prints as 0.0005 and
 * not as its double expansion 0.000500000023748725. */
static double float_as_decimal(float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static cJSON *name_array(const int *values, int n, const char *(*name)(int)) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        if (!cJSON_AddItemToArray(a, cJSON_CreateString(name(values[i])))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static const char *variant_name(int v) {
    return mw_variant_name((mw_variant)v);
}

/* The JSON value of key `k` in `c`. */
static cJSON *get_value(const key_spec *k, const mw_config *c) {
    const char *field = (const char *)c + k->offset;
    int ints[MW_CONFIG_MAX_LIST];
    switch (k->kind) {
    case K_OBJECT:
        return cJSON_CreateObject();
    case K_STRING:
    case K_DATASET:
    case K_DISTANCE:
        return cJSON_CreateString(field);
    case K_INT:
        return cJSON_CreateNumber(*(const int *)(const void *)field);
    case K_DOUBLE:
        return cJSON_CreateNumber(*(const double *)(const void *)field);
    case K_FLOAT:
        return cJSON_CreateNumber(float_as_decimal(*(const float *)(const void *)field));
    case K_BOOL:
        return cJSON_CreateBool(*(const bool *)(const void *)field);
    case K_MEM_SOURCE:
        return cJSON_CreateString(
            memory_source_names[c->run.memory_source != MW_MEMORY_FROM_SUBSET]);
    case K_SCHED_KIND:
        return cJSON_CreateString(mw_schedule_kind_name(c->run.schedule.kind));
    case K_ENCODERS: {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; o && i < c->n_encoders; i++)
            cJSON_AddItemToObject(o, c->encoders[i].name, mw_layer_list_to_json(&c->encoders[i]));
        return o;
    }
    case K_MODELS: {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; a && i < c->n_models; i++)
            if (!cJSON_AddItemToArray(a, cJSON_CreateString(c->models[i]))) {
                cJSON_Delete(a);
                return NULL;
            }
        return a;
    }
    case K_VARIANTS:
        for (int i = 0; i < c->n_variants && i < MW_CONFIG_MAX_LIST; i++)
            ints[i] = c->variants[i];
        return name_array(ints, c->n_variants, variant_name);
    case K_SIZES: {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; a && i < c->n_sizes; i++) {
            long n = c->train_examples[i];
            if (!cJSON_AddItemToArray(a, n < 0 ? cJSON_CreateString("full")
                                               : cJSON_CreateNumber((double)n))) {
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    case K_MILESTONES:
        return cJSON_CreateIntArray(c->run.schedule.milestones, c->run.schedule.n_milestones);
    }
    return NULL;
}

char *mw_config_to_json(const mw_config *c) {
    if (!c) return NULL;
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; root && i < N_KEYS; i++) {
        /* Keys are listed after their object, so the parent already exists. */
        char parent[128];
        size_t plen = parent_len(keys[i].path);
        memcpy(parent, keys[i].path, plen);
        parent[plen] = '\0';
        cJSON *obj = plen ? lookup(root, parent) : root;
        cJSON *v = get_value(&keys[i], c);
        if (!obj || !v || !cJSON_AddItemToObject(obj, keys[i].path + (plen ? plen + 1 : 0), v)) {
            cJSON_Delete(v);
            cJSON_Delete(root);
            root = NULL;
        }
    }
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

mw_status mw_config_encoder(const mw_config *c, const char *name, mw_encoder *out) {
    for (int i = 0; name && i < c->n_encoders; i++)
        if (strcmp(c->encoders[i].name, name) == 0) {
            mw_layer_list_encoder(&c->encoders[i], out);
            return MW_OK;
        }
    const mw_encoder *b = mw_encoder_builtin(name);
    if (b) {
        *out = *b;
        return MW_OK;
    }
    char defined[MW_CONFIG_MAX_ENCODERS * (MW_LAYER_NAME_MAX + 2) + 1] = "";
    for (int i = 0; i < c->n_encoders; i++)
        snprintf(defined + strlen(defined), sizeof defined - strlen(defined), ", %s",
                 c->encoders[i].name);
    return mw_error_set(MW_ERR_INVALID_ARG, "unknown model '%s': valid models are %s%s",
                        name ? name : "(null)", mw_encoder_builtin_names(), defined);
}

mw_status mw_config_check_root(const mw_config *c) {
    if (!c) return mw_error_set(MW_ERR_INVALID_ARG, "mw_config_check_root: NULL config");
    if (c->data_root[0]) return MW_OK;
    return mw_error_set(MW_ERR_INVALID_ARG,
                        "%s: dataset.root is not set for %s. Get %s; then add "
                        "--set dataset.root=DIR (or \"root\" under \"dataset\" in the file)",
                        c->path[0] ? c->path : "config", c->run.dataset,
                        mw_config_dataset_source(c->run.dataset));
}
