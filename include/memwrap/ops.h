/* Graph builders for every op. Each appends one node (or a few, for composites such as
 * mw_distance) and returns the output tensor id, or -1 (see memwrap/graph.h). Shapes are
 * row-major; a "matrix" is a 2-D tensor [rows, cols]. */
#ifndef MEMWRAP_OPS_H
#define MEMWRAP_OPS_H

#include "memwrap/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C = op(A) op(B), op = transpose when the flag is set (CLBlast SGEMM). */
int mw_matmul(mw_graph *g, int a, int b, bool transpose_a, bool transpose_b);

/* y = x wᵀ + b, x [N, in], w [out, in], b [out] or -1 for no bias (PyTorch nn.Linear). */
int mw_linear(mw_graph *g, int x, int w, int b);

int mw_relu(mw_graph *g, int x);

/* y = alpha x + beta, elementwise. */
int mw_affine(mw_graph *g, int x, float alpha, float beta);

/* y = a + b, same shapes. */
int mw_add(mw_graph *g, int a, int b);

/* y = max(a + b, 0), same shapes: mw_relu(mw_add(a, b)) in one pass over the maps, without
 * keeping the sum for the backward pass (which needs only y). */
int mw_add_relu(mw_graph *g, int a, int b);

/* [a, b] along features (columns): a [N, p], b [N, q] -> [N, p + q]. */
int mw_concat_cols(mw_graph *g, int a, int b);

/* Columns [start, start + count) of x [N, C]. */
int mw_slice_cols(mw_graph *g, int x, int start, int count);

/* [a; b] along rows: a [p, C], b [q, C] -> [p + q, C]; and rows [start, start + count). */
int mw_concat_rows(mw_graph *g, int a, int b);
int mw_slice_rows(mw_graph *g, int x, int start, int count);

/* Maps [C, N, H, W] joined along channels (torch.cat(dim=1) of NCHW tensors): a's channels,
 * then b's; N, H and W must agree. */
int mw_concat_channels(mw_graph *g, int a, int b);

/* The same for `count` maps (2 to MW_CONCAT_MAX) in order, in one node: each value is copied
 * once, where nested pairs would copy the first maps again at every level (an inception
 * module's four branches). */
enum { MW_CONCAT_MAX = 6 };
int mw_concat_channels_n(mw_graph *g, const int *maps, int count);

/* Channels [start, start + count) of maps x [C, N, H, W] (x[:, start:start+count] in NCHW). */
int mw_slice_channels(mw_graph *g, int x, int start, int count);

/* x / sqrt(sum_k x_k² + eps) per row (memorywrap's _vector_norms: eps inside the root). */
int mw_row_normalize(mw_graph *g, int x, float eps);

/* D_ij = sum_k (a_ik - b_jk)², a [N, d], b [M, d] -> [N, M] (squared, no root). */
int mw_pairwise_sqdist(mw_graph *g, int a, int b);

/* Memory Wrap distances between queries e [N, d] and memory m [M, d] -> D [N, M]:
 * "cosine" 1 - ê m̂ᵀ (eps 1e-6 inside the norms' root), "l2" squared euclidean,
 * "dot" -e mᵀ. An unknown name is an error that lists the valid ones. */
int mw_distance(mw_graph *g, int e, int m, const char *name);
extern const char *const mw_distance_names[]; /* NULL-terminated */

/* log(clamp(x, lo, hi)), elementwise; its gradient gy / x passes where lo <= x <= hi, as
 * torch's clamp then log (Matching Networks' loss on clamped predictions). */
int mw_clamp_log(mw_graph *g, int x, float lo, float hi);

/* softmax over each row of x [N, C] (torch.softmax(dim=1)). */
int mw_softmax(mw_graph *g, int x);

/* The LSTM cell after its products (torch.nn.LSTMCell, gate order i, f, g, o): gates
 * [N, 4H] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, c_prev [N, H] (-1: zeros) -> [N, 2H], the new
 * hidden state in columns [0, H) and the new cell state in [H, 2H). */
int mw_lstm_cell(mw_graph *g, int gates, int c_prev);

/* One direction of an LSTM layer over a sequence of T steps (batch 1, zero initial states),
 * as nn.LSTM: p [T, 4H] = x W_ihᵀ + b_ih for every step at once (mw_linear), w_hh [4H, H],
 * b_hh [4H]; `reverse` runs from the last step to the first (the backward direction of a
 * bidirectional LSTM). Returns [T, 2H]: row t the hidden state at step t in columns [0, H),
 * the cell state in [H, 2H). One node whose backward is the whole backpropagation through
 * time, the recurrent weights' gradient one GEMM over all steps. */
int mw_lstm_sequence(mw_graph *g, int p, int w_hh, int b_hh, bool reverse);

/* sparsemax over each row (Martins & Astudillo 2016, entmax's SparsemaxFunction). */
int mw_sparsemax(mw_graph *g, int z);

/* Mean softmax cross-entropy of logits [N, C] against int32 labels [N]: a [1] tensor. */
int mw_softmax_cross_entropy(mw_graph *g, int logits, int labels);

/* Mean squared error of two float tensors of one shape (any number of dimensions):
 * mean((a − b)²) as a [1] tensor (torch.nn.MSELoss(), reduction 'mean'). Both inputs get
 * gradients: 2 (a − b) / n · gloss and its negative. */
int mw_mse_loss(mw_graph *g, int a, int b);

/* ---- convolutional encoders ----------------------------------------------------------
 * Feature maps are stored channel-major, shape [C, N, H, W]: a 1x1 convolution is then one
 * GEMM over every image of the batch and batch norm reduces contiguous rows. Images enter
 * in PyTorch's [N, C, H, W] through mw_images_to_maps; weights keep PyTorch's layouts
 * (conv [Cout, Cin/groups, kh, kw]) so that checkpoints map one to one. */

typedef enum mw_activation {
    MW_ACT_NONE = 0,
    MW_ACT_RELU,
    MW_ACT_SWISH, /* x · sigmoid(x) */
    MW_ACT_SIGMOID,
    MW_ACT_COUNT
} mw_activation;

/* [N, C, H, W] -> [C, N, H, W] */
int mw_images_to_maps(mw_graph *g, int images);

/* [C, N, 1, 1] -> [N, C]: a globally pooled map as the rows an MLP reads (flatten). */
int mw_maps_to_rows(mw_graph *g, int maps);

/* 2-D convolution of x [Cin, N, H, W] with w [Cout, Cin/groups, k, k] (square kernels),
 * optional bias b [Cout] (or -1), zero padding, as torch.nn.Conv2d. */
int mw_conv2d(mw_graph *g, int x, int w, int b, int stride, int padding, int groups);

/* Batch normalisation over (N, H, W) per channel of x [C, N, H, W], as nn.BatchNorm2d, then
 * `act` fused. Train mode: batch statistics, then running_mean/var (state tensors [C]) move
 * by `momentum` towards the batch mean and the unbiased batch variance, and
 * batches_tracked (int32 state [1]) counts up. Eval mode: running statistics. */
int mw_batch_norm(mw_graph *g, int x, int gamma, int beta, int running_mean, int running_var,
                  int batches_tracked, float momentum, float eps, mw_activation act);

/* Elementwise activation (relu, swish, sigmoid); MW_ACT_NONE returns x itself. */
int mw_activate(mw_graph *g, int x, mw_activation act);

/* k x k average pooling, stride k, no padding, floor mode: [C, N, H, W] -> [C, N, ⌊H/k⌋,
 * ⌊W/k⌋] (F.avg_pool2d(x, k); with k = H = W also adaptive_avg_pool2d(x, 1)). */
int mw_avg_pool(mw_graph *g, int x, int k);

/* Nearest-neighbour upsampling by an integer factor k: [C, N, H, W] -> [C, N, kH, kW], each
 * value copied to a k x k block (nn.Upsample(scale_factor=k), mode 'nearest'); the gradient
 * is the sum over each block. */
int mw_upsample_nearest(mw_graph *g, int x, int k);

/* k x k max pooling with a stride and implicit −∞ padding (F.max_pool2d(x, k, stride,
 * padding), floor mode): [C, N, H, W] -> [C, N, (H + 2p − k)/s + 1, ...]. The gradient goes
 * to the first largest value of each window in row-major order, as PyTorch's. */
int mw_max_pool(mw_graph *g, int x, int k, int stride, int padding);

/* ShuffleNet's channel shuffle of maps [C, N, H, W]: channel i·(C/groups) + j moves to
 * j·groups + i (x.view(N, g, C/g, H, W).transpose(1, 2) in NCHW). */
int mw_channel_shuffle(mw_graph *g, int x, int groups);

/* The same shuffle of the channels of maps[0] then maps[1] (n_in 1 or 2; N, H and W must
 * agree), split into n_out (1 or 2) maps of out_channels[k] channels each, their ids written
 * to out: ShuffleNetV2's torch.cat, shuffle and the next unit's split in one pass, each value
 * copied once. 0, or -1 with the graph's error set. */
int mw_channel_shuffle_split(mw_graph *g, const int *maps, int n_in, int groups,
                             const int *out_channels, int n_out, int *out);

/* y = x · s broadcast over H and W: x [C, N, H, W], s [C, N, 1, 1] (squeeze-excitation). */
int mw_scale_channels(mw_graph *g, int x, int s);

/* Inverted dropout (F.dropout): in train mode zeroes each element with probability p and
 * scales the rest by 1/(1−p), with a fresh mask every run; in eval mode y = x. */
int mw_dropout(mw_graph *g, int x, float p);

#ifdef __cplusplus
}
#endif
#endif
