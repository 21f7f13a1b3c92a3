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
/* The panels' chunks of C's columns: at most PANEL_BLOCKS blocks of 32, over slices of at
 * most PANEL_K of B's rows (8 x 32 x 256 floats: 256 KB of local memory, in the L2); the NT
 * products take them where A has NT_PANEL_MIN_M rows or more, NT_PANEL_NARROW_MIN_M where the
 * device's vectors are narrow (nt_reads_panels). */
enum { PANEL_BLOCKS = 8, PANEL_K = 256, NT_PANEL_MIN_M = 192, NT_PANEL_NARROW_MIN_M = 64 };

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

int mw_gemm_pack = 0;

/* The blocks of 32 columns in each of gemm_nn_panel's chunks: PANEL_BLOCKS, fewer where C
 * has too few columns to give each compute unit two chunks (ResNet18's Winograd products at
 * 100 images: 400 columns). */
static size_t panel_blocks(const mw_runtime *rt, const mw_gemm *p) {
    size_t col_blocks = (p->n + MW_GEMM_NN_COLS - 1) / MW_GEMM_NN_COLS;
    size_t per_unit = col_blocks / (2 * (size_t)mw_runtime_device(rt)->compute_units);
    return per_unit < 1 ? 1 : per_unit > PANEL_BLOCKS ? PANEL_BLOCKS : per_unit;
}

/* Whether the device's local memory holds the largest panel a product over k takes. */
static bool panel_fits(const mw_runtime *rt, size_t k) {
    size_t kc = k < PANEL_K ? k : PANEL_K;
    return kc * PANEL_BLOCKS * MW_GEMM_NN_COLS * sizeof(float) <=
           mw_runtime_device(rt)->local_mem_bytes;
}

/* gemm_nt_panel's splits of the inner dimension: NT_SLICE each at most, more where C's
 * chunks alone give fewer than two work-groups per compute unit, each at least PANEL_K;
 * partial sums within NT_PARTIAL_CAP. */
static size_t nt_panel_splits(const mw_runtime *rt, const mw_gemm *p) {
    size_t blocks = panel_blocks(rt, p);
    size_t chunks = (p->n + blocks * MW_GEMM_NN_COLS - 1) / (blocks * MW_GEMM_NN_COLS);
    size_t want = 2 * (size_t)mw_runtime_device(rt)->compute_units;
    size_t s = (p->k + NT_SLICE - 1) / NT_SLICE;
    if (s * chunks < want) s = (want + chunks - 1) / chunks;
    size_t most = (p->k + PANEL_K - 1) / PANEL_K;
    if (s > most) s = most;
    size_t cap = NT_PARTIAL_CAP / (p->m * p->n * sizeof(float));
    if (s > cap) s = cap;
    return s < 1 ? 1 : s;
}

/* Workspace floats of gemm_nt_panel's partial sums (one split: none). */
static size_t nt_panel_partials(const mw_runtime *rt, const mw_gemm *p) {
    size_t s = nt_panel_splits(rt, p);
    return s > 1 ? s * p->m * p->n : 0;
}

/* Whether the own NN (or TN) product copies B into local memory a chunk of columns at a time
 * (gemm_nn_panel) rather than reading it in place (gemm_nn). B's rows in the pointwise
 * convolutions' maps (N·H·W floats) lie a multiple of 4 KB apart, so the 128 bytes gemm_nn's
 * block takes from each fall in one set of the L1 and of the L2, which hold a few dozen of
 * them, and the hardware prefetchers follow only a few such streams. tests/probe_gemm.c
 * (Intel Xeon, 2 cores, kernel time, GFLOP/s in place -> panels): MobileNetV2's 144 -> 24 on
 * 32x32 maps forward 89 -> 137, its 24 -> 144 input gradient 86 -> 134, 116 -> 116 on 16x16
 * 151 -> 179, GoogLeNet's 512 -> 64 131 -> 158 and 480 -> 16 74 -> 115, the linear heads'
 * input gradients (k 4096-5120) 122-130 -> 157-176, Winograd's 512-channel product on 400
 * tiles 107 -> 159, GoogLeNet's 528 -> 256 forward 172 -> 190; the rest within 3%. Packed
 * copies in global memory, the path before it, had won only where B's rows lay 64 KB apart
 * and A had 64 rows or more. In place where the device's local memory cannot hold a panel (the CPU
 * profile forced on a GPU), or where forced. */
static bool reads_panels(const mw_runtime *rt, const mw_gemm *p) {
    if (!own(rt, p) || p->tb || p->k == 0 || mw_gemm_pack == 1) return false;
    return panel_fits(rt, p->k);
}

int mw_gemm_nt_path = 0;

/* Whether an own NT product runs as gemm_nt_panel rather than gemm_nt: where A has
 * NT_PANEL_MIN_M rows or more, whose blocks of 8 rows all reuse the panel's transposed copy
 * of B, or where forced (mw_gemm_nt_path 2). tests/probe_gemm.c (Intel Xeon, 2 cores, three
 * alternating rounds, medians), GFLOP/s panels / gemm_nt: m 192-512 (GoogLeNet's weight
 * gradients 528 -> 256 and 480 -> 192, the stride-2 3x3 ones of ResNet18's 128 -> 256 and
 * 256 -> 512, the Winograd ones of 256 and 512 channels, the heads' forward at 500 rows)
 * 212-267 / 186-224; m 32-128 (the Winograd weight gradients of 64 and 128 channels, the
 * stride-2 one of 64 -> 128, MobileNetV2's 576 -> 96 and 192 -> 32, the heads' forward at
 * 128 rows) 124-211 / 179-229: the copy's transposing stores weigh more with fewer rows. A
 * third path, NN products over transposed copies of one operand in global memory, which had
 * measured 1.3-1.6x faster than gemm_nt's former one-block items on the pointwise weight
 * gradients on a Zen 4 host, ran 0.5-0.6x of gemm_nt's speed on this one, and was removed.
 * Where the device's vectors are narrower than 16 lanes (the register block's rows below 8,
 * runtime.c's choose_block_rows), gemm_nt's 16 float16 sums spill as 8 GEMM rows did, and
 * the panels win from NT_PANEL_NARROW_MIN_M rows: Zen 3 (AVX2), two alternating rounds,
 * GFLOP/s panels / gemm_nt, m 64-128 100-140 / 56-61, m 192-1280 101-158 / 58-61, but m 32
 * 41-80 / 56-57 (MobileNetV2's 192 -> 32) and the Winograd weight gradients of DenseNet's
 * 48 -> 12 and of 16 -> 32 1.3-1.8x slower on the panels (probe_conv_paths narrow_32x32). */
static bool nt_reads_panels(const mw_runtime *rt, const mw_gemm *p) {
    if (!own(rt, p) || !p->tb || p->ta || p->k == 0 || mw_gemm_nt_path == 1) return false;
    size_t min_m = rt->block_rows < 8 ? NT_PANEL_NARROW_MIN_M : NT_PANEL_MIN_M;
    bool rows_pay = p->m >= min_m;
    return mw_gemm_nt_path == 2 || (rows_pay && panel_fits(rt, p->k));
}

size_t mw_gemm_workspace_bytes(const mw_runtime *rt, const mw_gemm *p) {
    if (nt_reads_panels(rt, p)) return nt_panel_partials(rt, p) * sizeof(float);
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

/* The own NN and TN products: one launch per slice of the inner dimension, each adding to C
 * (the first from the bias, when one is given; the last applying `act`). gemm_nn_panel copies
 * PANEL_K rows of B at a time; gemm_nn reads B in place in slices of NN_SLICE, so that a
 * work-group's panel of B (NN_SLICE rows of 16 blocks' 512 columns) stays in cache while
 * every block row of A passes over it (tests/probe_gemm.c: 2.3x on the linear layers' input
 * gradients, k 4096-5120; 256 and 128 were no faster). */
static mw_status nn_products(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, unsigned acc,
                             cl_mem bias, size_t bias_off, int act, cl_mem out) {
    unsigned a_rs = p->ta ? 1 : (unsigned)p->lda, a_cs = p->ta ? (unsigned)p->lda : 1;
    bool panels = reads_panels(c->rt, p);
    size_t slice = panels ? PANEL_K : NN_SLICE, blocks = panel_blocks(c->rt, p);
    size_t chunks = (p->n + blocks * MW_GEMM_NN_COLS - 1) / (blocks * MW_GEMM_NN_COLS);
    size_t global[2] = {(p->m + c->rt->block_rows - 1) / c->rt->block_rows,
                        (p->n + MW_GEMM_NN_COLS - 1) / MW_GEMM_NN_COLS};
    size_t l0 = 0;
    do { /* at least one launch: an empty inner dimension still writes C */
        size_t kc = p->k - l0 < slice ? p->k - l0 : slice;
        unsigned a_off = (unsigned)(p->a_off + l0 * a_cs),
                 b_off = (unsigned)(p->b_off + l0 * p->ldb);
        unsigned accumulate = l0 ? 1u : acc, use_bias = l0 == 0 && bias;
        int slice_act = l0 + kc >= p->k ? act : MW_ACT_NONE;
        if (panels)
            MW_TRY(mw_launch_groups(
                c, "gemm", "gemm_nn_panel", chunks, mw_group_size(c, 64), "muuumuumuuuuuumuuilu", a,
                a_off, a_rs, a_cs, b, b_off, (unsigned)p->ldb, out, (unsigned)p->c_off,
                (unsigned)p->ldc, (unsigned)p->m, (unsigned)p->n, (unsigned)kc, accumulate,
                bias ? bias : a, (unsigned)bias_off, use_bias, slice_act,
                kc * blocks * MW_GEMM_NN_COLS * sizeof(float), (unsigned)blocks));
        else
            MW_TRY(mw_launch_kernel(c, gemm_items("gemm_nn", 2, global, (size_t[]){1, 16}),
                                    "muuumuumuuuuuumuui", a, a_off, a_rs, a_cs, b, b_off,
                                    (unsigned)p->ldb, out, (unsigned)p->c_off, (unsigned)p->ldc,
                                    (unsigned)p->m, (unsigned)p->n, (unsigned)kc, accumulate,
                                    bias ? bias : a, (unsigned)bias_off, use_bias, slice_act));
    } while ((l0 += slice) < p->k);
    return MW_OK;
}

/* C (+)= the sum of `splits` partial products [m, n] in the workspace from ws_off (the NT
 * kernels' slices of the inner dimension). */
static mw_status reduce_splits(mw_cl_ctx *c, const mw_gemm *p, size_t splits, unsigned acc,
                               cl_mem out, size_t ws_off) {
    size_t items = p->m * p->n;
    return mw_launch_kernel(c, gemm_items("gemm_reduce", 1, &items, (size_t[]){64}), "muumuuuuu",
                            c->workspace, (unsigned)ws_off, (unsigned)splits, out,
                            (unsigned)p->c_off, (unsigned)p->ldc, (unsigned)p->m, (unsigned)p->n,
                            acc);
}

bool mw_gemm_im2col_fits(const mw_runtime *rt, size_t k) {
    return mw_cpu_profile(rt) && k > 0 && mw_gemm_pack != 1 && panel_fits(rt, k);
}

mw_status mw_gemm_run_im2col(mw_cl_ctx *c, const mw_gemm_im2col *g, cl_mem w, cl_mem x, cl_mem bias,
                             int act, cl_mem y) {
    size_t k = g->cin * g->kk * g->kk;
    mw_gemm p = {.m = g->cout, .n = g->images * g->ho * g->wo, .k = k};
    size_t blocks = panel_blocks(c->rt, &p), kc = k < PANEL_K ? k : PANEL_K;
    size_t chunks = (p.n + blocks * MW_GEMM_NN_COLS - 1) / (blocks * MW_GEMM_NN_COLS);
    return mw_launch_groups(c, "gemm", "gemm_nn_im2col", chunks, mw_group_size(c, 64),
                            "mmuuuuuuuumuuuumuillu", w, x, (unsigned)g->images, (unsigned)g->h,
                            (unsigned)g->w, (unsigned)g->ho, (unsigned)g->wo, (unsigned)g->kk,
                            (unsigned)g->stride, (unsigned)g->pad, y, (unsigned)p.m, (unsigned)p.n,
                            (unsigned)k, (unsigned)kc, bias ? bias : w, (unsigned)(bias != NULL),
                            act, kc * blocks * MW_GEMM_NN_COLS * sizeof(float),
                            3 * blocks * MW_GEMM_NN_COLS * sizeof(int), (unsigned)blocks);
}

/* C (+)= A·Bᵀ through gemm_nt_panel: straight into C in one split, else each split's sums
 * into the workspace and gemm_reduce adds them into C. */
static mw_status nt_panels(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, unsigned acc,
                           cl_mem out, size_t ws_off) {
    size_t blocks = panel_blocks(c->rt, p), splits = nt_panel_splits(c->rt, p);
    size_t chunks = (p->n + blocks * MW_GEMM_NN_COLS - 1) / (blocks * MW_GEMM_NN_COLS);
    size_t ks = (p->k + splits - 1) / splits, kc = ks < PANEL_K ? ks : PANEL_K;
    splits = (p->k + ks - 1) / ks; /* every split non-empty */
    bool direct = splits == 1;
    MW_TRY(mw_launch_groups(
        c, "gemm", "gemm_nt_panel", chunks * splits, mw_group_size(c, 64), "muumuumuuuuuuuuulu", a,
        (unsigned)p->a_off, (unsigned)p->lda, b, (unsigned)p->b_off, (unsigned)p->ldb,
        direct ? out : c->workspace, (unsigned)(direct ? p->c_off : ws_off),
        (unsigned)(direct ? p->ldc : p->n), (unsigned)(p->m * p->n), (unsigned)p->m, (unsigned)p->n,
        (unsigned)p->k, (unsigned)ks, (unsigned)kc, direct ? acc : 0u,
        kc * blocks * MW_GEMM_NN_COLS * sizeof(float), (unsigned)blocks));
    if (direct) return MW_OK;
    return reduce_splits(c, p, splits, acc, out, ws_off);
}

/* C (+)= op(A)·op(B), the own NN kernel's first slice adding `bias` when it is given
 * (only the own NN kernel is called with one: see mw_gemm_run_row_bias). */
static mw_status gemm(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, float beta,
                      cl_mem bias, size_t bias_off, int act, cl_mem out, size_t ws_off) {
    if (!own(c->rt, p)) {
        MW_BLAS_CHECK(CLBlastSgemmWithTempBuffer(
            CLBlastLayoutColMajor, p->tb ? CLBlastTransposeYes : CLBlastTransposeNo,
            p->ta ? CLBlastTransposeYes : CLBlastTransposeNo, p->n, p->m, p->k, 1.0f, b, p->b_off,
            p->ldb, a, p->a_off, p->lda, beta, out, p->c_off, p->ldc, &c->queue, NULL, c->scratch));
        mw_runtime_count_enqueue(c->rt);
        return MW_OK;
    }
    unsigned acc = beta != 0.0f;
    if (!p->tb) return nn_products(c, p, a, b, acc, bias, bias_off, act, out);
    if (nt_reads_panels(c->rt, p)) return nt_panels(c, p, a, b, acc, out, ws_off);
    size_t splits = nt_splits(p);
    size_t kc = (p->k + splits - 1) / splits;
    kc = (kc + MW_GEMM_NT_VECTOR - 1) / MW_GEMM_NT_VECTOR * MW_GEMM_NT_VECTOR;
    /* Tiles of rows of A first: consecutive items share their rows of B, which stay in
     * cache while A's slice cycles through L2. The other order streamed all of B (a linear
     * layer's weight, 32-52 MB in the Memory Wrap heads) from memory for every few rows of
     * A: 2.3-2.8x slower on the heads' forward products (tests/probe_gemm.c). */
    size_t global[3] = {(p->m + MW_GEMM_NT_TILE - 1) / MW_GEMM_NT_TILE,
                        (p->n + MW_GEMM_NT_TILE - 1) / MW_GEMM_NT_TILE, splits};
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
    return reduce_splits(c, p, splits, acc, out, ws_off);
}

mw_status mw_gemm_run(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, float beta, cl_mem out,
                      size_t ws_off) {
    return gemm(c, p, a, b, beta, NULL, 0, MW_ACT_NONE, out, ws_off);
}

mw_status mw_gemm_fill_rows(mw_cl_ctx *c, cl_mem bias, size_t bias_off, cl_mem out,
                            size_t c_off, size_t ldc, size_t m, size_t n) {
    return mw_launch_groups(c, "gemm", "gemm_fill_rows", m, mw_group_size(c, MW_ROW_MAX_GROUP),
                            "mumuuu", bias, (unsigned)bias_off, out, (unsigned)c_off,
                            (unsigned)ldc, (unsigned)n);
}

bool mw_gemm_takes_act(const mw_runtime *rt, const mw_gemm *p) {
    return own(rt, p) && !p->tb;
}

mw_status mw_gemm_run_row_bias(mw_cl_ctx *c, const mw_gemm *p, cl_mem a, cl_mem b, cl_mem bias,
                               size_t bias_off, int act, cl_mem out, size_t ws_off) {
    /* The own NN kernel adds the bias to its sums: no pass over C to fill it and none to
     * read it back (GoogLeNet's 1x1 528 -> 256 on 16x16 maps: 63.5 ms with a fill of one
     * item per element, 52.9 without a bias). */
    if (mw_gemm_takes_act(c->rt, p))
        return gemm(c, p, a, b, 0.0f, bias, bias_off, act, out, ws_off);
    if (act != MW_ACT_NONE)
        return mw_error_set(MW_ERR_INVALID_ARG, "gemm: an activation after a product that is "
                                                "not the own NN kernel's (mw_gemm_takes_act)");
    MW_TRY(mw_gemm_fill_rows(c, bias, bias_off, out, p->c_off, p->ldc, p->m, p->n));
    return gemm(c, p, a, b, 1.0f, NULL, 0, MW_ACT_NONE, out, ws_off);
}
