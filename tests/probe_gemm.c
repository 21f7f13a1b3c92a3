/* Not a test: times the GEMMs that the linear and pointwise-convolution families issue, at
 * the shapes of the models' heads and pointwise layers, through a one-node matmul graph
 * (engine/ops/gemm.c picks the kernel: on CPU devices cl/gemm.cl's own), and checks each
 * product against a double-precision sum on a sample of entries. The evidence for
 * cl/gemm.cl's blocking (bench/RESULTS.md). Run by hand:
 *   build/tests/probe_gemm [reps [name [nt=P|b=B]]]   (name: only the products whose name
 *   contains it; nt=P: the NT products through mw_gemm_nt_path P, 1 gemm_nt, 2 the panels;
 *   b=B: mw_gemm_pack B, 1 the NN and TN products reading B in place) */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct product {
    const char *what;
    int m, n, k;
    bool ta, tb;
} product;

/* C [m, n] = op(A) op(B) with the inner dimension k. Linear: forward X·Wᵀ (NT), input
 * gradient gY·W (NN), weight gradient gYᵀ·X (TN). Pointwise convolution over P = N·H·W
 * pixels: forward W·X (NN), input gradient Wᵀ·gY (TN), weight gradient gY·Xᵀ (NT). */
static const product PRODUCTS[] = {
    {"shufflenet fc1 fwd, 128 rows", 128, 4096, 2048, false, true},
    {"shufflenet fc1 fwd, 500 rows", 500, 4096, 2048, false, true},
    {"shufflenet fc1 dX", 128, 2048, 4096, false, false},
    {"shufflenet fc1 dW", 4096, 2048, 128, true, false},
    {"mobilenetv2 fc1 fwd", 128, 5120, 2560, false, true},
    {"mobilenetv2 fc1 fwd, 500 rows", 500, 5120, 2560, false, true},
    {"mobilenetv2 fc1 dX", 128, 2560, 5120, false, false},
    {"mobilenetv2 fc1 dW", 5120, 2560, 128, true, false},
    {"pointwise 116->116 16x16 fwd", 116, 128 * 256, 116, false, false},
    {"pointwise 116->116 16x16 dX", 116, 128 * 256, 116, true, false},
    {"pointwise 116->116 16x16 dW", 116, 116, 128 * 256, false, true},
    /* MobileNetV2's 32x32 layers at a batch of 128: the expansion 24 -> 144 and the
     * projection 144 -> 24, both wide in pixels and narrow in channels */
    {"pointwise 24->144 32x32 fwd", 144, 128 * 1024, 24, false, false},
    {"pointwise 144->24 32x32 fwd", 24, 128 * 1024, 144, false, false},
    {"pointwise 24->144 32x32 dX", 24, 128 * 1024, 144, true, false},
    {"pointwise 144->24 32x32 dX", 144, 128 * 1024, 24, true, false},
    {"pointwise 24->144 32x32 dW", 144, 24, 128 * 1024, false, true},
    {"pointwise 32->192 16x16 fwd", 192, 128 * 256, 32, false, false},
    {"pointwise 192->32 16x16 dW", 32, 192, 128 * 256, false, true},
    /* GoogLeNet's 16x16 inception layers at a batch of 128: deep inputs (480-528
     * channels), outputs from 16 to 256 channels */
    {"googlenet 528->256 16x16 fwd", 256, 128 * 256, 528, false, false},
    {"googlenet 528->256 16x16 dX", 528, 128 * 256, 256, true, false},
    {"googlenet 528->256 16x16 dW", 256, 528, 128 * 256, false, true},
    {"googlenet 480->192 16x16 dW", 192, 480, 128 * 256, false, true},
    {"mobilenetv2 96->576 8x8 dW", 576, 96, 128 * 64, false, true},
    {"mobilenetv2 576->96 8x8 dW", 96, 576, 128 * 64, false, true},
    {"googlenet 512->64 16x16 fwd", 64, 128 * 256, 512, false, false},
    {"googlenet 480->16 16x16 fwd", 16, 128 * 256, 480, false, false},
    {"pointwise 320->1280 4x4 fwd", 1280, 128 * 16, 320, false, false},
    {"pointwise 320->1280 4x4 dW", 1280, 320, 128 * 16, false, true},
    /* one of the 16 products of Winograd's unfused path (engine/ops/winograd.c) for
     * ResNet18's 512-channel 4x4 layers at a Memory Wrap step's 228 images: U[ξ]·V[ξ],
     * and the weight gradient's gM[ξ]·V[ξ]ᵀ; then the same product on 896 tiles (whole
     * column blocks, as bench/peak.c's C block times it) and on each pass's own tiles */
    {"winograd 512->512 4x4 product", 512, 228 * 4, 512, false, false},
    {"winograd 512->512 4x4, 896 tiles", 512, 896, 512, false, false},
    {"winograd 512->512 4x4, 100 images", 512, 400, 512, false, false},
    {"winograd 512->512 4x4, 128 images", 512, 512, 512, false, false},
    {"winograd 512->512 4x4 dU", 512, 512, 228 * 4, false, true},
    /* F(4x4, 3x3)'s products on the small maps, tiles as rows (engine/ops/winograd.c plan4):
     * one tile an image on 4x4 maps, four on 8x8; the weight gradient's are TN */
    {"winograd4 512->512 4x4, 128 images", 128, 512, 512, false, false},
    {"winograd4 512->512 4x4, 100 images", 100, 512, 512, false, false},
    {"winograd4 512->512 4x4 dU, 128 images", 512, 512, 128, true, false},
    {"winograd4 256->256 8x8, 128 images", 512, 256, 256, false, false},
    /* the Winograd weight gradients' products of ResNet18's 64-, 128- and 256-channel layers
     * at batch 128 (the chunks of images that engine/ops/winograd.c's workspace holds: 31,
     * 63 and 127), and the stride-2 3x3 weight gradients over im2col columns (113 images a
     * chunk on 32x32 maps) */
    {"winograd 64->64 32x32 dU", 64, 64, 31 * 256, false, true},
    {"winograd 128->128 16x16 dU", 128, 128, 63 * 64, false, true},
    {"winograd 256->256 8x8 dU", 256, 256, 127 * 16, false, true},
    {"resnet18 64->128 3x3 s2 dW", 128, 576, 113 * 256, false, true},
    {"resnet18 128->256 3x3 s2 dW", 256, 1152, 128 * 64, false, true},
    {"resnet18 256->512 3x3 s2 dW", 512, 2304, 128 * 16, false, true},
};

/* The least ms of `reps` runs after a warm-up (this machine's noise only ever adds time);
 * the product read back into c. */
static double run(mw_runtime *rt, const product *p, int reps, const float *a, const float *b,
                  float *c) {
    mw_graph *g = mw_graph_create();
    int64_t as[2] = {p->ta ? p->k : p->m, p->ta ? p->m : p->k};
    int64_t bs[2] = {p->tb ? p->n : p->k, p->tb ? p->k : p->n};
    int ia = mw_graph_input(g, "a", MW_F32, 2, as), ib = mw_graph_input(g, "b", MW_F32, 2, bs);
    int out = mw_matmul(g, ia, ib, p->ta, p->tb);
    mw_graph_keep(g, out);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(g, rt, &ex));
    TEST_OK(mw_exec_write(ex, ia, a, (size_t)p->m * p->k * sizeof *a));
    TEST_OK(mw_exec_write(ex, ib, b, (size_t)p->k * p->n * sizeof *b));
    double best = 0;
    for (int r = 0; r < reps; r++) {
        mw_op_time t[MW_OP_TIME_MAX];
        int nt = test_profile_runs(ex, MW_RUN_FORWARD, 1, t);
        double ms = 0;
        for (int i = 0; i < nt; i++)
            ms += t[i].ms;
        if (r == 0 || ms < best) best = ms;
    }
    test_poison(c, (size_t)p->m * p->n);
    TEST_OK(mw_exec_read(ex, out, c, (size_t)p->m * p->n * sizeof *c));
    mw_exec_free(ex);
    mw_graph_free(g);
    return best;
}

/* The largest deviation of 64 sampled entries from their double sums, over the largest
 * magnitude of those sums. */
static double sample_error(const product *p, const float *a, const float *b, const float *c) {
    double worst = 0, scale = 1e-30;
    test_rng r;
    test_rng_seed(&r, 5);
    for (int s = 0; s < 64; s++) {
        int i = (int)test_rng_uniform(&r, 0, (float)p->m), j = (int)test_rng_uniform(&r, 0, (float)p->n);
        i = i < p->m ? i : p->m - 1, j = j < p->n ? j : p->n - 1;
        double want = 0;
        for (int l = 0; l < p->k; l++) {
            double av = p->ta ? a[(size_t)l * p->m + i] : a[(size_t)i * p->k + l];
            double bv = p->tb ? b[(size_t)j * p->k + l] : b[(size_t)l * p->n + j];
            want += av * bv;
        }
        worst = fmax(worst, fabs(c[(size_t)i * p->n + j] - want));
        scale = fmax(scale, fabs(want));
    }
    return worst / scale;
}

extern int mw_gemm_nt_path;
extern int mw_gemm_pack;

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    const char *only = argc > 2 ? argv[2] : "";
    if (argc > 3 && strncmp(argv[3], "b=", 2) == 0) mw_gemm_pack = atoi(argv[3] + 2);
    if (argc > 3 && strncmp(argv[3], "nt=", 3) == 0) mw_gemm_nt_path = atoi(argv[3] + 3);
    if (reps < 1 ||
        (argc > 3 && strncmp(argv[3], "b=", 2) != 0 && strncmp(argv[3], "nt=", 3) != 0)) {
        fprintf(stderr, "usage: %s [reps [name [nt=P|b=B]]]\n", argv[0]);
        return 2;
    }
    mw_runtime *rt = test_profiling_runtime();
    printf("%-32s %5s %6s %6s %2s %9s %8s %8s\n", "product", "m", "n", "k", "op", "ms",
           "GFLOP/s", "rel err");
    for (size_t i = 0; i < sizeof PRODUCTS / sizeof *PRODUCTS; i++) {
        const product *p = &PRODUCTS[i];
        if (!strstr(p->what, only)) continue;
        size_t na = (size_t)p->m * p->k, nb = (size_t)p->k * p->n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc((size_t)p->m * p->n * 4);
        test_rng r;
        test_rng_seed(&r, 11 + i);
        test_fill_uniform(&r, a, na, -1, 1);
        test_fill_uniform(&r, b, nb, -1, 1);
        double ms = run(rt, p, reps, a, b, c);
        double gflops = 2.0 * p->m * p->n * p->k / (ms * 1e6);
        printf("%-32s %5d %6d %6d %c%c %9.2f %8.1f %8.1e\n", p->what, p->m, p->n, p->k,
               p->ta ? 'T' : 'N', p->tb ? 'T' : 'N', ms, gflops, sample_error(p, a, b, c));
        fflush(stdout);
        free(a), free(b), free(c);
    }
    mw_runtime_free(rt);
    return 0;
}
