/* Average pooling (k x k, stride k, no padding) and the squeeze-excitation channel scaling on
 * channel-major maps [C, N, H, W]: every (c, n) pair owns one contiguous H·W plane. */

/* One work-item per band of k input rows (one output row), so that the index arithmetic,
 * integer divisions that cost more than the data on CPUs, happens once per band. */
__kernel void avg_pool_f32(__global const float *x, __global float *y, const uint planes,
                           const uint height, const uint width, const uint k) {
    uint oh = height / k, ow = width / k;
    uint band = get_global_id(0);
    if (band >= planes * oh) return;
    __global const float *in = x + (size_t)band * k * width; /* band-th group of k rows */
    __global float *out = y + (size_t)band * ow;
    float inv = 1.0f / (float)(k * k);
    for (uint ox = 0; ox < ow; ox++) {
        float sum = 0.0f;
        for (uint dy = 0; dy < k; dy++)
            for (uint dx = 0; dx < k; dx++) sum += in[dy * width + ox * k + dx];
        out[ox] = sum * inv;
    }
}

/* The same bands: each window's gradient, shared equally by its k x k inputs. */
__kernel void avg_pool_bwd_f32(__global const float *gy, __global float *gx, const uint planes,
                               const uint height, const uint width, const uint k) {
    uint oh = height / k, ow = width / k;
    uint band = get_global_id(0);
    if (band >= planes * oh) return;
    __global const float *g = gy + (size_t)band * ow;
    __global float *out = gx + (size_t)band * k * width;
    float inv = 1.0f / (float)(k * k);
    for (uint ox = 0; ox < ow; ox++) {
        float v = g[ox] * inv;
        for (uint dy = 0; dy < k; dy++)
            for (uint dx = 0; dx < k; dx++) out[dy * width + ox * k + dx] = v;
    }
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
