/* Not a test: times the depthwise convolutions of MobileNetV2 and EfficientNet-B0 at 32x32
 * inputs (or 28x28, Fashion-MNIST's), forward, input gradient and weight gradient, on the
 * kernels engine/ops/conv.c chooses for CPU devices (cl/conv.cl: rows in blocks of 8 lanes
 * on maps up to 32 wide at stride 1 and 2, a per-channel matrix on planes of at most 16
 * pixels)
 * against the row kernels alone (mw_dw_rows_only), and checks that the two agree. The
 * evidence for that choice (bench/RESULTS.md, "Depthwise kernels"). Run by hand:
 *   build/tests/probe_depthwise [batch] [reps] [32|28]   (batch 228: 128 inputs + 100 memory) */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern int mw_dw_rows_only; /* engine/ops/conv.c */

typedef struct dw_shape {
    int channels, hw, k, stride;
} dw_shape;

/* tests/reference/encoders.py at 32x32: MobileNetV2's 3x3 blocks, EfficientNet-B0's 3x3 and
 * 5x5 stages (one of each distinct shape). */
static const dw_shape SHAPES[] = {
    {32, 32, 3, 1},  {96, 32, 3, 1},  {144, 32, 3, 1}, {144, 32, 3, 2}, {192, 16, 3, 1},
    {192, 16, 3, 2}, {384, 8, 3, 1},  {576, 8, 3, 1},  {576, 8, 3, 2},  {960, 4, 3, 1},
    {240, 8, 5, 1},  {672, 8, 5, 2},  {672, 4, 5, 1},  {1152, 2, 5, 1},
};

typedef struct timing {
    double fwd, bin, bwt; /* ms per pass */
} timing;

/* One shape on one kernel set: the mean of `reps` runs after one warm-up; y, gx and gw read
 * back. */
static timing run(mw_runtime *rt, const dw_shape *sh, int batch, int reps, float *y, float *gx,
                  float *gw) {
    double ms[3];
    test_time_conv(rt, sh->channels, sh->channels, batch, sh->hw, sh->k, sh->stride,
                   sh->channels, reps, y, gx, gw, ms);
    return (timing){ms[0], ms[1], ms[2]};
}

int main(int argc, char **argv) {
    int batch = argc > 1 ? atoi(argv[1]) : 228, reps = argc > 2 ? atoi(argv[2]) : 5;
    int size = argc > 3 ? atoi(argv[3]) : 32;
    if (batch < 1 || reps < 1 || (size != 32 && size != 28)) {
        fprintf(stderr, "usage: %s [batch] [reps] [32|28]\n", argv[0]);
        return 2;
    }
    mw_runtime *rt = test_profiling_runtime();
    printf("depthwise at %dx%d inputs, batch %d, ms per pass (mean of %d), row kernels / chosen:\n",
           size, size, batch, reps);
    printf("%-18s %15s %15s %15s  %s\n", "channels hw k s", "forward", "input grad",
           "weight grad", "max rel diff");
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        dw_shape s = SHAPES[i];
        if (size == 28) /* 32 -> 28, 16 -> 14, 8 -> 7; 4 and 2 stay (7 / 2 rounds up) */
            s.hw = s.hw >= 8 ? s.hw * 7 / 8 : s.hw;
        const dw_shape *sh = &s;
        int ho = (sh->hw + 2 * (sh->k / 2) - sh->k) / sh->stride + 1;
        size_t nx = (size_t)sh->channels * batch * sh->hw * sh->hw;
        size_t ny = (size_t)sh->channels * batch * ho * ho, nw = (size_t)sh->channels * sh->k * sh->k;
        float *y[2], *gx[2], *gw[2];
        timing t[2];
        for (int p = 0; p < 2; p++) {
            y[p] = malloc(ny * sizeof(float));
            gx[p] = malloc(nx * sizeof(float));
            gw[p] = malloc(nw * sizeof(float));
            mw_dw_rows_only = p == 0;
            t[p] = run(rt, sh, batch, reps, y[p], gx[p], gw[p]);
        }
        mw_dw_rows_only = 0;
        double diff = fmax(test_max_rel_error(y[1], y[0], ny),
                           fmax(test_max_rel_error(gx[1], gx[0], nx),
                                test_max_rel_error(gw[1], gw[0], nw)));
        char label[32];
        snprintf(label, sizeof label, "%d %d %d %d", sh->channels, sh->hw, sh->k, sh->stride);
        printf("%-18s %7.2f/%7.2f %7.2f/%7.2f %7.2f/%7.2f  %.1e\n", label, t[0].fwd, t[1].fwd,
               t[0].bin, t[1].bin, t[0].bwt, t[1].bwt, diff);
        fflush(stdout);
        for (int p = 0; p < 2; p++) {
            free(y[p]);
            free(gx[p]);
            free(gw[p]);
        }
    }
    mw_runtime_free(rt);
    return 0;
}
