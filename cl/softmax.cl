/* Row-wise softmax and its backward: one work-group per row (cl/row_group.clh: a single
 * vectorised work-item on CPU devices, a wide group on GPUs). */

#include "row_group.clh"

__kernel void softmax_f32(__global const float *x, __global float *y, const uint rows,
                          const uint cols) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    __global const float *xr = x + (size_t)get_group_id(0) * cols;
    __global float *yr = y + (size_t)get_group_id(0) * cols;
    float m = row_max(xr, cols, scratch);
    float16 acc = 0.0f;
    ROW_LOOP(cols, { acc += data_lanes(exp(load_lanes(xr, at, lanes) - m), lanes); })
    float s = group_sum_lanes(acc, 0.0f, scratch).x;
    ROW_LOOP(cols, { store_lanes(exp(load_lanes(xr, at, lanes) - m) / s, yr, at, lanes); })
}

/* gx = y ⊙ (gy − Σ_c gy_c y_c) */
__kernel void softmax_bwd_f32(__global const float *gy, __global const float *y,
                              __global float *gx, const uint rows, const uint cols) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    size_t base = (size_t)get_group_id(0) * cols;
    float16 acc = 0.0f;
    ROW_LOOP(cols, {
        acc += data_lanes(load_lanes(gy + base, at, lanes) * load_lanes(y + base, at, lanes),
                          lanes);
    })
    float dot = group_sum_lanes(acc, 0.0f, scratch).x;
    ROW_LOOP(cols, {
        store_lanes(load_lanes(y + base, at, lanes) * (load_lanes(gy + base, at, lanes) - dot),
                    gx + base, at, lanes);
    })
}
