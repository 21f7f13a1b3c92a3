/* Winograd's F(2x2, 3x3) for 3x3 convolutions of stride 1 and padding 1 on CPU devices
 * (engine/ops/winograd.c chooses it per pass): every 2x2 block of outputs ("tile") comes
 * from a 4x4 block of the input through 16 products instead of 36, so the 16 GEMMs between
 * the transforms below do 2.25 times fewer multiply-adds than a direct convolution
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
 *
 *   y tile = Aᵀ [ Σ_i (G w_oi Gᵀ) ⊙ (Bᵀ d_i B) ] A,   d_i the 4x4 input block of channel i,
 *
 *   Bᵀ = | 1  0 -1  0 |   G = | 1    0    0   |   Aᵀ = | 1  1  1  0 |
 *        | 0  1  1  0 |       | 1/2  1/2  1/2 |        | 0  1 -1 -1 |
 *        | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
 *        | 0  1  0 -1 |       | 0    0    1   |
 *
 * Entry ξ = 4a + b of the transformed blocks forms matrices over (channel, tile): the
 * weights U[ξ][out][in], the input V[ξ][in][P] and the products M[ξ][out][P] = U[ξ]·V[ξ],
 * P = images x tiles, tile p = image * tiles + ty * tw + tx. The weight gradient is the same
 * algebra backwards: gU[ξ] = (A g Aᵀ)[ξ] · V[ξ]ᵀ summed over tiles, gw = Gᵀ gU G.
 *
 * The transforms work on units of 16 consecutive tiles of one tile row, the lanes of float16
 * vectors, and each work-item takes several units (PoCL pays for every work-group, and a
 * 4x4 map's row has 2 tiles). Input rows are gathered with their padding into a private
 * row, whose even and odd columns swizzles then split; only the columns of tiles that
 * exist are read, and lanes past them are never stored. */

#include "mad.clh"

#define LANES 16

/* Tile lanes of this work-item that exist: tiles tx0 .. tx0 + 15 of a row of tw. */
MW_INLINE uint lanes_in_row(uint tx0, uint tw) {
    return min((uint)LANES, tw - tx0);
}

/* Stores v at dst[0 .. count): one vector store when all 16 lanes exist. */
MW_INLINE void store_lanes(__global float *dst, float16 v, uint count) {
    if (count == LANES) {
        vstore16(v, 0, dst);
        return;
    }
    float tmp[LANES];
    vstore16(v, 0, tmp);
    for (uint i = 0; i < count; i++)
        dst[i] = tmp[i];
}

/* U[ξ][o][i] = (G W(o, i) Gᵀ)[ξ], W(o, i)[t] = w[o so + i si + t] (t = 3 ky + kx), or its
 * taps reversed (8 - t) when `flip`: the input gradient convolves the output gradient with
 * the taps reversed and the channel roles swapped, which so and si express. Each item
 * transforms `per_item` consecutive (o, i) = (gid / in, gid % in). */
MW_INLINE void weight_pair(__global const float *w, __global float *u, uint u_off, uint out,
                           uint in, uint so, uint si, uint flip, uint gid) {
    uint o = gid / in, i = gid % in;
    __global const float *src = w + (size_t)o * so + (size_t)i * si;
    float k[3][3], gk[4][3];
    for (uint t = 0; t < 9; t++)
        k[t / 3][t % 3] = src[flip ? 8 - t : t];
    for (uint c = 0; c < 3; c++) { /* G k */
        gk[0][c] = k[0][c];
        gk[1][c] = 0.5f * (k[0][c] + k[1][c] + k[2][c]);
        gk[2][c] = 0.5f * (k[0][c] - k[1][c] + k[2][c]);
        gk[3][c] = k[2][c];
    }
    size_t plane = (size_t)out * in;
    __global float *dst = u + u_off + gid;
    for (uint a = 0; a < 4; a++) { /* (G k) Gᵀ */
        dst[(4 * a + 0) * plane] = gk[a][0];
        dst[(4 * a + 1) * plane] = 0.5f * (gk[a][0] + gk[a][1] + gk[a][2]);
        dst[(4 * a + 2) * plane] = 0.5f * (gk[a][0] - gk[a][1] + gk[a][2]);
        dst[(4 * a + 3) * plane] = gk[a][2];
    }
}

__kernel void winograd_weights(__global const float *w, __global float *u, const uint u_off,
                               const uint out, const uint in, const uint so, const uint si,
                               const uint flip, const uint per_item) {
    uint g0 = get_global_id(0) * per_item;
    for (uint gid = g0; gid < out * in && gid < g0 + per_item; gid++)
        weight_pair(w, u, u_off, out, in, so, si, flip, gid);
}

/* Row `iy` of a [h, w] plane at columns x0 - 1 .. x0 + 32 (padding 1: zero outside the
 * map) as the four columns d[0..3] of 16 tiles, tile j's at x0 - 1 + 2 j. Only the first
 * 2 count + 2 columns are read (the tiles that exist); lanes past them are zero. */
MW_INLINE void load_input_row(__global const float *plane, int iy, uint h, uint w, uint x0,
                              uint count, float16 d[4]) {
    float row[2 * LANES + 4];
    uint cols = 2 * count + 2;
    for (uint k = 0; k < 2 * LANES + 4; k++)
        row[k] = 0.0f;
    if (iy >= 0 && iy < (int)h) {
        /* row[k] = column x0 - 1 + k for k in [k0, k1), the columns inside the map */
        int first = (int)x0 - 1;
        uint k0 = first < 0 ? 1 : 0, k1 = min(cols, (uint)((int)w - first)), k = k0;
        __global const float *src = plane + (size_t)iy * w + first;
        for (; k + 16 <= k1; k += 16)
            vstore16(vload16(0, src + k), 0, row + k);
        for (; k < k1; k++)
            row[k] = src[k];
    }
    float16 lo = vload16(0, row), hi = vload16(1, row);
    float16 lo2 = vload16(0, row + 2), hi2 = vload16(0, row + 18);
    d[0] = (float16)(lo.even, hi.even);
    d[1] = (float16)(lo.odd, hi.odd);
    d[2] = (float16)(lo2.even, hi2.even);
    d[3] = (float16)(lo2.odd, hi2.odd);
}

/* Where a transform's unit lies: 16 tiles from tile column tx0 of tile row ty of the plane
 * of channel `channel` and image nl of the chunk (units run along tile rows, then rows, then
 * the chunk's images, then channels); `offset`: its first tile's in a transformed array
 * [16][channels][P] (P = cn th tw), at ξ = 0. */
typedef struct tile_unit {
    uint channel, nl, ty, tx0;
    size_t offset;
} tile_unit;

MW_INLINE tile_unit unit_at(uint unit, uint th, uint tw, uint cn) {
    uint segs = (tw + LANES - 1) / LANES, plane = unit / (segs * th);
    tile_unit t;
    t.channel = plane / cn;
    t.nl = plane % cn;
    t.ty = (unit / segs) % th;
    t.tx0 = (unit % segs) * LANES;
    t.offset = ((size_t)t.channel * cn + t.nl) * th * tw + (size_t)t.ty * tw + t.tx0;
    return t;
}

/* V[ξ][c][p] = (Bᵀ d B)[ξ] for the tiles of images n0 .. n0 + cn - 1 of src [channels, n,
 * h, w], P = cn th tw. A unit is 16 tiles of one tile row of one (image, channel) plane;
 * each item transforms `per_item` consecutive units (small maps have many short rows). */
__kernel void winograd_input(__global const float *src, __global float *v, const uint v_off,
                             const uint channels, const uint n, const uint n0, const uint cn,
                             const uint h, const uint w, const uint th, const uint tw,
                             const uint per_item, const uint units) {
    size_t xi_stride = (size_t)channels * cn * th * tw;
    uint u0 = get_global_id(0) * per_item, u1 = min(units, u0 + per_item);
    for (uint unit = u0; unit < u1; unit++) {
        tile_unit at = unit_at(unit, th, tw, cn);
        uint count = lanes_in_row(at.tx0, tw);
        __global const float *x = src + ((size_t)at.channel * n + n0 + at.nl) * h * w;
        float16 d[4][4];
        for (uint r = 0; r < 4; r++)
            load_input_row(x, (int)(2 * at.ty + r) - 1, h, w, 2 * at.tx0, count, d[r]);
        float16 t[4][4]; /* Bᵀ d */
        for (uint j = 0; j < 4; j++) {
            t[0][j] = d[0][j] - d[2][j];
            t[1][j] = d[1][j] + d[2][j];
            t[2][j] = d[2][j] - d[1][j];
            t[3][j] = d[1][j] - d[3][j];
        }
        __global float *dst = v + v_off + at.offset;
        for (uint a = 0; a < 4; a++) { /* (Bᵀ d) B */
            store_lanes(dst + (4 * a + 0) * xi_stride, t[a][0] - t[a][2], count);
            store_lanes(dst + (4 * a + 1) * xi_stride, t[a][1] + t[a][2], count);
            store_lanes(dst + (4 * a + 2) * xi_stride, t[a][2] - t[a][1], count);
            store_lanes(dst + (4 * a + 3) * xi_stride, t[a][1] - t[a][3], count);
        }
    }
}

/* Interleaves the left (even) and right (odd) outputs of 16 tiles: 32 consecutive columns. */
#define EVEN_ODD_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define EVEN_ODD_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* Output row `r` of 16 tiles, columns 2 tx0 .. 2 tx0 + 31 of the row at dst, those < wo:
 * left and right the tiles' two outputs. */
MW_INLINE void store_output_row(__global float *dst, float16 left, float16 right, uint tx0,
                             uint wo, uint accumulate) {
    float16 lo = shuffle2(left, right, EVEN_ODD_LO), hi = shuffle2(left, right, EVEN_ODD_HI);
    dst += 2 * tx0;
    if (2 * tx0 + 2 * LANES <= wo) {
        if (accumulate) {
            lo += vload16(0, dst);
            hi += vload16(1, dst);
        }
        vstore16(lo, 0, dst);
        vstore16(hi, 1, dst);
        return;
    }
    float tmp[2 * LANES];
    vstore16(lo, 0, tmp);
    vstore16(hi, 1, tmp);
    for (uint x = 0; x < wo - 2 * tx0; x++)
        dst[x] = accumulate ? dst[x] + tmp[x] : tmp[x];
}

/* y[o][n0 + nl] (+)= Aᵀ M A for the tiles of M[ξ][o][p] (P = cn th tw) into the [out, n,
 * ho, wo] map y. Units of 16 tiles of a tile row of an output plane o * cn + nl, `per_item`
 * consecutive units per item. */
__kernel void winograd_output(__global const float *m, const uint m_off, __global float *y,
                              const uint out, const uint n, const uint n0, const uint cn,
                              const uint ho, const uint wo, const uint th, const uint tw,
                              const uint accumulate, const uint per_item, const uint units) {
    size_t xi_stride = (size_t)out * cn * th * tw;
    uint u0 = get_global_id(0) * per_item, u1 = min(units, u0 + per_item);
    for (uint unit = u0; unit < u1; unit++) {
        tile_unit at = unit_at(unit, th, tw, cn);
        uint o = at.channel, nl = at.nl, ty = at.ty, tx0 = at.tx0;
        __global const float *src = m + m_off + at.offset;
        float16 s[2][4]; /* Aᵀ M, by columns b */
        for (uint b = 0; b < 4; b++) {
            float16 m0 = vload16(0, src + (0 + b) * xi_stride);
            float16 m1 = vload16(0, src + (4 + b) * xi_stride);
            float16 m2 = vload16(0, src + (8 + b) * xi_stride);
            float16 m3 = vload16(0, src + (12 + b) * xi_stride);
            s[0][b] = m0 + m1 + m2;
            s[1][b] = m1 - m2 - m3;
        }
        __global float *dst = y + ((size_t)o * n + n0 + nl) * ho * wo + (size_t)(2 * ty) * wo;
        for (uint r = 0; r < 2 && 2 * ty + r < ho; r++, dst += wo) /* (Aᵀ M) A */
            store_output_row(dst, s[r][0] + s[r][1] + s[r][2], s[r][1] - s[r][2] - s[r][3],
                             tx0, wo, accumulate);
    }
}

/* Row `row` of an output-gradient plane at columns 2 tx0 .. 2 tx0 + 31 split into the tiles'
 * left (even) and right (odd) columns, zero past ho rows and wo columns. */
MW_INLINE void load_gradient_row(__global const float *plane, uint row, uint tx0, uint ho,
                              uint wo, float16 *left, float16 *right) {
    uint x0 = 2 * tx0;
    float16 lo = 0.0f, hi = 0.0f;
    if (row < ho) {
        __global const float *src = plane + (size_t)row * wo + x0;
        if (x0 + 2 * LANES <= wo) {
            lo = vload16(0, src);
            hi = vload16(1, src);
        } else {
            float tmp[2 * LANES];
            for (uint x = 0; x < 2 * LANES; x++)
                tmp[x] = 0.0f;
            for (uint x = 0; x < wo - x0; x++)
                tmp[x] = src[x];
            lo = vload16(0, tmp);
            hi = vload16(1, tmp);
        }
    }
    *left = (float16)(lo.even, hi.even);
    *right = (float16)(lo.odd, hi.odd);
}

/* gM[ξ][o][p] = (A g Aᵀ)[ξ] for the 2x2 output-gradient tiles g of gy [out, n, ho, wo],
 * images n0 .. n0 + cn - 1 (P = cn th tw, tile p = nl th tw + ty tw + tx). Units as in
 * winograd_output. */
__kernel void winograd_output_gradient(__global const float *gy, __global float *gm,
                                       const uint gm_off, const uint out, const uint n,
                                       const uint n0, const uint cn, const uint ho,
                                       const uint wo, const uint th, const uint tw,
                                       const uint per_item, const uint units) {
    size_t xi_stride = (size_t)out * cn * th * tw;
    uint u0 = get_global_id(0) * per_item, u1 = min(units, u0 + per_item);
    for (uint unit = u0; unit < u1; unit++) {
        tile_unit at = unit_at(unit, th, tw, cn);
        __global const float *src = gy + ((size_t)at.channel * n + n0 + at.nl) * ho * wo;
        float16 g[2][2];
        load_gradient_row(src, 2 * at.ty, at.tx0, ho, wo, &g[0][0], &g[0][1]);
        load_gradient_row(src, 2 * at.ty + 1, at.tx0, ho, wo, &g[1][0], &g[1][1]);
        float16 h[4][2]; /* A g */
        for (uint c = 0; c < 2; c++) {
            h[0][c] = g[0][c];
            h[1][c] = g[0][c] + g[1][c];
            h[2][c] = g[0][c] - g[1][c];
            h[3][c] = -g[1][c];
        }
        __global float *dst = gm + gm_off + at.offset;
        uint count = lanes_in_row(at.tx0, tw);
        for (uint a = 0; a < 4; a++) { /* (A g) Aᵀ */
            store_lanes(dst + (4 * a + 0) * xi_stride, h[a][0], count);
            store_lanes(dst + (4 * a + 1) * xi_stride, h[a][0] + h[a][1], count);
            store_lanes(dst + (4 * a + 2) * xi_stride, h[a][0] - h[a][1], count);
            store_lanes(dst + (4 * a + 3) * xi_stride, -h[a][1], count);
        }
    }
}

/* gw[o][i] = Gᵀ gU[·][o][i] G, the 3x3 weight gradient from the 16 entries of gU[ξ][o][i]
 * (planes of out in floats), `per_item` consecutive (o, i) per item. */
MW_INLINE void weight_gradient_pair(__global const float *gu, uint gu_off, __global float *gw,
                                    uint out, uint in, uint gid) {
    size_t plane = (size_t)out * in;
    __global const float *src = gu + gu_off + gid;
    float e[4][4], r[3][4];
    for (uint x = 0; x < 16; x++)
        e[x / 4][x % 4] = src[x * plane];
    for (uint b = 0; b < 4; b++) { /* Gᵀ e */
        r[0][b] = e[0][b] + 0.5f * (e[1][b] + e[2][b]);
        r[1][b] = 0.5f * (e[1][b] - e[2][b]);
        r[2][b] = 0.5f * (e[1][b] + e[2][b]) + e[3][b];
    }
    __global float *dst = gw + (size_t)gid * 9;
    for (uint ky = 0; ky < 3; ky++) { /* (Gᵀ e) G */
        dst[3 * ky + 0] = r[ky][0] + 0.5f * (r[ky][1] + r[ky][2]);
        dst[3 * ky + 1] = 0.5f * (r[ky][1] - r[ky][2]);
        dst[3 * ky + 2] = 0.5f * (r[ky][1] + r[ky][2]) + r[ky][3];
    }
}

__kernel void winograd_weight_gradient(__global const float *gu, const uint gu_off,
                                       __global float *gw, const uint out, const uint in,
                                       const uint per_item) {
    uint g0 = get_global_id(0) * per_item;
    for (uint gid = g0; gid < out * in && gid < g0 + per_item; gid++)
        weight_gradient_pair(gu, gu_off, gw, out, in, gid);
}
