/* The op table: one row per mw_op, defined next to the op in its family file. */
#include "graph/graph_internal.h"

extern const mw_op_def mw_op_def_fill, mw_op_def_affine, mw_op_def_add, mw_op_def_relu,
    mw_op_def_relu_bwd, mw_op_def_matmul, mw_op_def_linear, mw_op_def_sum_rows,
    mw_op_def_concat_cols, mw_op_def_slice_cols, mw_op_def_pad_cols, mw_op_def_row_normalize,
    mw_op_def_row_normalize_bwd, mw_op_def_pairwise_sqdist, mw_op_def_pairwise_sqdist_bwd,
    mw_op_def_sparsemax, mw_op_def_sparsemax_bwd, mw_op_def_softmax_ce, mw_op_def_softmax_ce_bwd;
extern const mw_op_def mw_op_def_conv2d, mw_op_def_conv2d_bwd_input, mw_op_def_conv2d_bwd_weight,
    mw_op_def_conv2d_bwd_bias;
extern const mw_op_def mw_op_def_images_to_maps, mw_op_def_maps_to_images, mw_op_def_maps_to_rows,
    mw_op_def_rows_to_maps, mw_op_def_batch_norm, mw_op_def_batch_norm_bwd, mw_op_def_activate,
    mw_op_def_activate_bwd, mw_op_def_avg_pool, mw_op_def_avg_pool_bwd, mw_op_def_scale_channels,
    mw_op_def_scale_channels_bwd, mw_op_def_dropout, mw_op_def_dropout_bwd;

/* Sized by MW_OP_COUNT: a row left out is NULL, which tests/test_graph.c catches. */
static const mw_op_def *const op_table[MW_OP_COUNT] = {
    [MW_OP_NONE] = NULL,
    [MW_OP_FILL] = &mw_op_def_fill,
    [MW_OP_AFFINE] = &mw_op_def_affine,
    [MW_OP_ADD] = &mw_op_def_add,
    [MW_OP_RELU] = &mw_op_def_relu,
    [MW_OP_RELU_BWD] = &mw_op_def_relu_bwd,
    [MW_OP_MATMUL] = &mw_op_def_matmul,
    [MW_OP_LINEAR] = &mw_op_def_linear,
    [MW_OP_SUM_ROWS] = &mw_op_def_sum_rows,
    [MW_OP_CONCAT_COLS] = &mw_op_def_concat_cols,
    [MW_OP_SLICE_COLS] = &mw_op_def_slice_cols,
    [MW_OP_PAD_COLS] = &mw_op_def_pad_cols,
    [MW_OP_ROW_NORMALIZE] = &mw_op_def_row_normalize,
    [MW_OP_ROW_NORMALIZE_BWD] = &mw_op_def_row_normalize_bwd,
    [MW_OP_PAIRWISE_SQDIST] = &mw_op_def_pairwise_sqdist,
    [MW_OP_PAIRWISE_SQDIST_BWD] = &mw_op_def_pairwise_sqdist_bwd,
    [MW_OP_SPARSEMAX] = &mw_op_def_sparsemax,
    [MW_OP_SPARSEMAX_BWD] = &mw_op_def_sparsemax_bwd,
    [MW_OP_SOFTMAX_CE] = &mw_op_def_softmax_ce,
    [MW_OP_SOFTMAX_CE_BWD] = &mw_op_def_softmax_ce_bwd,
    /* conv family rows */
    [MW_OP_CONV2D] = &mw_op_def_conv2d,
    [MW_OP_CONV2D_BWD_INPUT] = &mw_op_def_conv2d_bwd_input,
    [MW_OP_CONV2D_BWD_WEIGHT] = &mw_op_def_conv2d_bwd_weight,
    [MW_OP_CONV2D_BWD_BIAS] = &mw_op_def_conv2d_bwd_bias,
    /* batchnorm, activation, pool, layout and dropout family rows */
    [MW_OP_IMAGES_TO_MAPS] = &mw_op_def_images_to_maps,
    [MW_OP_MAPS_TO_IMAGES] = &mw_op_def_maps_to_images,
    [MW_OP_MAPS_TO_ROWS] = &mw_op_def_maps_to_rows,
    [MW_OP_ROWS_TO_MAPS] = &mw_op_def_rows_to_maps,
    [MW_OP_BATCH_NORM] = &mw_op_def_batch_norm,
    [MW_OP_BATCH_NORM_BWD] = &mw_op_def_batch_norm_bwd,
    [MW_OP_ACTIVATE] = &mw_op_def_activate,
    [MW_OP_ACTIVATE_BWD] = &mw_op_def_activate_bwd,
    [MW_OP_AVG_POOL] = &mw_op_def_avg_pool,
    [MW_OP_AVG_POOL_BWD] = &mw_op_def_avg_pool_bwd,
    [MW_OP_SCALE_CHANNELS] = &mw_op_def_scale_channels,
    [MW_OP_SCALE_CHANNELS_BWD] = &mw_op_def_scale_channels_bwd,
    [MW_OP_DROPOUT] = &mw_op_def_dropout,
    [MW_OP_DROPOUT_BWD] = &mw_op_def_dropout_bwd,
};

const mw_op_def *mw_op_get(mw_op op) {
    return (op > MW_OP_NONE && op < MW_OP_COUNT) ? op_table[op] : NULL;
}
