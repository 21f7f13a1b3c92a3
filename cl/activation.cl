/* Elementwise activations (swish, sigmoid) and their backward. Each work-item takes
 * MW_ACT_VECTOR (16) consecutive elements as one float16 (PoCL vectorises explicit vector
 * types, not scalar code across work-items); the last work-item finishes a ragged tail one
 * element at a time. The activation functions themselves are in cl/activation_fn.clh. */

#include "activation_fn.clh"

#if MW_ACT_VECTOR != 16
#error "activation.cl is written for MW_ACT_VECTOR 16 (one float16 per work-item)"
#endif

__kernel void activate_f32(__global const float *x, __global float *y, const uint n,
                           const int act) {
    uint i = get_global_id(0) * MW_ACT_VECTOR;
    if (i + MW_ACT_VECTOR <= n) {
        vstore16(act16(vload16(0, x + i), act), 0, y + i);
    } else {
        for (; i < n; i++) y[i] = act1(x[i], act);
    }
}

__kernel void activate_bwd_f32(__global const float *gy, __global const float *x,
                               __global float *gx, const uint n, const int act) {
    uint i = get_global_id(0) * MW_ACT_VECTOR;
    if (i + MW_ACT_VECTOR <= n) {
        vstore16(vload16(0, gy + i) * act_grad16(vload16(0, x + i), act), 0, gx + i);
    } else {
        for (; i < n; i++) gx[i] = gy[i] * act_grad1(x[i], act);
    }
}
