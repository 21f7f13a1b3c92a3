/* Winograd's F(2x2, 3x3) for 3x3 convolutions of stride 1 and padding 1 (one group), and
 * F(4x4, 3x3) on square maps up to 16x16, which engine/ops/conv.c runs in place of the direct
 * kernels where it measures faster: the transforms in cl/winograd.cl and cl/winograd4.cl,
 * their GEMMs ops/gemm.h's, the launches and workspace plans in engine/ops/winograd.c. The
 * shape is the direct kernels' (stride 1). */
#ifndef MEMWRAP_OPS_WINOGRAD_H
#define MEMWRAP_OPS_WINOGRAD_H

#include <stddef.h>

#include "ops/conv3x3.h"

/* 1 (the default): the forward and the input gradient run winograd_fused where the channels
 * allow on the CPU profile; 0: always the separate transforms and GEMMs (tests and probes
 * compare the two). The GPU profile never fuses. */
extern int mw_winograd_fuse;

/* F(4x4, 3x3) (cl/winograd4.cl) on square maps in whole 4x4 tiles with channels in
 * multiples of 16: 1 (the default) where the rule takes it (fused on CPU devices with as
 * many input as output channels, 64 to 160; else maps up to 16x16, 256 channels or more on
 * both sides, enough tiles: winograd.c f4_applies), 2 wherever its kernels run (tests), 3
 * as 1 but never fused, 0 never (F(2x2, 3x3) then, as elsewhere). */
extern int mw_winograd_f4;

/* Whether the transforms' units of 16 tiles take tiles across tile rows and images: the
 * small square maps (4x4, 8x8, 16x16), whose tile rows have 2, 4 or 8 tiles. */
bool mw_winograd_compact_units(const mw_conv3x3_shape *s);

/* Whether the transforms' units of 16 tiles are (nearly) full on these maps: tile rows of
 * 16 tiles or more (maps 32 wide and wider), or compact units. Elsewhere a unit holds one
 * tile row's fewer tiles, and the transforms cost up to 16 / tiles-a-row times more. */
bool mw_winograd_full_units(const mw_conv3x3_shape *s);

/* Workspace floats that node op `op` (MW_OP_CONV2D, _BWD_INPUT or _BWD_WEIGHT) needs, its
 * per-chunk pieces taking about `cap_floats` at most (images go in chunks), F(4x4, 3x3)'s
 * weight planes on top of them (taken only where they fit `cap_floats` too). */
size_t mw_winograd_workspace_floats(const mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op,
                                    size_t cap_floats);

/* CLBlast's temporary buffer for the GEMMs of node op `op` (0 where the own GEMMs run them:
 * the CPU profile). */
mw_status mw_winograd_scratch_bytes(mw_runtime *rt, const mw_conv3x3_shape *s, mw_op op,
                                    size_t cap_floats, size_t *bytes);

/* y (+)= conv(x, w): `accumulate` adds onto y (a bias written before). */
mw_status mw_winograd_forward(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                              cl_mem x, cl_mem w, cl_mem y, bool accumulate);
/* gx = the input gradient for gy [cout, n, h, w]. */
mw_status mw_winograd_bwd_input(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                cl_mem gy, cl_mem w, cl_mem gx);
/* gw = the weight gradient [cout, cin, 3, 3] for gy and x. */
mw_status mw_winograd_bwd_weight(mw_cl_ctx *c, const mw_conv3x3_shape *s, size_t cap_floats,
                                 cl_mem gy, cl_mem x, cl_mem gw);

#endif
