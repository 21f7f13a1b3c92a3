/* This machine's limits for the roofline (bench/RESULTS.md, "Roofline"): the float32 FMA
 * peak (12 independent AVX-512 accumulators per thread, so that neither the FMA latency nor
 * the loop bounds it), the STREAM-style triad bandwidth a[i] = b[i] + s·c[i] over 256 MB
 * arrays, best of 5, on every OpenMP thread, and what a GEMM with cl/gemm.cl's register
 * block (8 rows x 32 columns: two vector loads of B and eight broadcasts of A per 16 FMAs)
 * reaches in C at about the shape of ResNet18's 512-channel Winograd products (896 of a
 * Memory Wrap step's 912 tiles): the ceiling that block can reach, which cl/gemm.cl's
 * kernels are held to. The CPU's family and model come first: this pool's hosts differ
 * (bench/RESULTS.md has peaks of 230 to 475 GFLOP/s on "AMD EPYC"). Not part of the build:
 *     gcc -O3 -funroll-all-loops -march=native -fopenmp bench/peak.c -o /tmp/peak && /tmp/peak
 * (-O3 with unrolling matters: at -O2 GCC keeps the accumulators in memory and the loop
 * measures store forwarding instead, a third of the peak). Needs AVX-512F. */
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

enum { ACCUMULATORS = 12 };

static double fma_peak(void) {
    const long iters = 100000000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        float sink = 0;
        double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
        {
            __m512 acc[ACCUMULATORS], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
            for (int k = 0; k < ACCUMULATORS; k++)
                acc[k] = _mm512_set1_ps((float)k);
            for (long i = 0; i < iters; i++)
                for (int k = 0; k < ACCUMULATORS; k++)
                    acc[k] = _mm512_fmadd_ps(acc[k], b, c);
            for (int k = 1; k < ACCUMULATORS; k++)
                acc[0] = _mm512_add_ps(acc[0], acc[k]);
            sink += _mm512_reduce_add_ps(acc[0]); /* keeps the work observable */
        }
        double t = omp_get_wtime() - t0;
        double flop = 2.0 * 16 * ACCUMULATORS * (double)iters * omp_get_max_threads();
        if (flop / t > best && sink != 0) best = flop / t;
    }
    return best;
}

static double triad_bandwidth(void) {
    const long n = 1L << 26;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) return 0;
#pragma omp parallel for
    for (long i = 0; i < n; i++)
        a[i] = 0, b[i] = 1, c[i] = 2;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for
        for (long i = 0; i < n; i++)
            a[i] = b[i] + 3.0f * c[i];
        double t = omp_get_wtime() - t0, bytes = 3.0 * sizeof(float) * (double)n;
        if (bytes / t > best && a[n / 2] == 7.0f) best = bytes / t;
    }
    free(a), free(b), free(c);
    return best;
}

/* C[m, n] = A[m, k]·B[k, n], row-major, m a multiple of 8 and n of 32: GFLOP/s, best of 20. */
static double gemm_rate(int m, int n, int k) {
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)k * n * sizeof *b),
          *c = malloc((size_t)m * n * sizeof *c);
    if (!a || !b || !c) return 0;
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (float)(i % 5) * 0.1f;
    double best = 0;
    for (int rep = 0; rep < 20; rep++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for collapse(2) schedule(static)
        for (int i0 = 0; i0 < m; i0 += 8)
            for (int j0 = 0; j0 < n; j0 += 32) {
                __m512 acc[8][2];
                for (int r = 0; r < 8; r++)
                    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
                for (int l = 0; l < k; l++) {
                    const float *brow = b + (size_t)l * n + j0;
                    __m512 b0 = _mm512_loadu_ps(brow), b1 = _mm512_loadu_ps(brow + 16);
                    for (int r = 0; r < 8; r++) {
                        __m512 av = _mm512_set1_ps(a[(size_t)(i0 + r) * k + l]);
                        acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                        acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                    }
                }
                for (int r = 0; r < 8; r++) {
                    _mm512_storeu_ps(c + (size_t)(i0 + r) * n + j0, acc[r][0]);
                    _mm512_storeu_ps(c + (size_t)(i0 + r) * n + j0 + 16, acc[r][1]);
                }
            }
        double t = omp_get_wtime() - t0;
        if (2.0 * m * n * k / t > best && c[0] == c[0]) best = 2.0 * m * n * k / t;
    }
    free(a), free(b), free(c);
    return best;
}

int main(void) {
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        /* family and model with their extended fields (AMD: family 25 is Zen 3 and 4, 26 Zen 5) */
        unsigned family = (eax >> 8 & 15) + (eax >> 20 & 255);
        unsigned model = (eax >> 4 & 15) | (eax >> 16 & 15) << 4;
        printf("cpu family %u model %u\n", family, model);
    }
    printf("threads %d: FMA peak %.0f GFLOP/s, triad %.1f GB/s, 8x32-block GEMM 512x896x512 "
           "%.0f GFLOP/s\n",
           omp_get_max_threads(), fma_peak() / 1e9, triad_bandwidth() / 1e9,
           gemm_rate(512, 896, 512) / 1e9);
    return 0;
}
