/* Batch normalisation over channel-major maps [C, N, H, W] (nn.BatchNorm2d), with the
 * next activation fused. Channel c is the contiguous row x[c·len .. (c+1)·len), len = N·H·W,
 * so one work-group owns one channel: its work-items stream the row as float16 vectors (PoCL
 * vectorises explicit vector types only), summing in double where the device has it (see
 * long_sum16), and combine their partial sums in local memory. On
 * CPU devices the host makes the group a single work-item (see mw_group_size), on GPUs wide.
 * One launch per node each way: the forward computes the batch statistics, updates the
 * running ones and writes y; the backward reduces Σg, Σg·x̂ and writes gx in the same group.
 *
 * stats [2, C] keeps, per channel, the mean and 1/sqrt(var + eps) that normalised x (batch
 * statistics in train mode, running ones in eval mode) for the backward. */

/* MW_ROW_MAX_GROUP (engine/runtime/kernel_defines.h): the host picks a group size <= this
 * (any number of items), and launches fewer where the kernel allows fewer. */

#include "activation_fn.clh"

#include "row_group.clh"

/* One channel per work-group, forward: cl/bn_forward_row.clh. */
#define BN_FWD_FN_PASTE(name) name##_global
#define BN_FWD_FN(name) BN_FWD_FN_PASTE(name)
#define BN_X_SPACE __global
#include "bn_forward_row.clh"
#undef BN_X_SPACE
#undef BN_FWD_FN
#undef BN_FWD_FN_PASTE

/* Train mode. A kernel of its own rather than a branch of the eval one: PoCL 3.1 returned
 * wrong sums with these barriers under a (uniform) branch. */
__kernel void bn_forward_train_f32(__global const float *x, __global const float *gamma,
                                   __global const float *beta, __global float *running_mean,
                                   __global float *running_var, __global int *count,
                                   __global float *y, __global float *stats,
                                   const uint channels, const uint len, const float momentum,
                                   const float eps, const int act) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint c = get_group_id(0);
    size_t offset = (size_t)c * len;
    train_row_global(x + offset, y + offset, gamma, beta, running_mean, running_var, count, stats,
                     c, channels, len, momentum, eps, act, scratch);
}

/* Eval mode: the running statistics normalise and stay as they are. */
__kernel void bn_forward_eval_f32(__global const float *x, __global const float *gamma,
                                  __global const float *beta,
                                  __global const float *running_mean,
                                  __global const float *running_var, __global float *y,
                                  __global float *stats, const uint channels, const uint len,
                                  const float eps, const int act) {
    uint c = get_group_id(0);
    size_t offset = (size_t)c * len;
    normalize_row_global(x + offset, y + offset, len, running_mean[c],
                         1.0f / sqrt(running_var[c] + eps), gamma[c], beta[c], act, stats,
                         channels);
}

/* The backward of one channel per work-group: bn_backward_channel (cl/bn_backward_row.clh). */
#define BN_GY_SPACE __global
#define BN_GX_SPACE __global
#define BN_CHANNEL_FN bn_backward_channel
#define BN_GX_STORE(v, row, at, lanes) stream_lanes(big, v, row, at, lanes)
#include "bn_backward_row.clh"

__kernel void bn_backward_f32(__global const float *gy, __global const float *x,
                              __global const float *gamma, __global const float *beta,
                              __global const float *stats, __global float *gx,
                              __global float *ggamma, __global float *gbeta, const uint channels,
                              const uint len, const int act, const int training) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint c = get_group_id(0);
    size_t offset = (size_t)c * len;
    bn_backward_channel(gy + offset, x + offset, gx + offset, stats[c], stats[channels + c],
                        gamma[c], beta[c], ggamma, gbeta, c, channels, len, act, training,
                        scratch);
}

/* An eval-mode batch norm folded into the convolution before it (engine/ops/bn_fold.h): per
 * output channel o (one work-item), s = γ / sqrt(var + ε) as the eval kernel computes it,
 * w_out[o] = s · w[o] over the channel's `per_channel` weights, b_out[o] = s·(b[o] − mean) + β
 * (b: the convolution's bias, or none). */
__kernel void bn_fold_f32(__global const float *w, __global const float *bias,
                          const uint has_bias, __global const float *gamma,
                          __global const float *beta, __global const float *running_mean,
                          __global const float *running_var, const float eps,
                          const uint per_channel, const uint channels, __global float *w_out,
                          __global float *b_out) {
    uint o = get_global_id(0);
    if (o >= channels) return;
    float s = gamma[o] * (1.0f / sqrt(running_var[o] + eps));
    __global const float *wr = w + (size_t)o * per_channel;
    __global float *wo = w_out + (size_t)o * per_channel;
    for (uint i = 0; i < per_channel; i++)
        wo[i] = s * wr[i];
    b_out[o] = s * ((has_bias ? bias[o] : 0.0f) - running_mean[o]) + beta[o];
}
