/* Winograd's F(4x4, 3x3) for 3x3 convolutions of stride 1 and padding 1 on square maps in
 * whole tiles (the rule takes it on 4x4, 8x8 and 16x16: engine/ops/winograd.c f4_applies):
 * every 4x4 block of outputs ("tile") comes from a 6x6 block of the input through 36
 * products instead of 144, 1.78 times fewer than F(2x2, 3x3)'s 64 per 4x4 outputs
 * (cl/winograd.cl), as Lavin and Gray's ("Fast Algorithms for Convolutional Neural Networks",
 * CVPR 2016), but with the points 0, ±1, 1/2 and -2 rather than their 0, ±1, ±2, because
 * the points set the float error (Barabasz et al., "Error analysis and improving the
 * accuracy of Winograd convolution for deep neural networks", ACM TOMS 2020): summing 64
 * channels of one tile in float32 against float64, these gave a mean relative error of
 * 1.4e-6 (largest 3.8e-6 over 300 draws) where 0, ±1, ±2 gave 2.5e-6 (1.1e-5), and ±1/2
 * the same as ±2 (bench/winograd_points.py, bench/RESULTS.md):
 *
 *   y tile = Aᵀ [ Σ_i (G w_oi Gᵀ) ⊙ (Bᵀ d_i B) ] A
 *
 *   Bᵀ = | 1 -3/2  -2   3/2  1   0 |   G = |   1      0      0   |
 *        | 0  -1   1/2  5/2  1   0 |       |  1/3    1/3    1/3  |
 *        | 0   1  -5/2  1/2  1   0 |       | -1/3    1/3   -1/3  |
 *        | 0  -2   -1    2   1   0 |       | -16/15 -8/15  -4/15 |
 *        | 0  1/2  -1  -1/2  1   0 |       |  1/15  -2/15   4/15 |
 *        | 0   1  -3/2  -2  3/2  1 |       |   0      0      1   |
 *
 *   Aᵀ = | 1  1  1   1    1  0 |
 *        | 0  1 -1  1/2  -2  0 |
 *        | 0  1  1  1/4   4  0 |
 *        | 0  1 -1  1/8  -8  1 |
 *
 * On these maps (a 4x4 map is one tile, an 8x8 map four, a 16x16 map 16) P = images x tiles
 * is small next to the channels, and the transformed arrays put the channels last, where the
 * products take their columns:
 *
 *   Vᵀ[ξ][P][in],  Uᵀ[ξ][in][out],  Mᵀ[ξ][P][out] = Vᵀ[ξ]·Uᵀ[ξ]
 *
 * (ξ = 6a + b, planes `plane_v` / `plane_m` floats apart). The weight gradient is the same
 * algebra backwards: gMᵀ = (A gy Aᵀ) per tile, gU[ξ][out][in] = Σ_P gMᵀ[ξ]ᵀ·Vᵀ[ξ], gw =
 * Gᵀ gU G. The transforms take one tile of 16 consecutive channels per unit, the channels
 * in the lanes of float16 vectors: the transformed rows are then whole vector stores, and
 * each element of a tile is gathered across the channels' planes. Channels come in
 * multiples of 16 (the host checks). */

#include "mad.clh"

#define LANES 16

/* Element (y, x) of the planes of 16 consecutive channels, `cs` floats apart, as lanes. */
#define GATHER16(p, cs)                                                                            \
    (float16)((p)[0], (p)[cs], (p)[2 * (cs)], (p)[3 * (cs)], (p)[4 * (cs)], (p)[5 * (cs)],        \
              (p)[6 * (cs)], (p)[7 * (cs)], (p)[8 * (cs)], (p)[9 * (cs)], (p)[10 * (cs)],         \
              (p)[11 * (cs)], (p)[12 * (cs)], (p)[13 * (cs)], (p)[14 * (cs)], (p)[15 * (cs)])

/* The one-dimensional transforms, for any float type: t = Bᵀ d (6 -> 6), u = G g (3 -> 6),
 * y = Aᵀ m (6 -> 4), and the transposes the weight gradient takes, m = A g (4 -> 6) and
 * g = Gᵀ u (6 -> 3). The 2-D transforms apply them along columns, then along rows. */
#define INPUT_1D(t, d)                                                                             \
    do {                                                                                           \
        t[0] = d[0] + d[4] + 1.5f * (d[3] - d[1]) - 2.0f * d[2];                                   \
        t[1] = d[4] - d[1] + 0.5f * d[2] + 2.5f * d[3];                                            \
        t[2] = d[1] + d[4] - 2.5f * d[2] + 0.5f * d[3];                                            \
        t[3] = d[4] - d[2] + 2.0f * (d[3] - d[1]);                                                 \
        t[4] = d[4] - d[2] + 0.5f * (d[1] - d[3]);                                                 \
        t[5] = d[1] + d[5] + 1.5f * (d[4] - d[2]) - 2.0f * d[3];                                   \
    } while (0)
#define WEIGHT_1D(u, g)                                                                            \
    do {                                                                                           \
        u[0] = g[0];                                                                               \
        u[1] = (g[0] + g[1] + g[2]) * (1.0f / 3.0f);                                               \
        u[2] = (g[1] - g[0] - g[2]) * (1.0f / 3.0f);                                               \
        u[3] = (4.0f * g[0] + 2.0f * g[1] + g[2]) * (-4.0f / 15.0f);                               \
        u[4] = (g[0] - 2.0f * g[1] + 4.0f * g[2]) * (1.0f / 15.0f);                                \
        u[5] = g[2];                                                                               \
    } while (0)
#define OUTPUT_1D(y, m)                                                                            \
    do {                                                                                           \
        y[0] = m[0] + m[1] + m[2] + m[3] + m[4];                                                   \
        y[1] = m[1] - m[2] + 0.5f * m[3] - 2.0f * m[4];                                            \
        y[2] = m[1] + m[2] + 0.25f * m[3] + 4.0f * m[4];                                           \
        y[3] = m[1] - m[2] + 0.125f * m[3] - 8.0f * m[4] + m[5];                                   \
    } while (0)
#define OUTPUT_GRADIENT_1D(m, g)                                                                   \
    do {                                                                                           \
        m[0] = g[0];                                                                               \
        m[1] = g[0] + g[1] + g[2] + g[3];                                                          \
        m[2] = g[0] - g[1] + g[2] - g[3];                                                          \
        m[3] = g[0] + 0.5f * g[1] + 0.25f * g[2] + 0.125f * g[3];                                  \
        m[4] = g[0] - 2.0f * g[1] + 4.0f * g[2] - 8.0f * g[3];                                     \
        m[5] = g[3];                                                                               \
    } while (0)
#define WEIGHT_GRADIENT_1D(g, u)                                                                   \
    do {                                                                                           \
        g[0] = u[0] + (u[1] - u[2]) * (1.0f / 3.0f) + (u[4] - 16.0f * u[3]) * (1.0f / 15.0f);      \
        g[1] = (u[1] + u[2]) * (1.0f / 3.0f) - (8.0f * u[3] + 2.0f * u[4]) * (1.0f / 15.0f);       \
        g[2] = (u[1] - u[2]) * (1.0f / 3.0f) + (u[4] - u[3]) * (4.0f / 15.0f) + u[5];              \
    } while (0)

/* Uᵀ[ξ][i][o] = (G W(o, i) Gᵀ)[ξ] for pairs gid = i out + o, 16 consecutive pairs (the
 * lanes: 16 output channels of one input channel; out is a multiple of 16) a block and
 * `per_item` blocks an item, so that each ξ's plane gets whole vectors; W(o, i)[t] = w[o so +
 * i si + t], or its taps reversed (8 - t) when `flip`: the input gradient convolves the
 * output gradient with the taps reversed and the channel roles swapped, which so and si
 * express. */
__kernel void winograd4_weights(__global const float *w, __global float *u, const uint u_off,
                                const uint out, const uint in, const uint so, const uint si,
                                const uint flip, const uint per_item) {
    uint b0 = get_global_id(0) * per_item, blocks = out * in / LANES;
    size_t plane = (size_t)out * in;
    for (uint block = b0; block < blocks && block < b0 + per_item; block++) {
        uint gid = block * LANES, o = gid % out, i = gid / out;
        __global const float *src = w + (size_t)o * so + (size_t)i * si;
        float16 k[3][3], col[3], gcol[6], gk[6][3], urow[6];
        for (uint t = 0; t < 9; t++)
            k[t / 3][t % 3] = GATHER16(src + (flip ? 8 - t : t), so);
        for (uint c = 0; c < 3; c++) { /* G k */
            for (uint r = 0; r < 3; r++)
                col[r] = k[r][c];
            WEIGHT_1D(gcol, col);
            for (uint a = 0; a < 6; a++)
                gk[a][c] = gcol[a];
        }
        __global float *dst = u + u_off + gid;
        for (uint a = 0; a < 6; a++) { /* (G k) Gᵀ */
            WEIGHT_1D(urow, gk[a]);
            for (uint b = 0; b < 6; b++)
                vstore16(urow[b], 0, dst + (6 * a + b) * plane);
        }
    }
}

/* The transform units of this work-item: `per_item` consecutive ones of `units`. */
#define FOR_EACH_UNIT(unit, per_item, units)                                                       \
    for (uint unit = get_global_id(0) * (per_item), last_##unit = min((units), unit + (per_item)); \
         unit < last_##unit; unit++)

/* Where unit `unit` lies: 16 channels from `first_channel` of tile p of a chunk, units
 * running over the channel blocks first (consecutive units write consecutive vectors of a
 * transformed row); `plane` is the first of those channels' [h, w] planes, in image n0 +
 * p / tiles, and (y0, x0) the tile's first row and column. */
typedef struct tile4 {
    uint p, first_channel;
    int y0, x0;
    size_t plane;
} tile4;

MW_INLINE tile4 tile4_at(uint unit, uint channels, uint n, uint n0, uint h, uint w, uint tw,
                         uint tiles) {
    tile4 t;
    uint blocks = channels / LANES, tile;
    t.first_channel = unit % blocks * LANES;
    t.p = unit / blocks;
    tile = t.p % tiles;
    t.y0 = (int)(tile / tw) * 4;
    t.x0 = (int)(tile % tw) * 4;
    t.plane = ((size_t)t.first_channel * n + n0 + t.p / tiles) * h * w;
    return t;
}

/* Vᵀ of one tile for 16 consecutive channels: the 6x6 block from row y0 - 1 and column x0 - 1
 * of the channels' planes (the first at `planes`, the others cs floats apart; zero outside
 * the h x w map), ξ's vector to dst + ξ xi_stride. */
MW_INLINE void input_tile16(__global const float *planes, size_t cs, int y0, int x0, uint h,
                            uint w, __global float *dst, size_t xi_stride) {
    float16 d[6][6], t[6][6], col[6], tcol[6], mean = 0.0f;
    for (int c = 0; c < 6; c++) {
        int x = x0 - 1 + c;
        for (int r = 0; r < 6; r++) {
            int y = y0 - 1 + r;
            d[r][c] = y >= 0 && y < (int)h && x >= 0 && x < (int)w
                          ? GATHER16(planes + y * (int)w + x, cs)
                          : (float16)(0.0f);
            mean += d[r][c];
        }
    }
    /* Bᵀ (d - μ) B + 9μ e₍₁,₁₎ = Bᵀ d B exactly (Bᵀ's rows sum to 3 at the point 1 and to 0
     * elsewhere), with less cancellation where d is all positive (after a ReLU) */
    mean *= 1.0f / 36.0f;
    for (int c = 0; c < 6; c++) { /* Bᵀ (d - μ), a column at a time */
        for (int r = 0; r < 6; r++)
            col[r] = d[r][c] - mean;
        INPUT_1D(tcol, col);
        for (int a = 0; a < 6; a++)
            t[a][c] = tcol[a];
    }
    for (uint a = 0; a < 6; a++) { /* (Bᵀ (d - μ)) B */
        float16 row[6];
        INPUT_1D(row, t[a]);
        if (a == 1) row[1] += 9.0f * mean;
        for (uint b = 0; b < 6; b++)
            vstore16(row[b], 0, dst + (size_t)(6 * a + b) * xi_stride);
    }
}

/* Vᵀ[ξ][p][i] = (Bᵀ d_i B)[ξ] for the 6x6 blocks d_i from row y0 - 1 and column x0 - 1 of
 * channels i of src [channels, n, h, w] (zero outside the map), images n0 .. n0 + cn - 1. */
__kernel void winograd4_input(__global const float *src, __global float *v, const uint v_off,
                              const uint plane_v, const uint channels, const uint n,
                              const uint n0, const uint h, const uint w, const uint tw,
                              const uint tiles, const uint per_item, const uint units) {
    size_t cs = (size_t)n * h * w;
    FOR_EACH_UNIT(unit, per_item, units) {
        tile4 at = tile4_at(unit, channels, n, n0, h, w, tw, tiles);
        input_tile16(src + at.plane, cs, at.y0, at.x0, h, w,
                     v + v_off + (size_t)at.p * channels + at.first_channel, plane_v);
    }
}

/* y (+)= Aᵀ M A of one tile for 16 consecutive output channels: ξ's vector of M at src +
 * ξ xi_stride; the 4x4 outputs from `planes` (the tile's first output in the first channel's
 * plane, the other channels' cs floats apart, rows w floats apart). */
MW_INLINE void output_tile16(__global const float *src, size_t xi_stride, __global float *planes,
                             size_t cs, uint w, uint accumulate) {
    float16 s[4][6], col[6], scol[4];
    for (uint b = 0; b < 6; b++) { /* Aᵀ M, a column at a time */
        for (uint a = 0; a < 6; a++)
            col[a] = vload16(0, src + (size_t)(6 * a + b) * xi_stride);
        OUTPUT_1D(scol, col);
        for (uint r = 0; r < 4; r++)
            s[r][b] = scol[r];
    }
    for (uint r = 0; r < 4; r++) { /* (Aᵀ M) A, each lane's row of 4 to its own plane */
        float16 row[4];
        OUTPUT_1D(row, s[r]);
        float lanes[4][LANES];
        for (uint b = 0; b < 4; b++)
            vstore16(row[b], 0, lanes[b]);
        for (uint j = 0; j < LANES; j++) {
            __global float *dst = planes + j * cs + r * w;
            float4 v = (float4)(lanes[0][j], lanes[1][j], lanes[2][j], lanes[3][j]);
            if (accumulate) v += vload4(0, dst);
            vstore4(v, 0, dst);
        }
    }
}

/* y[o][n0 + p / tiles] (+)= Aᵀ M A for the products Mᵀ[ξ][p][o] into the [out, n, h, w] map
 * y, 16 output channels a unit. */
__kernel void winograd4_output(__global const float *m, const uint m_off, const uint plane_m,
                               __global float *y, const uint out, const uint n, const uint n0,
                               const uint h, const uint w, const uint tw, const uint tiles,
                               const uint accumulate, const uint per_item, const uint units) {
    size_t cs = (size_t)n * h * w;
    FOR_EACH_UNIT(unit, per_item, units) {
        tile4 at = tile4_at(unit, out, n, n0, h, w, tw, tiles);
        output_tile16(m + m_off + (size_t)at.p * out + at.first_channel, plane_m,
                      y + at.plane + (size_t)at.y0 * w + at.x0, cs, w, accumulate);
    }
}

/* gMᵀ[ξ][p][o] = (A gy_o Aᵀ)[ξ] for the 4x4 blocks of the output gradient gy [out, n, h, w],
 * 16 output channels a unit: the weight gradient's other operand. */
__kernel void winograd4_output_gradient(__global const float *gy, __global float *gm,
                                        const uint m_off, const uint plane_m, const uint out,
                                        const uint n, const uint n0, const uint h, const uint w,
                                        const uint tw, const uint tiles, const uint per_item,
                                        const uint units) {
    size_t cs = (size_t)n * h * w;
    FOR_EACH_UNIT(unit, per_item, units) {
        tile4 at = tile4_at(unit, out, n, n0, h, w, tw, tiles);
        __global const float *planes = gy + at.plane + (size_t)at.y0 * w + at.x0;
        float16 t[6][4], col[4], tcol[6];
        for (uint c = 0; c < 4; c++) { /* A gy, a column at a time */
            for (uint r = 0; r < 4; r++)
                col[r] = GATHER16(planes + r * w + c, cs);
            OUTPUT_GRADIENT_1D(tcol, col);
            for (uint a = 0; a < 6; a++)
                t[a][c] = tcol[a];
        }
        __global float *dst = gm + m_off + (size_t)at.p * out + at.first_channel;
        for (uint a = 0; a < 6; a++) { /* (A gy) Aᵀ */
            float16 row[6];
            OUTPUT_GRADIENT_1D(row, t[a]);
            for (uint b = 0; b < 6; b++)
                vstore16(row[b], 0, dst + (size_t)(6 * a + b) * plane_m);
        }
    }
}

/* gw[o][i] = Gᵀ gU G for pairs gid = o in + i, gU[ξ][o][i] at gu + gu_off (planes out·in
 * floats apart), into [out, in, 3, 3]; blocks of 16 consecutive pairs (the lanes) as
 * winograd4_weights's. */
__kernel void winograd4_weight_gradient(__global const float *gu, const uint gu_off,
                                        __global float *gw, const uint out, const uint in,
                                        const uint per_item) {
    uint b0 = get_global_id(0) * per_item, blocks = out * in / LANES;
    size_t plane = (size_t)out * in;
    for (uint block = b0; block < blocks && block < b0 + per_item; block++) {
        uint gid = block * LANES;
        __global const float *src = gu + gu_off + gid;
        float16 e[3][6], col[6], ecol[3], g[3];
        for (uint b = 0; b < 6; b++) { /* Gᵀ gU, a column at a time */
            for (uint a = 0; a < 6; a++)
                col[a] = vload16(0, src + (6 * a + b) * plane);
            WEIGHT_GRADIENT_1D(ecol, col);
            for (uint r = 0; r < 3; r++)
                e[r][b] = ecol[r];
        }
        float taps[9][LANES]; /* (Gᵀ gU) G, then each lane's 9 taps in a run */
        for (uint ky = 0; ky < 3; ky++) {
            WEIGHT_GRADIENT_1D(g, e[ky]);
            for (uint kx = 0; kx < 3; kx++)
                vstore16(g[kx], 0, taps[3 * ky + kx]);
        }
        __global float *dst = gw + (size_t)gid * 9;
        for (uint j = 0; j < LANES; j++)
            for (uint t = 0; t < 9; t++)
                dst[9 * j + t] = taps[t][j];
    }
}

/* The forward and input gradient fused per block of FUSED_TILES tiles, on CPU devices
 * (engine/ops/winograd.c chooses it where in + out channels are few enough for a block's
 * Vᵀ and Mᵀ to stay in a core's cache): each work-item takes a run of consecutive blocks and,
 * for each, transforms the block's tiles of every input channel into its slot's Vᵀ[ξ][tile]
 * [in], computes Mᵀ[ξ][tile][out] = Vᵀ[ξ]·Uᵀ[ξ] in ROWS x 32 register blocks, and transforms
 * Mᵀ into y. The unfused pipeline writes Vᵀ and Mᵀ for a chunk of images to memory and
 * reads them back (ResNet18's 64 channels at 128 images: 75 MB each a pass). out is a
 * multiple of 32 (the host checks). */
#define FUSED_TILES MW_WINOGRAD_FUSED_TILES
#define ROWS MW_BLOCK_ROWS

/* Rows p0 .. p0 + ROWS - 1 of Mᵀ[ξ] (rows past `last` repeat it and are not stored), the
 * 32 columns from o0: v's rows `in` floats long, u [in][out], m's rows `out` floats long.
 * V's values broadcast from memory, two vector loads of U a step: gemm_nn's register block
 * (cl/gemm.cl). */
MW_INLINE void fused4_rows(__global const float *v, uint in, uint p0, uint last,
                           __global const float *u, uint out, uint o0, __global float *m) {
    float16 acc[ROWS][2];
    __global const float *ar[ROWS];
#pragma unroll
    for (uint r = 0; r < ROWS; r++) {
        acc[r][0] = acc[r][1] = 0.0f;
        ar[r] = v + (size_t)min(p0 + r, last) * in;
    }
    __global const float *brow = u + o0;
    for (uint l = 0; l < in; l++) {
        float16 b0 = vload16(0, brow), b1 = vload16(1, brow);
#pragma unroll
        for (uint r = 0; r < ROWS; r++) {
            float16 a = (float16)(ar[r][l]);
            acc[r][0] = MAD(a, b0, acc[r][0]);
            acc[r][1] = MAD(a, b1, acc[r][1]);
        }
        brow += out;
    }
#pragma unroll
    for (uint r = 0; r < ROWS; r++) {
        if (p0 + r > last) break;
        vstore16(acc[r][0], 0, m + (size_t)(p0 + r) * out + o0);
        vstore16(acc[r][1], 1, m + (size_t)(p0 + r) * out + o0);
    }
}

/* y (+)= the convolution of src [in, n, h, w] with the transformed weights Uᵀ[ξ][in][out] at
 * u + u_off, into y [out, n, h, w]; `items` work-items, each with a slot of `slot` floats
 * (Vᵀ, then Mᵀ) in scratch from s_off. */
__kernel void winograd4_fused(__global const float *src, __global const float *u,
                              const uint u_off, __global float *y, __global float *scratch,
                              const uint s_off, const uint in, const uint out, const uint n,
                              const uint h, const uint w, const uint tw, const uint tiles,
                              const uint accumulate, const uint slot, const uint items) {
    uint item = get_global_id(0);
    if (item >= items) return;
    uint total = n * tiles, blocks = (total + FUSED_TILES - 1) / FUSED_TILES;
    size_t cs = (size_t)n * h * w, v_xi = (size_t)FUSED_TILES * in;
    size_t m_xi = (size_t)FUSED_TILES * out, u_xi = (size_t)in * out;
    __global float *v = scratch + s_off + (size_t)item * slot, *m = v + 36 * v_xi;
    u += u_off;
    /* consecutive blocks per item: each walks its planes in order (cl/winograd.cl) */
    uint per = (blocks + items - 1) / items, b_end = min(blocks, (item + 1) * per);
    for (uint b = item * per; b < b_end; b++) {
        uint p0 = b * FUSED_TILES, count = min((uint)FUSED_TILES, total - p0);
        for (uint t = 0; t < count; t++) {
            uint tile = (p0 + t) % tiles;
            __global const float *planes = src + (size_t)((p0 + t) / tiles) * h * w;
            for (uint c0 = 0; c0 < in; c0 += LANES)
                input_tile16(planes + c0 * cs, cs, (int)(tile / tw) * 4, (int)(tile % tw) * 4,
                             h, w, v + (size_t)t * in + c0, v_xi);
        }
        /* ξ outermost: Uᵀ[ξ] and Vᵀ[ξ] stay in the L1 across the register blocks */
        for (uint xi = 0; xi < 36; xi++)
            for (uint o0 = 0; o0 < out; o0 += 32)
                for (uint r0 = 0; r0 < count; r0 += ROWS)
                    fused4_rows(v + xi * v_xi, in, r0, count - 1, u + xi * u_xi, out, o0,
                                m + xi * m_xi);
        for (uint t = 0; t < count; t++) {
            uint tile = (p0 + t) % tiles;
            __global float *planes = y + (size_t)((p0 + t) / tiles) * h * w +
                                     tile / tw * 4 * w + tile % tw * 4;
            for (uint o0 = 0; o0 < out; o0 += LANES)
                output_tile16(m + (size_t)t * out + o0, m_xi, planes + o0 * cs, cs, w,
                              accumulate);
        }
    }
}
