/* Plain-C reference implementations of the ops: obvious loops, float accumulation in
 * double where PyTorch's result would not depend on order. The reference backend (mw_exec
 * with no runtime) runs graphs on them through each op's run_cpu, which is how the tests
 * check the OpenCL kernels against them and take finite-difference gradients. Declared here
 * are those other files call (a test calling one directly, a family sharing another's
 * helper); a new op's references may stay static in its op file. Matrices are row-major. */
#ifndef MEMWRAP_OPS_REFERENCE_H
#define MEMWRAP_OPS_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* elementwise */
void mw_ref_fill(float *y, size_t n, float value);
void mw_ref_affine(const float *x, float *y, size_t n, float alpha, float beta);
void mw_ref_add(const float *a, const float *b, float *y, size_t n);
void mw_ref_relu(const float *x, float *y, size_t n);
void mw_ref_add_relu(const float *a, const float *b, float *y, size_t n);
void mw_ref_relu_bwd(const float *gy, const float *y, float *gx, size_t n);

/* linear: C[m,n] = op(A) op(B) with op(A) [m,k], op(B) [k,n] */
void mw_ref_matmul(const float *a, const float *b, float *c, size_t m, size_t n, size_t k,
                   bool transpose_a, bool transpose_b);
void mw_ref_linear(const float *x, const float *w, const float *b, float *y, size_t rows, size_t in,
                   size_t out);
void mw_ref_sum_rows(const float *x, float *y, size_t rows, size_t cols);

/* concat */
void mw_ref_place_cols(const float *x, float *y, size_t rows, size_t width, size_t start,
                       size_t count);
void mw_ref_slice_cols(const float *x, float *y, size_t rows, size_t cols, size_t start,
                       size_t count);
void mw_ref_pad_cols(const float *x, float *y, size_t rows, size_t width, size_t start,
                     size_t count);

/* distance */
void mw_ref_row_normalize(const float *x, float *y, size_t rows, size_t cols, float eps);
void mw_ref_row_normalize_bwd(const float *gy, const float *x, float *gx, size_t rows, size_t cols,
                              float eps);
void mw_ref_pairwise_sqdist(const float *a, const float *b, float *d, size_t n, size_t m,
                            size_t dim);
void mw_ref_pairwise_sqdist_bwd(const float *gd, const float *a, const float *b, float *ga,
                                float *gb, size_t n, size_t m, size_t dim);
void mw_ref_norm_deficit(const float *x, float *c, size_t rows, size_t cols, float eps);
void mw_ref_cosine_distance(const float *ah, const float *bh, const float *ca, const float *cb,
                            float *d, size_t n, size_t m, size_t dim);

/* elementwise: log(clamp(x, lo, hi)) */
void mw_ref_clamp_log(const float *x, float *y, size_t n, float lo, float hi);
void mw_ref_clamp_log_bwd(const float *gy, const float *x, float *gx, size_t n, float lo, float hi);

/* softmax (per row); _row: one row of cols values, returning its log-sum-exp */
double mw_ref_softmax_row(const float *x, float *y, size_t cols);
void mw_ref_softmax(const float *x, float *y, size_t rows, size_t cols);
void mw_ref_softmax_bwd(const float *gy, const float *y, float *gx, size_t rows, size_t cols);

/* LSTM cell: gates [n, 4h] (i, f, g, o), c_prev [n, h] or NULL -> out [n, 2h] = [h | c] */
void mw_ref_lstm_cell(const float *gates, const float *c_prev, float *out, size_t n, size_t h);
void mw_ref_lstm_cell_bwd(const float *gout, const float *gates, const float *c_prev,
                          float *ggates, float *gc_prev, size_t n, size_t h);
/* LSTM over a sequence of t steps (batch 1): p [t, 4h] the inputs' projections, w_hh
 * [4h, h], b_hh [4h] -> y [t, 2h] ([h | c] per step), gates [t, 4h] (pre-activations) */
void mw_ref_lstm_sequence(const float *p, const float *w_hh, const float *b_hh, float *y,
                          float *gates, size_t t, size_t h, bool reverse);
void mw_ref_lstm_sequence_bwd(const float *gy, const float *gates, const float *y,
                              const float *w_hh, float *gp, float *gw, float *gb, size_t t,
                              size_t h, bool reverse);

/* sparsemax (per row) */
void mw_ref_sparsemax(const float *z, float *p, size_t rows, size_t cols);
void mw_ref_sparsemax_bwd(const float *gp, const float *p, float *gz, size_t rows, size_t cols);

/* loss: mean softmax cross-entropy; probs [rows, classes] saved for the backward */
void mw_ref_softmax_ce(const float *logits, const int32_t *labels, float *loss, float *probs,
                       size_t rows, size_t classes);
void mw_ref_softmax_ce_bwd(const float *gloss, const float *probs, const int32_t *labels,
                           float *glogits, size_t rows, size_t classes);
/* loss: mean squared error of n values; its backward writes scale · gloss · (a − b), scale
 * 2/n for a's gradient and −2/n for b's */
void mw_ref_mse_loss(const float *a, const float *b, float *loss, size_t n);
void mw_ref_mse_loss_bwd(const float *gloss, const float *a, const float *b, float *g, size_t n,
                         double scale);

/* optimizer: PyTorch SGD (dampening 0), one step over n values */
void mw_ref_sgd_step(float *p, const float *g, float *buf, size_t n, float lr, float momentum,
                     float weight_decay, bool nesterov, bool first_step);
/* optimizer: torch.optim.Adam (amsgrad off), step `step` (1 for the first, when the moments
 * m and v are taken as zero) over n values; bias corrections in double, the rest in float */
void mw_ref_adam_step(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, uint64_t step);

/* conv: maps [C, N, H, W], weights [Cout, Cin/groups, k, k], bias [Cout] or NULL; each output
 * side is (side + 2 pad - k) / stride + 1, as torch.nn.Conv2d. */
typedef struct mw_ref_conv_shape {
    size_t cin, cout, n, h, w, k, stride, pad, groups;
} mw_ref_conv_shape;
void mw_ref_conv2d(const float *x, const float *w, const float *b, float *y,
                   const mw_ref_conv_shape *s);
void mw_ref_conv2d_bwd_input(const float *gy, const float *w, float *gx,
                             const mw_ref_conv_shape *s);
void mw_ref_conv2d_bwd_weight(const float *gy, const float *x, float *gw,
                              const mw_ref_conv_shape *s);
void mw_ref_conv2d_bwd_bias(const float *gy, float *gb, size_t cout, size_t len);

/* activation (mw_activation codes): the functions and their derivatives at z, shared by the
 * references that fuse them */
float mw_ref_act(float z, int act);
float mw_ref_act_grad(float z, int act);
void mw_ref_activate(const float *x, float *y, size_t n, int act);
void mw_ref_activate_bwd(const float *gy, const float *x, float *gx, size_t n, int act);

/* batchnorm over maps [channels, len]: stats [2, channels] = mean, 1/sqrt(var + eps) used;
 * train mode updates the running statistics and count, eval mode reads them */
void mw_ref_batch_norm(const float *x, const float *gamma, const float *beta, float *running_mean,
                       float *running_var, int32_t *count, float *y, float *stats, size_t channels,
                       size_t len, float momentum, float eps, int act, bool training);
void mw_ref_batch_norm_bwd(const float *gy, const float *x, const float *gamma, const float *beta,
                           const float *stats, float *gx, float *ggamma, float *gbeta,
                           size_t channels, size_t len, int act, bool training);

/* pool: maps as `planes` = C·N planes of height x width. avg_pool: each k x k window's sum
 * times `weight` (1/k² for average pooling, 1 for the backward of nearest upsampling);
 * avg_pool_bwd: each window's value times `weight` to its k x k values (average pooling's
 * backward with 1/k², nearest upsampling by k with 1), 0 where floor mode leaves no window */
void mw_ref_avg_pool(const float *x, float *y, size_t planes, size_t height, size_t width,
                     size_t k, double weight);
void mw_ref_avg_pool_bwd(const float *gy, float *gx, size_t planes, size_t height, size_t width,
                         size_t k, double weight);
/* argmax: the position (y·width + x) of each window's first largest value in its plane */
void mw_ref_max_pool(const float *x, float *y, float *argmax, size_t planes, size_t height,
                     size_t width, size_t k, size_t stride, size_t padding);
void mw_ref_max_pool_bwd(const float *gy, const float *argmax, float *gx, size_t planes,
                         size_t height, size_t width, size_t k, size_t stride, size_t padding);
void mw_ref_scale_channels(const float *x, const float *s, float *y, size_t planes,
                           size_t plane_size);
void mw_ref_scale_channels_bwd(const float *gy, const float *x, const float *s, float *gx,
                               float *gs, size_t planes, size_t plane_size);

/* layout: out [b, a, p] = in [a, b, p] */
void mw_ref_swap_leading(const float *in, float *out, size_t a_dim, size_t b_dim, size_t plane);
void mw_ref_shuffle_channels(const float *in0, const float *in1, size_t c0, float *out,
                             size_t start, size_t count, size_t groups, size_t per_group,
                             size_t block);

/* dropout: mask = the factor applied (0 or 1/(1 - p) in train mode, 1 in eval mode); the
 * key of a node in a run is mw_dropout_key(run counter, node index) */
uint64_t mw_dropout_key(uint64_t step, int node);
uint32_t mw_dropout_threshold(float p); /* element dropped when its 32-bit draw is below */
float mw_dropout_scale(float p);        /* 1/(1 - p); 0 for p = 1 */
void mw_ref_dropout(const float *x, float *y, float *mask, size_t n, uint64_t key, float p,
                    bool training);
void mw_ref_dropout_bwd(const float *gy, const float *mask, float *gx, size_t n);

#endif
