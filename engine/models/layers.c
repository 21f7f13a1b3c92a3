/* See memwrap/layers.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "memwrap/layers.h"

bool mw_layer_name(mw_graph *g, char out[MW_NAME_MAX], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, MW_NAME_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= MW_NAME_MAX) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "tensor name '%s...' longer than %d characters", out,
                      MW_NAME_MAX - 1);
        return false;
    }
    return true;
}

/* Finds tensor `name` (same role and shape) or creates it with `init`. */
static int shared_tensor(mw_graph *g, const char *name, mw_tensor_role role, mw_dtype dtype,
                         int ndim, const int64_t *shape, mw_init init) {
    if (g->status != MW_OK) return -1;
    int id = mw_graph_find(g, name);
    if (id >= 0) {
        const mw_tensor *t = &g->tensors[id];
        bool same = t->role == role && t->dtype == dtype && t->ndim == ndim &&
                    memcmp(t->shape, shape, (size_t)ndim * sizeof *shape) == 0;
        if (!same)
            return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                                 "tensor '%s' reused with another role or shape", name);
        return id;
    }
    id = role == MW_ROLE_PARAM ? mw_graph_param(g, name, ndim, shape)
                               : mw_graph_state(g, name, dtype, ndim, shape);
    mw_graph_set_init(g, id, init);
    return id;
}

int mw_layer_conv_params(mw_graph *g, const char *name, int cin, int cout, int k, int groups,
                         bool bias, mw_conv_init init, int *bias_out) {
    char pname[MW_NAME_MAX];
    int64_t wshape[4] = {cout, cin / groups, k, k}, bshape[1] = {cout};
    double fan_in = (double)(cin / groups) * k * k;
    mw_init winit = {MW_INIT_UNIFORM, (float)(1.0 / sqrt(fan_in))};
    if (init == MW_CONV_INIT_FAN_OUT_NORMAL) /* resnet.py: normal_(0, sqrt(2 / (k·k·out))) */
        winit = (mw_init){MW_INIT_NORMAL, (float)sqrt(2.0 / ((double)k * k * cout))};
    if (!mw_layer_name(g, pname, "%s.weight", name)) return -1;
    int w = shared_tensor(g, pname, MW_ROLE_PARAM, MW_F32, 4, wshape, winit);
    if (bias_out) *bias_out = -1;
    if (bias) {
        mw_init binit = {MW_INIT_UNIFORM, (float)(1.0 / sqrt(fan_in))};
        if (!mw_layer_name(g, pname, "%s.bias", name)) return -1;
        int b = shared_tensor(g, pname, MW_ROLE_PARAM, MW_F32, 1, bshape, binit);
        if (bias_out) *bias_out = b;
    }
    return w;
}

int mw_layer_conv(mw_graph *g, int x, const char *name, int cout, int k, int stride, int padding,
                  int groups, bool bias, mw_conv_init init) {
    if (!mw_graph_check_inputs(g, name, &x, 1)) return -1;
    int cin = (int)mw_tensor_dim(g, x, 0), b = -1;
    int w = mw_layer_conv_params(g, name, cin, cout, k, groups, bias, init, &b);
    return mw_conv2d(g, x, w, b, stride, padding, groups);
}

int mw_layer_bn_params(mw_graph *g, const char *name, int channels, int *beta, int *mean, int *var,
                       int *tracked) {
    char pname[MW_NAME_MAX];
    int64_t shape[1] = {channels}, one[1] = {1};
    const mw_init ones = {MW_INIT_CONSTANT, 1.0f}, zeros = {MW_INIT_ZERO, 0.0f};
    if (!mw_layer_name(g, pname, "%s.weight", name)) return -1;
    int gamma = shared_tensor(g, pname, MW_ROLE_PARAM, MW_F32, 1, shape, ones);
    if (!mw_layer_name(g, pname, "%s.bias", name)) return -1;
    *beta = shared_tensor(g, pname, MW_ROLE_PARAM, MW_F32, 1, shape, zeros);
    if (!mw_layer_name(g, pname, "%s.running_mean", name)) return -1;
    *mean = shared_tensor(g, pname, MW_ROLE_STATE, MW_F32, 1, shape, zeros);
    if (!mw_layer_name(g, pname, "%s.running_var", name)) return -1;
    *var = shared_tensor(g, pname, MW_ROLE_STATE, MW_F32, 1, shape, ones);
    if (!mw_layer_name(g, pname, "%s.num_batches_tracked", name)) return -1;
    *tracked = shared_tensor(g, pname, MW_ROLE_STATE, MW_I32, 1, one, zeros);
    return gamma;
}

int mw_layer_bn(mw_graph *g, int x, const char *name, mw_activation act) {
    return mw_layer_bn_momentum(g, x, name, act, MW_BN_MOMENTUM);
}

int mw_layer_bn_momentum(mw_graph *g, int x, const char *name, mw_activation act, float momentum) {
    if (!mw_graph_check_inputs(g, name, &x, 1)) return -1;
    int beta, mean, var, tracked;
    int gamma =
        mw_layer_bn_params(g, name, (int)mw_tensor_dim(g, x, 0), &beta, &mean, &var, &tracked);
    if (gamma < 0) return -1;
    return mw_batch_norm(g, x, gamma, beta, mean, var, tracked, momentum, MW_BN_EPS, act);
}

int mw_layer_squeeze_excite(mw_graph *g, int x, const char *name, int squeezed) {
    if (!mw_graph_check_inputs(g, name, &x, 1)) return -1;
    char pname[MW_NAME_MAX];
    int channels = (int)mw_tensor_dim(g, x, 0);
    int a = mw_avg_pool(g, x, (int)mw_tensor_dim(g, x, 2)); /* adaptive_avg_pool2d(x, 1) */
    if (!mw_layer_name(g, pname, "%s.se1", name)) return -1;
    a = mw_activate(g, mw_layer_conv(g, a, pname, squeezed, 1, 1, 0, 1, true, MW_CONV_INIT_DEFAULT),
                    MW_ACT_SWISH);
    if (!mw_layer_name(g, pname, "%s.se2", name)) return -1;
    a = mw_activate(g, mw_layer_conv(g, a, pname, channels, 1, 1, 0, 1, true, MW_CONV_INIT_DEFAULT),
                    MW_ACT_SIGMOID);
    return mw_scale_channels(g, x, a);
}

int mw_layer_linear(mw_graph *g, int x, const char *name, int out, bool bias) {
    if (!mw_graph_check_inputs(g, name, &x, 1)) return -1;
    if (mw_tensor_ndim(g, x) != 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: a linear layer takes rows [N, C]", name);
    char pname[MW_NAME_MAX];
    int64_t in = mw_tensor_dim(g, x, 1), wshape[2] = {out, in}, bshape[1] = {out};
    /* nn.Linear.reset_parameters: the weight's and the bias's bounds are both 1/√in */
    mw_init init = {MW_INIT_UNIFORM, (float)(1.0 / sqrt((double)in))};
    if (!mw_layer_name(g, pname, "%s.weight", name)) return -1;
    int w = shared_tensor(g, pname, MW_ROLE_PARAM, MW_F32, 2, wshape, init);
    int b = -1;
    if (bias) {
        if (!mw_layer_name(g, pname, "%s.bias", name)) return -1;
        b = shared_tensor(g, pname, MW_ROLE_PARAM, MW_F32, 1, bshape, init);
    }
    return w < 0 ? -1 : mw_linear(g, x, w, b);
}

int mw_layer_pool_rows(mw_graph *g, int x, int k) {
    return mw_maps_to_rows(g, mw_avg_pool(g, x, k));
}

int mw_layer_global_pool(mw_graph *g, int x) {
    if (!mw_graph_check_inputs(g, "global_pool", &x, 1)) return -1;
    if (mw_tensor_ndim(g, x) != 4 || mw_tensor_dim(g, x, 2) != mw_tensor_dim(g, x, 3))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "global_pool: %s must be square maps",
                             mw_tensor_name(g, x));
    return mw_layer_pool_rows(g, x, (int)mw_tensor_dim(g, x, 2));
}
