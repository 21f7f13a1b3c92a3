/* The GEMMs behind the conv and linear families (ops/gemm.h). CLBlast GEMMs are row-major in
 * meaning but issued column-major with the operands swapped (C = A·B row-major is
 * Cᵀ = Bᵀ·Aᵀ column-major on the same memory): CLBlast's row-major path would copy and
 * transpose the large output of every call. */
#include "ops/gemm.h"

#include <clblast_c.h>

#include "runtime/cl_check.h"
#include "runtime/internal.h"
#include "runtime/kernel_defines.h"

int mw_kernel_profile = 0;

bool mw_cpu_profile(const mw_runtime *rt) {
    if (mw_kernel_profile) return mw_kernel_profile == 2;
    return (mw_runtime_device(rt)->type & CL_DEVICE_TYPE_CPU) != 0;
}

size_t mw_profile_group_size(const mw_runtime *rt) {
    return mw_cpu_profile(rt) ? 1 : 64;
}

/* The own kernels run NN, TN and NT products on CPU devices; CLBlast everything else (TT,
 * which no op issues today, included). */
static bool own(const mw_runtime *rt, const mw_gemm *p) {
    return mw_cpu_profile(rt) && !(p->ta && p->tb);
}

/* gemm_nt slices the inner dimension into pieces of NT_SLICE: the slices of A and B then
 * stay in cache while every block of C reads them, the output alone may have too few blocks
 * to occupy the device (a pointwise weight gradient: a small [Cout, Cin] from N·H·W pixels),
 * and the partial sums go to the workspace for one more kernel to add. Measured on PoCL:
 * 2048 doubled the 3x3 weight gradients' speed against unsliced, 512-1024 were slower. */
enum { NT_SLICE = 2048, NT_PARTIAL_CAP = 16 << 20, NN_SLICE = 512 };

static size_t nt_splits(const mw_gemm *p) {
    size_t s = (p->k + NT_SLICE - 1) / NT_SLICE;
    size_t cap = NT_PARTIAL_CAP / (p->m * p->n * sizeof(float));
    if (s > cap) s = cap;
    return s < 1 ? 1 : s;
}

mw_status mw_gemm_scratch_bytes(mw_runtime *rt, const mw_gemm *p, size_t *bytes) {
    *bytes = 0;
    if (own(rt, p)) return MW_OK;
    cl_command_queue q = mw_runtime_queue(rt, 0);
    MW_BLAS_CHECK(CLBlastSGemmTempBufferSize(
        CLBlastLayoutColMajor, p->tb ? CLBlastTransposeYes : CLBlastTransposeNo,
        p->ta ? CLBlastTransposeYes : CLBlastTransposeNo, p->n, p->m, p->k, p->b_off, p->ldb,
        p->a_off, p->lda, p->c_off, p->ldc, &q, bytes));
    return MW_OK;
}

size_t mw_gemm_workspace_bytes(const mw_runtime *rt, const mw_gemm *p) {
    if (!own(rt, p) || !p->tb) return 0;
    size_t s = nt_splits(p);
    return s > 1 ? s * p->m * p->n * sizeof(float) : 0;
}

static mw_launch_spec gemm_items(const char *kernel, int dims, const size_t *global,
                                 const size_t *local) {
    mw_launch_spec s = {.family = "gemm", .kernel = kernel, .kind = MW_RANGE_ITEMS, .dims = dims};
    for (int i = 0; i < dims; i++)
        s.global[i] = global[i], s.local[i] = local[i];
    return s;
}

/* C (+)= op(A)·op(B), the own NN kernel's first slice starting from `bias` when it is given
 * (only the own NN kernel is called with one: see mw_gemm_run_row_bias). */
static mw_status gemm(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, float beta,
                      cl_mem bias, size_t bias_off, cl_mem out, size_t ws_off) {
    if (!own(c->rt, p)) {
        MW_BLAS_CHECK(CLBlastSgemmWithTempBuffer(
            CLBlastLayoutColMajor, p->tb ? CLBlastTransposeYes : CLBlastTransposeNo,
            p->ta ? CLBlastTransposeYes : CLBlastTransposeNo, p->n, p->m, p->k, 1.0f, b, p->b_off,
            p->ldb, a, p->a_off, p->lda, beta, out, p->c_off, p->ldc, &c->queue, NULL, c->scratch));
        mw_runtime_count_enqueue(c->rt);
        return MW_OK;
    }
    unsigned acc = beta != 0.0f;
    if (!p->tb) { /* NN or TN: A read as scalars through strides */
        unsigned a_rs = p->ta ? 1 : (unsigned)p->lda, a_cs = p->ta ? (unsigned)p->lda : 1;
        size_t global[2] = {(p->m + MW_GEMM_NN_ROWS - 1) / MW_GEMM_NN_ROWS,
                            (p->n + MW_GEMM_NN_COLS - 1) / MW_GEMM_NN_COLS};
        /* One launch per NN_SLICE of the inner dimension, each adding to C: a work-group's
         * panel of B (NN_SLICE rows of 16 blocks' 512 columns) then stays in cache while
         * every block row of A passes over it (tests/probe_gemm.c: 2.3x on the linear
         * layers' input gradients, k 4096-5120; 256 and 128 were no faster). */
        size_t l0 = 0;
        do { /* at least one launch: an empty inner dimension still writes C */
            size_t kc = p->k - l0 < NN_SLICE ? p->k - l0 : NN_SLICE;
            bool first = l0 == 0;
            MW_TRY(mw_launch_kernel(c, gemm_items("gemm_nn", 2, global, (size_t[]){1, 16}),
                                    "muuumuumuuuuuumuu", a, (unsigned)(p->a_off + l0 * a_cs),
                                    a_rs, a_cs, b, (unsigned)(p->b_off + l0 * p->ldb),
                                    (unsigned)p->ldb, out, (unsigned)p->c_off, (unsigned)p->ldc,
                                    (unsigned)p->m, (unsigned)p->n, (unsigned)kc,
                                    first ? acc : 1u, bias ? bias : a, (unsigned)bias_off,
                                    (unsigned)(first && bias)));
        } while ((l0 += NN_SLICE) < p->k);
        return MW_OK;
    }
    size_t splits = nt_splits(p);
    size_t kc = (p->k + splits - 1) / splits;
    kc = (kc + MW_GEMM_NT_VECTOR - 1) / MW_GEMM_NT_VECTOR * MW_GEMM_NT_VECTOR;
    /* Blocks of rows of A first: consecutive items share their rows of B, which stay in
     * L1 while A's slice cycles through L2. The other order streamed all of B (a linear
     * layer's weight, 32-52 MB in the Memory Wrap heads) from memory for every 4 rows of
     * A: 2.3-2.8x slower on the heads' forward products (tests/probe_gemm.c). */
    size_t global[3] = {(p->m + MW_GEMM_NT_BLOCK - 1) / MW_GEMM_NT_BLOCK,
                        (p->n + MW_GEMM_NT_BLOCK - 1) / MW_GEMM_NT_BLOCK, splits};
    mw_launch_spec s = gemm_items("gemm_nt", 3, global, (size_t[]){1, 1, 1});
    if (splits == 1)
        return mw_launch_kernel(c, s, "muumuumuuuuuuuu", a, (unsigned)p->a_off, (unsigned)p->lda, b,
                                (unsigned)p->b_off, (unsigned)p->ldb, out, (unsigned)p->c_off,
                                (unsigned)p->ldc, 0u, (unsigned)p->m, (unsigned)p->n,
                                (unsigned)p->k, (unsigned)kc, acc);
    MW_TRY(mw_launch_kernel(c, s, "muumuumuuuuuuuu", a, (unsigned)p->a_off, (unsigned)p->lda, b,
                            (unsigned)p->b_off, (unsigned)p->ldb, c->workspace, (unsigned)ws_off,
                            (unsigned)p->n, (unsigned)(p->m * p->n), (unsigned)p->m, (unsigned)p->n,
                            (unsigned)p->k, (unsigned)kc, 0u));
    size_t items = p->m * p->n;
    return mw_launch_kernel(c, gemm_items("gemm_reduce", 1, &items, (size_t[]){64}), "muumuuuuu",
                            c->workspace, (unsigned)ws_off, (unsigned)splits, out,
                            (unsigned)p->c_off, (unsigned)p->ldc, (unsigned)p->m, (unsigned)p->n,
                            acc);
}

mw_status mw_gemm_run(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, float beta, cl_mem out,
                      size_t ws_off) {
    return gemm(c, p, a, b, beta, NULL, 0, out, ws_off);
}

mw_status mw_gemm_fill_rows(mw_cl_ctx *c, cl_mem bias, size_t bias_off, cl_mem out,
                            size_t c_off, size_t ldc, size_t m, size_t n) {
    return mw_launch_groups(c, "gemm", "gemm_fill_rows", m, mw_group_size(c, MW_ROW_MAX_GROUP),
                            "mumuuu", bias, (unsigned)bias_off, out, (unsigned)c_off,
                            (unsigned)ldc, (unsigned)n);
}

mw_status mw_gemm_run_row_bias(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, cl_mem bias,
                               size_t bias_off, cl_mem out) {
    /* The own NN kernel starts its sums from the bias: no pass over C to fill it and none
     * to read it back (GoogLeNet's 1x1 528 -> 256 on 16x16 maps: 63.5 ms with a fill of one
     * item per element, 52.9 without a bias). */
    if (own(c->rt, p) && !p->tb) return gemm(c, p, a, b, 0.0f, bias, bias_off, out, 0);
    MW_TRY(mw_gemm_fill_rows(c, bias, bias_off, out, p->c_off, p->ldc, p->m, p->n));
    return gemm(c, p, a, b, 1.0f, NULL, 0, out, 0);
}
