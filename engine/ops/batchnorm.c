/* Batch normalisation (nn.BatchNorm2d) over channel-major maps [C, N, H, W], with the
 * following activation fused (the design's BN+activation fusion: one pass over the map
 * instead of two). Train mode normalises with the batch statistics and moves the running
 * statistics (state tensors, updated in place once per forward node: an encoder run on the
 * input batch and then on the memory batch updates them twice, in that order); eval mode
 * normalises with the running statistics. The node saves the mean and inverse standard
 * deviation it used ([2, C] "stats") so that the backward needs neither y nor the state. */
#include <math.h>

#include "memwrap/ops.h"
#include "ops/bn_fold.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/kernel_defines.h"

void mw_ref_batch_norm(const float *x, const float *gamma, const float *beta, float *running_mean,
                       float *running_var, int32_t *count, float *y, float *stats, size_t channels,
                       size_t len, float momentum, float eps, int act, bool training) {
    for (size_t c = 0; c < channels; c++) {
        const float *xr = x + c * len;
        if (training) {
            double mean = 0, var = 0;
            for (size_t i = 0; i < len; i++)
                mean += xr[i];
            mean /= (double)len;
            for (size_t i = 0; i < len; i++)
                var += (xr[i] - mean) * (xr[i] - mean);
            var /= (double)len;
            stats[c] = (float)mean;
            stats[channels + c] = (float)(1.0 / sqrt(var + eps));
            double m = momentum, unbiased = var * (double)len / (double)(len - 1);
            running_mean[c] = (float)((1 - m) * running_mean[c] + m * mean);
            running_var[c] = (float)((1 - m) * running_var[c] + m * unbiased);
        } else {
            stats[c] = running_mean[c];
            stats[channels + c] = (float)(1.0 / sqrt((double)running_var[c] + eps));
        }
        /* Normalise with the stored (float) statistics, as the kernel and the backward do. */
        double mean = stats[c], scale = (double)gamma[c] * stats[channels + c];
        for (size_t i = 0; i < len; i++)
            y[c * len + i] = mw_ref_act((float)((xr[i] - mean) * scale + beta[c]), act);
    }
    if (training) count[0] += 1;
}

void mw_ref_batch_norm_bwd(const float *gy, const float *x, const float *gamma, const float *beta,
                           const float *stats, float *gx, float *ggamma, float *gbeta,
                           size_t channels, size_t len, int act, bool training) {
    for (size_t c = 0; c < channels; c++) {
        const float *xr = x + c * len, *gr = gy + c * len;
        double mean = stats[c], invstd = stats[channels + c], scale = gamma[c] * invstd;
        double sum_g = 0, sum_gx = 0;
        for (size_t i = 0; i < len; i++) {
            double d = xr[i] - mean;
            double g = gr[i] * (double)mw_ref_act_grad((float)(d * scale + beta[c]), act);
            sum_g += g;
            sum_gx += g * d * invstd;
        }
        gbeta[c] = (float)sum_g;
        ggamma[c] = (float)sum_gx;
        double mean_g = training ? sum_g / (double)len : 0, mean_gx = training ? sum_gx / len : 0;
        for (size_t i = 0; i < len; i++) {
            double d = xr[i] - mean;
            double g = gr[i] * (double)mw_ref_act_grad((float)(d * scale + beta[c]), act);
            gx[c * len + i] = (float)(scale * (g - mean_g - d * invstd * mean_gx));
        }
    }
}

/* ---- builder ---- */

static bool is_vector(const mw_tensor *t, int64_t n, mw_dtype dtype) {
    return t->ndim == 1 && t->shape[0] == n && t->dtype == dtype;
}

int mw_batch_norm(mw_graph *g, int x, int gamma, int beta, int running_mean, int running_var,
                  int batches_tracked, float momentum, float eps, mw_activation act) {
    int in[6] = {x, gamma, beta, running_mean, running_var, batches_tracked};
    if (!mw_graph_check_inputs(g, "batch_norm", in, 6)) return -1;
    const mw_tensor *tx = mw_t(g, x);
    if (tx->ndim != 4 || tx->dtype != MW_F32)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "batch_norm: %s must be float32 maps [C, N, H, W]", tx->name);
    int64_t ch = tx->shape[0];
    if (!is_vector(mw_t(g, gamma), ch, MW_F32) || !is_vector(mw_t(g, beta), ch, MW_F32))
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "batch_norm: weight %s and bias %s must be float32 [%lld]",
                             mw_t(g, gamma)->name, mw_t(g, beta)->name, (long long)ch);
    const mw_tensor *tm = mw_t(g, running_mean), *tv = mw_t(g, running_var),
                    *tc = mw_t(g, batches_tracked);
    /* The node writes these in place: they must be state, never pooled activations. */
    if (!is_vector(tm, ch, MW_F32) || !is_vector(tv, ch, MW_F32) || !is_vector(tc, 1, MW_I32) ||
        tm->role != MW_ROLE_STATE || tv->role != MW_ROLE_STATE || tc->role != MW_ROLE_STATE)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "batch_norm: %s, %s must be float32 [%lld] and %s int32 [1], all "
                             "state tensors (mw_graph_state)",
                             tm->name, tv->name, (long long)ch, tc->name);
    if (!(momentum >= 0.0f && momentum <= 1.0f) || !(eps > 0.0f) || act < MW_ACT_NONE ||
        act >= MW_ACT_COUNT)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "batch_norm on %s: momentum %g must be in [0, 1], eps %g positive, "
                             "activation %d known",
                             tx->name, (double)momentum, (double)eps, (int)act);
    int64_t stats_shape[2] = {2, ch};
    int out[2];
    out[0] = mw_new_output(g, MW_OP_BATCH_NORM, NULL, 4, mw_t(g, x)->shape);
    out[1] = mw_new_output(g, MW_OP_BATCH_NORM, "stats", 2, stats_shape);
    if (out[0] < 0 || out[1] < 0) return -1;
    mw_node_attr at = {.norm = {momentum, eps, (int)act}};
    if (mw_graph_add_node(g, MW_OP_BATCH_NORM, in, 6, out, 2, at) < 0) return -1;
    return out[0];
}

/* One node gives gx, gγ and gβ; the running statistics get no gradient. */
static void batch_norm_backward(mw_graph *g, const mw_node *n, const int *gout, const bool *need,
                                int *gin) {
    if (gout[0] < 0) return; /* only y carries a gradient; stats are internal */
    int x = n->in[0], in[5] = {gout[0], x, n->in[1], n->in[2], n->out[1]};
    int64_t ch = mw_t(g, x)->shape[0];
    int out[3];
    out[0] = mw_new_output(g, MW_OP_BATCH_NORM_BWD, "gx", 4, mw_t(g, x)->shape);
    out[1] = mw_new_output(g, MW_OP_BATCH_NORM_BWD, "gweight", 1, &ch);
    out[2] = mw_new_output(g, MW_OP_BATCH_NORM_BWD, "gbias", 1, &ch);
    if (out[0] < 0 || out[1] < 0 || out[2] < 0) return;
    if (mw_graph_add_node(g, MW_OP_BATCH_NORM_BWD, in, 5, out, 3, n->attr) < 0) return;
    for (int k = 0; k < 3; k++)
        gin[k] = out[k];
}

/* ---- both backends ---- */

/* Channels and elements per channel (N·H·W) of the maps a node normalises. */
static void bn_dims(const mw_graph *g, int x, size_t *channels, size_t *len) {
    const mw_tensor *t = mw_t(g, x);
    *channels = (size_t)t->shape[0];
    *len = t->numel / *channels;
}

/* PyTorch refuses train mode with one value per channel: the unbiased variance is undefined. */
static mw_status check_batch(const mw_graph *g, const mw_node *n, bool training, size_t len) {
    if (!training || len > 1) return MW_OK;
    return mw_error_set(MW_ERR_INVALID_ARG,
                        "batch_norm on %s: train mode needs more than one value per channel",
                        mw_t(g, n->in[0])->name);
}

static mw_status batch_norm_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t channels, len;
    bn_dims(c->g, n->in[0], &channels, &len);
    MW_TRY(check_batch(c->g, n, c->training, len));
    const char *kernel = c->training ? "bn_forward_train_f32" : "bn_forward_eval_f32";
    size_t group = mw_group_size(c, MW_ROW_MAX_GROUP);
    const mw_node_attr *at = &n->attr;
    if (c->training)
        return mw_launch_groups(
            c, "batchnorm", kernel, channels, group, "mmmmmmmmuuffi", mw_mem(c, n->in[0]),
            mw_mem(c, n->in[1]), mw_mem(c, n->in[2]), mw_mem(c, n->in[3]), mw_mem(c, n->in[4]),
            mw_mem(c, n->in[5]), mw_mem(c, n->out[0]), mw_mem(c, n->out[1]), (unsigned)channels,
            (unsigned)len, (double)at->norm.momentum, (double)at->norm.eps, at->norm.activation);
    return mw_launch_groups(c, "batchnorm", kernel, channels, group, "mmmmmmmuufi",
                            mw_mem(c, n->in[0]), mw_mem(c, n->in[1]), mw_mem(c, n->in[2]),
                            mw_mem(c, n->in[3]), mw_mem(c, n->in[4]), mw_mem(c, n->out[0]),
                            mw_mem(c, n->out[1]), (unsigned)channels, (unsigned)len,
                            (double)at->norm.eps, at->norm.activation);
}

static mw_status batch_norm_bwd_cl(mw_cl_ctx *c, const mw_node *n) {
    size_t channels, len;
    bn_dims(c->g, n->in[1], &channels, &len);
    return mw_launch_groups(c, "batchnorm", "bn_backward_f32", channels,
                            mw_group_size(c, MW_ROW_MAX_GROUP), "mmmmmmmmuuii", mw_mem(c, n->in[0]),
                            mw_mem(c, n->in[1]), mw_mem(c, n->in[2]), mw_mem(c, n->in[3]),
                            mw_mem(c, n->in[4]), mw_mem(c, n->out[0]), mw_mem(c, n->out[1]),
                            mw_mem(c, n->out[2]), (unsigned)channels, (unsigned)len,
                            n->attr.norm.activation, (int)c->training);
}

static mw_status batch_norm_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t channels, len;
    bn_dims(c->g, n->in[0], &channels, &len);
    MW_TRY(check_batch(c->g, n, c->training, len));
    mw_ref_batch_norm(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]), mw_host_f32(c, n->in[2]),
                      mw_host_f32(c, n->in[3]), mw_host_f32(c, n->in[4]),
                      (int32_t *)c->host[n->in[5]], mw_host_f32(c, n->out[0]),
                      mw_host_f32(c, n->out[1]), channels, len, n->attr.norm.momentum,
                      n->attr.norm.eps, n->attr.norm.activation, c->training);
    return MW_OK;
}

static mw_status batch_norm_bwd_cpu(mw_cpu_ctx *c, const mw_node *n) {
    size_t channels, len;
    bn_dims(c->g, n->in[1], &channels, &len);
    mw_ref_batch_norm_bwd(mw_host_f32(c, n->in[0]), mw_host_f32(c, n->in[1]),
                          mw_host_f32(c, n->in[2]), mw_host_f32(c, n->in[3]),
                          mw_host_f32(c, n->in[4]), mw_host_f32(c, n->out[0]),
                          mw_host_f32(c, n->out[1]), mw_host_f32(c, n->out[2]), channels, len,
                          n->attr.norm.activation, c->training);
    return MW_OK;
}

mw_status mw_batch_norm_fold(mw_cl_ctx *c, const mw_node *bn, const mw_node *conv, cl_mem w_out,
                             cl_mem b_out) {
    const mw_tensor *w = mw_t(c->g, conv->in[1]);
    size_t channels = (size_t)w->shape[0];
    bool bias = conv->n_in > 2;
    return mw_launch(c, "batchnorm", "bn_fold_f32", channels, "mmummmmfuumm",
                     mw_mem(c, conv->in[1]), mw_mem(c, conv->in[bias ? 2 : 1]), (unsigned)bias,
                     mw_mem(c, bn->in[1]), mw_mem(c, bn->in[2]), mw_mem(c, bn->in[3]),
                     mw_mem(c, bn->in[4]), (double)bn->attr.norm.eps,
                     (unsigned)(w->numel / channels), (unsigned)channels, w_out, b_out);
}

const mw_op_def mw_op_def_batch_norm = {
    .run_cl = batch_norm_cl, .run_cpu = batch_norm_cpu, .backward = batch_norm_backward};
const mw_op_def mw_op_def_batch_norm_bwd = {.run_cl = batch_norm_bwd_cl,
                                            .run_cpu = batch_norm_bwd_cpu};
