/* An eval-mode batch normalisation folded into the convolution before it. In eval mode
 * (PyTorch's eval(): running statistics) a batch norm is an affine map per channel,
 * y = act(s·(conv(x) + b − mean) + β) with s = γ / sqrt(var + ε), which is the convolution
 * with weights s·w and bias s·(b − mean) + β followed by the activation: the executor
 * (engine/graph/exec.c, plan_bn_folds) runs such pairs as one pass on MW_RUN_FORWARD runs,
 * the convolution writing the batch norm's output, where the convolution's path can apply
 * the activation as it stores (mw_conv2d_takes_act). In inference a batch norm reads and
 * writes its whole map at memory speed: 22% of MobileNetV2 Memory Wrap's evaluation step
 * (bench/RESULTS.md, "Batch norm folded into the convolution in evaluation"). Train mode,
 * and eval-mode runs with a backward (attributions, which need the convolution's output),
 * run the two nodes as they are. */
#ifndef MEMWRAP_OPS_BN_FOLD_H
#define MEMWRAP_OPS_BN_FOLD_H

#include <stdbool.h>

#include "graph/graph_internal.h"

/* Whether the forward convolution node n can write act(conv) in one pass. */
bool mw_conv2d_takes_act(const mw_runtime *rt, const mw_graph *g, const mw_node *n);

/* y = act(conv(x, w) + b) with the node's input x and the given weights and bias (b NULL:
 * none); an activation only where mw_conv2d_takes_act. */
mw_status mw_conv2d_forward_act(mw_cl_ctx *c, const mw_node *n, cl_mem w, cl_mem b, int act,
                                cl_mem y);

/* The folded weights and bias of batch-norm node `bn` over convolution node `conv` (its
 * running statistics, γ and β): w_out = s·w, b_out = s·(b − mean) + β per output channel,
 * b the convolution's bias or 0. w_out holds the convolution's weights' count of floats,
 * b_out one per channel. */
mw_status mw_batch_norm_fold(mw_cl_ctx *c, const mw_node *bn, const mw_node *conv, cl_mem w_out,
                             cl_mem b_out);

#endif
