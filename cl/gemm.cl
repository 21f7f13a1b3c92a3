/* Register-blocked GEMMs for CPU devices (engine/ops/gemm.c chooses them over CLBlast there):
 * the convolutions' pointwise and im2col products and the linear family's matmuls. */

#include "activation_fn.clh"
#include "mad.clh"
#include "row_group.clh"

/* CLBlast's kernels rely on the compiler to vectorise across work-items, which PoCL does
 * not do; these give each work-item a register block of explicit float16 vectors. The
 * block shapes are shared defines (engine/runtime/kernel_defines.h): the host sizes the
 * ranges with them, and the code below is written for these values. gemm_nn's block is
 * ROWS x 32, ROWS (MW_BLOCK_ROWS) chosen per device: its 2·ROWS float16 sums must fit the
 * vector registers (8 on AVX-512's 32 registers of 16 lanes, 2 on AVX2's 16 of 8 lanes). */
#define ROWS MW_BLOCK_ROWS
#if ROWS < 1 || ROWS > 8 || MW_GEMM_NN_COLS != 32
#error "gemm_nn is written for blocks of 1 to 8 rows of two float16"
#endif
#if MW_GEMM_NT_TILE != 16 || MW_GEMM_NT_VECTOR != 16
#error "gemm_nt is written for 16 x 16 tiles of 4 x 4 blocks of float16 sums"
#endif

/* One inner-dimension step of gemm_nn's ROWS x 32 block: column al of the ROWS rows of A
 * (scalars) times a row of B in two float16. */
MW_INLINE void rank_one_step(float16 acc[ROWS][2], __global const float *const ar[ROWS], size_t al,
                             float16 b0, float16 b1) {
#pragma unroll
    for (uint r = 0; r < ROWS; r++) {
        float16 av = (float16)(ar[r][al]);
        acc[r][0] = MAD(av, b0, acc[r][0]);
        acc[r][1] = MAD(av, b1, acc[r][1]);
    }
}

/* The end of a ROWS x 32 block (nn_block's): C's rows i0 .. i0 + ROWS - 1 below m, at
 * c + i ldc, get the sums plus the bias (when `use_bias`), plus what C held (when
 * `accumulate`), through `act`; only the first `cols` columns are stored, whole blocks as
 * streaming stores when `stream` (cl/row_group.clh; the kernel ends with stream_fence()). */
MW_INLINE void nn_store(float16 acc[ROWS][2], __global float *c, const uint ldc, const uint i0,
                        const uint m, const uint cols, const bool accumulate,
                        __global const float *bias, const uint bias_off, const bool use_bias,
                        const int act, const bool stream) {
#pragma unroll
    for (uint r = 0; r < ROWS; r++) {
        if (i0 + r >= m) break;
        __global float *crow = c + (size_t)(i0 + r) * ldc;
        if (use_bias) { /* after the sums, as a fill then an accumulating product added it */
            float16 bv = bias[bias_off + i0 + r];
            acc[r][0] += bv;
            acc[r][1] += bv;
        }
        if (cols == 32) {
            if (accumulate) {
                acc[r][0] += vload16(0, crow);
                acc[r][1] += vload16(1, crow);
            }
            if (act != MW_ACT_NONE) {
                acc[r][0] = act16(acc[r][0], act);
                acc[r][1] = act16(acc[r][1], act);
            }
            stream_lanes(stream, acc[r][0], crow, 0, 16);
            stream_lanes(stream, acc[r][1], crow, 16, 16);
        } else {
            float t[32];
            vstore16(acc[r][0], 0, t);
            vstore16(acc[r][1], 1, t);
            for (uint j = 0; j < cols; j++)
                crow[j] = act1(accumulate ? crow[j] + t[j] : t[j], act);
        }
    }
}

/* The sums of a ROWS x 32 block of whole columns over the inner dimension's l .. l1 into acc:
 * A(i, l) = ar[i - i0][l a_cs] (any layout: a_cs = 1 row-major, a_rs = 1 a transposed
 * operand), B(l, j) = b[l ldb + j - j0] (rows contiguous). Two vector loads of B and ROWS
 * scalar loads of A per 2·ROWS FMAs: each A value is broadcast from memory, a load. Reading a row
 * of A as one float4 (or a transposed operand's rows as one vector) and extracting its lanes
 * costs a shuffle per value instead, and on Intel cores shuffles share port 5 with the second
 * FMA unit: on the Emerald Rapids host this form ran MobileNetV2's pointwise products in a
 * quarter less time and most NN and TN products 1.1-1.6x faster, a few level or slower within
 * the noise (bench/RESULTS.md, "A's broadcasts from memory"); on the Zen 4 host the two
 * measured the same. Defined for B in global memory (gemm_nn) and in local memory
 * (gemm_nn_panel's packed panel): OpenCL C 1.2 has no generic address space. */
#define DEFINE_NN_SUMS(NAME, B_SPACE)                                                          \
    MW_INLINE void NAME(float16 acc[ROWS][2], __global const float *const ar[ROWS],          \
                        const uint a_cs, B_SPACE const float *b, const uint ldb, uint l,       \
                        const uint l1) {                                                       \
        /* A's offset and B's row advanced by increments: written as l · a_cs with a uint l, \
         * PoCL's code reloaded a_cs from the stack and multiplied at every step, 8 integer   \
         * instructions beside the 16 FMAs (bench/RESULTS.md). Unrolled twice by hand: PoCL  \
         * 3.1's LLVM 15 could not apply `#pragma unroll 2` to this loop (clang printed "8    \
         * warnings generated." on each cold build), and the hand-unrolled loop ran the      \
         * probe_gemm products 3% faster in sum. The sums' order is the same either way. */  \
        size_t al = (size_t)l * a_cs;                                                          \
        B_SPACE const float *brow = b + (size_t)l * ldb;                                       \
        uint left = l1 > l ? l1 - l : 0;                                                       \
        for (; left >= 2; left -= 2) {                                                         \
            rank_one_step(acc, ar, al, vload16(0, brow), vload16(1, brow));                    \
            rank_one_step(acc, ar, al + a_cs, vload16(0, brow + ldb), vload16(1, brow + ldb)); \
            al += 2 * (size_t)a_cs;                                                            \
            brow += 2 * (size_t)ldb;                                                           \
        }                                                                                      \
        if (left) rank_one_step(acc, ar, al, vload16(0, brow), vload16(1, brow));              \
    }
DEFINE_NN_SUMS(nn_sums_global, __global)
DEFINE_NN_SUMS(nn_sums_local, __local)

/* C's ROWS x 32 block at (i0, j0) = A·B over the inner dimension's l0 .. l1, or C += that
 * when `accumulate`, plus bias[bias_off + i] on each row i when `use_bias` (a convolution's
 * bias, added to the finished sums), then the activation `act` (MW_ACT_NONE: none; only on
 * the launch that completes the sums: an eval-mode batch norm folded into a convolution,
 * engine/ops/bn_fold.h). Operands as nn_sums_global's, C's rows at c + i ldc; a block past
 * B's last column reads its rows through a zero-padded copy. */
MW_INLINE void nn_block(__global const float *const ar[ROWS], const uint a_cs,
                        __global const float *b, const uint ldb, __global float *c,
                        const uint ldc, const uint i0, const uint j0, const uint m,
                        const uint n, const uint l0, const uint l1,
                        const bool accumulate, __global const float *bias, const uint bias_off,
                        const bool use_bias, const int act) {
    float16 acc[ROWS][2];
#pragma unroll
    for (uint r = 0; r < ROWS; r++)
        acc[r][0] = acc[r][1] = 0.0f;
    uint cols = min(32u, n - j0);
    if (cols == 32) {
        nn_sums_global(acc, ar, a_cs, b, ldb, l0, l1);
    } else {
        for (uint l = l0; l < l1; l++) {
            __global const float *brow = b + (size_t)l * ldb;
            float t[32];
#pragma unroll
            for (uint j = 0; j < 32; j++)
                t[j] = j < cols ? brow[j] : 0.0f;
            float16 b0 = vload16(0, t), b1 = vload16(1, t);
            rank_one_step(acc, ar, (size_t)l * a_cs, b0, b1);
        }
    }
    nn_store(acc, c, ldc, i0, m, cols, accumulate, bias, bias_off, use_bias, act, false);
}

/* C[m, n] = A·B, or C += A·B when `accumulate`, plus the bias on each row when `use_bias`,
 * then `act` (nn_block's operands; A(i, l) = a[i a_rs + l a_cs] in any layout). One
 * work-item per ROWS x 32 block of C. */
__kernel void gemm_nn(__global const float *a, const uint a_off, const uint a_rs, const uint a_cs,
                      __global const float *b, const uint b_off, const uint ldb, __global float *c,
                      const uint c_off, const uint ldc, const uint m, const uint n, const uint k,
                      const uint accumulate, __global const float *bias, const uint bias_off,
                      const uint use_bias, const int act) {
    uint i0 = get_global_id(0) * ROWS, j0 = get_global_id(1) * MW_GEMM_NN_COLS;
    if (i0 >= m || j0 >= n) return;
    a += a_off;
    b += b_off + j0;
    c += c_off + j0;
    /* Rows past m read the last row (finite, never stored). */
    __global const float *ar[ROWS];
#pragma unroll
    for (uint r = 0; r < ROWS; r++)
        ar[r] = a + min(i0 + r, m - 1) * a_rs;
    nn_block(ar, a_cs, b, ldb, c, ldc, i0, j0, m, n, 0, k, accumulate, bias, bias_off, use_bias,
             act);
}

/* The panel kernels' products: C's ROWS x 32 blocks of a chunk of `cols` columns (C's rows at
 * c + i ldc, the chunk's first column at c) = A·P over the panel P's `len` rows, the panel
 * holding the chunk's blocks of 32 columns one after another as [len, 32] (zeros past
 * cols); A(i, l) = a[i a_rs + l a_cs]. Stored as nn_store does (`accumulate`, the bias,
 * `act`, streaming stores), a row of blocks at a time so that C is written in runs. The
 * group's items share the blocks. */
MW_INLINE void panel_product(__local const float *panel, const uint len, const uint cols,
                             __global const float *a, const uint a_rs, const uint a_cs,
                             __global float *c, const uint ldc, const uint m,
                             const bool accumulate, __global const float *bias,
                             const uint bias_off, const bool use_bias, const int act,
                             const bool stream) {
    uint chunk_blocks = (cols + 31) / 32;
    uint row_blocks = (m + ROWS - 1) / ROWS;
    for (uint t = get_local_id(0); t < chunk_blocks * row_blocks; t += get_local_size(0)) {
        uint q = t % chunk_blocks, i0 = t / chunk_blocks * ROWS;
        __global const float *ar[ROWS];
#pragma unroll
        for (uint r = 0; r < ROWS; r++) /* rows past m read the last row (never stored) */
            ar[r] = a + min(i0 + r, m - 1) * a_rs;
        float16 acc[ROWS][2];
#pragma unroll
        for (uint r = 0; r < ROWS; r++)
            acc[r][0] = acc[r][1] = 0.0f;
        nn_sums_local(acc, ar, a_cs, panel + q * len * 32, 32, 0, len);
        nn_store(acc, c + q * 32, ldc, i0, m, min(32u, cols - q * 32), accumulate, bias,
                 bias_off, use_bias, act, stream);
    }
}

/* gemm_nn with B copied to local memory first (engine/ops/gemm.c, reads_panels: the own NN
 * and TN products on CPU devices, where local memory is a buffer in the cache). One work-group
 * per chunk of `blocks` blocks of 32 of C's columns: it copies the chunk's rows 0 .. k of B,
 * each block's [k, 32] contiguous (zeros past n), reading 128·blocks bytes of each row in one
 * run; then computes the chunk's ROWS x 32 blocks of C from the copy, a row of blocks at a time
 * so that C is written in runs too. B's rows in the pointwise convolutions' maps lie a
 * multiple of 4 KB apart: read in place, the 128 bytes a block takes from each all fall in
 * one set of the L1 and of the L2. Any group size: its items split the copy by rows and the
 * blocks of C. A product that writes a new C past MW_STREAM_MIN_FLOATS (the expansions of the
 * pointwise convolutions on large maps: 75 MB at MobileNetV2's 144 x 128·32·32) writes it with
 * streaming stores, sparing the read of each line an ordinary store makes first; whatever
 * reads it next (the batch norm) finds it in no cache at that size anyway. */
__kernel void gemm_nn_panel(__global const float *a, const uint a_off, const uint a_rs,
                            const uint a_cs, __global const float *b, const uint b_off,
                            const uint ldb, __global float *c, const uint c_off, const uint ldc,
                            const uint m, const uint n, const uint k, const uint accumulate,
                            __global const float *bias, const uint bias_off, const uint use_bias,
                            const int act, __local float *panel, const uint blocks) {
    uint j0 = get_group_id(0) * blocks * 32, lid = get_local_id(0), size = get_local_size(0);
    uint cols = min(blocks * 32, n - j0), chunk_blocks = (cols + 31) / 32;
    bool stream = !accumulate && (size_t)m * ldc >= MW_STREAM_MIN_FLOATS;
    a += a_off;
    b += b_off + j0;
    c += c_off + j0;
    for (uint l = lid; l < k; l += size) {
        __global const float *src = b + (size_t)l * ldb;
        __local float *dst = panel + l * 32;
        uint q = 0;
        for (; q * 32 + 32 <= cols; q++) {
            vstore16(vload16(0, src + q * 32), 0, dst + q * k * 32);
            vstore16(vload16(1, src + q * 32), 1, dst + q * k * 32);
        }
        if (q < chunk_blocks)
            for (uint jj = 0; jj < 32; jj++)
                dst[q * k * 32 + jj] = q * 32 + jj < cols ? src[q * 32 + jj] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    panel_product(panel, k, cols, a, a_rs, a_cs, c, ldc, m, accumulate, bias, bias_off,
                  use_bias, act, stream);
    stream_fence();
}

/* One panel row's block of 32 columns for gemm_nn_im2col where the stride is 2, the window 3x3
 * with padding 1 or 1x1 without, and the map's rows are 2·wo wide, wo 4, 8 or 16 (ResNet18's
 * downsampling layers and their shortcuts): each output row's wo entries come from one input
 * row (dy = ky - pad rows below 2·oy), loaded as vectors, their even or odd lanes (dx = kx -
 * pad 0 or 1) or the odd ones a lane later behind the padding's zero (dx -1).
 * The table gather costs ~3 cycles an entry; this, a fraction (tests/probe_conv_paths). */
MW_INLINE void gather_rows_s2(__local float *dst, __global const float *src, const uint j0,
                              const uint cols, const uint h, const uint w, const uint ho,
                              const uint wo, const int dy, const int dx) {
    for (uint s = 0; s < 32; s += wo) {
        uint j = j0 + s, oy = j / wo % ho;
        int iy = (int)(2 * oy) + dy;
        bool zero = s >= cols || iy < 0; /* rows past n, or the padding row above the map */
        /* zero rows read nothing, from an address in the map all the same */
        __global const float *row = zero ? src : src + (size_t)(j / (ho * wo)) * h * w + iy * w;
        if (wo == 16) {
            float16 a = zero ? 0.0f : vload16(0, row), b = zero ? 0.0f : vload16(1, row);
            float16 ev = (float16)(a.even, b.even), od = (float16)(a.odd, b.odd);
            float16 v = dx == 0 ? ev
                      : dx == 1 ? od
                                : (float16)(0.0f, od.s0, od.s1, od.s2, od.s3, od.s4, od.s5, od.s6,
                                            od.s7, od.s8, od.s9, od.sa, od.sb, od.sc, od.sd, od.se);
            vstore16(v, 0, dst + s);
        } else if (wo == 8) {
            float16 a = zero ? 0.0f : vload16(0, row);
            float8 v = dx == 0 ? a.even
                     : dx == 1 ? a.odd
                               : (float8)(0.0f, a.s1, a.s3, a.s5, a.s7, a.s9, a.sb, a.sd);
            vstore8(v, 0, dst + s);
        } else {
            float8 a = zero ? 0.0f : vload8(0, row);
            float4 v = dx == 0 ? a.even : dx == 1 ? a.odd : (float4)(0.0f, a.s1, a.s3, a.s5);
            vstore4(v, 0, dst + s);
        }
    }
}

/* A convolution's forward over the whole batch as one implicit GEMM: C [m, n] = act(A·B +
 * bias) with A the weights [m, k] (row-major) and B the im2col columns of the map x
 * [cin][images][h][w], gathered into gemm_nn_panel's panel without ever being written out:
 * B(l, j) = x[ci][img][oy·stride - pad + ky][ox·stride - pad + kx], zero outside the map, for
 * row l = (ci·kk + ky)·kk + kx and column j = (img·ho + oy)·wo + ox. One work-group per chunk
 * of `blocks` blocks of 32 columns; it runs the inner dimension in slices of kc rows as the
 * separate launches of the im2col path do (the same sums in the same order), its chunk of C
 * staying in cache from one slice to the next. `table` holds, per column of the chunk, the
 * image's offset in a plane and the window's top-left corner (rows at or past h for columns
 * past n, so that they gather zeros). */
__kernel void gemm_nn_im2col(__global const float *a, __global const float *x,
                             const uint images, const uint h, const uint w, const uint ho,
                             const uint wo, const uint kk, const uint stride, const uint pad,
                             __global float *c, const uint m, const uint n, const uint k,
                             const uint kc, __global const float *bias, const uint use_bias,
                             const int act, __local float *panel, __local int *table,
                             const uint blocks) {
    uint j0 = get_group_id(0) * blocks * 32, lid = get_local_id(0), size = get_local_size(0);
    uint cols = min(blocks * 32, n - j0), chunk_blocks = (cols + 31) / 32;
    __local int *t_img = table, *t_y = table + blocks * 32, *t_x = table + 2 * blocks * 32;
    for (uint jj = lid; jj < chunk_blocks * 32; jj += size) {
        uint j = min(j0 + jj, n - 1), img = j / (ho * wo), p = j % (ho * wo);
        t_img[jj] = (int)(img * h * w);
        t_y[jj] = jj < cols ? (int)(p / wo * stride) - (int)pad : (int)h;
        t_x[jj] = (int)(p % wo * stride) - (int)pad;
    }
    bool stream = k <= kc && (size_t)m * n >= MW_STREAM_MIN_FLOATS;
    bool rows_s2 = stride == 2 && ((kk == 3 && pad == 1) || (kk == 1 && pad == 0)) &&
                   w == 2 * wo && h == 2 * ho && (wo == 4 || wo == 8 || wo == 16);
    size_t plane = (size_t)images * h * w;
    c += j0;
    for (uint l0 = 0; l0 < k; l0 += kc) {
        uint len = min(kc, k - l0);
        barrier(CLK_LOCAL_MEM_FENCE); /* the table written; the last slice's panel read */
        for (uint l = lid; l < len; l += size) {
            uint r = l0 + l, kx = r % kk, ky = r / kk % kk;
            __global const float *src = x + r / (kk * kk) * plane;
            for (uint q = 0; q < chunk_blocks; q++) {
                __local float *dst = panel + (q * len + l) * 32;
                if (rows_s2) {
                    gather_rows_s2(dst, src, j0 + q * 32, cols - min(cols, q * 32), h, w, ho,
                                   wo, (int)ky - (int)pad, (int)kx - (int)pad);
                    continue;
                }
                __local const int *ti = t_img + q * 32, *ty = t_y + q * 32, *tx = t_x + q * 32;
                /* The load from an index kept in bounds, then the select: no branch */
#pragma unroll
                for (uint u = 0; u < 32; u++) {
                    int iy = ty[u] + (int)ky, ix = tx[u] + (int)kx;
                    bool inside = (uint)iy < h && (uint)ix < w;
                    float v = src[inside ? ti[u] + iy * (int)w + ix : 0];
                    dst[u] = inside ? v : 0.0f;
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        panel_product(panel, len, cols, a + l0, k, 1, c, n, m, l0 > 0, bias, 0,
                      use_bias && l0 == 0, l0 + len >= k ? act : MW_ACT_NONE, stream);
    }
    stream_fence();
}

/* C (+)= A·Bᵀ with both operands' rows contiguous along the inner dimension (A(i, l) =
 * a[i lda + l], B(j, l) = b[j ldb + l]: a pointwise weight gradient gy·xᵀ sums over pixels,
 * a linear forward x·wᵀ over features), as gemm_nn_panel computes A·B: work-group g takes
 * chunk g % chunks of C's columns (`blocks` blocks of 32) and split s = g / chunks of the
 * inner dimension, [s ks, (s + 1) ks), in slices of kc: it copies B's rows of the chunk over
 * the slice transposed into local memory ([kc, 32] per block, zeros past n), then adds the
 * chunk's ROWS x 32 blocks of A·Bᵀ over the slice to out[s ldo_s + i ldo + j] (the first slice
 * writes them, or adds them too when `accumulate`). Any group size. */
__kernel void gemm_nt_panel(__global const float *a, const uint a_off, const uint lda,
                            __global const float *b, const uint b_off, const uint ldb,
                            __global float *out, const uint o_off, const uint ldo,
                            const uint ldo_s, const uint m, const uint n, const uint k,
                            const uint ks, const uint kc, const uint accumulate,
                            __local float *panel, const uint blocks) {
    uint chunks = (n + blocks * 32 - 1) / (blocks * 32);
    uint s = get_group_id(0) / chunks, j0 = get_group_id(0) % chunks * blocks * 32;
    uint cols = min(blocks * 32, n - j0), chunk_blocks = (cols + 31) / 32;
    uint lid = get_local_id(0), size = get_local_size(0);
    uint l_first = s * ks, l_end = min(k, l_first + ks);
    a += a_off;
    b += b_off + (size_t)j0 * ldb;
    out += o_off + (size_t)s * ldo_s + j0;
    for (uint l0 = l_first; l0 < l_end; l0 += kc) {
        uint len = min(kc, l_end - l0);
        for (uint jj = lid; jj < chunk_blocks * 32; jj += size) {
            __local float *dst = panel + jj / 32 * len * 32 + jj % 32;
            __global const float *src = b + (size_t)jj * ldb + l0;
            uint l = 0;
            if (jj < cols)
                for (; l + 16 <= len; l += 16) {
                    float t[16];
                    vstore16(vload16(0, src + l), 0, t);
#pragma unroll
                    for (uint u = 0; u < 16; u++)
                        dst[(l + u) * 32] = t[u];
                }
            for (; l < len; l++)
                dst[l * 32] = jj < cols ? src[l] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        panel_product(panel, len, cols, a + l0, lda, 1, out, ldo, m, accumulate || l0 > l_first,
                      out, 0, false, MW_ACT_NONE, false);
        barrier(CLK_LOCAL_MEM_FENCE); /* the next slice's copy overwrites the panel */
    }
}

/* C[i, j] = bias[bias_off + i] for j < n (C rows at c + c_off + i ldc): the start of a
 * product that adds to C (engine/ops/gemm.c). One work-group per row i (cl/row_group.clh):
 * a plain vector loop on CPU devices. One work-item per element, with its division, cost
 * PoCL's CPU device a fifth of a pointwise convolution's time. */
__kernel void gemm_fill_rows(__global const float *bias, const uint bias_off, __global float *c,
                             const uint c_off, const uint ldc, const uint n) {
    uint i = get_group_id(0);
    float16 v = bias[bias_off + i];
    __global float *row = c + c_off + (size_t)i * ldc;
    ROW_LOOP(n, { store_lanes(v, row, at, lanes); })
}

/* The inner dimension in runs of NT_RUN within a slice: a run of a tile's 16 rows of A and of
 * B (32 KB) is read once from the L2 and then from the L1 by each of the tile's 16 blocks.
 * tests/probe_gemm.c (Intel Xeon, 2 cores), three alternating rounds: 256 and 512 measured
 * within 5% of each other, 128 4-15% and 64 10-25% slower (each run reloads the blocks'
 * partial sums), the whole slice (2048) 5-20% slower. */
#define NT_RUN 256

/* acc[r][q] += A(i0 + r, l) B(j0 + q, l) lane-wise over l in [l, l_end) (a multiple of 16
 * long), rows of A at ar[r], of B at br[q]: eight vector loads per 16 FMAs. */
MW_INLINE void nt_block_sums(float16 acc[4][4], __global const float *const ar[4],
                             __global const float *const br[4], uint l, const uint l_end) {
    for (; l < l_end; l += 16) {
        float16 av[4], bv[4];
#pragma unroll
        for (uint r = 0; r < 4; r++) {
            av[r] = vload16(0, ar[r] + l);
            bv[r] = vload16(0, br[r] + l);
        }
#pragma unroll
        for (uint r = 0; r < 4; r++)
#pragma unroll
            for (uint q = 0; q < 4; q++)
                acc[r][q] = MAD(av[r], bv[q], acc[r][q]);
    }
}

/* Partial sums of C = A·Bᵀ over slice s of the inner dimension: A(i, l) = a[i lda + l],
 * B(j, l) = b[j ldb + l] (both rows contiguous: the weight gradient gy·xᵀ reduces over
 * pixels). out[s ldo_s + i ldo + j] = Σ_{l in [s kc, (s+1) kc)} A(i, l) B(j, l), or += into
 * out when `accumulate`. One work-item per 16 x 16 tile of C and slice: 16 blocks of 4 x 4
 * float16 sums (blocks past m or n skipped, so a ragged edge costs what 4 x 4 items cost),
 * which take the slice a run of NT_RUN at a time, their sums kept in private memory (L1)
 * between runs. One item per 4 x 4 block read its 8 rows from the L2 at every step, and
 * PoCL paid for each of its one-item groups: on the Winograd weight gradients' 64 x 64 to
 * 256 x 256 products over 2032-7936 tiles this measured 1.1-1.3x faster, on the stride-2
 * weight gradients 1.2-1.6x, the heads' forward at 500 rows 1.6x; ragged ones within 10%
 * (tests/probe_gemm.c, bench/RESULTS.md). */
__kernel void gemm_nt(__global const float *a, const uint a_off, const uint lda,
                      __global const float *b, const uint b_off, const uint ldb,
                      __global float *out, const uint o_off, const uint ldo, const uint ldo_s,
                      const uint m, const uint n, const uint k, const uint kc,
                      const uint accumulate) {
    const uint tile_i = get_global_id(0) * MW_GEMM_NT_TILE;
    const uint tile_j = get_global_id(1) * MW_GEMM_NT_TILE, s = get_global_id(2);
    const uint l0 = s * kc;
    if (tile_i >= m || tile_j >= n || l0 >= k) return;
    const uint l1 = min(k, l0 + kc), l_vec = l0 + (l1 - l0) / 16 * 16;
    a += a_off;
    b += b_off;
    float16 part[16][4][4]; /* block t = 4 (i0 - tile_i) / 4 + (j0 - tile_j) / 4 */
    for (uint t = 0; t < 16; t++)
        for (uint r = 0; r < 4; r++)
            for (uint q = 0; q < 4; q++)
                part[t][r][q] = 0.0f;
    for (uint run = l0; run < l_vec; run += NT_RUN) {
        const uint run_end = min(l_vec, run + NT_RUN);
        for (uint t = 0; t < 16; t++) {
            uint i0 = tile_i + t / 4 * 4, j0 = tile_j + t % 4 * 4;
            if (i0 >= m || j0 >= n) continue;
            __global const float *ar[4], *br[4];
#pragma unroll
            for (uint r = 0; r < 4; r++) { /* rows past m or n repeat the last (never stored) */
                ar[r] = a + (size_t)min(i0 + r, m - 1) * lda;
                br[r] = b + (size_t)min(j0 + r, n - 1) * ldb;
            }
            float16 acc[4][4];
#pragma unroll
            for (uint r = 0; r < 4; r++)
#pragma unroll
                for (uint q = 0; q < 4; q++)
                    acc[r][q] = part[t][r][q];
            nt_block_sums(acc, ar, br, run, run_end);
#pragma unroll
            for (uint r = 0; r < 4; r++)
#pragma unroll
                for (uint q = 0; q < 4; q++)
                    part[t][r][q] = acc[r][q];
        }
    }
    __global float *o = out + o_off + (size_t)s * ldo_s;
    for (uint t = 0; t < 16; t++) {
        uint i0 = tile_i + t / 4 * 4, j0 = tile_j + t % 4 * 4;
        for (uint r = 0; r < 4 && i0 + r < m; r++)
            for (uint q = 0; q < 4 && j0 + q < n; q++) {
                __global const float *ai = a + (size_t)(i0 + r) * lda;
                __global const float *bj = b + (size_t)(j0 + q) * ldb;
                float sum = hsum16(part[t][r][q]);
                for (uint l = l_vec; l < l1; l++) /* the slice's last l1 - l0 mod 16 */
                    sum += ai[l] * bj[l];
                __global float *dst = o + (size_t)(i0 + r) * ldo + j0 + q;
                *dst = accumulate ? *dst + sum : sum;
            }
    }
}

/* C[i, j] (+)= Σ_s partial[s][i][j] over `splits` slices written by gemm_nt. */
__kernel void gemm_reduce(__global const float *partial, const uint p_off, const uint splits,
                          __global float *c, const uint c_off, const uint ldc, const uint m,
                          const uint n, const uint accumulate) {
    uint idx = get_global_id(0);
    if (idx >= m * n) return;
    uint i = idx / n, j = idx % n;
    __global const float *p = partial + p_off + idx;
    float s = 0.0f;
    for (uint t = 0; t < splits; t++)
        s += p[(size_t)t * m * n];
    __global float *dst = c + c_off + (size_t)i * ldc + j;
    *dst = accumulate ? *dst + s : s;
}
