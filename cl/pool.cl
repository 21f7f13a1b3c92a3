/* Average pooling (k x k, stride k, no padding, floor mode) and, with the same two kernels,
 * nearest upsampling by k; max pooling and the squeeze-excitation channel scaling on
 * channel-major maps [C, N, H, W]: every (c, n) pair owns one contiguous H·W plane. */

#include "row_group.clh"

/* One work-item per band of k input rows (one output row), so that the index arithmetic,
 * integer divisions that cost more than the data on CPUs, happens once per band. Each
 * output is its window's sum times `weight`: 1/k² for average pooling, 1 for the backward
 * of nearest upsampling (the sum over each k x k block). Floor mode: rows and columns past
 * the last whole window are not read. */
__kernel void avg_pool_f32(__global const float *x, __global float *y, const uint planes,
                           const uint height, const uint width, const uint k,
                           const float weight) {
    uint oh = height / k, ow = width / k;
    uint band = get_global_id(0);
    if (band >= planes * oh) return;
    uint plane = band / oh, oy = band % oh;
    __global const float *in = x + ((size_t)plane * height + oy * k) * width;
    __global float *out = y + (size_t)band * ow;
    for (uint ox = 0; ox < ow; ox++) {
        float sum = 0.0f;
        for (uint dy = 0; dy < k; dy++)
            for (uint dx = 0; dx < k; dx++) sum += in[dy * width + ox * k + dx];
        out[ox] = sum * weight;
    }
}

/* The same bands: each window's value times `weight` goes to its k x k inputs (1/k²:
 * average pooling's gradient, shared equally; 1: nearest upsampling, each value copied to
 * its block). The values no window reads (floor mode) get 0, written by the band beside or
 * above them. */
__kernel void avg_pool_bwd_f32(__global const float *gy, __global float *gx, const uint planes,
                               const uint height, const uint width, const uint k,
                               const float weight) {
    uint oh = height / k, ow = width / k;
    uint band = get_global_id(0);
    if (band >= planes * oh) return;
    uint plane = band / oh, oy = band % oh;
    __global const float *g = gy + (size_t)band * ow;
    __global float *out = gx + ((size_t)plane * height + oy * k) * width;
    for (uint dy = 0; dy < k; dy++) {
        for (uint ox = 0; ox < ow; ox++) {
            float v = g[ox] * weight;
            for (uint dx = 0; dx < k; dx++) out[dy * width + ox * k + dx] = v;
        }
        for (uint xx = ow * k; xx < width; xx++) out[dy * width + xx] = 0.0f;
    }
    if (oy + 1 == oh)
        for (uint i = k * width; i < (height - oy * k) * width; i++) out[i] = 0.0f;
}

/* y = x · s[plane]: one work-group per plane (cl/row_group.clh; float16 runs of the plane,
 * its ragged tail element by element). */
__kernel void scale_channels_f32(__global const float *x, __global const float *s,
                                 __global float *y, const uint planes, const uint plane_size) {
    size_t base = (size_t)get_group_id(0) * plane_size;
    float scale = s[get_group_id(0)];
    ROW_LOOP(plane_size, { store_lanes(load_lanes(x + base, at, lanes) * scale, y + base, at, lanes); })
}

/* gx = gy · s[plane] and gs[plane] = Σ gy · x over the plane: one work-group per plane. */
__kernel void scale_channels_bwd_f32(__global const float *gy, __global const float *x,
                                     __global const float *s, __global float *gx,
                                     __global float *gs, const uint planes,
                                     const uint plane_size) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint p = get_group_id(0);
    size_t base = (size_t)p * plane_size;
    float scale = s[p];
    float16 acc = 0.0f;
    ROW_LOOP(plane_size, {
        float16 g = load_lanes(gy + base, at, lanes);
        acc += data_lanes(g * load_lanes(x + base, at, lanes), lanes);
        store_lanes(g * scale, gx + base, at, lanes);
    })
    float dot = group_sum_lanes(acc, 0.0f, scratch).x;
    if (get_local_id(0) == 0) gs[p] = dot;
}

/* Max pooling, k x k windows at `stride` with implicit −∞ padding (floor mode): one
 * work-item per output row. argmax keeps, as a float (exact below 2^24), the position
 * y·width + x of each window's first largest value, the one PyTorch's gradient goes to. */
__kernel void max_pool_f32(__global const float *x, __global float *y, __global float *argmax,
                           const uint planes, const uint height, const uint width, const uint k,
                           const uint stride, const uint padding) {
    uint oh = (height + 2 * padding - k) / stride + 1, ow = (width + 2 * padding - k) / stride + 1;
    uint row = get_global_id(0);
    if (row >= planes * oh) return;
    uint plane = row / oh, oy = row % oh;
    __global const float *in = x + (size_t)plane * height * width;
    int y0 = (int)(oy * stride) - (int)padding;
    uint dy0 = y0 < 0 ? (uint)(-y0) : 0;
    uint dy1 = min(k, height + padding - oy * stride); /* rows of the window inside the map */
    for (uint ox = 0; ox < ow; ox++) {
        int x0 = (int)(ox * stride) - (int)padding;
        uint dx0 = x0 < 0 ? (uint)(-x0) : 0;
        uint dx1 = min(k, width + padding - ox * stride);
        float best = -INFINITY;
        uint at = 0;
        for (uint dy = dy0; dy < dy1; dy++)
            for (uint dx = dx0; dx < dx1; dx++) {
                uint i = (uint)(y0 + (int)dy) * width + (uint)(x0 + (int)dx);
                float v = in[i];
                if (v > best || isnan(v)) {
                    best = v;
                    at = i;
                }
            }
        y[(size_t)row * ow + ox] = best;
        argmax[(size_t)row * ow + ox] = (float)at;
    }
}

/* One work-item per input row: each input value sums the gradients of the windows that
 * cover it and chose it. */
__kernel void max_pool_bwd_f32(__global const float *gy, __global const float *argmax,
                               __global float *gx, const uint planes, const uint height,
                               const uint width, const uint k, const uint stride,
                               const uint padding) {
    uint oh = (height + 2 * padding - k) / stride + 1, ow = (width + 2 * padding - k) / stride + 1;
    uint row = get_global_id(0);
    if (row >= planes * height) return;
    uint plane = row / height, iy = row % height;
    __global const float *g = gy + (size_t)plane * oh * ow;
    __global const float *chosen = argmax + (size_t)plane * oh * ow;
    /* windows oy with oy·stride − padding <= iy <= oy·stride − padding + k − 1 */
    uint oy0 = iy + padding + 1 > k ? (iy + padding + 1 - k + stride - 1) / stride : 0;
    uint oy1 = min(oh, (iy + padding) / stride + 1);
    for (uint ix = 0; ix < width; ix++) {
        uint ox0 = ix + padding + 1 > k ? (ix + padding + 1 - k + stride - 1) / stride : 0;
        uint ox1 = min(ow, (ix + padding) / stride + 1);
        float here = (float)(iy * width + ix), sum = 0.0f;
        for (uint oy = oy0; oy < oy1; oy++)
            for (uint ox = ox0; ox < ox1; ox++)
                if (chosen[oy * ow + ox] == here) sum += g[oy * ow + ox];
        gx[(size_t)row * width + ix] = sum;
    }
}
