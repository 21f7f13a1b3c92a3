/* This machine's limits for the roofline (bench/RESULTS.md, "Roofline"): the float32 FMA
 * peak (12 independent AVX-512 accumulators per thread, so that neither the FMA latency nor
 * the loop bounds it) and the STREAM-style triad bandwidth a[i] = b[i] + s·c[i] over 256 MB
 * arrays, best of 5, on every OpenMP thread. Not part of the build:
 *     gcc -O3 -funroll-all-loops -march=native -fopenmp bench/peak.c -o /tmp/peak && /tmp/peak
 * (-O3 with unrolling matters: at -O2 GCC keeps the accumulators in memory and the loop
 * measures store forwarding instead, a third of the peak). Needs AVX-512F. */
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

int main(void) {
    printf("threads %d: FMA peak %.0f GFLOP/s, triad %.1f GB/s\n", omp_get_max_threads(),
           fma_peak() / 1e9, triad_bandwidth() / 1e9);
    return 0;
}
