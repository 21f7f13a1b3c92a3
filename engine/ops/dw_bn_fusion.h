/* A stride-1 depthwise convolution and the batch norm after it, run as one kernel per
 * channel in training (cl/conv.cl), where the depthwise maps are ones the plane kernels
 * take (CPU devices, stride 1, up to 32 wide) and a channel's maps fit the
 * device's local memory. The executor pairs the nodes (engine/graph/exec.c,
 * plan_dw_bn_fusions) on the OpenCL backend; MEMWRAP_BN_DW_FUSE=off runs them apart. The
 * unfused kernels' orders of summation are kept, so every output is the same to the bit.
 *
 * Forward (dw_bn_forward): in MobileNetV2's and EfficientNet's blocks the convolution's
 * output is read in the forward only by the batch norm (bn2); the fused kernel keeps the
 * channel's output in local memory for the batch norm's three passes, where unfused they
 * read it back from memory.
 *
 * Backward (bn_dw_backward): bn2's input gradient gx is read only by the convolution's
 * input- and weight-gradient kernels; unfused, gx (a whole map) is written with its read for
 * ownership and read back twice, all at memory speed. Fused, the channel's gx stays in local
 * memory and both convolution gradients are computed from there. Where the convolution's
 * input is itself a batch norm's output that nothing else reads (MobileNetV2's bn1), the
 * input gradient stays in local memory too and that batch norm's backward runs in the same
 * work-group. */
#ifndef MEMWRAP_OPS_DW_BN_FUSION_H
#define MEMWRAP_OPS_DW_BN_FUSION_H

#include <stdbool.h>

#include "graph/graph_internal.h"

/* Whether the forward depthwise convolution node `conv` can run fused with the train-mode
 * batch norm after it. */
bool mw_dw_bn_forward_fits(const mw_runtime *rt, const mw_graph *g, const mw_node *conv);

/* Runs convolution node `conv` (x, w[, b] -> y) and batch-norm node `bn` (y, γ, β, running
 * statistics, count -> z, stats) in train mode. */
mw_status mw_dw_bn_forward(mw_cl_ctx *c, const mw_node *conv, const mw_node *bn);

/* Whether the depthwise input-gradient node `bwd_input` can run fused with the batch-norm
 * backward that produces its gradient input (`with_bn1`: and with the backward of the batch
 * norm whose output the convolution reads, which takes its input gradient). */
bool mw_bn_dw_backward_fits(const mw_runtime *rt, const mw_graph *g, const mw_node *bwd_input,
                            bool with_bn1);

/* Runs batch-norm backward node `bn` (gy, x, γ, β, stats -> gx, gγ, gβ) together with the
 * depthwise convolution's input-gradient node (gx, w -> gin) and weight-gradient node
 * (gx, x_in -> gw) that read its gx, and, where `bn1` is not NULL, the batch-norm backward
 * node that reads gin (gin, x1, γ1, β1, stats1 -> gx1, gγ1, gβ1); gx, and then gin, are not
 * written. */
mw_status mw_bn_dw_backward(mw_cl_ctx *c, const mw_node *bn, const mw_node *bwd_input,
                            const mw_node *bwd_weight, const mw_node *bn1);

#endif
