/* The backward of a batch norm fused with the backward of the depthwise convolution before
 * it. In MobileNetV2's and EfficientNet's blocks a depthwise convolution feeds a batch norm
 * (and its activation) alone, so the batch norm's input gradient gx is read only by the
 * convolution's input- and weight-gradient kernels; unfused, gx (a whole map) is written
 * with its read for ownership and read back twice, all at memory speed. Fused, one
 * work-group per channel keeps the channel's gx in local memory and computes both
 * convolution gradients from there (cl/conv.cl, bn_dw_backward). Where the convolution's
 * input is itself a batch norm's output that nothing else reads (MobileNetV2's bn1), the
 * input gradient stays in local memory too and that batch norm's backward runs in the same
 * work-group. The unfused kernels' orders of summation are kept, so every output is the same
 * to the bit. The executor fuses (engine/graph/exec.c, plan_bn_dw_backward) on the OpenCL
 * backend; the depthwise maps must be ones the stride-1 whole-vector kernels take (CPU
 * devices, w a multiple of 8 up to 32) and the channel's maps must fit the device's local
 * memory. */
#ifndef MEMWRAP_OPS_BN_DW_BACKWARD_H
#define MEMWRAP_OPS_BN_DW_BACKWARD_H

#include <stdbool.h>

#include "graph/graph_internal.h"

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
