/* The GEMMs behind the conv and linear families: CLBlast's SGEMM, or on CPU devices the
 * register-blocked kernels of cl/gemm.cl (PoCL vectorises only explicit vector code, and
 * CLBlast's kernels rely on vectorisation across work-items: 4-6x slower there). */
#ifndef MEMWRAP_OPS_GEMM_H
#define MEMWRAP_OPS_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/launch.h"

/* Row-major C[m, n] (+)= op(A)[m, k] · op(B)[k, n] at element offsets, with leading
 * dimensions. */
typedef struct mw_gemm {
    bool ta, tb;
    size_t m, n, k;
    size_t a_off, lda, b_off, ldb, c_off, ldc;
} mw_gemm;

/* How kernels are chosen and split: 0 by device type; 1 as for GPUs (CLBlast GEMMs, one
 * depthwise row per work-item in groups of 64); 2 as for CPUs (own GEMMs, bands of rows in
 * groups of one). Not static: the tests run both profiles on whatever device they have. */
extern int mw_kernel_profile;

/* How the own NN and TN kernels read B: 0 by device (copied into local memory a chunk of
 * columns at a time where it holds the copy, cl/gemm.cl gemm_nn_panel; else in place), 1 in
 * place always (tests: both paths on any device). */
extern int mw_gemm_pack;

/* How the own NT products run: 0 by shape (gemm_nt_panel's transposed copies in local memory
 * where A has many rows, else gemm_nt), 1 gemm_nt always, 2 gemm_nt_panel always (tests and
 * tests/probe_gemm.c: both paths on any shape). */
extern int mw_gemm_nt_path;

/* Whether this runtime takes the CPU profile (own GEMMs, CPU-shaped kernels). */
bool mw_cpu_profile(const mw_runtime *rt);

/* Work-items per group of the kernels whose shape follows the profile (depthwise rows,
 * im2col and col2im, Winograd's transforms): 1 on the CPU profile, where PoCL runs a group's
 * items as one loop that keeps their registers in memory and each item already holds a
 * block of work, 64 on the GPU profile, one small piece of work per item. */
size_t mw_profile_group_size(const mw_runtime *rt);

/* CLBlast's temporary buffer for p (0 where the own kernels run it). */
mw_status mw_gemm_scratch_bytes(mw_runtime *rt, const mw_gemm *p, size_t *bytes);
/* Workspace bytes the own kernels need for p (the partial sums of an NT product sliced
 * along its inner dimension, the packed pieces of B of an NN or TN one), 0 where CLBlast
 * runs it. */
size_t mw_gemm_workspace_bytes(const mw_runtime *rt, const mw_gemm *p);
/* C = op(A)·op(B) (beta 0) or C += op(A)·op(B) (beta 1), on node context c's queue, with
 * c's scratch (CLBlast) or its workspace from float `ws_off` on (the own kernels' partial
 * sums and packed B, mw_gemm_workspace_bytes of it). */
mw_status mw_gemm_run(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, float beta, cl_mem out,
                      size_t ws_off);
/* C[i, j] = bias[bias_off + i] for i < m, j < n, C rows at out + c_off + i ldc: the start of
 * a product that adds to C (Winograd's and the direct 3x3 kernels' biased outputs too). */
mw_status mw_gemm_fill_rows(mw_cl_ctx *c, cl_mem bias, size_t bias_off, cl_mem out,
                            size_t c_off, size_t ldc, size_t m, size_t n);
/* C = act(op(A)·op(B) + bias[bias_off + i]) on every row i (a convolution's bias over its
 * output channels), with workspace as mw_gemm_run's. The own NN kernel adds the bias to its
 * sums and applies `act` (an mw_activation) as it stores them; elsewhere C is filled with
 * the bias first and the product added to it, and `act` must be MW_ACT_NONE. */
mw_status mw_gemm_run_row_bias(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, cl_mem bias,
                               size_t bias_off, int act, cl_mem out, size_t ws_off);
/* Whether mw_gemm_run_row_bias can apply an activation to this product. */
bool mw_gemm_takes_act(const mw_runtime *rt, const mw_gemm *p);

/* A convolution's geometry for the implicit GEMM: the map x [cin][images][h][w], the weights
 * [cout][cin][kk][kk], the output [cout][images][ho][wo] (one group). */
typedef struct mw_gemm_im2col {
    size_t cin, cout, images, h, w, kk, ho, wo, stride, pad;
} mw_gemm_im2col;
/* Whether the own kernels can run a convolution over k = cin·kk·kk rows of im2col as an
 * implicit GEMM (CPU profile, the panel of k's slices in local memory). */
bool mw_gemm_im2col_fits(const mw_runtime *rt, size_t k);
/* y = act(conv(x, w) + bias) over the whole batch, im2col's columns gathered into
 * cl/gemm.cl's panels instead of written out (gemm_nn_im2col); the same sums in the same
 * order as im2col + the own NN product. bias may be NULL. */
mw_status mw_gemm_run_im2col(mw_cl_ctx *c, const mw_gemm_im2col *g, cl_mem w, cl_mem x, cl_mem bias,
                             int act, cl_mem y);
#endif
