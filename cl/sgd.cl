/* torch.optim.SGD with dampening 0, fused over the whole parameter arena. */
__kernel void sgd_step_f32(__global float *p, __global const float *g, __global float *buf,
                           const uint n, const float lr, const float momentum,
                           const float weight_decay, const int nesterov, const int first_step) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float d = g[i] + weight_decay * p[i];
    if (momentum != 0.0f) {
        float b = first_step ? d : momentum * buf[i] + d;
        buf[i] = b;
        d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
}

/* The optimizer's guard before a step: sets *flag when any of x[0..n) is NaN or infinite.
 * The exponent test on the bits, not isfinite(), so that a fast-math build cannot drop it.
 * atomic_or only where a bad value is found: no contention on the normal path. */
__kernel void flag_nonfinite_f32(__global const float *x, const uint n, __global int *flag) {
    uint i = get_global_id(0);
    if (i < n && (as_uint(x[i]) & 0x7f800000u) == 0x7f800000u) atomic_or(flag, 1);
}
