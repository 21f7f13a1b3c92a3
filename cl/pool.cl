/* Average pooling (k x k, stride k, no padding) and the squeeze-excitation channel scaling on
 * channel-major maps [C, N, H, W]: every (c, n) pair owns one contiguous H·W plane. */

/* One work-item per output element: the mean of its k x k window. */
__kernel void avg_pool_f32(__global const float *x, __global float *y, const uint planes,
                           const uint height, const uint width, const uint k) {
    uint oh = height / k, ow = width / k;
    uint o = get_global_id(0);
    if (o >= planes * oh * ow) return;
    uint ox = o % ow, oy = (o / ow) % oh, plane = o / (ow * oh);
    __global const float *base = x + ((size_t)plane * height + oy * k) * width + ox * k;
    float sum = 0.0f;
    for (uint dy = 0; dy < k; dy++)
        for (uint dx = 0; dx < k; dx++) sum += base[dy * width + dx];
    y[o] = sum / (float)(k * k);
}

/* One work-item per input element: its window's gradient, shared equally. */
__kernel void avg_pool_bwd_f32(__global const float *gy, __global float *gx, const uint planes,
                               const uint height, const uint width, const uint k) {
    uint i = get_global_id(0);
    if (i >= planes * height * width) return;
    uint xx = i % width, yy = (i / width) % height, plane = i / (width * height);
    uint oh = height / k, ow = width / k;
    gx[i] = gy[((size_t)plane * oh + yy / k) * ow + xx / k] / (float)(k * k);
}

/* One work-item per plane: y = x · s[plane]. Planes of a multiple of 16 elements go as
 * float16 (PoCL vectorises explicit vectors only); 2x2 or odd planes element by element. */
__kernel void scale_channels_f32(__global const float *x, __global const float *s,
                                 __global float *y, const uint planes, const uint plane_size) {
    uint p = get_global_id(0);
    if (p >= planes) return;
    size_t base = (size_t)p * plane_size;
    float scale = s[p];
    if (plane_size % 16 == 0) {
        for (uint v = 0; v < plane_size / 16; v++)
            vstore16(vload16(v, x + base) * scale, v, y + base);
    } else {
        for (uint i = 0; i < plane_size; i++) y[base + i] = x[base + i] * scale;
    }
}

/* One work-item per plane: gx = gy · s[plane] and gs[plane] = Σ gy · x over the plane. */
__kernel void scale_channels_bwd_f32(__global const float *gy, __global const float *x,
                                     __global const float *s, __global float *gx,
                                     __global float *gs, const uint planes,
                                     const uint plane_size) {
    uint p = get_global_id(0);
    if (p >= planes) return;
    size_t base = (size_t)p * plane_size;
    float scale = s[p], dot = 0.0f;
    if (plane_size % 16 == 0) {
        float16 acc = 0.0f;
        for (uint v = 0; v < plane_size / 16; v++) {
            float16 g = vload16(v, gy + base);
            acc += g * vload16(v, x + base);
            vstore16(g * scale, v, gx + base);
        }
        float8 a8 = acc.lo + acc.hi;
        float4 a4 = a8.lo + a8.hi;
        dot = a4.x + a4.y + a4.z + a4.w;
    } else {
        for (uint i = 0; i < plane_size; i++) {
            dot += gy[base + i] * x[base + i];
            gx[base + i] = gy[base + i] * scale;
        }
    }
    gs[p] = dot;
}
