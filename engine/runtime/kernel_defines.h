/* Constants that host code and kernels share, written once. Every program memwrap builds
 * from cl/ gets `-D<NAME>=<value>` for each name of MW_KERNEL_DEFINES (program.c composes the
 * options once per runtime), and the host code that sizes a launch reads the same names
 * from this header, so a kernel and its launcher cannot disagree. Kernels never define
 * these themselves: a name missing from the table is a build error naming it, not a
 * silent default.
 *
 * Besides these, a program gets -DMW_FMA where the device has hardware fused multiply-add
 * (CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG, queried once), -DMW_FP64 where it has double
 * (CL_DEVICE_DOUBLE_FP_CONFIG nonzero, unless MEMWRAP_NO_FP64 is set; cl/row_group.clh's
 * long sums use it), -DMW_BLOCK_ROWS=<rows> (the register block of the GEMMs and direct
 * kernels, which depends on the device's vectors: runtime.c, choose_block_rows), and whatever -D
 * defines select its variant (the depthwise kernel size and stride of cl/conv.cl, chosen in
 * engine/ops/conv.c). Adding a shared constant is one enum value here and its name in the
 * table. */
#ifndef MEMWRAP_RUNTIME_KERNEL_DEFINES_H
#define MEMWRAP_RUNTIME_KERNEL_DEFINES_H

#include "memwrap/ops.h" /* mw_activation: the codes of MW_ACT_* */

enum {
    /* cl/row_group.clh: one work-group per row (batch-norm channel, softmax or sparsemax
     * row, row norm, bias gradient) of at most this many work-items (the size of the
     * kernels' local arrays). */
    MW_ROW_MAX_GROUP = 256,
    /* cl/loss.cl: softmax_ce_f32 runs as one work-group of at most this many work-items
     * (the size of its local array). */
    MW_CE_GROUP = 64,
    /* cl/activation.cl: elements per work-item (one float16). */
    MW_ACT_VECTOR = 16,
    /* cl/gemm.cl gemm_nn: each work-item computes a block of C MW_BLOCK_ROWS rows (per
     * device: runtime.c, choose_block_rows) by this many columns (two float16). */
    MW_GEMM_NN_COLS = 32,
    /* cl/gemm.cl gemm_nt: each work-item computes a square tile of C this many rows and
     * columns wide, over inner-dimension slices that are multiples of MW_GEMM_NT_VECTOR
     * (one float16) long. */
    MW_GEMM_NT_TILE = 16,
    MW_GEMM_NT_VECTOR = 16,
    /* cl/concat.cl: output values per work-item of the column copies (one float16). */
    MW_COPY_RUN = 16,
    /* cl/conv3x3.cl conv3x3_forward: each work-item computes MW_BLOCK_ROWS output channels
     * (per device) by this many float16 of outputs. */
    MW_C3_PX_VECTORS = 2,
    /* cl/conv3x3.cl conv3x3_bm_forward: output channels by float16 of images per work-item. */
    MW_C3_BM_CO_BLOCK = 8,
    MW_C3_BM_VECTORS = 2,
    /* cl/winograd.cl winograd_fused: tiles per block (two float16 of products per row). */
    MW_WINOGRAD_FUSED_TILES = 32,
};

/* The names passed to every program; the values are the host's own (the activation codes
 * are those of enum mw_activation in memwrap/ops.h). */
#define MW_KERNEL_DEFINES(X)                                                                       \
    X(MW_ACT_NONE)                                                                                 \
    X(MW_ACT_RELU)                                                                                 \
    X(MW_ACT_SWISH)                                                                                \
    X(MW_ACT_SIGMOID)                                                                              \
    X(MW_ROW_MAX_GROUP)                                                                            \
    X(MW_CE_GROUP)                                                                                 \
    X(MW_ACT_VECTOR)                                                                               \
    X(MW_GEMM_NN_COLS)                                                                             \
    X(MW_GEMM_NT_TILE)                                                                             \
    X(MW_GEMM_NT_VECTOR)                                                                           \
    X(MW_COPY_RUN)                                                                                 \
    X(MW_C3_PX_VECTORS)                                                                            \
    X(MW_C3_BM_CO_BLOCK)                                                                           \
    X(MW_C3_BM_VECTORS)                                                                            \
    X(MW_WINOGRAD_FUSED_TILES)

#endif
