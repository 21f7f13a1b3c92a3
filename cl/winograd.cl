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
 * P = images x tiles, tile p = image * tiles + ty * tw + tx; V's and M's rows lie `ld` >= P
 * floats apart (engine/ops/winograd.c pads them off cache-aliasing strides). The weight gradient is the same
 * algebra backwards: gU[ξ] = (A g Aᵀ)[ξ] · V[ξ]ᵀ summed over tiles, gw = Gᵀ gU G.
 *
 * The transforms work on units of 16 consecutive tiles, the lanes of float16 vectors, and
 * each work-item takes several units (PoCL pays for every work-group). A unit is 16 tiles
 * of one tile row, or, on small square maps (4x4, 8x8 and 16x16: "compact" units, chosen
 * by the host), 16 consecutive tiles across tile rows and images, whose rows are gathered
 * side by side: a tile row of such a map fills only 2, 4 or 8 lanes. Input rows are read
 * with their padding and split into even and odd columns; only the columns of tiles that
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
 * transforms `per_item` consecutive pairs in the order of U's layout, (o, i) = (gid / in,
 * gid % in), or (gid % out, gid / out) for Uᵀ[ξ][i][o] (`tr`), so that they fill
 * consecutive floats of each ξ's plane (in Uᵀ's, the other order scattered them `out`
 * apart). */
MW_INLINE void weight_pair(__global const float *w, __global float *u, uint u_off, uint out,
                           uint in, uint so, uint si, uint flip, uint tr, uint gid) {
    uint o = tr ? gid % out : gid / in, i = tr ? gid / out : gid % in;
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
    __global float *dst = u + u_off + gid; /* o in + i, or i out + o (tr) */
    for (uint a = 0; a < 4; a++) { /* (G k) Gᵀ */
        dst[(4 * a + 0) * plane] = gk[a][0];
        dst[(4 * a + 1) * plane] = 0.5f * (gk[a][0] + gk[a][1] + gk[a][2]);
        dst[(4 * a + 2) * plane] = 0.5f * (gk[a][0] - gk[a][1] + gk[a][2]);
        dst[(4 * a + 3) * plane] = gk[a][2];
    }
}

__kernel void winograd_weights(__global const float *w, __global float *u, const uint u_off,
                               const uint out, const uint in, const uint so, const uint si,
                               const uint flip, const uint tr, const uint per_item) {
    uint g0 = get_global_id(0) * per_item;
    for (uint gid = g0; gid < out * in && gid < g0 + per_item; gid++)
        weight_pair(w, u, u_off, out, in, so, si, flip, tr, gid);
}

/* Lane masks of shuffle2(v, (float16)(edge), ·): v's first 16 or 8 lanes one to the right
 * after `edge`, or one to the left with `edge` after them (the rest of v's lanes in place). */
#define SHIFT_RIGHT_16 (uint16)(16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
#define SHIFT_RIGHT_8 (uint16)(16, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15)
#define SHIFT_LEFT_16 (uint16)(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
#define SHIFT_LEFT_8 (uint16)(1, 2, 3, 4, 5, 6, 7, 16, 8, 9, 10, 11, 12, 13, 14, 15)

/* Row `iy` of a [h, w] plane at columns x0 - 1 .. x0 + 32 (padding 1: zero outside the
 * map) as the four columns d[0..3] of 16 tiles, tile j's at x0 - 1 + 2 j. Only the first
 * 2 count + 2 columns are read (the tiles that exist); lanes past them are zero. */
MW_INLINE void load_input_row(__global const float *plane, int iy, uint h, uint w, uint x0,
                              uint count, float16 d[4]) {
    if (iy < 0 || iy >= (int)h) {
        d[0] = d[1] = d[2] = d[3] = 0.0f;
        return;
    }
    /* 16 or 8 tiles whose columns lie in the map: vector loads and lane shifts, no private
     * row (whose piecewise stores and wider loads stall store forwarding) */
    __global const float *at = plane + (size_t)iy * w + x0;
    uint span = 2 * count;
    if ((count == LANES || count == 8) && x0 + span <= w) {
        float left = x0 > 0 ? at[-1] : 0.0f, right = x0 + span < w ? at[span] : 0.0f;
        float16 a = vload16(0, at), b = count == LANES ? vload16(1, at) : (float16)(0.0f);
        d[1] = (float16)(a.even, b.even);
        d[2] = (float16)(a.odd, b.odd);
        d[0] = shuffle2(d[2], (float16)(left), count == LANES ? SHIFT_RIGHT_16 : SHIFT_RIGHT_8);
        d[3] = shuffle2(d[1], (float16)(right), count == LANES ? SHIFT_LEFT_16 : SHIFT_LEFT_8);
        return;
    }
    float row[2 * LANES + 4];
    uint cols = 2 * count + 2;
    for (uint k = 0; k < 2 * LANES + 4; k++)
        row[k] = 0.0f;
    /* row[k] = column x0 - 1 + k for k in [k0, k1), the columns inside the map */
    int first = (int)x0 - 1;
    uint k0 = first < 0 ? 1 : 0, k1 = min(cols, (uint)((int)w - first)), k = k0;
    __global const float *src = plane + (size_t)iy * w + first;
    for (; k + 16 <= k1; k += 16)
        vstore16(vload16(0, src + k), 0, row + k);
    for (; k < k1; k++)
        row[k] = src[k];
    float16 lo = vload16(0, row), hi = vload16(1, row);
    float16 lo2 = vload16(0, row + 2), hi2 = vload16(0, row + 18);
    d[0] = (float16)(lo.even, hi.even);
    d[1] = (float16)(lo.odd, hi.odd);
    d[2] = (float16)(lo2.even, hi2.even);
    d[3] = (float16)(lo2.odd, hi2.odd);
}

/* Compact units (see the top): the tile rows R0 .. R0 + rows - 1 of square maps of width w
 * (th = w / 2 tile rows an image), tile row R lying in image R / th of the planes that
 * start at `planes` at tile row R % th. */
MW_INLINE bool compact_row_in_map(uint R, int dy, uint w) {
    int y = 2 * (int)(R % (w / 2)) + dy;
    return y >= 0 && y < (int)w;
}

/* Where image row 2 ty + dy of tile row R lies. */
MW_INLINE size_t compact_row_offset(uint R, int dy, uint w) {
    uint th = w / 2;
    return (size_t)(R / th) * w * w + (size_t)((int)(2 * (R % th)) + dy) * w;
}

/* Image row 2 ty + dy of the `rows` tile rows from R0 side by side in 32 floats (lo, hi):
 * 16 / th segments of w floats, zero past `rows` and outside the map. */
#define COMPACT_SEGMENT(k, n)                                                                      \
    ((k) < rows && compact_row_in_map(R0 + (k), dy, w)                                            \
         ? vload##n(0, planes + compact_row_offset(R0 + (k), dy, w))                               \
         : (float##n)(0.0f))
MW_INLINE void gather_compact(__global const float *planes, uint R0, uint rows, int dy, uint w,
                              float16 *lo, float16 *hi) {
    if (w == 16) {
        *lo = COMPACT_SEGMENT(0, 16);
        *hi = COMPACT_SEGMENT(1, 16);
    } else if (w == 8) {
        *lo = (float16)(COMPACT_SEGMENT(0, 8), COMPACT_SEGMENT(1, 8));
        *hi = (float16)(COMPACT_SEGMENT(2, 8), COMPACT_SEGMENT(3, 8));
    } else {
        *lo = (float16)(COMPACT_SEGMENT(0, 4), COMPACT_SEGMENT(1, 4), COMPACT_SEGMENT(2, 4),
                        COMPACT_SEGMENT(3, 4));
        *hi = (float16)(COMPACT_SEGMENT(4, 4), COMPACT_SEGMENT(5, 4), COMPACT_SEGMENT(6, 4),
                        COMPACT_SEGMENT(7, 4));
    }
}
#undef COMPACT_SEGMENT

/* The inverse: stores (or adds, when `accumulate`) lo, hi as image row 2 ty + dy (inside
 * the map) of the `rows` tile rows from R0. */
#define COMPACT_STORE(k, n, v)                                                                     \
    if ((k) < rows) {                                                                              \
        __global float *dst = planes + compact_row_offset(R0 + (k), dy, w);                        \
        float##n sum = (v);                                                                        \
        if (accumulate) sum += vload##n(0, dst);                                                   \
        vstore##n(sum, 0, dst);                                                                    \
    }
MW_INLINE void scatter_compact(__global float *planes, uint R0, uint rows, int dy, uint w,
                               float16 lo, float16 hi, uint accumulate) {
    if (w == 16) {
        COMPACT_STORE(0, 16, lo)
        COMPACT_STORE(1, 16, hi)
    } else if (w == 8) {
        COMPACT_STORE(0, 8, lo.lo)
        COMPACT_STORE(1, 8, lo.hi)
        COMPACT_STORE(2, 8, hi.lo)
        COMPACT_STORE(3, 8, hi.hi)
    } else {
        COMPACT_STORE(0, 4, lo.lo.lo)
        COMPACT_STORE(1, 4, lo.lo.hi)
        COMPACT_STORE(2, 4, lo.hi.lo)
        COMPACT_STORE(3, 4, lo.hi.hi)
        COMPACT_STORE(4, 4, hi.lo.lo)
        COMPACT_STORE(5, 4, hi.lo.hi)
        COMPACT_STORE(6, 4, hi.hi.lo)
        COMPACT_STORE(7, 4, hi.hi.hi)
    }
}
#undef COMPACT_STORE

/* Lane masks of shuffle2(v, (float16)(0), ·) for groups of tw = w / 2 lanes (a compact
 * unit's tile rows): one lane to the right with a zero first, or to the left with a zero
 * last, in each group (the map's padding columns). */
#define GROUP_RIGHT_2 (uint16)(16, 0, 16, 2, 16, 4, 16, 6, 16, 8, 16, 10, 16, 12, 16, 14)
#define GROUP_RIGHT_4 (uint16)(16, 0, 1, 2, 16, 4, 5, 6, 16, 8, 9, 10, 16, 12, 13, 14)
#define GROUP_RIGHT_8 (uint16)(16, 0, 1, 2, 3, 4, 5, 6, 16, 8, 9, 10, 11, 12, 13, 14)
#define GROUP_LEFT_2 (uint16)(1, 16, 3, 16, 5, 16, 7, 16, 9, 16, 11, 16, 13, 16, 15, 16)
#define GROUP_LEFT_4 (uint16)(1, 2, 3, 16, 5, 6, 7, 16, 9, 10, 11, 16, 13, 14, 15, 16)
#define GROUP_LEFT_8 (uint16)(1, 2, 3, 4, 5, 6, 7, 16, 9, 10, 11, 12, 13, 14, 15, 16)

/* Input row `dy` (-1 .. 2 around the tiles' top rows) of a compact unit as the four
 * columns d[0..3] of its tiles, as load_input_row. */
MW_INLINE void load_compact_input_row(__global const float *planes, uint R0, uint rows, int dy,
                                      uint w, float16 d[4]) {
    float16 lo, hi;
    gather_compact(planes, R0, rows, dy, w, &lo, &hi);
    d[1] = (float16)(lo.even, hi.even);
    d[2] = (float16)(lo.odd, hi.odd);
    float16 zero = 0.0f;
    d[0] = shuffle2(d[2], zero, w == 4 ? GROUP_RIGHT_2 : w == 8 ? GROUP_RIGHT_4 : GROUP_RIGHT_8);
    d[3] = shuffle2(d[1], zero, w == 4 ? GROUP_LEFT_2 : w == 8 ? GROUP_LEFT_4 : GROUP_LEFT_8);
}

/* Where a transform's unit lies: `count` tiles from tile column tx0 of tile row ty of the
 * plane of channel `channel` and image nl of the chunk (units run along tile rows, then
 * rows, then the chunk's images, then channels); compact units (`compact`) run over the
 * chunk's tiles of a channel, nl is 0 and ty their first tile row counted across the
 * chunk's images. `offset`: the first tile's in a transformed array [16][channels][P] (P =
 * cn th tw, rows ld apart), at ξ = 0. */
typedef struct tile_unit {
    uint channel, nl, ty, tx0, count;
    size_t offset;
} tile_unit;

MW_INLINE tile_unit unit_at(uint unit, uint th, uint tw, uint cn, uint ld, uint compact) {
    tile_unit t;
    if (compact) {
        uint tiles = cn * th * tw, per_channel = (tiles + LANES - 1) / LANES;
        uint p = unit % per_channel * LANES;
        t.channel = unit / per_channel;
        t.nl = 0;
        t.ty = p / tw;
        t.tx0 = 0;
        t.count = min((uint)LANES, tiles - p);
        t.offset = (size_t)t.channel * ld + p;
        return t;
    }
    uint segs = (tw + LANES - 1) / LANES, plane = unit / (segs * th);
    t.channel = plane / cn;
    t.nl = plane % cn;
    t.ty = (unit / segs) % th;
    t.tx0 = (unit % segs) * LANES;
    t.count = lanes_in_row(t.tx0, tw);
    t.offset = (size_t)t.channel * ld + (size_t)t.nl * th * tw + (size_t)t.ty * tw + t.tx0;
    return t;
}

/* The 16 entries (Bᵀ d B)[ξ] of `count` <= 16 tiles from tile column tx0 of tile row ty
 * of the [h, w] plane x (or of the compact unit from tile row ty of the planes from x),
 * stored as lanes at dst + ξ xi_stride. */
MW_INLINE void input_tiles(__global const float *x, uint ty, uint tx0, uint count, uint h,
                           uint w, uint compact, __global float *dst, size_t xi_stride) {
    float16 d[4][4];
    for (uint r = 0; r < 4; r++)
        if (compact)
            load_compact_input_row(x, ty, count / (w / 2), (int)r - 1, w, d[r]);
        else
            load_input_row(x, (int)(2 * ty + r) - 1, h, w, 2 * tx0, count, d[r]);
    float16 t[4][4]; /* Bᵀ d */
    for (uint j = 0; j < 4; j++) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }
    for (uint a = 0; a < 4; a++) { /* (Bᵀ d) B */
        store_lanes(dst + (4 * a + 0) * xi_stride, t[a][0] - t[a][2], count);
        store_lanes(dst + (4 * a + 1) * xi_stride, t[a][1] + t[a][2], count);
        store_lanes(dst + (4 * a + 2) * xi_stride, t[a][2] - t[a][1], count);
        store_lanes(dst + (4 * a + 3) * xi_stride, t[a][1] - t[a][3], count);
    }
}

/* V[ξ][c][p] = (Bᵀ d B)[ξ] for the tiles of images n0 .. n0 + cn - 1 of src [channels, n,
 * h, w], P = cn th tw. A unit is 16 tiles of one tile row of one (image, channel) plane;
 * each item transforms `per_item` consecutive units (small maps have many short rows). */
MW_INLINE void input_units(__global const float *src, __global float *v, uint v_off,
                           uint channels, uint n, uint n0, uint cn, uint h, uint w, uint th,
                           uint tw, uint ld, uint compact, uint per_item, uint units) {
    uint u0 = get_global_id(0) * per_item, u1 = min(units, u0 + per_item);
    for (uint unit = u0; unit < u1; unit++) {
        tile_unit at = unit_at(unit, th, tw, cn, ld, compact);
        __global const float *x = src + ((size_t)at.channel * n + n0 + at.nl) * h * w;
        input_tiles(x, at.ty, at.tx0, at.count, h, w, compact, v + v_off + at.offset,
                    (size_t)channels * ld);
    }
}

__kernel void winograd_input(__global const float *src, __global float *v, const uint v_off,
                             const uint channels, const uint n, const uint n0, const uint cn,
                             const uint h, const uint w, const uint th, const uint tw,
                             const uint ld, const uint compact, const uint per_item,
                             const uint units) {
    /* `compact` as a constant in each call: each kind of unit has a loop of its own (a flag
     * tested within cost the other kind 2-5%) */
    if (compact)
        input_units(src, v, v_off, channels, n, n0, cn, h, w, th, tw, ld, 1, per_item, units);
    else
        input_units(src, v, v_off, channels, n, n0, cn, h, w, th, tw, ld, 0, per_item, units);
}

/* Interleaves the left (even) and right (odd) outputs of 16 tiles: 32 consecutive columns. */
#define EVEN_ODD_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define EVEN_ODD_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* Columns 2 tx0 .. 2 tx0 + cols - 1 (cols <= 32) of the output row at dst from the left and
 * right outputs of 16 tiles from tile column tx0. */
MW_INLINE void store_output_row(__global float *dst, float16 left, float16 right, uint tx0,
                                uint cols, uint accumulate) {
    float16 lo = shuffle2(left, right, EVEN_ODD_LO), hi = shuffle2(left, right, EVEN_ODD_HI);
    dst += 2 * tx0;
    if (cols == 2 * LANES) {
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
    for (uint x = 0; x < cols; x++)
        dst[x] = accumulate ? dst[x] + tmp[x] : tmp[x];
}

/* y (+)= Aᵀ M A for `count` tiles from tile column tx0 of tile row ty (or of the compact
 * unit from tile row ty), their products M[ξ] the lanes at m + ξ xi_stride, into the [ho,
 * wo] plane y (or the planes from y). */
MW_INLINE void output_tiles(__global const float *m, size_t xi_stride, __global float *y,
                            uint ty, uint tx0, uint count, uint ho, uint wo, uint compact,
                            uint accumulate) {
    float16 s[2][4]; /* Aᵀ M, by columns b */
    for (uint b = 0; b < 4; b++) {
        float16 m0 = vload16(0, m + (0 + b) * xi_stride);
        float16 m1 = vload16(0, m + (4 + b) * xi_stride);
        float16 m2 = vload16(0, m + (8 + b) * xi_stride);
        float16 m3 = vload16(0, m + (12 + b) * xi_stride);
        s[0][b] = m0 + m1 + m2;
        s[1][b] = m1 - m2 - m3;
    }
    if (compact) {
        for (uint r = 0; r < 2; r++) {
            float16 left = s[r][0] + s[r][1] + s[r][2], right = s[r][1] - s[r][2] - s[r][3];
            scatter_compact(y, ty, count / (wo / 2), (int)r, wo,
                            shuffle2(left, right, EVEN_ODD_LO), shuffle2(left, right, EVEN_ODD_HI),
                            accumulate);
        }
        return;
    }
    uint cols = min(2 * count, wo - 2 * tx0);
    __global float *dst = y + (size_t)(2 * ty) * wo;
    for (uint r = 0; r < 2 && 2 * ty + r < ho; r++, dst += wo) /* (Aᵀ M) A */
        store_output_row(dst, s[r][0] + s[r][1] + s[r][2], s[r][1] - s[r][2] - s[r][3], tx0,
                         cols, accumulate);
}

/* y[o][n0 + nl] (+)= Aᵀ M A for the tiles of M[ξ][o][p] (P = cn th tw) into the [out, n,
 * ho, wo] map y. Units of 16 tiles of a tile row of an output plane o * cn + nl, `per_item`
 * consecutive units per item. */
MW_INLINE void output_units(__global const float *m, uint m_off, __global float *y, uint out,
                            uint n, uint n0, uint cn, uint ho, uint wo, uint th, uint tw, uint ld,
                            uint compact, uint accumulate, uint per_item, uint units) {
    uint u0 = get_global_id(0) * per_item, u1 = min(units, u0 + per_item);
    for (uint unit = u0; unit < u1; unit++) {
        tile_unit at = unit_at(unit, th, tw, cn, ld, compact);
        __global float *plane = y + ((size_t)at.channel * n + n0 + at.nl) * ho * wo;
        output_tiles(m + m_off + at.offset, (size_t)out * ld, plane, at.ty, at.tx0, at.count, ho,
                     wo, compact, accumulate);
    }
}

__kernel void winograd_output(__global const float *m, const uint m_off, __global float *y,
                              const uint out, const uint n, const uint n0, const uint cn,
                              const uint ho, const uint wo, const uint th, const uint tw,
                              const uint ld, const uint compact, const uint accumulate,
                              const uint per_item, const uint units) {
    if (compact)
        output_units(m, m_off, y, out, n, n0, cn, ho, wo, th, tw, ld, 1, accumulate, per_item,
                     units);
    else
        output_units(m, m_off, y, out, n, n0, cn, ho, wo, th, tw, ld, 0, accumulate, per_item,
                     units);
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

/* The 16 entries (A g Aᵀ)[ξ] of the 2x2 output-gradient tiles g of `count` <= 16 tiles from
 * tile column tx0 of tile row ty of the [ho, wo] plane gy (or of the compact unit from tile
 * row ty of the planes from gy), stored as lanes at dst + ξ xi_stride. */
MW_INLINE void gradient_tiles(__global const float *gy, uint ty, uint tx0, uint count, uint ho,
                              uint wo, uint compact, __global float *dst, size_t xi_stride) {
    float16 g[2][2];
    for (uint r = 0; r < 2; r++)
        if (compact) {
            float16 lo, hi;
            gather_compact(gy, ty, count / (wo / 2), (int)r, wo, &lo, &hi);
            g[r][0] = (float16)(lo.even, hi.even);
            g[r][1] = (float16)(lo.odd, hi.odd);
        } else {
            load_gradient_row(gy, 2 * ty + r, tx0, ho, wo, &g[r][0], &g[r][1]);
        }
    float16 h[4][2]; /* A g */
    for (uint c = 0; c < 2; c++) {
        h[0][c] = g[0][c];
        h[1][c] = g[0][c] + g[1][c];
        h[2][c] = g[0][c] - g[1][c];
        h[3][c] = -g[1][c];
    }
    for (uint a = 0; a < 4; a++) { /* (A g) Aᵀ */
        store_lanes(dst + (4 * a + 0) * xi_stride, h[a][0], count);
        store_lanes(dst + (4 * a + 1) * xi_stride, h[a][0] + h[a][1], count);
        store_lanes(dst + (4 * a + 2) * xi_stride, h[a][0] - h[a][1], count);
        store_lanes(dst + (4 * a + 3) * xi_stride, -h[a][1], count);
    }
}

/* The forward (or input gradient) with its transforms fused around the products, for CPU
 * caches: each item takes blocks of FUSED_TILES consecutive tiles p of the whole batch and,
 * in its own slot of `scratch` (which stays in its core's cache, reused block after block),
 * transforms their input into V[ξ][in][FUSED_TILES], multiplies by Uᵀ[ξ][in][out], ROWS
 * output channels at a time (MW_BLOCK_ROWS, gemm_nn's register block, chosen per device:
 * cl/gemm.cl), into M[ξ][out][FUSED_TILES] and transforms that into y. The unfused
 * pipeline writes V and M to memory and reads them back: 4 times the input map and 8 times
 * the output map of traffic. Rows of a block's tiles go by segments of at most 16 tiles of
 * one tile row. */
#define FUSED_TILES MW_WINOGRAD_FUSED_TILES /* engine/runtime/kernel_defines.h */
#define ROWS MW_BLOCK_ROWS
#if FUSED_TILES != 2 * LANES
#error "winograd_fused is written for blocks of two float16 of tiles"
#endif

/* Software prefetches of the next block's rows, on CPU devices (-DMW_PREFETCH, set by the
 * runtime) whose compiler has clang's __builtin_prefetch: a fused block reads (or writes) a
 * few rows of every channel's plane, planes N·H·W floats apart, more streams at once than
 * the hardware prefetchers follow, so every row was a demand miss (perf: 13-17% of the
 * fused kernels' samples on those loads, bench/RESULTS.md). OpenCL's prefetch() compiles to
 * nothing in PoCL. */
#if defined(MW_PREFETCH) && defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define MW_CAN_PREFETCH
#endif
#endif

/* Prefetches what tiles [q0, q1) of the batch cover in each of `channels` planes of the [channels,
 * n, h, w] map: one span per channel, from the first tile's top row to the last one's
 * bottom row and `halo` more (the input's 4x4 blocks: 1; the 2x2 outputs: 0; the row above
 * was the block before's); `for_write`: lines about to be written. */
MW_INLINE void prefetch_tiles(__global const float *map, uint channels, uint n, uint h, uint w,
                              uint th, uint tw, uint q0, uint q1, uint halo, uint for_write) {
#ifdef MW_CAN_PREFETCH
    uint tiles = th * tw, last = q1 - 1;
    uint r0 = 2 * ((q0 % tiles) / tw), r1 = min(h, 2 * ((last % tiles) / tw) + 2 + halo);
    size_t first = (size_t)(q0 / tiles) * h * w + (size_t)r0 * w;
    size_t end = (size_t)(last / tiles) * h * w + (size_t)r1 * w, plane = (size_t)n * h * w;
    for (uint c = 0; c < channels; c++)
        for (size_t q = first; q < end; q += 16) /* a 64-byte line */
            if (for_write)
                __builtin_prefetch(map + c * plane + q, 1);
            else
                __builtin_prefetch(map + c * plane + q, 0);
#endif
}

/* The next block's rows, tiles [p_end, p_end + FUSED_TILES): of the input's planes, and of
 * the output's (to write: `out_write`) or the output gradient's. */
MW_INLINE void prefetch_next_block(__global const float *src, uint in, __global const float *dst,
                                   uint out, uint out_write, uint n, uint h, uint w, uint th,
                                   uint tw, uint p_end, uint total) {
    uint q_end = min(total, p_end + FUSED_TILES);
    prefetch_tiles(src, in, n, h, w, th, tw, p_end, q_end, 1, 0);
    prefetch_tiles(dst, out, n, h, w, th, tw, p_end, q_end, 0, out_write);
}

/* The segment of the block [p, p_end) that starts at tile p: image, tile row and column;
 * with compact units, up to 16 tiles across rows and images, nl 0 and ty their first tile
 * row counted from the first image (p is then a multiple of 16, which the tiles of an
 * image divide or are a multiple of). */
typedef struct tile_segment {
    uint nl, ty, tx0, count;
} tile_segment;

MW_INLINE tile_segment segment_at(uint p, uint p_end, uint th, uint tw, uint compact) {
    tile_segment g;
    if (compact) {
        g.nl = 0;
        g.ty = p / tw;
        g.tx0 = 0;
        g.count = min((uint)LANES, p_end - p);
        return g;
    }
    uint tiles = th * tw, rem = p % tiles;
    g.nl = p / tiles;
    g.ty = rem / tw;
    g.tx0 = rem % tw;
    g.count = min(min((uint)LANES, tw - g.tx0), p_end - p);
    return g;
}

/* acc += rows o0 .. o0 + ROWS - 1 of Uᵀ[ξ]ᵀ V[ξ] (ut rows [in][out], v rows
 * [in][FUSED_TILES]), rows past o0 + last repeating that one (finite, never stored). Each U
 * value is broadcast from memory: a load, where extracting it from a vector load costs a
 * shuffle. */
MW_INLINE void fused_rows(__global const float *ut, __global const float *v, uint in,
                          uint out, uint o0, uint last, float16 acc[ROWS][2]) {
    for (uint l = 0; l < in; l++) {
        float16 b0 = vload16(0, v + (size_t)l * FUSED_TILES);
        float16 b1 = vload16(1, v + (size_t)l * FUSED_TILES);
        __global const float *ul = ut + (size_t)l * out + o0;
#pragma unroll
        for (uint r = 0; r < ROWS; r++) {
            float16 a1 = (float16)(ul[min(r, last)]);
            acc[r][0] = MAD(a1, b0, acc[r][0]);
            acc[r][1] = MAD(a1, b1, acc[r][1]);
        }
    }
}

/* Rows o0 .. o0 + ROWS - 1 (those < out) of a block of products, 32 floats each, at dst
 * + row ld. */
MW_INLINE void store_row_block(float16 acc[ROWS][2], __global float *dst, size_t ld, uint o0,
                               uint out) {
#pragma unroll
    for (uint r = 0; r < ROWS; r++) {
        if (o0 + r >= out) break;
        vstore16(acc[r][0], 0, dst + (o0 + r) * ld);
        vstore16(acc[r][1], 1, dst + (o0 + r) * ld);
    }
}

/* Rows o0 .. o0 + ROWS - 1 of M[ξ] (those < out) into m [out][FUSED_TILES]. */
MW_INLINE void fused_products(__global const float *ut, __global const float *v, uint in,
                              uint out, uint o0, __global float *m) {
    float16 acc[ROWS][2];
#pragma unroll
    for (uint r = 0; r < ROWS; r++)
        acc[r][0] = acc[r][1] = 0.0f;
    if (o0 + ROWS <= out) /* a constant `last`: fixed offsets */
        fused_rows(ut, v, in, out, o0, ROWS - 1, acc);
    else
        fused_rows(ut, v, in, out, o0, out - 1 - o0, acc);
    store_row_block(acc, m, FUSED_TILES, o0, out);
}

/* The block's tiles [p0, p_end) of every input channel into V[ξ][in][FUSED_TILES], or
 * (`gradient`) of every output-gradient channel into gM[ξ][out][FUSED_TILES]. */
MW_INLINE void fused_transform(__global const float *src, uint channels, uint n, uint h, uint w,
                               uint th, uint tw, uint compact, uint p0, uint p_end,
                               __global float *v, size_t v_xi, uint gradient) {
    for (uint c = 0; c < channels; c++)
        for (uint p = p0; p < p_end;) {
            tile_segment g = segment_at(p, p_end, th, tw, compact);
            __global const float *plane = src + ((size_t)c * n + g.nl) * h * w;
            __global float *dst = v + (size_t)c * FUSED_TILES + (p - p0);
            if (gradient)
                gradient_tiles(plane, g.ty, g.tx0, g.count, h, w, compact, dst, v_xi);
            else
                input_tiles(plane, g.ty, g.tx0, g.count, h, w, compact, dst, v_xi);
            p += g.count;
        }
}

/* y (+)= Aᵀ M A for the block's tiles [p0, p_end) of every output channel. */
MW_INLINE void fused_output(__global const float *m, size_t m_xi, __global float *y, uint out,
                            uint n, uint h, uint w, uint th, uint tw, uint compact, uint p0,
                            uint p_end, uint accumulate) {
    for (uint o = 0; o < out; o++)
        for (uint p = p0; p < p_end;) {
            tile_segment g = segment_at(p, p_end, th, tw, compact);
            output_tiles(m + (size_t)o * FUSED_TILES + (p - p0), m_xi,
                         y + ((size_t)o * n + g.nl) * h * w, g.ty, g.tx0, g.count, h, w, compact,
                         accumulate);
            p += g.count;
        }
}

MW_INLINE void fused_blocks(__global const float *src, __global const float *u, uint u_off,
                            __global float *y, __global float *scratch, uint s_off, uint in,
                            uint out, uint n, uint h, uint w, uint th, uint tw, uint compact,
                            uint accumulate, uint slot, uint items) {
    uint item = get_global_id(0);
    if (item >= items) return;
    uint total = n * th * tw, blocks = (total + FUSED_TILES - 1) / FUSED_TILES;
    size_t v_xi = (size_t)in * FUSED_TILES, m_xi = (size_t)out * FUSED_TILES;
    /* the slot (`slot` floats): V, then M, then the lanes M's last vectors read past it */
    __global float *v = scratch + s_off + (size_t)item * slot;
    __global float *m = v + 16 * v_xi;
    u += u_off;
    /* A run of consecutive blocks per item: a block reads (and writes) a few rows of every
     * channel's plane, planes lying N·H·W floats apart; consecutive blocks continue those
     * rows, so each item walks its planes in order and reuses their pages, where blocks
     * `items` apart touched new pages in every plane each time (ResNet18's 64-channel
     * layers on 32x32 maps: forward and input gradient 0.8x their time,
     * tests/probe_conv_paths, bench/RESULTS.md). */
    uint per = (blocks + items - 1) / items, b_end = min(blocks, (item + 1) * per);
    for (uint b = item * per; b < b_end; b++) {
        uint p0 = b * FUSED_TILES, p_end = min(total, p0 + FUSED_TILES);
        if (p_end - p0 < FUSED_TILES) /* lanes of no tile: finite, never stored */
            for (size_t i = 0; i < 16 * v_xi; i++)
                v[i] = 0.0f;
        if (b + 1 < b_end) prefetch_next_block(src, in, y, out, 1, n, h, w, th, tw, p_end, total);
        fused_transform(src, in, n, h, w, th, tw, compact, p0, p_end, v, v_xi, 0);
        /* ξ outermost: U[ξ] and V[ξ] stay in L1 across the row blocks */
        for (uint xi = 0; xi < 16; xi++)
            for (uint o0 = 0; o0 < out; o0 += ROWS)
                fused_products(u + (size_t)xi * in * out, v + xi * v_xi, in, out, o0,
                               m + xi * m_xi);
        fused_output(m, m_xi, y, out, n, h, w, th, tw, compact, p0, p_end, accumulate);
    }
}

__kernel void winograd_fused(__global const float *src, __global const float *u,
                             const uint u_off, __global float *y, __global float *scratch,
                             const uint s_off, const uint in, const uint out, const uint n,
                             const uint h, const uint w, const uint th, const uint tw,
                             const uint accumulate, const uint slot, const uint items) {
    fused_blocks(src, u, u_off, y, scratch, s_off, in, out, n, h, w, th, tw, 0, accumulate, slot,
                 items);
}

__kernel void winograd_fused_compact(__global const float *src, __global const float *u,
                                     const uint u_off, __global float *y,
                                     __global float *scratch, const uint s_off, const uint in,
                                     const uint out, const uint n, const uint h, const uint w,
                                     const uint th, const uint tw, const uint accumulate,
                                     const uint slot, const uint items) {
    fused_blocks(src, u, u_off, y, scratch, s_off, in, out, n, h, w, th, tw, 1, accumulate, slot,
                 items);
}

/* gM[ξ][o][p] = (A g Aᵀ)[ξ] for the 2x2 output-gradient tiles g of gy [out, n, ho, wo],
 * images n0 .. n0 + cn - 1 (P = cn th tw, tile p = nl th tw + ty tw + tx). Units as in
 * winograd_output. */
MW_INLINE void gradient_units(__global const float *gy, __global float *gm, uint gm_off,
                              uint out, uint n, uint n0, uint cn, uint ho, uint wo, uint th,
                              uint tw, uint ld, uint compact, uint per_item, uint units) {
    uint u0 = get_global_id(0) * per_item, u1 = min(units, u0 + per_item);
    for (uint unit = u0; unit < u1; unit++) {
        tile_unit at = unit_at(unit, th, tw, cn, ld, compact);
        gradient_tiles(gy + ((size_t)at.channel * n + n0 + at.nl) * ho * wo, at.ty, at.tx0,
                       at.count, ho, wo, compact, gm + gm_off + at.offset, (size_t)out * ld);
    }
}

__kernel void winograd_output_gradient(__global const float *gy, __global float *gm,
                                       const uint gm_off, const uint out, const uint n,
                                       const uint n0, const uint cn, const uint ho,
                                       const uint wo, const uint th, const uint tw,
                                       const uint ld, const uint compact, const uint per_item,
                                       const uint units) {
    if (compact)
        gradient_units(gy, gm, gm_off, out, n, n0, cn, ho, wo, th, tw, ld, 1, per_item, units);
    else
        gradient_units(gy, gm, gm_off, out, n, n0, cn, ho, wo, th, tw, ld, 0, per_item, units);
}

/* The weight gradient with both transforms fused around its products, for CPU caches, as
 * winograd_fused for the forward: each item takes a run of blocks of FUSED_TILES
 * consecutive tiles and, in its own slot of `scratch`, transforms their input into
 * V[ξ][in_pad][FUSED_TILES] as the forward does, transposes that into
 * Vt[ξ][FUSED_TILES][in_pad] (a tile's channels in a row: the products read them as
 * vectors), transforms their output gradient into gM[ξ][out][FUSED_TILES], and adds
 * gM[ξ]·Vt[ξ] into its own partial sums gU[ξ][out][in_pad], ROWS output channels by 32
 * input channels at a time; winograd_weight_gradient adds the items' partial sums. The
 * unfused pipeline writes V and gM to memory and reads them back. in_pad: `in` rounded up to
 * 32; the padding channels are zero. */

/* Lane masks of shuffle2(x, y, ·) that swap bit s of the row and column index between rows
 * x = a[i] and y = a[i + s] of a 16x16 block (i's bit s clear): the first for a[i], the
 * second for a[i + s]. The four swaps, s = 8, 4, 2, 1, transpose it. */
#define SWAP8_LO (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
#define SWAP8_HI (uint16)(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)
#define SWAP4_LO (uint16)(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27)
#define SWAP4_HI (uint16)(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)
#define SWAP2_LO (uint16)(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
#define SWAP2_HI (uint16)(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31)
#define SWAP1_LO (uint16)(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30)
#define SWAP1_HI (uint16)(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31)
#define SWAP_BIT(s)                                                                                \
    for (uint i = 0; i < LANES; i++)                                                               \
        if (!(i & s)) {                                                                            \
            float16 x = a[i], y = a[i + s];                                                        \
            a[i] = shuffle2(x, y, SWAP##s##_LO);                                                   \
            a[i + s] = shuffle2(x, y, SWAP##s##_HI);                                               \
        }

/* dst[j ld + i] = src[i ld_src + j] for a 16x16 block. */
MW_INLINE void transpose_16x16(__global const float *src, size_t ld_src, __global float *dst,
                               size_t ld) {
    float16 a[LANES];
#pragma unroll
    for (uint i = 0; i < LANES; i++)
        a[i] = vload16(0, src + i * ld_src);
#pragma unroll
    SWAP_BIT(8)
#pragma unroll
    SWAP_BIT(4)
#pragma unroll
    SWAP_BIT(2)
#pragma unroll
    SWAP_BIT(1)
#pragma unroll
    for (uint j = 0; j < LANES; j++)
        vstore16(a[j], 0, dst + j * ld);
}
#undef SWAP_BIT

MW_INLINE void weight_rows(__global const float *gm, __global const float *vt, uint count,
                           uint in_pad, uint i0, uint last, float16 acc[ROWS][2]) {
    for (uint p = 0; p < count; p++) {
        float16 b0 = vload16(0, vt + (size_t)p * in_pad + i0);
        float16 b1 = vload16(1, vt + (size_t)p * in_pad + i0);
#pragma unroll
        for (uint r = 0; r < ROWS; r++) {
            float16 a = (float16)(gm[min(r, last) * FUSED_TILES + p]);
            acc[r][0] = MAD(a, b0, acc[r][0]);
            acc[r][1] = MAD(a, b1, acc[r][1]);
        }
    }
}

/* gU[o][i0 .. i0 + 31] (+)= Σ_p gM[o][p] Vt[p][i0 .. i0 + 31] for rows o0 .. o0 + ROWS - 1
 * (those < out) of one ξ, over the block's `count` tiles; `first`: gU not yet written. */
MW_INLINE void weight_products(__global const float *gm, __global const float *vt, uint count,
                               uint out, uint in_pad, uint o0, uint i0, __global float *gu,
                               uint first) {
    float16 acc[ROWS][2];
#pragma unroll
    for (uint r = 0; r < ROWS; r++) {
        if (first || o0 + r >= out) {
            acc[r][0] = acc[r][1] = 0.0f;
        } else {
            acc[r][0] = vload16(0, gu + (size_t)(o0 + r) * in_pad + i0);
            acc[r][1] = vload16(1, gu + (size_t)(o0 + r) * in_pad + i0);
        }
    }
    gm += (size_t)o0 * FUSED_TILES;
    if (o0 + ROWS <= out) /* a constant `last`: fixed offsets */
        weight_rows(gm, vt, count, in_pad, i0, ROWS - 1, acc);
    else
        weight_rows(gm, vt, count, in_pad, i0, out - 1 - o0, acc);
    store_row_block(acc, gu + i0, in_pad, o0, out);
}

/* scratch + s_off: the items' partial sums gU (`items` x 16 out in_pad floats), then their
 * slots (`slot` floats each: V, Vt, gM). */
MW_INLINE void weight_fused_blocks(__global const float *x, __global const float *gy,
                                   __global float *scratch, uint s_off, uint in, uint in_pad,
                                   uint out, uint n, uint h, uint w, uint th, uint tw,
                                   uint compact, uint slot, uint items) {
    uint item = get_global_id(0);
    if (item >= items) return;
    uint total = n * th * tw, blocks = (total + FUSED_TILES - 1) / FUSED_TILES;
    /* ξ's rows of V, Vt and gM a line past 4 KB multiples apart: a tile's 16 entries stored
     * 8 KB apart (64 channels) all fell in one set of the L1 (2.6x the time of this kernel) */
    size_t gu_xi = (size_t)out * in_pad, vt_xi = (size_t)FUSED_TILES * in_pad + LANES;
    size_t gm_xi = (size_t)out * FUSED_TILES + LANES;
    __global float *gu = scratch + s_off + (size_t)item * 16 * gu_xi;
    __global float *v = scratch + s_off + (size_t)items * 16 * gu_xi + (size_t)item * slot;
    __global float *vt = v + 16 * vt_xi, *gm = vt + 16 * vt_xi;
    for (uint xi = 0; xi < 16; xi++) /* the padding channels, never stored */
        for (size_t q = (size_t)in * FUSED_TILES; q < (size_t)in_pad * FUSED_TILES; q++)
            v[xi * vt_xi + q] = 0.0f;
    /* consecutive blocks per item: see fused_blocks */
    uint per = (blocks + items - 1) / items, b0 = min(blocks, item * per);
    uint b_end = min(blocks, b0 + per);
    if (b0 == b_end) /* no tiles: its partial sums still count */
        for (size_t q = 0; q < 16 * gu_xi; q++)
            gu[q] = 0.0f;
    for (uint b = b0; b < b_end; b++) {
        uint p0 = b * FUSED_TILES, p_end = min(total, p0 + FUSED_TILES);
        if (b + 1 < b_end) prefetch_next_block(x, in, gy, out, 0, n, h, w, th, tw, p_end, total);
        fused_transform(x, in, n, h, w, th, tw, compact, p0, p_end, v, vt_xi, 0);
        /* lanes past p_end - p0 of a short block are transposed too, never read */
        for (uint xi = 0; xi < 16; xi++)
            for (uint c0 = 0; c0 < in_pad; c0 += LANES)
                for (uint t0 = 0; t0 < FUSED_TILES; t0 += LANES)
                    transpose_16x16(v + xi * vt_xi + (size_t)c0 * FUSED_TILES + t0, FUSED_TILES,
                                    vt + xi * vt_xi + (size_t)t0 * in_pad + c0, in_pad);
        fused_transform(gy, out, n, h, w, th, tw, compact, p0, p_end, gm, gm_xi, 1);
        for (uint xi = 0; xi < 16; xi++)
            for (uint o0 = 0; o0 < out; o0 += ROWS)
                for (uint i0 = 0; i0 < in_pad; i0 += 2 * LANES)
                    weight_products(gm + xi * gm_xi, vt + xi * vt_xi, p_end - p0, out, in_pad,
                                    o0, i0, gu + xi * gu_xi, b == b0);
    }
}

__kernel void winograd_weight_fused(__global const float *x, __global const float *gy,
                                    __global float *scratch, const uint s_off, const uint in,
                                    const uint in_pad, const uint out, const uint n,
                                    const uint h, const uint w, const uint th, const uint tw,
                                    const uint slot, const uint items) {
    weight_fused_blocks(x, gy, scratch, s_off, in, in_pad, out, n, h, w, th, tw, 0, slot, items);
}

__kernel void winograd_weight_fused_compact(__global const float *x, __global const float *gy,
                                            __global float *scratch, const uint s_off,
                                            const uint in, const uint in_pad, const uint out,
                                            const uint n, const uint h, const uint w,
                                            const uint th, const uint tw, const uint slot,
                                            const uint items) {
    weight_fused_blocks(x, gy, scratch, s_off, in, in_pad, out, n, h, w, th, tw, 1, slot, items);
}

/* gw[o][i] = Gᵀ gU[·][o][i] G, the 3x3 weight gradient from the 16 entries of gU[ξ][o][i]
 * (rows of ld floats, planes of out ld), summed over `parts` partial sums part_stride floats
 * apart (winograd_weight_fused's items; one for the unfused GEMMs'), `per_item` consecutive
 * (o, i) per item. */
MW_INLINE void weight_gradient_pair(__global const float *gu, uint gu_off, __global float *gw,
                                    uint out, uint in, uint ld, uint parts, uint part_stride,
                                    uint gid) {
    size_t plane = (size_t)out * ld;
    __global const float *src = gu + gu_off + (size_t)(gid / in) * ld + gid % in;
    float e[4][4], r[3][4];
    for (uint x = 0; x < 16; x++) {
        float sum = 0.0f;
        for (uint k = 0; k < parts; k++)
            sum += src[x * plane + (size_t)k * part_stride];
        e[x / 4][x % 4] = sum;
    }
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
                                       const uint ld, const uint parts, const uint part_stride,
                                       const uint per_item) {
    uint g0 = get_global_id(0) * per_item;
    for (uint gid = g0; gid < out * in && gid < g0 + per_item; gid++)
        weight_gradient_pair(gu, gu_off, gw, out, in, ld, parts, part_stride, gid);
}
