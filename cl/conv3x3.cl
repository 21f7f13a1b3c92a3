/* Direct 3x3 convolutions (padding 1, stride 1 or 2, one group) for CPU devices: the dense
 * convolutions of ResNet18, WideResNet, DenseNet and GoogLeNet without im2col's nine-fold
 * copy of the input. engine/ops/conv.c chooses them over im2col + GEMM per shape.
 *
 * The trick that keeps the inner loop free of edge tests: the input is first copied into
 * planes padded by one pixel on every side, (H + 2) x Wp with Wp = W + 2, and outputs are
 * computed in "padded-width" coordinates q = oy Wp + ox, 0 <= q < Ho Wp. Output q reads the
 * padded input at q + ky Wp + kx for tap (ky, kx), so 16 consecutive outputs read 16
 * consecutive inputs for every tap: one unaligned vector load, no mask. The columns
 * ox >= Wo of each row are computed and thrown away (6% of the work at W = 32, 20% at
 * W = 8). With stride 2 the padded input is split into its four phases (even and odd rows
 * times even and odd columns), planes of Hh x Wh = ceil((H + 2) / 2) x ceil((W + 2) / 2):
 * tap (ky, kx) reads phase (ky mod 2, kx mod 2) at q + (ky / 2) Wh + kx / 2, q = oy Wh + ox,
 * again one shift per tap. The copies are plain kernels below; the host keeps zero floats
 * after the last padded plane, which the last vector loads of a chunk may read.
 *
 * Small maps waste most of those vectors on padding columns and on the rounding of each
 * plane's outputs to whole vectors (a 4x4 map: 24 padded-width outputs in 32 lanes for 16
 * results). So at stride 1 a plane may hold a group of g images side by side, sharing their
 * padding columns: image j's columns start at 1 + j (W + 1), the plane is g (W + 1) + 1
 * wide, and output column x' belongs to image x' / (W + 1) at column x' mod (W + 1), a
 * padding column where that is W (4x4 maps in groups of 6: 96 results in 128 lanes).
 *
 * Feature maps are channel-major [C, N, H, W] as everywhere in memwrap; padded copies hold
 * a chunk of cn images image-major: plane gi * C + c for group gi = nl / g, so that the loop
 * over input channels walks memory in order (with channel-major copies each channel's plane
 * lay a whole chunk of images further, a stride no prefetcher follows). */

#include "mad.clh"

/* Zeroes the tail of a padded plane [used, ps) and, for the last work-item, the `slack`
 * floats after the last plane. */
MW_INLINE void zero_tail(__global float *plane, uint used, uint ps, uint slack, bool last) {
    uint tail = ps - used + (last ? slack : 0);
    for (uint x = 0; x < tail; x++)
        plane[used + x] = 0.0f;
}

/* dst plane gi * C + c, rows of dw floats, plane stride ps >= dh * dw: the src planes
 * (c, n0 + gi g + j), j < g, of the [C, N, h, w] map placed side by side at (top,
 * left + j (w + 1)), zero around them (images past cn too) and in the plane's tail. One
 * work-item per destination row. */
__kernel void pad_planes(__global const float *src, __global float *dst, const uint dst_off,
                         const uint n, const uint n0, const uint cn, const uint g,
                         const uint h, const uint w, const uint top, const uint left,
                         const uint dh, const uint dw, const uint ps, const uint slack,
                         const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint r = gid % dh, plane = gid / dh, channels = items / (dh * ((cn + g - 1) / g));
    uint gi = plane / channels, c = plane % channels;
    __global float *row = dst + dst_off + (size_t)plane * ps + (size_t)r * dw;
    for (uint x = 0; x < dw; x++)
        row[x] = 0.0f;
    int iy = (int)r - (int)top;
    for (uint j = 0, nl = gi * g; iy >= 0 && iy < (int)h && j < g && nl < cn; j++, nl++) {
        __global const float *s = src + ((size_t)c * n + n0 + nl) * h * w + (size_t)iy * w;
        for (uint x = 0; x < w; x++)
            row[left + j * (w + 1) + x] = s[x];
    }
    if (r + 1 == dh)
        zero_tail(dst + dst_off + (size_t)plane * ps, dh * dw, ps, slack, gid + 1 == items);
}

/* The four phases of the padded src plane (c, n0 + nl) for a stride-2 convolution, as dst
 * plane nl * C + c: phase
 * (pr, pc), row i, column j of the dst plane = padded (2 i + pr, 2 j + pc) = src
 * (2 i + pr - 1, 2 j + pc - 1) or 0 outside; phases of hh x wh floats one after another in
 * planes of ps = 4 hh wh. One work-item per (plane, phase, row). */
__kernel void pad_phases(__global const float *src, __global float *dst, const uint dst_off,
                         const uint n, const uint n0, const uint cn, const uint h,
                         const uint w, const uint hh, const uint wh, const uint slack,
                         const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint i = gid % hh, phase = (gid / hh) % 4, plane = gid / (4 * hh);
    uint channels = items / (4 * hh * cn), nl = plane / channels, c = plane % channels;
    uint pr = phase / 2, pc = phase % 2;
    size_t pp = (size_t)hh * wh;
    __global float *row = dst + dst_off + (size_t)plane * 4 * pp + phase * pp + (size_t)i * wh;
    int iy = (int)(2 * i + pr) - 1;
    if (iy < 0 || iy >= (int)h) {
        for (uint j = 0; j < wh; j++)
            row[j] = 0.0f;
    } else {
        __global const float *s = src + ((size_t)c * n + n0 + nl) * h * w + (size_t)iy * w;
        for (uint j = 0; j < wh; j++) {
            int ix = (int)(2 * j + pc) - 1;
            row[j] = ix >= 0 && ix < (int)w ? s[ix] : 0.0f;
        }
    }
    if (gid + 1 == items) zero_tail(dst + dst_off + (size_t)plane * 4 * pp, 4 * pp, 4 * pp, slack, true);
}

/* Where tap t (ky = t / 3, kx = t % 3) of output q reads its input, relative to q, in a
 * padded plane (pp 0: stride 1, rows of wp) or in the four phase planes of pp floats each
 * (stride 2, rows of wp = Wh). */
MW_INLINE uint tap_offset(uint t, uint wp, uint pp) {
    uint ky = t / 3, kx = t % 3;
    return pp ? ((ky & 1) * 2 + (kx & 1)) * pp + (ky >> 1) * wp + (kx >> 1) : ky * wp + kx;
}

/* The weights as the forward kernels read them, in blocks of `block` output channels:
 * packed[((ob in + i) 9 + t) block + r] = W(o = block ob + r, i, tap t), zero for o >= out.
 * W(o, i, t) = w[o so + i si + t], or w[o so + i si + 8 - t] when `flip` (the input gradient
 * convolves with the taps reversed and the channel roles swapped: so and si say which index
 * is which). One item per entry. */
__kernel void conv3x3_pack_weights(__global const float *w, __global float *packed,
                                   const uint packed_off, const uint block, const uint out,
                                   const uint in, const uint so, const uint si, const uint flip,
                                   const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint r = gid % block, t = (gid / block) % 9, rest = gid / (9 * block);
    uint i = rest % in, o = (rest / in) * block + r;
    packed[packed_off + gid] =
        o < out ? w[(size_t)o * so + (size_t)i * si + (flip ? 8 - t : t)] : 0.0f;
}

/* y[o][n0 + nl][oy][ox] (+)= Σ_i Σ_t W(o, i, t) xp[i][gi][q + tap_offset(t)] for a block of
 * CO output channels (dimension 0: consecutive items share the input block in cache) and
 * PX = 16 PV padded-width outputs q0 .. q0 + PX - 1 of one plane (dimension 1), q = oy wp + x'
 * over ho rows of wp, a group of g images side by side (g = 1 at stride 2): column x' is
 * image nl = gi g + x' / (wo + 1), column ox = x' mod (wo + 1), stored where ox < wo and
 * nl < cn. CO x PV float16 accumulators; per tap PV vector loads of the input and CO
 * broadcast weights. Input planes of ps floats. */
#define CO MW_BLOCK_ROWS /* per device (engine/runtime/runtime.c, choose_block_rows) */
#define PV MW_C3_PX_VECTORS
#define PX (16 * PV)
__kernel void conv3x3_forward(__global const float *xp, const uint xp_off,
                              __global const float *packed, const uint packed_off,
                              __global float *y, const uint in, const uint out, const uint n,
                              const uint n0, const uint cn, const uint g, const uint ho,
                              const uint wo, const uint wp, const uint ps, const uint pp,
                              const uint accumulate) {
    uint ob = get_global_id(0), blk = get_global_id(1);
    uint q_end = ho * wp, per_plane = (q_end + PX - 1) / PX;
    uint gi = blk / per_plane, q0 = (blk % per_plane) * PX;
    if (ob * CO >= out || gi * g >= cn) return;
    size_t in_stride = ps;
    uint off[9];
#pragma unroll
    for (uint t = 0; t < 9; t++)
        off[t] = tap_offset(t, wp, pp);
    __global const float *x = xp + xp_off + (size_t)gi * in * ps + q0;
    __global const float *wk = packed + packed_off + (size_t)ob * in * 9 * CO;
    float16 acc[CO][PV];
#pragma unroll
    for (uint r = 0; r < CO; r++)
#pragma unroll
        for (uint v = 0; v < PV; v++)
            acc[r][v] = 0.0f;
    for (uint i = 0; i < in; i++, x += in_stride, wk += 9 * CO) {
#pragma unroll
        for (uint t = 0; t < 9; t++) {
            __global const float *xt = x + off[t];
            float16 xv[PV];
#pragma unroll
            for (uint v = 0; v < PV; v++)
                xv[v] = vload16(v, xt);
#pragma unroll
            for (uint r = 0; r < CO; r++) {
                float16 a = (float16)(wk[t * CO + r]);
#pragma unroll
                for (uint v = 0; v < PV; v++)
                    acc[r][v] = MAD(a, xv[v], acc[r][v]);
            }
        }
    }
    /* Store the outputs with ox < wo, nl < cn and q < ho wp: their offsets from image gi g
     * found once, without a division per lane. */
    int at[PX];
    uint oy = q0 / wp, xq = q0 % wp, j = xq / (wo + 1), ox = xq % (wo + 1);
    for (uint k = 0; k < PX; k++) {
        uint nl = gi * g + j;
        at[k] = (q0 + k < q_end && ox < wo && j < g && nl < cn)
                    ? (int)(((j * ho) + oy) * wo + ox) : -1;
        if (++xq == wp) xq = 0, j = 0, ox = 0, oy++;
        else if (++ox == wo + 1) ox = 0, j++;
    }
    float vals[PX];
    for (uint r = 0; r < CO && ob * CO + r < out; r++) {
#pragma unroll
        for (uint v = 0; v < PV; v++)
            vstore16(acc[r][v], v, vals);
        __global float *yp = y + ((size_t)(ob * CO + r) * n + n0 + gi * g) * ho * wo;
        for (uint k = 0; k < PX; k++)
            if (at[k] >= 0) yp[at[k]] = accumulate ? yp[at[k]] + vals[k] : vals[k];
    }
}

/* The weight-gradient kernels in blocks of 8 and of 6 output channels (the host takes the
 * block that computes fewer rows): conv3x3_weight8 / 6 on padded rows, conv3x3_bm_weight8 /
 * 6 on batch-major sources. BLOCK_NAME(base, rows) is base##rows. */
#define BLOCK_NAME_PASTE(base, rows) base##rows
#define BLOCK_NAME(base, rows) BLOCK_NAME_PASTE(base, rows)
#define WR 8
#include "conv3x3_weight.clh"
#undef WR
#define WR 6
#include "conv3x3_weight.clh"
#undef WR
#if MW_BLOCK_ROWS < 6 /* the device's register block (engine/ops/conv3x3.c, weight_rows) */
#define WR MW_BLOCK_ROWS
#include "conv3x3_weight.clh"
#undef WR
#endif

/* ---- batch-major kernels: small maps and stride 2 ----------------------------------------
 * Vectorised over images instead of a map's padded rows: the input is copied into
 * [C][Hp Wp][nb], each padded pixel a run of nb images (nb a multiple of the forward's
 * 16 BM_V, zero past the chunk's cn), so that every tap of every stride is one aligned
 * vector load of 16 images, with no lane spent on padding columns (a third to a half of the
 * padded-row kernels' lanes on 8x8 and 4x4 maps). engine/ops/conv.c runs the weight
 * gradient of maps narrower than 32 this way: the other passes measured faster on padded
 * rows. The input gradient of stride 2 (the taps that reach an input pixel depend on its
 * parity) runs here only where forced (tests, tests/probe_conv_paths): im2col + GEMM took
 * 0.55-0.92 of its time once col2im scattered per tap (bench/RESULTS.md). */
#define BM_CO MW_C3_BM_CO_BLOCK
#define BM_V MW_C3_BM_VECTORS

/* dst[c][(iy + 1) wp + ix + 1][nl] = src[c][n0 + nl][iy][ix] over the padded (h + 2) x wp
 * pixels, zero in the padding and for nl >= cn. One work-item per (c, padded pixel). */
__kernel void to_batch_major(__global const float *src, __global float *dst, const uint dst_off,
                             const uint n, const uint n0, const uint cn, const uint nb,
                             const uint h, const uint w, const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint wp = w + 2, pixels = (h + 2) * wp;
    uint c = gid / pixels, p = gid % pixels;
    int iy = (int)(p / wp) - 1, ix = (int)(p % wp) - 1;
    __global float *d = dst + dst_off + (size_t)gid * nb;
    if (iy < 0 || iy >= (int)h || ix < 0 || ix >= (int)w) {
        for (uint nl = 0; nl < nb; nl++)
            d[nl] = 0.0f;
        return;
    }
    __global const float *s = src + ((size_t)c * n + n0) * h * w + (size_t)iy * w + ix;
    for (uint nl = 0; nl < nb; nl++)
        d[nl] = nl < cn ? s[(size_t)nl * h * w] : 0.0f;
}

/* The taps of output pixel (oy, ox) as (source pixel, weight tap) pairs in a padded source
 * of rows wp: a convolution of stride 1 or 2 reads all nine; the input gradient of a
 * stride-2 convolution (`transposed`) gathers only the taps whose output lies on the
 * stride, ((oy + 1 - ky) / 2, (ox + 1 - kx) / 2) of the hs x ws gradient map. Returns the
 * count. */
MW_INLINE uint bm_taps(uint oy, uint ox, uint stride, uint transposed, uint hs, uint ws,
                       uint wp, uint *pix, uint *tap) {
    uint count = 0;
    for (uint t = 0; t < 9; t++) {
        int ky = (int)(t / 3), kx = (int)(t % 3);
        if (!transposed) {
            pix[count] = (oy * stride + (uint)ky) * wp + ox * stride + (uint)kx;
            tap[count++] = t;
            continue;
        }
        int ty = (int)oy + 1 - ky, tx = (int)ox + 1 - kx;
        if (ty < 0 || tx < 0 || (ty & 1) || (tx & 1) || ty / 2 >= (int)hs || tx / 2 >= (int)ws)
            continue;
        pix[count] = (uint)(ty / 2 + 1) * wp + (uint)(tx / 2 + 1);
        tap[count++] = 8 - t; /* the input gradient's weights are packed with taps reversed */
    }
    return count;
}

/* One tap of the batch-major forward: BM_V vectors of images at x times BM_CO weights. */
MW_INLINE void bm_tap(float16 acc[BM_CO][BM_V], __global const float *x,
                      __global const float *wt) {
    float16 xv[BM_V];
#pragma unroll
    for (uint v = 0; v < BM_V; v++)
        xv[v] = vload16(v, x);
#pragma unroll
    for (uint r = 0; r < BM_CO; r++) {
        float16 a = (float16)(wt[r]);
#pragma unroll
        for (uint v = 0; v < BM_V; v++)
            acc[r][v] = MAD(a, xv[v], acc[r][v]);
    }
}

/* y[o][n0 + nl][oy][ox] (+)= Σ_i Σ_taps W(o, i, t) src[i][pixel][nl] for BM_CO output
 * channels (dimension 0), one output pixel of ho x wo (dimension 1) and 16 BM_V images
 * (dimension 2): BM_CO x BM_V float16 accumulators. The source is batch-major
 * [in][hs + 2][ws + 2][nb]; weights packed in blocks of BM_CO (conv3x3_pack_weights). */
__kernel void conv3x3_bm_forward(__global const float *src, const uint src_off,
                                 __global const float *packed, const uint packed_off,
                                 __global float *y, const uint in, const uint out,
                                 const uint n, const uint n0, const uint cn, const uint nb,
                                 const uint ho, const uint wo, const uint hs, const uint ws,
                                 const uint stride, const uint transposed,
                                 const uint accumulate) {
    uint ob = get_global_id(0), p = get_global_id(1), nv = get_global_id(2);
    if (ob * BM_CO >= out || p >= ho * wo || nv * 16 * BM_V >= cn) return;
    uint oy = p / wo, ox = p % wo, wp = ws + 2;
    uint pix[9], tap[9];
    uint count = bm_taps(oy, ox, stride, transposed, hs, ws, wp, pix, tap);
    size_t plane = (size_t)(hs + 2) * wp * nb;
    __global const float *x = src + src_off + nv * 16 * BM_V;
    __global const float *wk = packed + packed_off + (size_t)ob * in * 9 * BM_CO;
    float16 acc[BM_CO][BM_V];
#pragma unroll
    for (uint r = 0; r < BM_CO; r++)
#pragma unroll
        for (uint v = 0; v < BM_V; v++)
            acc[r][v] = 0.0f;
    for (uint i = 0; i < in; i++, x += plane, wk += 9 * BM_CO)
        for (uint k = 0; k < count; k++)
            bm_tap(acc, x + (size_t)pix[k] * nb, wk + tap[k] * BM_CO);
    uint images = min(16u * BM_V, cn - nv * 16 * BM_V);
    float vals[16 * BM_V];
    for (uint r = 0; r < BM_CO && ob * BM_CO + r < out; r++) {
#pragma unroll
        for (uint v = 0; v < BM_V; v++)
            vstore16(acc[r][v], v, vals);
        __global float *yp = y + ((size_t)(ob * BM_CO + r) * n + n0 + nv * 16 * BM_V) * ho * wo + p;
        for (uint j = 0; j < images; j++) {
            __global float *dst = yp + (size_t)j * ho * wo;
            *dst = accumulate ? *dst + vals[j] : vals[j];
        }
    }
}

/* gy [out][n][ho][wo] as gT[o][oy wo + ox][nl] (nb images, zero past cn): the weight
 * gradient's other operand. One work-item per (o, pixel). */
__kernel void gradient_batch_major(__global const float *gy, __global float *dst,
                                   const uint dst_off, const uint n, const uint n0,
                                   const uint cn, const uint nb, const uint pixels,
                                   const uint items) {
    uint gid = get_global_id(0);
    if (gid >= items) return;
    uint o = gid / pixels, p = gid % pixels;
    __global float *d = dst + dst_off + (size_t)gid * nb;
    __global const float *s = gy + ((size_t)o * n + n0) * pixels + p;
    for (uint nl = 0; nl < nb; nl++)
        d[nl] = nl < cn ? s[(size_t)nl * pixels] : 0.0f;
}
