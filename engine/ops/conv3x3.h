/* The direct 3x3 convolution (padding 1, stride 1 or 2, one group) that engine/ops/conv.c runs in
 * place of im2col + GEMM where it measures faster: kernels in cl/conv3x3.cl, launches and
 * workspace plans in engine/ops/conv3x3.c. */
#ifndef MEMWRAP_OPS_CONV3X3_H
#define MEMWRAP_OPS_CONV3X3_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/launch.h"

/* A 3x3 padding-1 convolution of x [cin, n, h, w] into y [cout, n, ho, wo] with stride 1
 * or 2: ho = (h - 1) / stride + 1, wo likewise. */
typedef struct mw_conv3x3_shape {
    size_t cin, cout, n, h, w, stride;
    /* The kernels vectorised over images (small maps, stride 2) rather than over a map's
     * padded rows (cl/conv3x3.cl says which suits where). */
    bool batch_major;
    /* Output channels per work-item of the padded-row kernels: the device's register block
     * rows (MW_BLOCK_ROWS, engine/runtime/runtime.c choose_block_rows). */
    size_t co_block;
} mw_conv3x3_shape;

/* Workspace floats that node op `op` (MW_OP_CONV2D, _BWD_INPUT or _BWD_WEIGHT) needs, its
 * padded copies taking at most about `cap_floats` (images go in chunks). */
size_t mw_conv3x3_workspace_floats(const mw_conv3x3_shape *s, mw_op op, size_t cap_floats);

/* y (+)= conv(x, w): `accumulate` adds onto y (a bias written before). */
mw_status mw_conv3x3_forward(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats, cl_mem x,
                             cl_mem w, cl_mem y, bool accumulate);
/* gx = the input gradient for gy [cout, n, ho, wo] (stride 2: batch-major only). */
mw_status mw_conv3x3_bwd_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                               cl_mem gy, cl_mem w, cl_mem gx);
/* gw = the weight gradient [cout, cin, 3, 3] for gy and x. */
mw_status mw_conv3x3_bwd_weight(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                cl_mem gy, cl_mem x, cl_mem gw);

#endif
