/* The conv family's own kernels: depthwise, im2col and col2im, the bias gradient (the GEMMs
 * CPU devices run instead of CLBlast's are in gemm.cl), and the batch-norm backward fused
 * with the depthwise backward (bn_dw_backward). Feature maps are channel-major
 * [C, N, H, W]: plane p = c * N + n is H x W contiguous floats.
 *
 * Depthwise kernels are built once per (kernel size, stride) with -DDW_K=k -DDW_S=s
 * (padding (k - 1) / 2); the other kernels ignore those defines. On CPU devices (PoCL) only
 * explicit vector types become SIMD, so each depthwise work-item computes whole output rows,
 * 8 pixels per float8, from K shifted float8 "taps" of each input row: the row kernels
 * (dw_forward and its kin: any width and stride; one row per item on GPUs), the plane
 * kernels for maps up to 32 wide, rows held as blocks of 8 lanes (cl/dw_blocks.clh): at
 * stride 1 dw_planes, dw_vector_rows_weight, dw_bn_forward and bn_dw_backward (their
 * per-plane bodies are cl/dw_plane.clh's), at stride 2 the forward and weight gradient on
 * maps of even size (dw_planes_s2, dw_planes_s2_weight), and a per-channel matrix for planes
 * of at most 16 pixels (dw_small_planes). engine/ops/conv.c chooses. */

#ifndef DW_K
#define DW_K 3
#endif
#ifndef DW_S
#define DW_S 1
#endif
#define DW_P ((DW_K - 1) / 2)

#include "activation_fn.clh"
#include "mad.clh"
#include "row_group.clh"

/* dw_bn_forward's batch norm (cl/bn_forward_row.clh), reading the convolution's output from
 * local memory. */
#define BN_FWD_FN_PASTE(name) name##_local
#define BN_FWD_FN(name) BN_FWD_FN_PASTE(name)
#define BN_X_SPACE __local
#include "bn_forward_row.clh"
#undef BN_X_SPACE
#undef BN_FWD_FN
#undef BN_FWD_FN_PASTE

/* bn_dw_backward's batch norms (cl/bn_backward_row.clh): the one after the convolution
 * writes its gx to local memory, the one before reads its gy from there. */
#define BN_GY_SPACE __global
#define BN_GX_SPACE __local
#define BN_CHANNEL_FN bn_backward_to_local
#define BN_GX_STORE(v, row, at, lanes) store_lanes(v, row, at, lanes)
#include "bn_backward_row.clh"
#undef BN_GY_SPACE
#undef BN_GX_SPACE
#undef BN_CHANNEL_FN
#undef BN_GX_STORE
#define BN_GY_SPACE __local
#define BN_GX_SPACE __global
#define BN_CHANNEL_FN bn_backward_from_local
#define BN_GX_STORE(v, row, at, lanes) stream_lanes(big, v, row, at, lanes)
#include "bn_backward_row.clh"
#undef BN_GY_SPACE
#undef BN_GX_SPACE
#undef BN_CHANNEL_FN
#undef BN_GX_STORE

#define DW_KK (DW_K * DW_K)

/* row[i], or 0 outside [0, w): zero padding. */
MW_INLINE float ld(__global const float *row, int i, int w) {
    return (i >= 0 && i < w) ? row[i] : 0.0f;
}

/* row[i0 .. i0+7] for 0 <= i0 < w, zero past w: vector loads for the row widths of small
 * maps (4, 2), which would otherwise take eight checked scalar loads. */
MW_INLINE float8 row8(__global const float *row, int i0, int w) {
    int left = w - i0;
    if (left >= 8) return vload8(0, row + i0);
    if (left == 4) return (float8)(vload4(0, row + i0), (float4)(0.0f));
    if (left == 2) return (float8)(vload2(0, row + i0), (float2)(0.0f), (float4)(0.0f));
    return (float8)(ld(row, i0, w), ld(row, i0 + 1, w), ld(row, i0 + 2, w), ld(row, i0 + 3, w),
                    ld(row, i0 + 4, w), ld(row, i0 + 5, w), ld(row, i0 + 6, w), ld(row, i0 + 7, w));
}

/* a = row[s .. s+7], e = row[s+8 .. s+11], zero outside [0, w). The block at s + p (p is 1
 * or 2, a constant after inlining: the padding) is loaded as one vector when it lies inside
 * the row; only the p values before it and the 4 - p after it are checked one by one. */
MW_INLINE void win12(__global const float *row, int s, int w, int p, float8 *a, float4 *e) {
    int c0 = s + p;
    if (c0 >= 0 && c0 + 8 <= w) {
        float8 c = vload8(0, row + c0);
        if (p == 1) {
            *a = (float8)(ld(row, s, w), c.s0, c.s12, c.s3456);
            *e = (float4)(c.s7, ld(row, s + 9, w), ld(row, s + 10, w), ld(row, s + 11, w));
        } else {
            *a = (float8)(ld(row, s, w), ld(row, s + 1, w), c.s01, c.s2345);
            *e = (float4)(c.s67, ld(row, s + 10, w), ld(row, s + 11, w));
        }
        return;
    }
    if (c0 == 0 && w <= 8) { /* a whole narrow row: zeros around one short load */
        float8 c = row8(row, 0, w);
        if (p == 1) {
            *a = (float8)(0.0f, c.s0, c.s12, c.s3456);
            *e = (float4)(c.s7, 0.0f, 0.0f, 0.0f);
        } else {
            *a = (float8)(0.0f, 0.0f, c.s01, c.s2345);
            *e = (float4)(c.s67, 0.0f, 0.0f);
        }
        return;
    }
    *a = (float8)(ld(row, s, w), ld(row, s + 1, w), ld(row, s + 2, w), ld(row, s + 3, w),
                  ld(row, s + 4, w), ld(row, s + 5, w), ld(row, s + 6, w), ld(row, s + 7, w));
    *e = (float4)(ld(row, s + 8, w), ld(row, s + 9, w), ld(row, s + 10, w), ld(row, s + 11, w));
}

/* Stride-1 taps: t[j] lane l = row[s + l + j], j < 5 (p as for win12). */
MW_INLINE void taps_s1(__global const float *row, int s, int w, int p, float8 *t) {
    float8 a;
    float4 e;
    win12(row, s, w, p, &a, &e);
    t[0] = a;
    t[1] = (float8)(a.s1, a.s23, a.s4567, e.s0);
    t[2] = (float8)(a.s23, a.s4567, e.s01);
    t[3] = (float8)(a.s3, a.s4567, e.s012);
    t[4] = (float8)(a.s4567, e.s0123);
}

/* Stride-2 taps: t[j] lane l = row[s + 2 l + j], j < 5, s = 2 ox0 - DW_P. The 16 values
 * from 2 ox0 are one vector load when inside the row (as in win12). */
MW_INLINE void taps_s2(__global const float *row, int s, int w, float8 *t) {
    float16 v;
    float4 e;
    int c0 = s + DW_P;
    if (c0 >= 0 && c0 + 16 <= w) {
        float16 c = vload16(0, row + c0);
#if DW_P == 1
        v = (float16)(ld(row, s, w), c.s01234567, c.s89ab, c.scd, c.se);
        e = (float4)(c.sf, ld(row, s + 17, w), ld(row, s + 18, w), 0.0f);
#else
        v = (float16)(ld(row, s, w), ld(row, s + 1, w), c.s01234567, c.s89ab, c.scd);
        e = (float4)(c.se, c.sf, ld(row, s + 18, w), 0.0f);
#endif
    } else if (c0 == 0 && w <= 8) { /* a whole narrow row */
        float8 c = row8(row, 0, w);
#if DW_P == 1
        v = (float16)(0.0f, c, (float4)(0.0f), (float2)(0.0f), 0.0f);
#else
        v = (float16)((float2)(0.0f), c, (float4)(0.0f), (float2)(0.0f));
#endif
        e = (float4)(0.0f);
    } else {
        v = (float16)(ld(row, s, w), ld(row, s + 1, w), ld(row, s + 2, w), ld(row, s + 3, w),
                      ld(row, s + 4, w), ld(row, s + 5, w), ld(row, s + 6, w), ld(row, s + 7, w),
                      ld(row, s + 8, w), ld(row, s + 9, w), ld(row, s + 10, w), ld(row, s + 11, w),
                      ld(row, s + 12, w), ld(row, s + 13, w), ld(row, s + 14, w),
                      ld(row, s + 15, w));
        e = (float4)(ld(row, s + 16, w), ld(row, s + 17, w), ld(row, s + 18, w), 0.0f);
    }
    float8 ev = v.even, od = v.odd;
    t[0] = ev;
    t[1] = od;
    t[2] = (float8)(ev.s1, ev.s23, ev.s4567, e.s0);
    t[3] = (float8)(od.s1, od.s23, od.s4567, e.s1);
    t[4] = (float8)(ev.s23, ev.s4567, e.s0, e.s2);
}

/* The taps of this program's stride for output lanes ox0 .. ox0+7. */
MW_INLINE void taps(__global const float *row, int ox0, int w, float8 *t) {
#if DW_S == 1
    taps_s1(row, ox0 - DW_P, w, DW_P, t);
#else
    taps_s2(row, ox0 * DW_S - DW_P, w, t);
#endif
}

/* The weight gradient's per-plane sums: out[i] = the lanes of acc[i] added, for i < K². */
MW_INLINE float lanes_sum8(float8 v) {
    float4 s4 = v.lo + v.hi;
    return (s4.x + s4.y) + (s4.z + s4.w);
}

MW_INLINE void store_tap_sums(const float8 *acc, __global float *out) {
#pragma unroll
    for (int i = 0; i < DW_KK; i++)
        out[i] = lanes_sum8(acc[i]);
}

/* Stores the first n (< 8 when at the row's end) lanes of v. */
MW_INLINE void store8(float8 v, __global float *dst, int n) {
    if (n >= 8) {
        vstore8(v, 0, dst);
        return;
    }
    float tmp[8];
    vstore8(v, 0, tmp);
    for (int i = 0; i < n; i++)
        dst[i] = tmp[i];
}

/* One output row of a depthwise correlation at this program's stride:
 * dst[ox] = bias + Σ wt[ky][kx] src[oy S + ky - P][ox S + kx - P]. */
MW_INLINE void dw_row(__global const float *src, int h, int w, int oy, int wo, const float *wt,
                      float bias, int act, __global float *dst) {
    for (int ox0 = 0; ox0 < wo; ox0 += 8) {
        float8 acc = (float8)(bias);
#pragma unroll
        for (int ky = 0; ky < DW_K; ky++) {
            int iy = oy * DW_S + ky - DW_P;
            if (iy < 0 || iy >= h) continue;
            float8 t[5];
            taps(src + iy * w, ox0, w, t);
#pragma unroll
            for (int kx = 0; kx < DW_K; kx++)
                acc = MAD(t[kx], (float8)(wt[ky * DW_K + kx]), acc);
        }
        store8(act8(acc, act), dst + ox0, wo - ox0);
    }
}

/* Channel c's K² weights, reversed where `flip` (the input gradient's correlation with the
 * flipped kernel). */
MW_INLINE void channel_taps(__global const float *wgt, uint c, bool flip, float *wt) {
#pragma unroll
    for (int i = 0; i < DW_KK; i++)
        wt[i] = wgt[c * DW_KK + (flip ? DW_KK - 1 - i : i)];
}

/* Depthwise forward: one work-item per `rpi` consecutive output rows of the whole map
 * (row r is row r % ho of plane r / ho), so that small planes share an item. */
__kernel void dw_forward(__global const float *x, __global const float *wgt,
                         __global const float *bias, __global float *y, const uint has_bias,
                         const int act, const uint n, const uint h, const uint w, const uint ho,
                         const uint wo, const uint rpi, const uint total) {
    uint r0 = get_global_id(0) * rpi;
    if (r0 >= total) return;
    uint r1 = min(total, r0 + rpi);
    /* Counters instead of a division per row: rows of small planes are only a few cycles. */
    uint p = r0 / ho, oy = r0 % ho, img = p % n, c = p / n;
    float wt[DW_KK], b;
    channel_taps(wgt, c, false, wt);
    b = has_bias ? bias[c] : 0.0f;
    for (uint r = r0; r < r1; r++) {
        dw_row(x + (size_t)p * h * w, h, w, oy, wo, wt, b, act, y + (size_t)r * wo);
        if (++oy < ho) continue;
        oy = 0;
        p++;
        if (++img < n) continue;
        img = 0;
        c++;
        if (r + 1 < r1) {
            channel_taps(wgt, c, false, wt);
            b = has_bias ? bias[c] : 0.0f;
        }
    }
}

/* The plane kernels' functions are included once per pair of address spaces, each named
 * name_SPACE (cl/dw_blocks.clh, cl/dw_plane.clh). */
#define DW_FN_PASTE(name, space) name##_##space
#define DW_FN_NAME(name, space) DW_FN_PASTE(name, space)
#define DW_FN(name) DW_FN_NAME(name, DW_SPACE_NAME)

/* Block c of a row held as blocks of 8 lanes, shifted by d in {-1, 0, 1}: t[d + 1] lane l =
 * row[8 b + l + d], from the block and its neighbours l and r by shuffles. */
MW_INLINE void block_shifts1(float8 l, float8 c, float8 r, float8 *t) {
    t[0] = (float8)(l.s7, c.s0, c.s12, c.s3456);
    t[1] = c;
    t[2] = (float8)(c.s1, c.s23, c.s4567, r.s0);
}

#if DW_S == 1
/* Stride-1 taps of block b of a row held as blocks: t[j] lane l = row[8 b + l + j - P],
 * from the block and its neighbours (zero past the row's ends) by shuffles. */
MW_INLINE void block_taps(float8 l, float8 c, float8 r, float8 *t) {
#if DW_P == 1
    block_shifts1(l, c, r, t);
#else
    t[0] = (float8)(l.s67, c.s01, c.s2345);
    block_shifts1(l, c, r, t + 1);
    t[4] = (float8)(c.s23, c.s4567, r.s01);
#endif
}

/* The plane bodies, reading from global memory (the kernels below; dw_bn_forward storing to
 * local memory) and from local memory (bn_dw_backward: its input gradient stored to global or
 * to local memory). */
#define DW_SPACE __global
#define DW_DST_SPACE __global
#define DW_STORE8 stream8
#define DW_SPACE_NAME global
#include "dw_blocks.clh"
#include "dw_plane.clh"
#undef DW_SPACE
#undef DW_DST_SPACE
#undef DW_SPACE_NAME
#define DW_SPACE __local
#define DW_DST_SPACE __global
#define DW_SPACE_NAME local
#include "dw_blocks.clh"
#include "dw_plane.clh"
#undef DW_SPACE
#undef DW_DST_SPACE
#undef DW_STORE8
#undef DW_SPACE_NAME
#define DW_STORE8(on, v, p) vstore8((v), 0, (p))
#define DW_SPACE __local
#define DW_DST_SPACE __local
#define DW_SPACE_NAME local_to_local
#include "dw_blocks.clh"
#include "dw_plane.clh"
#undef DW_SPACE
#undef DW_DST_SPACE
#undef DW_SPACE_NAME
#define DW_SPACE __global
#define DW_DST_SPACE __local
#define DW_SPACE_NAME global_to_local
#include "dw_blocks.clh"
#include "dw_plane.clh"
#undef DW_SPACE
#undef DW_DST_SPACE
#undef DW_SPACE_NAME
#undef DW_STORE8

/* Stride-1 depthwise forward (flip 0) or input gradient (flip 1: the correlation with the
 * flipped kernel) on maps at most 32 wide (CIFAR's 32x32, 16x16 and 8x8 maps, Fashion-MNIST's
 * 28x28, 14x14 and 7x7), whole planes per work-item (`ppi` of them). A row is loaded as
 * blocks of 8 lanes and its taps are made by shuffles, with none of win12's checked loads
 * (dw_plane, cl/dw_plane.clh). Only rows of whole vectors stream: a ragged row's blocks lie
 * across the 32-byte halves of lines. */
__kernel void dw_planes(__global const float *src, __global const float *wgt,
                        __global const float *bias, __global float *dst, const uint has_bias,
                        const int act, const uint n, const uint h, const uint w, const uint flip,
                        const uint ppi, const uint planes) {
    uint p0 = get_global_id(0) * ppi;
    if (p0 >= planes) return;
    uint p1 = min(planes, p0 + ppi);
    bool big = w % 8 == 0 && (size_t)planes * h * w >= MW_STREAM_MIN_FLOATS;
    for (uint p = p0; p < p1; p++) {
        uint c = p / n;
        float wt[DW_KK];
        channel_taps(wgt, c, flip, wt);
        dw_plane_global(src + (size_t)p * h * w, wt, has_bias ? bias[c] : 0.0f, act, (int)h,
                        (int)w, dst + (size_t)p * h * w, big);
    }
    stream_fence();
}

/* The weight gradient's stage 1 on the same maps: each sum takes its terms in
 * dw_weight_partial's order (gy rows, then blocks), so the partial sums are its to the bit. */
__kernel void dw_vector_rows_weight(__global const float *gy, __global const float *x,
                                    __global float *partial, const uint h, const uint w,
                                    const uint ppi, const uint planes) {
    uint p0 = get_global_id(0) * ppi;
    if (p0 >= planes) return;
    uint p1 = min(planes, p0 + ppi);
    for (uint p = p0; p < p1; p++) {
        float8 acc[DW_KK];
        dw_plane_weight_global(x + (size_t)p * h * w, gy + (size_t)p * h * w, (int)h, (int)w,
                               acc);
        store_tap_sums(acc, partial + (size_t)p * DW_KK);
    }
}

/* The train-mode forward of a stride-1 depthwise convolution and the batch norm (with its
 * activation) that alone reads its output, one channel per work-group, on dw_planes' maps:
 * the convolution's output planes of the channel go to local memory (N·H·W floats), are
 * copied to `y` (the batch norm's backward reads them there), and the batch norm takes its
 * statistics and normalises from the local copy (train_row_local), where unfused it read y
 * back from memory in each of its passes. The same sums in the same orders as dw_planes and
 * bn_forward_train_f32: every output is theirs to the bit. The convolution's part runs on the
 * group's first work-item (the host makes groups one item on CPU devices). */
__kernel void dw_bn_forward(__global const float *xin, __global const float *wgt,
                            __global const float *bias, const uint has_bias, __global float *y,
                            __global const float *gamma, __global const float *beta,
                            __global float *running_mean, __global float *running_var,
                            __global int *count, __global float *z, __global float *stats,
                            __local float *yl, const uint channels, const uint n, const uint h,
                            const uint w, const float momentum, const float eps,
                            const int act) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint c = get_group_id(0), plane = h * w, len = n * plane;
    size_t offset = (size_t)c * len;
    /* y's copy streams on any width: the channel's N·H·W floats are one run, which stream8
     * writes a 32-byte-aligned block at a time (on 28x28 maps every channel starts a line) */
    bool big = (size_t)channels * len >= MW_STREAM_MIN_FLOATS;
    if (get_local_id(0) == 0) {
        float wt[DW_KK];
        channel_taps(wgt, c, false, wt);
        float b0 = has_bias ? bias[c] : 0.0f;
        for (uint img = 0; img < n; img++)
            dw_plane_global_to_local(xin + offset + (size_t)img * plane, wt, b0, MW_ACT_NONE,
                                     (int)h, (int)w, yl + (size_t)img * plane, false);
        uint at = 0;
        for (; at + 8 <= len; at += 8)
            stream8(big, vload8(0, yl + at), y + offset + at);
        for (; at < len; at++) /* N·H·W a multiple of 8 or not (w at most 32, any n) */
            y[offset + at] = yl[at];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    train_row_local(yl, z + offset, gamma, beta, running_mean, running_var, count, stats, c,
                    channels, len, momentum, eps, act, scratch);
}

/* The backward of a batch norm (with its activation) and of the stride-1 depthwise
 * convolution before it, one channel per work-group, on dw_planes' maps: the batch norm's
 * gx for the channel (N·H·W floats) goes to local memory (bn_backward_to_local), and the
 * convolution's input gradient and weight gradient of the channel are computed from there,
 * plane by plane. With `has_bn1` the convolution's input
 * is a batch norm's output too (MobileNetV2's bn1 and its ReLU): the input gradient stays in
 * local memory as that batch norm's gy, and its backward (bn_backward_from_local) writes its
 * gx to `gout`; without, `gout` receives the input gradient and the bn1 arguments are
 * unused. Unfused, each gradient map was written to memory and read back, all at memory
 * speed (engine/ops/dw_bn_fusion.h says where the executor fuses). The sums run in the
 * unfused kernels' orders: every output is theirs to the bit. The convolution's part runs
 * on the group's first work-item (the host makes groups one item on CPU devices). */
__kernel void bn_dw_backward(__global const float *gy, __global const float *x,
                             __global const float *gamma, __global const float *beta,
                             __global const float *stats, __global const float *wgt,
                             __global const float *xin, __global float *ggamma,
                             __global float *gbeta, __global float *gout, __global float *gw,
                             __local float *gx, const uint channels, const uint n, const uint h,
                             const uint w, const int act, const int training,
                             const uint has_bn1, __global const float *x1,
                             __global const float *gamma1, __global const float *beta1,
                             __global const float *stats1, __global float *ggamma1,
                             __global float *gbeta1, __local float *gin, const int act1) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint c = get_group_id(0), plane = h * w, len = n * plane;
    size_t offset = (size_t)c * len;
    /* gout may stream (rows of whole vectors) */
    bool big = w % 8 == 0 && (size_t)channels * len >= MW_STREAM_MIN_FLOATS;
    bn_backward_to_local(gy + offset, x + offset, gx, stats[c], stats[channels + c], gamma[c],
                         beta[c], ggamma, gbeta, c, channels, len, act, training, scratch);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        float wt[DW_KK], sums[DW_KK];
#pragma unroll
        for (int i = 0; i < DW_KK; i++) {
            wt[i] = wgt[c * DW_KK + DW_KK - 1 - i];
            sums[i] = 0.0f;
        }
        for (uint img = 0; img < n; img++) {
            size_t at = (size_t)img * plane;
            if (has_bn1)
                dw_plane_local_to_local(gx + at, wt, 0.0f, MW_ACT_NONE, (int)h, (int)w, gin + at,
                                        false);
            else
                dw_plane_local(gx + at, wt, 0.0f, MW_ACT_NONE, (int)h, (int)w,
                               gout + offset + at, big);
            float8 acc[DW_KK];
            dw_plane_weight_local(xin + offset + at, gx + at, (int)h, (int)w, acc);
            /* dw_weight_reduce's order: the planes' sums added image by image */
#pragma unroll
            for (int i = 0; i < DW_KK; i++)
                sums[i] += lanes_sum8(acc[i]);
        }
#pragma unroll
        for (int i = 0; i < DW_KK; i++)
            gw[c * DW_KK + i] = sums[i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (has_bn1)
        bn_backward_from_local(gin, x1 + offset, gout + offset, stats1[c], stats1[channels + c],
                               gamma1[c], beta1[c], ggamma1, gbeta1, c, channels, len, act1,
                               training, scratch);
    else
        stream_fence(); /* the input gradient's planes */
}

/* Depthwise input gradient, stride 1 (same size in and out): a stride-1 correlation of gy
 * with the flipped kernel. One work-item per `rpi` consecutive input rows of the whole map. */
__kernel void dw_backward_input(__global const float *gy, __global const float *wgt,
                                __global float *gx, const uint n, const uint h, const uint w,
                                const uint ho, const uint wo, const uint rpi, const uint total) {
    uint r0 = get_global_id(0) * rpi;
    if (r0 >= total) return;
    uint r1 = min(total, r0 + rpi);
    uint p = r0 / h, iy = r0 % h, img = p % n, c = p / n;
    float wt[DW_KK];
    channel_taps(wgt, c, true, wt);
    for (uint r = r0; r < r1; r++) {
        dw_row(gy + (size_t)p * ho * wo, ho, wo, iy, w, wt, 0.0f, MW_ACT_NONE,
               gx + (size_t)r * w);
        if (++iy < h) continue;
        iy = 0;
        p++;
        if (++img < n) continue;
        img = 0;
        c++;
        if (r + 1 < r1) {
            channel_taps(wgt, c, true, wt);
        }
    }
}
#else
/* The rows of global planes as blocks of 8 lanes (cl/dw_blocks.clh). */
#define DW_SPACE __global
#define DW_DST_SPACE __global
#define DW_SPACE_NAME global
#include "dw_blocks.clh"
#undef DW_SPACE
#undef DW_DST_SPACE
#undef DW_SPACE_NAME

/* Stride-2 taps of output block ob of a row held as whole vectors: t[kx] lane l =
 * row[16 ob + 2 l + kx - P] from the two blocks a, b the block's inputs start in and their
 * neighbours left and right (zero past the row's ends), by shuffles. */
MW_INLINE void block_taps_s2(float8 left, float8 a, float8 b, float8 right, float8 *t) {
    float16 v = (float16)(a, b);
    float8 ev = v.even, od = v.odd;
#if DW_P == 1
    t[0] = (float8)(left.s7, od.s0, od.s12, od.s3456);
    t[1] = ev;
    t[2] = od;
#else
    t[0] = (float8)(left.s6, ev.s0, ev.s12, ev.s3456);
    t[1] = (float8)(left.s7, od.s0, od.s12, od.s3456);
    t[2] = ev;
    t[3] = od;
    t[4] = (float8)(ev.s1, ev.s23, ev.s4567, right.s0);
    (void)right;
#endif
}

/* The taps t[ob] (ob < nob) of kernel row ky for output row oy's blocks of a stride-2 plane
 * of width w up to 32, its input row loaded as blocks of 8 lanes (zero past its end: the
 * padding an odd width's last output reads); false where that row lies in the padding. */
MW_INLINE bool plane_taps_s2(__global const float *plane, int h, int w, int oy, int ky, int nob,
                             float8 t[2][5]) {
    int iy = 2 * oy + ky - DW_P;
    if (iy < 0 || iy >= h) return false;
    float8 v[6]; /* the row as v[1 .. 4], zero blocks beside it */
    load_vector_row_global(plane + iy * w, w, v);
#pragma unroll
    for (int ob = 0; ob < 2; ob++)
        if (ob < nob)
            block_taps_s2(v[2 * ob], v[2 * ob + 1], v[2 * ob + 2], v[2 * ob + 3], t[ob]);
    return true;
}

/* Stride-2 depthwise forward on maps up to 32 wide (the output ceil(h/2) x ceil(w/2): 32 ->
 * 16, 28 -> 14, 7 -> 4), whole planes per work-item (`ppi` of them): each output row's K input rows
 * are loaded as blocks of 8 lanes (plane_taps_s2; from the cache after their first row) and
 * the taps made by shuffles, with none of taps_s2's checked loads. Each output block
 * takes its taps in dw_row's order, so the results are dw_forward's to the bit. Only rows of
 * whole vectors stream. */
__kernel void dw_planes_s2(__global const float *src, __global const float *wgt,
                           __global const float *bias, __global float *dst,
                           const uint has_bias, const int act, const uint n, const uint h,
                           const uint w, const uint ppi, const uint planes) {
    uint p0 = get_global_id(0) * ppi;
    if (p0 >= planes) return;
    uint p1 = min(planes, p0 + ppi);
    /* ceil(h / 2) x ceil(w / 2) out, K = 3 or 5 with its padding */
    int ho = ((int)h + 1) / 2, wo = ((int)w + 1) / 2, nob = (wo + 7) / 8; /* blocks a row */
    bool big = wo % 8 == 0 && (size_t)planes * ho * wo >= MW_STREAM_MIN_FLOATS;
    for (uint p = p0; p < p1; p++) {
        uint c = p / n;
        float wt[DW_KK];
        channel_taps(wgt, c, false, wt);
        float b0 = has_bias ? bias[c] : 0.0f;
        __global const float *plane = src + (size_t)p * h * w;
        __global float *out = dst + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            float8 acc[2] = {(float8)(b0), (float8)(b0)};
#pragma unroll
            for (int ky = 0; ky < DW_K; ky++) {
                float8 t[2][5];
                if (!plane_taps_s2(plane, (int)h, (int)w, oy, ky, nob, t)) continue;
#pragma unroll
                for (int ob = 0; ob < 2; ob++) {
                    if (ob >= nob) continue;
#pragma unroll
                    for (int kx = 0; kx < DW_K; kx++)
                        acc[ob] = MAD(t[ob][kx], (float8)(wt[ky * DW_K + kx]), acc[ob]);
                }
            }
#pragma unroll
            for (int ob = 0; ob < 2; ob++) {
                if (8 * ob + 8 <= wo)
                    stream8(big, act8(acc[ob], act), out + oy * wo + 8 * ob);
                else if (ob < nob)
                    store_part_global(act8(acc[ob], act), out + oy * wo + 8 * ob, wo - 8 * ob);
            }
        }
    }
    stream_fence();
}

/* The stride-2 weight gradient's stage 1 on dw_planes_s2's maps, whole planes per work-item:
 * gy's row blocks (zero past the row) times the taps of the K input rows each meets
 * (plane_taps_s2). Each sum takes its terms in dw_weight_partial's order (gy rows, then
 * blocks), so the partial sums are its to the bit. */
__kernel void dw_planes_s2_weight(__global const float *gy, __global const float *x,
                                  __global float *partial, const uint h, const uint w,
                                  const uint ppi, const uint planes) {
    uint p0 = get_global_id(0) * ppi;
    if (p0 >= planes) return;
    uint p1 = min(planes, p0 + ppi);
    int ho = ((int)h + 1) / 2, wo = ((int)w + 1) / 2, nob = (wo + 7) / 8;
    for (uint p = p0; p < p1; p++) {
        __global const float *plane = x + (size_t)p * h * w;
        __global const float *g = gy + (size_t)p * ho * wo;
        float8 acc[DW_KK];
#pragma unroll
        for (int i = 0; i < DW_KK; i++)
            acc[i] = 0.0f;
        for (int oy = 0; oy < ho; oy++) {
            float8 gv[2];
#pragma unroll
            for (int ob = 0; ob < 2; ob++)
                gv[ob] = ob < nob ? load_block_global(g + oy * wo, ob, wo) : (float8)(0.0f);
#pragma unroll
            for (int ky = 0; ky < DW_K; ky++) {
                float8 t[2][5];
                if (!plane_taps_s2(plane, (int)h, (int)w, oy, ky, nob, t)) continue;
#pragma unroll
                for (int ob = 0; ob < 2; ob++) {
                    if (ob >= nob) continue;
#pragma unroll
                    for (int kx = 0; kx < DW_K; kx++)
                        acc[ky * DW_K + kx] = MAD(gv[ob], t[ob][kx], acc[ky * DW_K + kx]);
                }
            }
        }
        store_tap_sums(acc, partial + (size_t)p * DW_KK);
    }
}

/* Stride-2 input gradient on maps up to 32 wide (any height and width: gy's rows are at most
 * 16 wide, two blocks of 8 lanes), whole planes per work-item (`ppi` of them). Input row iy
 * takes gy's rows oy = (iy + P - ky) / 2 where even, loaded as blocks (load_vector_row, zero
 * past the row); lanes m of input block ib (16 pixels, even and odd apart as in
 * dw_backward_input) read gy[8 ib + m + d], d in {-1, 0, 1}, made by shuffles instead of
 * win12's checked loads. Each sum takes its terms in dw_backward_input's order: the results
 * are its to the bit. Only rows of whole 16-lane blocks stream. */
__kernel void dw_planes_s2_input(__global const float *gy, __global const float *wgt,
                                 __global float *gx, const uint n, const uint h, const uint w,
                                 const uint ho, const uint wo, const uint ppi,
                                 const uint planes) {
    uint p0 = get_global_id(0) * ppi;
    if (p0 >= planes) return;
    uint p1 = min(planes, p0 + ppi);
    int nib = ((int)w + 15) / 16; /* input blocks of 16 a row */
    bool big = w % 16 == 0 && (size_t)planes * h * w >= MW_STREAM_MIN_FLOATS;
    for (uint p = p0; p < p1; p++) {
        float wt[DW_KK];
        channel_taps(wgt, p / n, false, wt);
        __global const float *g = gy + (size_t)p * ho * wo;
        __global float *out = gx + (size_t)p * h * w;
        for (int iy = 0; iy < (int)h; iy++) {
            float8 ev[2] = {(float8)(0.0f), (float8)(0.0f)}, od[2] = {ev[0], ev[0]};
#pragma unroll
            for (int ky = 0; ky < DW_K; ky++) {
                int t = iy + DW_P - ky;
                if (t < 0 || (t & 1) || t / 2 >= (int)ho) continue;
                float8 v[6]; /* gy's row as v[1 .. 2], zero blocks beside it */
                load_vector_row_global(g + (t / 2) * (int)wo, (int)wo, v);
#pragma unroll
                for (int ib = 0; ib < 2; ib++) {
                    if (ib >= nib) continue;
                    float8 sh[3]; /* d = -1, 0, 1 */
                    block_shifts1(v[ib], v[ib + 1], v[ib + 2], sh);
#pragma unroll
                    for (int kx = 0; kx < DW_K; kx++) {
                        int u = DW_P - kx; /* even lanes need u even, odd lanes u + 1 even */
                        if ((u & 1) == 0)
                            ev[ib] = MAD(sh[u / 2 + 1], (float8)(wt[ky * DW_K + kx]), ev[ib]);
                        else
                            od[ib] = MAD(sh[(u + 1) / 2 + 1], (float8)(wt[ky * DW_K + kx]), od[ib]);
                    }
                }
            }
#pragma unroll
            for (int ib = 0; ib < 2; ib++) {
                if (ib >= nib) continue;
                float8 e = ev[ib], o = od[ib];
                float16 r = (float16)(e.s0, o.s0, e.s1, o.s1, e.s2, o.s2, e.s3, o.s3, e.s4, o.s4,
                                      e.s5, o.s5, e.s6, o.s6, e.s7, o.s7);
                __global float *dst = out + iy * (int)w + 16 * ib;
                int left = (int)w - 16 * ib;
                if (left >= 16) {
                    stream_lanes(big, r, dst, 0, 16);
                } else if (left >= 8) {
                    vstore8(r.lo, 0, dst);
                    if (left > 8) store_part_global(r.hi, dst + 8, left - 8);
                } else {
                    store_part_global(r.lo, dst, left);
                }
            }
        }
    }
    stream_fence();
}

/* Depthwise input gradient, stride 2: gx[iy][ix] = Σ w[ky][kx] gy[oy][ox] over
 * oy = (iy + P - ky) / 2, ox = (ix + P - kx) / 2 when even. Lanes ix = ix0 + 2m (+1) take
 * gy[ix0/2 + m + d] with d in {-1, 0, 1}: 16 input pixels per step, even and odd apart. One
 * work-item per `rpi` consecutive input rows of the whole map. */
__kernel void dw_backward_input(__global const float *gy, __global const float *wgt,
                                __global float *gx, const uint n, const uint h, const uint w,
                                const uint ho, const uint wo, const uint rpi, const uint total) {
    uint r0 = get_global_id(0) * rpi;
    if (r0 >= total) return;
    uint r1 = min(total, r0 + rpi);
    uint p = r0 / h, iy = r0 % h, img = p % n, c = p / n;
    bool big = (size_t)total * w >= MW_STREAM_MIN_FLOATS;
    float wt[DW_KK];
    channel_taps(wgt, c, false, wt);
    for (uint r = r0; r < r1; r++) {
        if (r > r0 && ++iy == h) { /* next plane; next channel after n images */
            iy = 0;
            p++;
            if (++img == n) {
                img = 0;
                c++;
                channel_taps(wgt, c, false, wt);
            }
        }
        __global const float *src = gy + (size_t)p * ho * wo;
        __global float *dst = gx + (size_t)r * w;
        for (int ix0 = 0; ix0 < (int)w; ix0 += 16) {
            float8 ev = 0.0f, od = 0.0f;
#pragma unroll
            for (int ky = 0; ky < DW_K; ky++) {
                int t = (int)iy + DW_P - ky;
                if (t < 0 || (t & 1) || t / 2 >= (int)ho) continue;
                float8 v[5]; /* v[d + 1] lane m = gy[oy][ix0/2 + m + d] */
                taps_s1(src + (t / 2) * wo, ix0 / 2 - 1, wo, 1, v);
#pragma unroll
                for (int kx = 0; kx < DW_K; kx++) {
                    int u = DW_P - kx; /* even lanes need u even, odd lanes u + 1 even */
                    if ((u & 1) == 0)
                        ev = MAD(v[u / 2 + 1], (float8)(wt[ky * DW_K + kx]), ev);
                    else
                        od = MAD(v[(u + 1) / 2 + 1], (float8)(wt[ky * DW_K + kx]), od);
                }
            }
            float16 r = (float16)(ev.s0, od.s0, ev.s1, od.s1, ev.s2, od.s2, ev.s3, od.s3, ev.s4,
                                  od.s4, ev.s5, od.s5, ev.s6, od.s6, ev.s7, od.s7);
            int left = (int)w - ix0;
            if (left >= 16) {
                stream_lanes(big, r, dst, ix0, 16);
            } else {
                float tmp[16];
                vstore16(r, 0, tmp);
                for (int i = 0; i < left; i++)
                    dst[ix0 + i] = tmp[i];
            }
        }
    }
    stream_fence();
}
#endif

/* Depthwise weight gradient, stage 1: each plane p = (c, n) sums
 * gy[oy][ox] x[oy S + ky - P][ox S + kx - P] over its pixels into partial[p][ky][kx]. One
 * work-item per `ppi` consecutive planes. */
__kernel void dw_weight_partial(__global const float *gy, __global const float *x,
                                __global float *partial, const uint h, const uint w, const uint ho,
                                const uint wo, const uint ppi, const uint planes) {
    uint p0 = get_global_id(0) * ppi;
    if (p0 >= planes) return;
    uint p1 = min(planes, p0 + ppi);
    for (uint p = p0; p < p1; p++) {
        __global const float *src = x + (size_t)p * h * w;
        __global const float *g = gy + (size_t)p * ho * wo;
        float8 acc[DW_KK];
#pragma unroll
        for (int i = 0; i < DW_KK; i++)
            acc[i] = 0.0f;
        for (int oy = 0; oy < (int)ho; oy++) {
            __global const float *grow = g + oy * wo;
            for (int ox0 = 0; ox0 < (int)wo; ox0 += 8) {
                float8 gv = row8(grow, ox0, wo); /* lanes past the row's end are zero */
#pragma unroll
                for (int ky = 0; ky < DW_K; ky++) {
                    int iy = oy * DW_S + ky - DW_P;
                    if (iy < 0 || iy >= (int)h) continue;
                    float8 t[5];
                    taps(src + iy * w, ox0, w, t);
#pragma unroll
                    for (int kx = 0; kx < DW_K; kx++)
                        acc[ky * DW_K + kx] = MAD(gv, t[kx], acc[ky * DW_K + kx]);
                }
            }
        }
        store_tap_sums(acc, partial + (size_t)p * DW_KK);
    }
}

/* Depthwise weight gradient, stage 2: gw[c][t] = Σ_n partial[c * N + n][t]. */
__kernel void dw_weight_reduce(__global const float *partial, __global float *gw, const uint n,
                               const uint kk, const uint count) {
    uint i = get_global_id(0);
    if (i >= count) return;
    uint c = i / kk, t = i % kk;
    __global const float *src = partial + (size_t)c * n * kk + t;
    float s = 0.0f;
    for (uint j = 0; j < n; j++)
        s += src[(size_t)j * kk];
    gw[i] = s;
}

/* ---- depthwise on small planes --------------------------------------------------------
 * Planes of at most 16 pixels in and out (the 4x4 and 2x2 maps of the last stages at 32x32
 * inputs), where a row holds 2 or 4 pixels and the row kernels above leave most of their 8
 * lanes empty and spend their time on the edges. A channel's correlation over such a plane
 * is a matrix M[o][i] of at most 16 x 16 (o an output pixel, i an input one) that all its N
 * planes share: built once per channel, then applied to each plane held as one float16.
 * One work-item per channel; chosen on CPU devices only (engine/ops/conv.c). */

/* cm[j * 16 + l] = M[l][j]: column j of M as a vector over the output pixels l (forward);
 * transposed, cm[j * 16 + l] = M[j][l], for the input gradient (gy pixel j to gx pixel l). */
MW_INLINE void small_plane_matrix(__global const float *wc, int h, int w, int ho, int wo,
                                  int transposed, float *cm) {
    for (int i = 0; i < 256; i++)
        cm[i] = 0.0f;
    for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++)
            for (int ky = 0; ky < DW_K; ky++) {
                int iy = oy * DW_S + ky - DW_P;
                if (iy < 0 || iy >= h) continue;
                for (int kx = 0; kx < DW_K; kx++) {
                    int ix = ox * DW_S + kx - DW_P;
                    if (ix < 0 || ix >= w) continue;
                    int o = oy * wo + ox, i = iy * w + ix;
                    cm[transposed ? o * 16 + i : i * 16 + o] = wc[ky * DW_K + kx];
                }
            }
}

/* The `count` (<= 16) pixels of a plane as one vector, zero past them. */
MW_INLINE float16 load_plane(__global const float *p, int count) {
    if (count == 16) return vload16(0, p);
    if (count == 4) return (float16)(vload4(0, p), (float4)(0.0f), (float8)(0.0f));
    float t[16];
    for (int i = 0; i < 16; i++)
        t[i] = i < count ? p[i] : 0.0f;
    return vload16(0, t);
}

MW_INLINE void store_plane(float16 v, __global float *p, int count) {
    if (count == 16) {
        vstore16(v, 0, p);
    } else if (count == 4) {
        vstore4(v.s0123, 0, p);
    } else {
        float t[16];
        vstore16(v, 0, t);
        for (int i = 0; i < count; i++)
            p[i] = t[i];
    }
}

/* Forward (transposed 0: y = M x + bias) or input gradient (transposed 1: gx = Mᵀ gy) of
 * channel c's N planes. src and dst are the channel-major maps the node reads and writes. */
__kernel void dw_small_planes(__global const float *src, __global const float *wgt,
                              __global const float *bias, __global float *dst,
                              const uint has_bias, const int act, const uint n, const uint h,
                              const uint w, const uint ho, const uint wo, const uint transposed,
                              const uint channels) {
    uint c = get_global_id(0);
    if (c >= channels) return;
    float cm[256];
    small_plane_matrix(wgt + c * DW_KK, h, w, ho, wo, transposed, cm);
    int in_px = transposed ? ho * wo : h * w, out_px = transposed ? h * w : ho * wo;
    float16 col[16];
#pragma unroll
    for (int j = 0; j < 16; j++)
        col[j] = vload16(j, cm);
    float b = has_bias ? bias[c] : 0.0f;
    __global const float *s = src + (size_t)c * n * in_px;
    __global float *d = dst + (size_t)c * n * out_px;
    for (uint img = 0; img < n; img++, s += in_px, d += out_px) {
        /* two chains, so that the FMA latency is not the plane's cost */
        float16 even = (float16)(b), odd = (float16)(0.0f);
#pragma unroll
        for (int j = 0; j < 16; j += 2) {
            if (j < in_px) even = MAD((float16)(s[j]), col[j], even);
            if (j + 1 < in_px) odd = MAD((float16)(s[j + 1]), col[j + 1], odd);
        }
        store_plane(act16(even + odd, act), d, out_px);
    }
}

/* Weight gradient of channel c: G[o][i] = Σ_n gy[o] x[i] over its planes, then
 * gw[ky][kx] = Σ G[o][i] over the pairs that tap (ky, kx) joins. */
__kernel void dw_small_planes_weight(__global const float *gy, __global const float *x,
                                     __global float *gw, const uint n, const uint h,
                                     const uint w, const uint ho, const uint wo,
                                     const uint channels) {
    uint c = get_global_id(0);
    if (c >= channels) return;
    int in_px = h * w, out_px = ho * wo;
    float16 g[16];
#pragma unroll
    for (int o = 0; o < 16; o++)
        g[o] = (float16)(0.0f);
    __global const float *xs = x + (size_t)c * n * in_px, *gs = gy + (size_t)c * n * out_px;
    for (uint img = 0; img < n; img++, xs += in_px, gs += out_px) {
        float16 xv = load_plane(xs, in_px);
#pragma unroll
        for (int o = 0; o < 16; o++)
            if (o < out_px) g[o] = MAD((float16)(gs[o]), xv, g[o]);
    }
    float gm[256];
#pragma unroll
    for (int o = 0; o < 16; o++)
        vstore16(g[o], o, gm);
    for (int ky = 0; ky < DW_K; ky++)
        for (int kx = 0; kx < DW_K; kx++) {
            float sum = 0.0f;
            for (int oy = 0; oy < (int)ho; oy++) {
                int iy = oy * DW_S + ky - DW_P;
                if (iy < 0 || iy >= (int)h) continue;
                for (int ox = 0; ox < (int)wo; ox++) {
                    int ix = ox * DW_S + kx - DW_P;
                    if (ix >= 0 && ix < (int)w) sum += gm[(oy * wo + ox) * 16 + iy * w + ix];
                }
            }
            gw[c * DW_KK + ky * DW_K + kx] = sum;
        }
}

/* ---- general path: im2col + GEMM ---------------------------------------------------- */

/* Output columns [lo, hi) of a col row whose input index ox S + kx - P lies in [0, w). */
MW_INLINE void interior(int w, int wo, int stride, int off, int *lo, int *hi) {
    int l = off < 0 ? (-off + stride - 1) / stride : 0;
    int h = (w - 1 - off) < 0 ? 0 : (w - 1 - off) / stride + 1;
    *lo = min(l, wo);
    *hi = max(*lo, min(h, wo));
}

/* Columns of images n0 .. n0+cn-1: col[(ci K + ky) K + kx][(nl Ho + oy) Wo + ox] =
 * x[ci][n0 + nl][oy S + ky - P][ox S + kx - P] (0 in the padding). One work-item per (col
 * row r, image nl) writes that image's Ho x Wo block; the copies between the padded edges
 * are plain loops the compiler vectorises. */
__kernel void im2col(__global const float *x, __global float *col, const uint n, const uint h,
                     const uint w, const uint ho, const uint wo, const uint k, const uint stride,
                     const uint pad, const uint n0, const uint cn, const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint nl = gid % cn, r = gid / cn;
    uint kx = r % k, ky = (r / k) % k, ci = r / (k * k);
    __global float *dst = col + (size_t)r * cn * ho * wo + (size_t)nl * ho * wo;
    __global const float *plane = x + ((size_t)ci * n + n0 + nl) * h * w;
    int off = (int)kx - (int)pad, lo, hi;
    interior((int)w, (int)wo, (int)stride, off, &lo, &hi);
    for (uint oy = 0; oy < ho; oy++, dst += wo) {
        int iy = (int)(oy * stride + ky) - (int)pad;
        if (iy < 0 || iy >= (int)h) {
            for (uint ox = 0; ox < wo; ox++)
                dst[ox] = 0.0f;
            continue;
        }
        /* Indices, not a pointer moved left of the row: it could precede the buffer. */
        __global const float *src = plane + iy * w;
        for (int ox = 0; ox < lo; ox++)
            dst[ox] = 0.0f;
        if (stride == 1)
            for (int ox = lo; ox < hi; ox++)
                dst[ox] = src[ox + off];
        else
            for (int ox = lo; ox < hi; ox++)
                dst[ox] = src[ox * (int)stride + off];
        for (int ox = hi; ox < (int)wo; ox++)
            dst[ox] = 0.0f;
    }
}

/* Index gid of a [outer][images][rows][cols] range as (col, row, image, outer). */
MW_INLINE uint4 split_index(uint gid, uint cols, uint rows, uint images) {
    uint t = gid / cols, u = t / rows;
    return (uint4)(gid % cols, t % rows, u % images, u / images);
}

/* im2col's GPU shape: the same columns, one work-item per entry, entry `gid` of col (ox
 * fastest): a group's stores are consecutive, and at stride 1 so are its loads. */
__kernel void im2col_items(__global const float *x, __global float *col, const uint n,
                           const uint h, const uint w, const uint ho, const uint wo, const uint k,
                           const uint stride, const uint pad, const uint n0, const uint cn,
                           const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint4 at = split_index(gid, wo, ho, cn); /* (ox, oy, nl, col row) */
    uint ox = at.x, oy = at.y, nl = at.z, r = at.w;
    uint kx = r % k, ky = (r / k) % k, ci = r / (k * k);
    int iy = (int)(oy * stride + ky) - (int)pad, ix = (int)(ox * stride + kx) - (int)pad;
    bool inside = iy >= 0 && iy < (int)h && ix >= 0 && ix < (int)w;
    col[gid] = inside ? x[(((size_t)ci * n + n0 + nl) * h + (uint)iy) * w + (uint)ix] : 0.0f;
}

/* Σ of the column entries that read input pixel (iy, ix) of one image's plane: src is the
 * image's first column row, rows `plane` floats apart; taps in (ky, kx) order. */
MW_INLINE float gathered_pixel(__global const float *src, size_t plane, uint iy, uint ix,
                               uint ho, uint wo, uint k, uint stride, uint pad) {
    float s = 0.0f;
    for (uint ky = 0; ky < k; ky++) {
        int ty = (int)(iy + pad) - (int)ky;
        if (ty < 0 || ty % (int)stride) continue;
        uint oy = (uint)ty / stride;
        if (oy >= ho) continue;
        for (uint kx = 0; kx < k; kx++) {
            int tx = (int)(ix + pad) - (int)kx;
            if (tx < 0 || tx % (int)stride) continue;
            uint ox = (uint)tx / stride;
            if (ox >= wo) continue;
            s += src[(ky * k + kx) * plane + oy * wo + ox];
        }
    }
    return s;
}

/* The adjoint of im2col, gathering (no atomics): gx[ci][n0 + nl][iy][ix] = Σ over (ky, kx)
 * with oy = (iy + P - ky) / S and ox = (ix + P - kx) / S whole and in range of
 * col[(ci K + ky) K + kx][(nl Ho + oy) Wo + ox]. One work-item per (ci, nl) plane: each tap
 * (ky, kx) whose output row lies on the stride adds its col row to every stride-th pixel
 * of the gx row (at stride 1 a vectorisable shifted add), in gathered_pixel's tap order, so
 * that both shapes give the same sums. Per pixel, through
 * gathered_pixel's division and remainder per tap, ResNet18's 1x1 stride-2 shortcuts took
 * 4-5x longer (33.4 against 7.7 ms for 64 -> 128 at 32x32, 228 images). */
__kernel void col2im(__global const float *col, __global float *gx, const uint n, const uint h,
                     const uint w, const uint ho, const uint wo, const uint k, const uint stride,
                     const uint pad, const uint n0, const uint cn, const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint nl = gid % cn, ci = gid / cn;
    size_t plane = (size_t)cn * ho * wo;
    __global const float *src = col + (size_t)ci * k * k * plane + (size_t)nl * ho * wo;
    __global float *dst = gx + ((size_t)ci * n + n0 + nl) * h * w;
    for (uint iy = 0; iy < h; iy++, dst += w) {
        for (uint ix = 0; ix < w; ix++)
            dst[ix] = 0.0f;
        for (uint ky = 0; ky < k; ky++) {
            int ty = (int)(iy + pad) - (int)ky;
            if (ty < 0 || ty % (int)stride || ty / (int)stride >= (int)ho) continue;
            for (uint kx = 0; kx < k; kx++) {
                /* ix = ox S + kx - P within [0, w): ox in [lo, hi) */
                int shift = (int)kx - (int)pad;
                int lo = max(0, (-shift + (int)stride - 1) / (int)stride);
                int hi = min((int)wo, ((int)w - shift + (int)stride - 1) / (int)stride);
                __global const float *row = src + (ky * k + kx) * plane + (uint)ty / stride * wo;
                for (int ox = lo; ox < hi; ox++)
                    dst[ox * (int)stride + shift] += row[ox];
            }
        }
    }
}

/* col2im's GPU shape: one work-item per input pixel (ci, nl, iy, ix), ix fastest, summing
 * the k x k column entries that read it in the same order as col2im. */
__kernel void col2im_items(__global const float *col, __global float *gx, const uint n,
                           const uint h, const uint w, const uint ho, const uint wo, const uint k,
                           const uint stride, const uint pad, const uint n0, const uint cn,
                           const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint4 at = split_index(gid, w, h, cn); /* (ix, iy, nl, ci) */
    uint ix = at.x, iy = at.y, nl = at.z, ci = at.w;
    size_t plane = (size_t)cn * ho * wo;
    __global const float *src = col + (size_t)ci * k * k * plane + (size_t)nl * ho * wo;
    gx[(((size_t)ci * n + n0 + nl) * h + iy) * w + ix] =
        gathered_pixel(src, plane, iy, ix, ho, wo, k, stride, pad);
}

/* ---- bias ------------------------------------------------------------------------------ */

/* gb[c] = Σ_j gy[c][j]: rows are contiguous in [C, N, H, W]. One work-group per channel
 * (cl/row_group.clh). */
__kernel void bias_grad(__global const float *gy, __global float *gb, const uint len,
                        const uint channels) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint c = get_group_id(0);
    __global const float *row = gy + (size_t)c * len;
    float16 acc = 0.0f;
    ROW_LOOP(len, { acc += data_lanes(load_lanes(row, at, lanes), lanes); })
    float s = group_sum_lanes(acc, 0.0f, scratch).x;
    if (get_local_id(0) == 0) gb[c] = s;
}
