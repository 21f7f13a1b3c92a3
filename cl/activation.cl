/* Elementwise activations (swish, sigmoid) and their backward. Each work-item takes 16
 * consecutive elements as one float16 (PoCL vectorises explicit vector types, not scalar
 * code across work-items); the last work-item finishes a ragged tail one element at a time.
 * `act` is an mw_activation: 1 relu, 2 swish, 3 sigmoid (0 none: identity).
 * cl/batchnorm.cl fuses the same functions; keep the two copies identical (every family is
 * its own program, so they cannot share a header). */

#define MW_ACT_RELU 1
#define MW_ACT_SWISH 2
#define MW_ACT_SIGMOID 3

float16 act16(float16 z, int act) {
    if (act == MW_ACT_RELU) return fmax(z, 0.0f);
    if (act == MW_ACT_SWISH) return z / (1.0f + exp(-z));
    if (act == MW_ACT_SIGMOID) return 1.0f / (1.0f + exp(-z));
    return z;
}

/* d act / d z at z. sigmoid(z) and 1 − sigmoid(z) = sigmoid(−z) both come from
 * e = exp(−|z|), so that neither is computed as 1 − (something close to 1). */
float16 act_grad16(float16 z, int act) {
    if (act == MW_ACT_RELU) return select((float16)0.0f, (float16)1.0f, z > 0.0f);
    float16 e = exp(-fabs(z)), r = 1.0f / (1.0f + e);
    float16 s = select(e * r, r, z >= 0.0f), t = select(r, e * r, z >= 0.0f);
    if (act == MW_ACT_SWISH) return s * (1.0f + z * t);
    if (act == MW_ACT_SIGMOID) return s * t;
    return (float16)1.0f;
}

/* The scalar forms, for tails: the vector functions on one lane. */
float act1(float z, int act) {
    return act16((float16)z, act).s0;
}

float act_grad1(float z, int act) {
    return act_grad16((float16)z, act).s0;
}

__kernel void activate_f32(__global const float *x, __global float *y, const uint n,
                           const int act) {
    uint i = get_global_id(0) * 16;
    if (i + 16 <= n) {
        vstore16(act16(vload16(0, x + i), act), 0, y + i);
    } else {
        for (; i < n; i++) y[i] = act1(x[i], act);
    }
}

__kernel void activate_bwd_f32(__global const float *gy, __global const float *x,
                               __global float *gx, const uint n, const int act) {
    uint i = get_global_id(0) * 16;
    if (i + 16 <= n) {
        vstore16(vload16(0, gy + i) * act_grad16(vload16(0, x + i), act), 0, gx + i);
    } else {
        for (; i < n; i++) gx[i] = gy[i] * act_grad1(x[i], act);
    }
}
