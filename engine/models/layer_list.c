/* Encoders described as data: a list of layers (memwrap/layers.h), built with the same layer
 * helpers as the built-in encoders, so a config-defined encoder is an mw_encoder like any. */
#include <stdio.h>
#include <string.h>

#include "memwrap/layers.h"

static const char *const kind_names[MW_LAYER_KIND_COUNT] = {
    [MW_LAYER_CONV] = "conv",
    [MW_LAYER_BATCH_NORM] = "batch_norm",
    [MW_LAYER_ACTIVATION] = "activation",
    [MW_LAYER_AVG_POOL] = "avg_pool",
    [MW_LAYER_GLOBAL_POOL] = "global_pool",
    [MW_LAYER_DROPOUT] = "dropout",
    [MW_LAYER_SQUEEZE_EXCITE] = "squeeze_excite",
    [MW_LAYER_LINEAR] = "linear",
    [MW_LAYER_RESIDUAL] = "residual",
};

const char *mw_layer_kind_name(mw_layer_kind k) {
    return (unsigned)k < MW_LAYER_KIND_COUNT ? kind_names[k] : "?";
}

/* A tensor is either maps [C, N, H, W] or rows [N, C]: what each layer needs. */
static bool is_rows(mw_graph *g, int x) {
    return x >= 0 && mw_tensor_ndim(g, x) == 2;
}

static int need(mw_graph *g, int x, bool rows, const char *name, const mw_layer_spec *l) {
    if (x < 0 || is_rows(g, x) == rows) return x;
    return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: a %s layer needs %s, it gets %s", name,
                         mw_layer_kind_name(l->kind),
                         rows ? "rows (after a global_pool)" : "feature maps",
                         rows ? "feature maps" : "rows");
}

static int build_range(mw_graph *g, int x, const mw_layer_spec *layers, int n, const char *prefix);

/* One layer (a residual with its branches) on x; *used: how many specs it took. */
static int build_layer(mw_graph *g, int x, const mw_layer_spec *l, int left, const char *name,
                       int *used) {
    *used = 1;
    switch (l->kind) {
    case MW_LAYER_CONV:
        x = need(g, x, false, name, l);
        if (x >= 0 && (mw_tensor_dim(g, x, 0) % l->groups || l->out % l->groups))
            return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                                 "%s: %d groups must divide the %lld input and %d output channels",
                                 name, l->groups, (long long)mw_tensor_dim(g, x, 0), l->out);
        return mw_layer_conv(g, x, name, l->out, l->kernel, l->stride, l->padding, l->groups,
                             l->bias, MW_CONV_INIT_DEFAULT);
    case MW_LAYER_BATCH_NORM:
        return mw_layer_bn(g, need(g, x, false, name, l), name, l->activation);
    case MW_LAYER_ACTIVATION:
        return mw_activate(g, x, l->activation);
    case MW_LAYER_AVG_POOL: {
        x = need(g, x, false, name, l);
        if (x >= 0 && (mw_tensor_dim(g, x, 2) % l->kernel || mw_tensor_dim(g, x, 3) % l->kernel))
            return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: avg_pool %d does not divide %lldx%lld",
                                 name, l->kernel, (long long)mw_tensor_dim(g, x, 2),
                                 (long long)mw_tensor_dim(g, x, 3));
        return mw_avg_pool(g, x, l->kernel);
    }
    case MW_LAYER_GLOBAL_POOL:
        x = need(g, x, false, name, l);
        if (x >= 0 && mw_tensor_dim(g, x, 2) != mw_tensor_dim(g, x, 3))
            return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: global_pool of a non-square map",
                                 name);
        return x < 0 ? -1 : mw_layer_pool_rows(g, x, (int)mw_tensor_dim(g, x, 2));
    case MW_LAYER_DROPOUT:
        return mw_dropout(g, x, l->p);
    case MW_LAYER_SQUEEZE_EXCITE:
        return mw_layer_squeeze_excite(g, need(g, x, false, name, l), name, l->squeezed);
    case MW_LAYER_LINEAR:
        return mw_layer_linear(g, need(g, x, true, name, l), name, l->out, l->bias);
    case MW_LAYER_RESIDUAL: {
        if (l->body < 1 || l->body + l->shortcut > left - 1)
            return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: residual branches run past the list",
                                 name);
        char branch[MW_NAME_MAX];
        if (!mw_layer_name(g, branch, "%s.body", name)) return -1;
        int body = build_range(g, x, l + 1, l->body, branch);
        int shortcut = x;
        if (l->shortcut > 0) {
            if (!mw_layer_name(g, branch, "%s.shortcut", name)) return -1;
            shortcut = build_range(g, x, l + 1 + l->body, l->shortcut, branch);
        }
        *used = 1 + l->body + l->shortcut;
        if (body < 0 || shortcut < 0) return -1;
        bool same = mw_tensor_ndim(g, body) == mw_tensor_ndim(g, shortcut);
        for (int d = 0; same && d < mw_tensor_ndim(g, body); d++)
            same = mw_tensor_dim(g, body, d) == mw_tensor_dim(g, shortcut, d);
        if (!same)
            return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                                 "%s: the residual's body and shortcut differ in shape (%lld vs "
                                 "%lld channels); give it a shortcut that matches",
                                 name, (long long)mw_tensor_dim(g, body, is_rows(g, body)),
                                 (long long)mw_tensor_dim(g, shortcut, is_rows(g, shortcut)));
        return mw_add(g, body, shortcut);
    }
    case MW_LAYER_KIND_COUNT:
        break;
    }
    return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: unknown layer kind %d", name, (int)l->kind);
}

static int build_range(mw_graph *g, int x, const mw_layer_spec *layers, int n, const char *prefix) {
    char name[MW_NAME_MAX];
    for (int i = 0, index = 0; i < n && x >= 0; index++) {
        int used;
        if (!mw_layer_name(g, name, "%s.%d", prefix, index)) return -1;
        x = build_layer(g, x, &layers[i], n - i, name, &used);
        i += used;
    }
    return x;
}

static int build_list(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s) {
    (void)s; /* a listed encoder's dropout is in its list */
    const mw_layer_list *list = e->user;
    int rows = build_range(g, maps, list->layers, list->n, "layers");
    if (rows >= 0 && !is_rows(g, rows))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "encoder %s ends in feature maps: end it with a global_pool (and "
                             "linear layers if you like)",
                             list->name);
    return rows;
}

void mw_layer_list_encoder(const mw_layer_list *list, mw_encoder *out) {
    *out = (mw_encoder){.name = list->name, .dim = list->dim, .build = build_list, .user = list};
}

const mw_layer_list *mw_layer_list_of(const mw_encoder *e) {
    return e && e->build == build_list ? e->user : NULL;
}

mw_status mw_layer_list_check(mw_layer_list *list, int channels, int size) {
    if (list->n < 1 || list->n > MW_LAYER_LIST_MAX)
        return mw_error_set(MW_ERR_INVALID_ARG, "encoder %s: %d layers (1 to %d)", list->name,
                            list->n, MW_LAYER_LIST_MAX);
    mw_graph *g = mw_graph_create();
    if (!g) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    int64_t shape[4] = {2, channels, size, size};
    int images = mw_graph_input(g, "input", MW_F32, 4, shape);
    mw_encoder e;
    mw_layer_list_encoder(list, &e);
    int rows = build_list(g, mw_images_to_maps(g, images), &e, NULL);
    mw_status s = mw_graph_status(g);
    if (s != MW_OK)
        s = mw_error_set(s, "encoder %s on %dx%dx%d images: %s", list->name, channels, size, size,
                         mw_graph_error(g));
    else
        list->dim = (int)mw_tensor_dim(g, rows, 1);
    mw_graph_free(g);
    return s;
}
