/* See io/encoder_json.h. One object per layer: {"type": "conv", "out": 32, ...}; a residual
 * holds its branches as arrays of such objects (configs/README.md, "encoders"). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/encoder_json.h"

/* The keys each kind takes besides "type" (NULL-terminated). */
static const char *const keys_of[MW_LAYER_KIND_COUNT][7] = {
    [MW_LAYER_CONV] = {"out", "kernel", "stride", "padding", "groups", "bias", NULL},
    [MW_LAYER_BATCH_NORM] = {"activation", NULL},
    [MW_LAYER_ACTIVATION] = {"function", NULL},
    [MW_LAYER_AVG_POOL] = {"kernel", NULL},
    [MW_LAYER_GLOBAL_POOL] = {NULL},
    [MW_LAYER_DROPOUT] = {"p", NULL},
    [MW_LAYER_SQUEEZE_EXCITE] = {"squeezed", NULL},
    [MW_LAYER_LINEAR] = {"out", "bias", NULL},
    [MW_LAYER_RESIDUAL] = {"body", "shortcut", NULL},
};

static const char *const activation_names[MW_ACT_COUNT] = {"none", "relu", "swish", "sigmoid"};

typedef struct reader {
    const char *where;
    mw_layer_list *out;
} reader;

static mw_status bad(const reader *r, const char *at, const char *fmt, const char *detail) {
    return mw_error_set(MW_ERR_INVALID_ARG, "%s%s: %s%s", r->where, at, fmt, detail);
}

/* An integer member >= lo; `fallback` when absent and `required` is false. */
static mw_status get_int(const reader *r, const char *at, const cJSON *o, const char *key,
                         bool required, int fallback, int lo, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char msg[96];
    if (!v) {
        if (required) {
            snprintf(msg, sizeof msg, "a %s layer needs \"%s\"",
                     cJSON_GetObjectItemCaseSensitive(o, "type")->valuestring, key);
            return bad(r, at, msg, "");
        }
        *out = fallback;
        return MW_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > 1 << 20) {
        snprintf(msg, sizeof msg, "\"%s\" must be an integer >= %d", key, lo);
        return bad(r, at, msg, "");
    }
    *out = (int)v->valuedouble;
    return MW_OK;
}

static mw_status get_bool(const reader *r, const char *at, const cJSON *o, const char *key,
                          bool fallback, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = fallback;
        return MW_OK;
    }
    if (!cJSON_IsBool(v)) return bad(r, at, "must be true or false: ", key);
    *out = cJSON_IsTrue(v);
    return MW_OK;
}

static mw_status get_activation(const reader *r, const char *at, const cJSON *o, const char *key,
                                bool required, mw_activation *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v && !required) {
        *out = MW_ACT_NONE;
        return MW_OK;
    }
    for (int a = required ? 1 : 0; cJSON_IsString(v) && a < MW_ACT_COUNT; a++)
        if (strcmp(v->valuestring, activation_names[a]) == 0) {
            *out = (mw_activation)a;
            return MW_OK;
        }
    char msg[96];
    snprintf(msg, sizeof msg, "\"%s\" must be one of %srelu, swish, sigmoid", key,
             required ? "" : "none, ");
    return bad(r, at, msg, "");
}

static mw_status read_list(const reader *r, const cJSON *v, const char *at, int depth);

static mw_status read_layer(const reader *r, const cJSON *o, const char *at, int depth) {
    if (!cJSON_IsObject(o)) return bad(r, at, "a layer is an object {\"type\": ...}", "");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    int kind = -1;
    for (int k = 0; cJSON_IsString(type) && k < MW_LAYER_KIND_COUNT; k++)
        if (strcmp(type->valuestring, mw_layer_kind_name((mw_layer_kind)k)) == 0) kind = k;
    if (kind < 0)
        return bad(r, at,
                   "\"type\" must be one of conv, batch_norm, activation, avg_pool, "
                   "global_pool, dropout, squeeze_excite, linear, residual",
                   "");
    for (const cJSON *m = o->child; m; m = m->next) { /* every member is known to the kind */
        bool known = strcmp(m->string, "type") == 0;
        for (int i = 0; !known && keys_of[kind][i]; i++)
            known = strcmp(m->string, keys_of[kind][i]) == 0;
        if (!known) {
            char msg[200] = "", list[120] = "";
            for (int i = 0; keys_of[kind][i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         keys_of[kind][i]);
            snprintf(msg, sizeof msg, "unknown key \"%s\" for a %s layer (valid: %s)", m->string,
                     type->valuestring, list[0] ? list : "none");
            return bad(r, at, msg, "");
        }
    }
    mw_layer_list *out = r->out;
    if (out->n >= MW_LAYER_LIST_MAX) {
        char msg[64];
        snprintf(msg, sizeof msg, "more than %d layers in all", MW_LAYER_LIST_MAX);
        return bad(r, at, msg, "");
    }
    int self = out->n++;
    mw_layer_spec l = {.kind = (mw_layer_kind)kind, .groups = 1};
    switch (l.kind) {
    case MW_LAYER_CONV:
        MW_TRY(get_int(r, at, o, "out", true, 0, 1, &l.out));
        MW_TRY(get_int(r, at, o, "kernel", false, 3, 1, &l.kernel));
        MW_TRY(get_int(r, at, o, "stride", false, 1, 1, &l.stride));
        MW_TRY(get_int(r, at, o, "padding", false, l.kernel / 2, 0, &l.padding));
        MW_TRY(get_int(r, at, o, "groups", false, 1, 1, &l.groups));
        MW_TRY(get_bool(r, at, o, "bias", false, &l.bias));
        break;
    case MW_LAYER_BATCH_NORM:
        MW_TRY(get_activation(r, at, o, "activation", false, &l.activation));
        break;
    case MW_LAYER_ACTIVATION:
        MW_TRY(get_activation(r, at, o, "function", true, &l.activation));
        break;
    case MW_LAYER_AVG_POOL:
        MW_TRY(get_int(r, at, o, "kernel", true, 0, 1, &l.kernel));
        break;
    case MW_LAYER_DROPOUT: {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "p");
        if (!cJSON_IsNumber(p) || !(p->valuedouble >= 0 && p->valuedouble < 1))
            return bad(r, at, "a dropout layer needs \"p\" in [0, 1)", "");
        l.p = (float)p->valuedouble;
        break;
    }
    case MW_LAYER_SQUEEZE_EXCITE:
        MW_TRY(get_int(r, at, o, "squeezed", true, 0, 1, &l.squeezed));
        break;
    case MW_LAYER_LINEAR:
        MW_TRY(get_int(r, at, o, "out", true, 0, 1, &l.out));
        MW_TRY(get_bool(r, at, o, "bias", true, &l.bias));
        break;
    case MW_LAYER_RESIDUAL: {
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(o, "body");
        const cJSON *shortcut = cJSON_GetObjectItemCaseSensitive(o, "shortcut");
        if (!cJSON_IsArray(body) || cJSON_GetArraySize(body) < 1)
            return bad(r, at, "a residual layer needs \"body\": a non-empty array of layers", "");
        if (shortcut && !cJSON_IsArray(shortcut))
            return bad(r, at, "\"shortcut\" must be an array of layers (empty: identity)", "");
        char sub[200];
        snprintf(sub, sizeof sub, "%s.body", at);
        int before = out->n;
        MW_TRY(read_list(r, body, sub, depth + 1));
        l.body = out->n - before;
        snprintf(sub, sizeof sub, "%s.shortcut", at);
        before = out->n;
        if (shortcut) MW_TRY(read_list(r, shortcut, sub, depth + 1));
        l.shortcut = out->n - before;
        break;
    }
    case MW_LAYER_GLOBAL_POOL:
    case MW_LAYER_KIND_COUNT:
        break;
    }
    out->layers[self] = l;
    return MW_OK;
}

static mw_status read_list(const reader *r, const cJSON *v, const char *at, int depth) {
    if (!cJSON_IsArray(v)) return bad(r, at, "an encoder is an array of layers", "");
    if (depth > 8) return bad(r, at, "residuals nested more than 8 deep", "");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char sub[200];
        snprintf(sub, sizeof sub, "%s[%d]", at, i);
        MW_TRY(read_layer(r, e, sub, depth));
    }
    return MW_OK;
}

mw_status mw_layer_list_from_json(const cJSON *v, const char *where, mw_layer_list *out) {
    out->n = 0;
    out->dim = 0;
    reader r = {where, out};
    MW_TRY(read_list(&r, v, "", 0));
    if (out->n == 0) return bad(&r, "", "an encoder needs at least one layer", "");
    return MW_OK;
}

static cJSON *range_to_json(const mw_layer_spec *layers, int n);

static cJSON *layer_to_json(const mw_layer_spec *l) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", mw_layer_kind_name(l->kind));
    switch (l->kind) {
    case MW_LAYER_CONV:
        cJSON_AddNumberToObject(o, "out", l->out);
        cJSON_AddNumberToObject(o, "kernel", l->kernel);
        cJSON_AddNumberToObject(o, "stride", l->stride);
        cJSON_AddNumberToObject(o, "padding", l->padding);
        cJSON_AddNumberToObject(o, "groups", l->groups);
        cJSON_AddBoolToObject(o, "bias", l->bias);
        break;
    case MW_LAYER_BATCH_NORM:
        cJSON_AddStringToObject(o, "activation", activation_names[l->activation]);
        break;
    case MW_LAYER_ACTIVATION:
        cJSON_AddStringToObject(o, "function", activation_names[l->activation]);
        break;
    case MW_LAYER_AVG_POOL:
        cJSON_AddNumberToObject(o, "kernel", l->kernel);
        break;
    case MW_LAYER_DROPOUT: {
        char buf[32]; /* the shortest decimal that reads back as the same float */
        for (int digits = 1; digits <= 9; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, (double)l->p);
            if (strtof(buf, NULL) == l->p) break;
        }
        cJSON_AddNumberToObject(o, "p", strtod(buf, NULL));
        break;
    }
    case MW_LAYER_SQUEEZE_EXCITE:
        cJSON_AddNumberToObject(o, "squeezed", l->squeezed);
        break;
    case MW_LAYER_LINEAR:
        cJSON_AddNumberToObject(o, "out", l->out);
        cJSON_AddBoolToObject(o, "bias", l->bias);
        break;
    case MW_LAYER_RESIDUAL:
        cJSON_AddItemToObject(o, "body", range_to_json(l + 1, l->body));
        cJSON_AddItemToObject(o, "shortcut", range_to_json(l + 1 + l->body, l->shortcut));
        break;
    case MW_LAYER_GLOBAL_POOL:
    case MW_LAYER_KIND_COUNT:
        break;
    }
    return o;
}

/* n specs from `layers` as an array: a residual takes its branches with it. */
static cJSON *range_to_json(const mw_layer_spec *layers, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n;
         i += layers[i].kind == MW_LAYER_RESIDUAL ? 1 + layers[i].body + layers[i].shortcut : 1)
        cJSON_AddItemToArray(a, layer_to_json(&layers[i]));
    return a;
}

cJSON *mw_layer_list_to_json(const mw_layer_list *l) {
    return range_to_json(l->layers, l->n);
}
