/* Row-wise softmax and its backward: one work-item per row (rows are short: the support set
 * of 100, or 10 classes). */

#include "softmax_fn.clh"

__kernel void softmax_f32(__global const float *x, __global float *y, const uint rows,
                          const uint cols) {
    uint r = get_global_id(0);
    if (r < rows) softmax_row(x + r * cols, y + r * cols, cols);
}

/* gx = y ⊙ (gy − Σ_c gy_c y_c) */
__kernel void softmax_bwd_f32(__global const float *gy, __global const float *y,
                              __global float *gx, const uint rows, const uint cols) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    float dot = 0.0f;
    for (uint c = 0; c < cols; c++) dot += gy[r * cols + c] * y[r * cols + c];
    for (uint c = 0; c < cols; c++) gx[r * cols + c] = y[r * cols + c] * (gy[r * cols + c] - dot);
}
