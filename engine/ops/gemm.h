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
 * along its inner dimension), 0 where CLBlast runs it. */
size_t mw_gemm_workspace_bytes(const mw_runtime *rt, const mw_gemm *p);
/* C = op(A)·op(B) (beta 0) or C += op(A)·op(B) (beta 1), on node context c's queue, with
 * c's scratch (CLBlast) or its workspace from float `ws_off` on (own kernels' partial sums). */
mw_status mw_gemm_run(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, float beta, cl_mem out,
                      size_t ws_off);

#endif
