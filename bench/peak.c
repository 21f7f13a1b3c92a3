/* This machine's limits for the roofline (bench/RESULTS.md, "Roofline"): the float32 FMA
 * peak (12 independent vector accumulators per thread, AVX-512 or else AVX2, so that neither the
 * FMA latency nor the loop bounds it), the STREAM-style triad bandwidth a[i] = b[i] + s·c[i] over
 * 256 MB arrays, best of 5, on every OpenMP thread, and what a GEMM with cl/gemm.cl's register
 * block (ROWS rows x 32 columns, ROWS as engine/runtime/runtime.c chooses it for the vector
 * width: 8 with AVX-512, two vector loads of B and eight broadcasts of A per 16 FMAs; 2 with
 * AVX2, four loads of B and two broadcasts per 8 FMAs) reaches in C at about the shape of
 * ResNet18's 512-channel Winograd products (896 of a Memory Wrap step's 912 tiles): the ceiling
 * that block can reach, which cl/gemm.cl's kernels are held to. The CPU's family and model come
 * first: this pool's hosts differ (bench/RESULTS.md has peaks of 230 to 475 GFLOP/s on "AMD EPYC").
 * Not part of the build: gcc -O3 -funroll-all-loops -march=native -fopenmp bench/peak.c -o
 * /tmp/peak && /tmp/peak
 * (-O3 with unrolling matters: at -O2 GCC keeps the accumulators in memory and the loop
 * measures store forwarding instead, a third of the peak). Needs AVX2 and FMA at least. */
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __AVX512F__
typedef __m512 vec;
enum { LANES = 16, ROWS = 8 };
#define vset1 _mm512_set1_ps
#define vzero _mm512_setzero_ps
#define vfma _mm512_fmadd_ps
#define vadd _mm512_add_ps
#define vloadu _mm512_loadu_ps
#define vstoreu _mm512_storeu_ps
static float vsum(vec v) {
    return _mm512_reduce_add_ps(v);
}
#else
typedef __m256 vec;
enum { LANES = 8, ROWS = 2 };
#define vset1 _mm256_set1_ps
#define vzero _mm256_setzero_ps
#define vfma _mm256_fmadd_ps
#define vadd _mm256_add_ps
#define vloadu _mm256_loadu_ps
#define vstoreu _mm256_storeu_ps
static float vsum(vec v) {
    float t[LANES], s = 0;
    _mm256_storeu_ps(t, v);
    for (int i = 0; i < LANES; i++)
        s += t[i];
    return s;
}
#endif

enum { ACCUMULATORS = 12, VECS = 32 / LANES };

static double fma_peak(void) {
    const long iters = 100000000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        float sink = 0;
        double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
        {
            vec acc[ACCUMULATORS], b = vset1(1.0000001f), c = vset1(1e-7f);
            for (int k = 0; k < ACCUMULATORS; k++)
                acc[k] = vset1((float)k);
            for (long i = 0; i < iters; i++)
                for (int k = 0; k < ACCUMULATORS; k++)
                    acc[k] = vfma(acc[k], b, c);
            for (int k = 1; k < ACCUMULATORS; k++)
                acc[0] = vadd(acc[0], acc[k]);
            sink += vsum(acc[0]); /* keeps the work observable */
        }
        double t = omp_get_wtime() - t0;
        double flop = 2.0 * LANES * ACCUMULATORS * (double)iters * omp_get_max_threads();
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

/* C[m, n] = A[m, k]·B[k, n], row-major, m a multiple of ROWS and n of 32: GFLOP/s, best of
 * 20. */
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
        for (int i0 = 0; i0 < m; i0 += ROWS)
            for (int j0 = 0; j0 < n; j0 += 32) {
                vec acc[ROWS][VECS];
                for (int r = 0; r < ROWS; r++)
                    for (int v = 0; v < VECS; v++)
                        acc[r][v] = vzero();
                for (int l = 0; l < k; l++) {
                    const float *brow = b + (size_t)l * n + j0;
                    vec bv[VECS];
                    for (int v = 0; v < VECS; v++)
                        bv[v] = vloadu(brow + v * LANES);
                    for (int r = 0; r < ROWS; r++) {
                        vec av = vset1(a[(size_t)(i0 + r) * k + l]);
                        for (int v = 0; v < VECS; v++)
                            acc[r][v] = vfma(av, bv[v], acc[r][v]);
                    }
                }
                for (int r = 0; r < ROWS; r++)
                    for (int v = 0; v < VECS; v++)
                        vstoreu(c + (size_t)(i0 + r) * n + j0 + v * LANES, acc[r][v]);
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
    printf("threads %d, %d-lane vectors: FMA peak %.0f GFLOP/s, triad %.1f GB/s, %dx32-block "
           "GEMM 512x896x512 %.0f GFLOP/s\n",
           omp_get_max_threads(), LANES, fma_peak() / 1e9, triad_bandwidth() / 1e9, ROWS,
           gemm_rate(512, 896, 512) / 1e9);
    return 0;
}
