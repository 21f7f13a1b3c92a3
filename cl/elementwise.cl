/* Elementwise ops. One work-item per element; the launcher rounds the range up, so every
 * kernel bound-checks against n. */

__kernel void affine_f32(__global const float *x, __global float *y, const float alpha,
                         const float beta, const uint n) {
    uint i = get_global_id(0);
    if (i < n) y[i] = alpha * x[i] + beta;
}

__kernel void add_f32(__global const float *a, __global const float *b, __global float *y,
                      const uint n) {
    uint i = get_global_id(0);
    if (i < n) y[i] = a[i] + b[i];
}

__kernel void relu_f32(__global const float *x, __global float *y, const uint n) {
    uint i = get_global_id(0);
    if (i < n) y[i] = fmax(x[i], 0.0f);
}

/* relu(a + b) in one pass (a residual block's end); its gradient is relu_bwd_f32's. */
__kernel void add_relu_f32(__global const float *a, __global const float *b, __global float *y,
                           const uint n) {
    uint i = get_global_id(0);
    if (i < n) y[i] = fmax(a[i] + b[i], 0.0f);
}

/* Gradient of ReLU from its output, as PyTorch's threshold_backward does: y > 0 passes. */
__kernel void relu_bwd_f32(__global const float *gy, __global const float *y,
                           __global float *gx, const uint n) {
    uint i = get_global_id(0);
    if (i < n) gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
}

/* log(clamp(x, lo, hi)), and its gradient gy / x where lo <= x <= hi (torch's clamp passes
 * the gradient at the bounds too). */
__kernel void clamp_log_f32(__global const float *x, __global float *y, const float lo,
                            const float hi, const uint n) {
    uint i = get_global_id(0);
    if (i < n) y[i] = log(clamp(x[i], lo, hi));
}

__kernel void clamp_log_bwd_f32(__global const float *gy, __global const float *x,
                                __global float *gx, const float lo, const float hi,
                                const uint n) {
    uint i = get_global_id(0);
    if (i < n) gx[i] = x[i] >= lo && x[i] <= hi ? gy[i] / x[i] : 0.0f;
}
