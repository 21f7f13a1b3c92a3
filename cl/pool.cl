/* Average pooling (k x k, stride k, no padding, floor mode) and, with the same two kernels,
 * nearest upsampling by k; max pooling and the squeeze-excitation channel scaling on
 * channel-major maps [C, N, H, W]: every (c, n) pair owns one contiguous H·W plane. */

#include "mad.clh" /* MW_INLINE */
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

/* Column col of row r, or −∞ in the padding: the load is clamped into the row, then chosen. */
float padded_value(__global const float *r, int col, int last) {
    float loaded = r[clamp(col, 0, last)];
    return col >= 0 && col <= last ? loaded : -INFINITY;
}

/* The values at columns col (16 lanes, `stride` apart from column `from`) of the row at
 * x + row_at, −∞ where a column is in the padding. At strides 1 and 2 the lanes are one or
 * two vector loads at the first lane's column, from wherever in the tensor (of `end`
 * values) that is, then the lanes whose column is outside the row are set to −∞; only a
 * load that would leave the tensor (its first and last rows) and other strides read each
 * lane on its own. Building the padded row lane by lane instead, as an earlier kernel did,
 * cost about as much again as the choosing. */
float16 row_lanes(__global const float *x, long row_at, int from, int16 col, uint stride,
                  int last, long end) {
    long at = row_at + from;
    if (stride <= 2 && at >= 0 && at + 16 * (long)stride <= end) {
        __global const float *p = x + at;
        float16 vv;
        if (stride == 1) {
            vv = vload16(0, p);
        } else {
            float16 a = vload16(0, p), b = vload16(1, p);
            vv = (float16)(a.even, b.even);
        }
        return select((float16)(-INFINITY), vv, (col >= 0) & (col <= last));
    }
    float v[16];
    int cols[16];
    vstore16(col, 0, cols);
    for (uint j = 0; j < 16; j++)
        v[j] = padded_value(x + row_at, cols[j], last);
    return vload16(0, v);
}

/* Max pooling, k x k windows at `stride` with implicit −∞ padding (floor mode): one
 * work-item per output row, 16 outputs at a time as float16 lanes. argmax keeps, as a float
 * (exact below 2^24), the position y·width + x of each window's first largest value, the one
 * PyTorch's gradient goes to. The window is scanned row-major; a later value wins where it
 * is larger or NaN (NaN propagates, as in PyTorch), by selects: a branch per value, as the
 * kernel had, is mispredicted about as often as taken on real maps, and took 35 cycles per
 * output (GoogLeNet's pools were a third of its training step, bench/RESULTS.md). Lanes
 * whose column lies in the padding read −∞, which never wins over the window's first
 * value inside the map. */
__kernel void max_pool_f32(__global const float *x, __global float *y, __global float *argmax,
                           const uint planes, const uint height, const uint width, const uint k,
                           const uint stride, const uint padding) {
    uint oh = (height + 2 * padding - k) / stride + 1, ow = (width + 2 * padding - k) / stride + 1;
    uint row = get_global_id(0);
    if (row >= planes * oh) return;
    uint plane = row / oh, oy = row % oh;
    long plane_at = (long)plane * height * width, end = (long)planes * height * width;
    int y0 = (int)(oy * stride) - (int)padding;
    uint dy0 = y0 < 0 ? (uint)(-y0) : 0;
    uint dy1 = min(k, height + padding - oy * stride); /* rows of the window inside the map */
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int last = (int)width - 1;
    for (uint ox0 = 0; ox0 < ow; ox0 += 16) {
        int first = (int)(ox0 * stride) - (int)padding; /* lane 0's first column */
        int16 x0 = first + lane * (int)stride;
        float16 best = -INFINITY;
        int16 at = 0;
        for (uint dy = dy0; dy < dy1; dy++) {
            uint iy = (uint)(y0 + (int)dy);
            long row_at = plane_at + (long)iy * width;
            for (uint dx = 0; dx < k; dx++) {
                int16 col = x0 + (int)dx;
                float16 vv = row_lanes(x, row_at, first + (int)dx, col, stride, last, end);
                int16 take = isgreater(vv, best) | isnan(vv);
                best = select(best, vv, take);
                at = select(at, (int)(iy * width) + col, take);
            }
        }
        __global float *yr = y + (size_t)row * ow + ox0, *ar = argmax + (size_t)row * ow + ox0;
        float16 where = convert_float16(at);
        if (ox0 + 16 <= ow) {
            vstore16(best, 0, yr);
            vstore16(where, 0, ar);
        } else {
            float bv[16], av[16];
            vstore16(best, 0, bv);
            vstore16(where, 0, av);
            for (uint j = 0; ox0 + j < ow; j++) {
                yr[j] = bv[j];
                ar[j] = av[j];
            }
        }
    }
}

/* The same pooling for 3 x 3 windows at stride 1 with padding 1 (GoogLeNet's inception),
 * separably: one work-item per plane and block of 16 output columns walks down the rows,
 * taking each input row's first largest over its three columns once (the row's winner,
 * with its column) and combining the winners of the three rows of each window in row
 * order. That is the row-major scan's choice: a row's values replace the running best
 * exactly where the row's own first largest (or last NaN) is larger than it or NaN. Three
 * loads and three choices per input row and two per output, where the window scan has
 * nine of each. */
typedef struct row_best {
    float16 value;
    int16 at; /* y·width + x in the plane */
} row_best;

MW_INLINE row_best row_winner(__global const float *x, long plane_at, long end, uint height,
                              uint width, int iy, int first, int16 x0) {
    row_best r = {(float16)(-INFINITY), (int16)0};
    if (iy < 0 || iy >= (int)height) return r; /* a padding row: never chosen */
    long row_at = plane_at + (long)iy * width;
    int last = (int)width - 1;
    for (uint dx = 0; dx < 3; dx++) {
        int16 col = x0 + (int)dx;
        float16 vv = row_lanes(x, row_at, first + (int)dx, col, 1, last, end);
        int16 take = isgreater(vv, r.value) | isnan(vv);
        r.value = select(r.value, vv, take);
        r.at = select(r.at, iy * (int)width + col, take);
    }
    return r;
}

MW_INLINE void take_row(row_best *best, row_best r) {
    int16 take = isgreater(r.value, best->value) | isnan(r.value);
    best->value = select(best->value, r.value, take);
    best->at = select(best->at, r.at, take);
}

__kernel void max_pool3_s1_f32(__global const float *x, __global float *y,
                               __global float *argmax, const uint planes, const uint height,
                               const uint width) {
    uint blocks = (width + 15) / 16;
    uint item = get_global_id(0);
    if (item >= planes * blocks) return;
    uint plane = item / blocks, ox0 = item % blocks * 16;
    long plane_at = (long)plane * height * width, end = (long)planes * height * width;
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int first = (int)ox0 - 1;
    int16 x0 = first + lane;
    row_best above = row_winner(x, plane_at, end, height, width, -1, first, x0),
             here = row_winner(x, plane_at, end, height, width, 0, first, x0);
    for (uint oy = 0; oy < height; oy++) {
        row_best below = row_winner(x, plane_at, end, height, width, (int)oy + 1, first, x0);
        row_best best = above;
        take_row(&best, here);
        take_row(&best, below);
        size_t out_at = (size_t)plane_at + (size_t)oy * width + ox0;
        float16 where = convert_float16(best.at);
        if (ox0 + 16 <= width) {
            vstore16(best.value, 0, y + out_at);
            vstore16(where, 0, argmax + out_at);
        } else {
            float bv[16], av[16];
            vstore16(best.value, 0, bv);
            vstore16(where, 0, av);
            for (uint j = 0; ox0 + j < width; j++) {
                y[out_at + j] = bv[j];
                argmax[out_at + j] = av[j];
            }
        }
        above = here;
        here = below;
    }
}

/* One work-item per plane: gx is zeroed, then each output's gradient is added to the input
 * its window chose, in output order. An input chosen by several windows so sums their
 * gradients in increasing (oy, ox), the order in which the gather of each input over its
 * windows (the kernel before this one, one item per input row, a data-dependent branch per
 * window) added them: the same bits, and no two items write one plane. */
__kernel void max_pool_bwd_f32(__global const float *gy, __global const float *argmax,
                               __global float *gx, const uint planes, const uint height,
                               const uint width, const uint k, const uint stride,
                               const uint padding) {
    uint oh = (height + 2 * padding - k) / stride + 1, ow = (width + 2 * padding - k) / stride + 1;
    uint plane = get_global_id(0);
    if (plane >= planes) return;
    uint outputs = oh * ow, inputs = height * width;
    __global const float *g = gy + (size_t)plane * outputs;
    __global const float *chosen = argmax + (size_t)plane * outputs;
    __global float *out = gx + (size_t)plane * inputs;
    for (uint i = 0; i < inputs; i++)
        out[i] = 0.0f;
    for (uint o = 0; o < outputs; o++)
        out[(uint)chosen[o]] += g[o];
}
