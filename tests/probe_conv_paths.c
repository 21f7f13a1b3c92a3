/* Not a test: times each 3x3 convolution shape of an encoder on the four OpenCL paths,
 * im2col + GEMM, the direct kernels over padded rows and the batch-major direct kernels
 * (cl/conv3x3.cl), and Winograd (stride 1 only: F(2x2, 3x3), cl/winograd.cl, or on the small
 * maps where engine/ops/winograd.c takes it F(4x4, 3x3), cl/winograd4.cl), forward, input
 * gradient and weight gradient, and checks that they agree. The evidence for
 * engine/ops/conv.c's choice between them (bench/RESULTS.md). Run by hand:
 *   build/tests/probe_conv_paths [resnet18|resnet18_down|resnet18_layer4|maps_16x16|
 *       wrn28_10|wrn28_10_down|small_maps|densenet_cifar|narrow_32x32|googlenet] [batch] [reps]
 *       [direct|winograd|unfused|f2|f4|im2col|implicit]   (the direct paths alone, for tuning
 *       their kernels; or im2col + GEMM and Winograd alone, for tuning Winograd's, with its
 *       three passes fused or not, with F(2x2, 3x3) on every map (f2: no F(4x4, 3x3) on the
 *       small ones) or F(4x4, 3x3) wherever its kernels can run (f4: whatever the rule's
 *       channels and tiles); or the first column's forward through im2col's copies always,
 *       or as an implicit GEMM wherever it applies, rather than by shape)
 * (batch 228: a training step's 128 inputs and 100 memory images). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern int mw_conv_direct; /* engine/ops/conv.c: 1 never direct, 2 padded rows, 3 batch-major,
                              4 Winograd */
extern int mw_winograd_fuse; /* engine/ops/winograd.c */
extern int mw_winograd_f4;   /* engine/ops/winograd.c: 0 F(2x2, 3x3) on every map */
extern int mw_conv_implicit; /* engine/ops/conv.c: 1 im2col always, 2 implicit GEMM */
enum { PATHS = 4 };

typedef struct shape {
    int cin, cout, hw, k, stride;
} shape;

typedef struct encoder_shapes {
    const char *name;
    shape s[16];
} encoder_shapes;

/* The distinct 3x3 stride-1 convolutions at 32x32 input (tests/reference/encoders.py). */
static const encoder_shapes ENCODERS[] = {
    {"resnet18",
     {{3, 64, 32, 3, 1},
      {64, 64, 32, 3, 1},
      {128, 128, 16, 3, 1},
      {256, 256, 8, 3, 1},
      {512, 512, 4, 3, 1}}},
    /* ResNet18's downsampling convolutions: 3x3 stride 2 and the 1x1 stride-2 shortcuts,
     * which only im2col + GEMM runs (both columns time the same path) */
    {"resnet18_down",
     {{64, 128, 32, 3, 2},
      {128, 256, 16, 3, 2},
      {256, 512, 8, 3, 2},
      {64, 128, 32, 1, 2},
      {128, 256, 16, 1, 2},
      {256, 512, 8, 1, 2}}},
    /* WideResNet-28-10's downsampling 3x3 convolutions (its shortcuts are 1x1, stride 2) */
    {"wrn28_10_down", {{160, 320, 32, 3, 2}, {320, 640, 16, 3, 2}}},
    {"wrn28_10",
     {{3, 16, 32, 3, 1},
      {16, 160, 32, 3, 1},
      {160, 160, 32, 3, 1},
      {320, 320, 16, 3, 1},
      {640, 640, 8, 3, 1}}},
    /* the small square maps where F(4x4, 3x3) may run (engine/ops/winograd.c f4_applies):
     * ResNet18's last two stages, WideResNet's last, GoogLeNet's 8x8 shapes, narrower ones */
    /* ResNet18's 512 -> 512 layers alone (F(4x4) against F(2x2) at a batch's images) */
    {"resnet18_layer4", {{512, 512, 4, 3, 1}}},
    /* ResNet18's and WideResNet's stride-1 layers on 16x16 maps */
    {"maps_16x16", {{128, 128, 16, 3, 1}, {320, 320, 16, 3, 1}}},
    {"small_maps",
     {{512, 512, 4, 3, 1},
      {256, 256, 8, 3, 1},
      {640, 640, 8, 3, 1},
      {160, 320, 8, 3, 1},
      {128, 128, 8, 3, 1},
      {128, 128, 4, 3, 1},
      {64, 64, 8, 3, 1},
      {64, 64, 4, 3, 1}}},
    /* growth 12: the bottlenecks' 3x3 convolutions are 48 -> 12 */
    {"densenet_cifar",
     {{3, 24, 32, 3, 1},
      {48, 12, 32, 3, 1},
      {48, 12, 16, 3, 1},
      {48, 12, 8, 3, 1},
      {48, 12, 4, 3, 1}}},
    /* the stride-1 shapes of the models that stay on the direct kernels: 32x32 maps with
     * fewer than 32 channels on a side (DenseNet, GoogLeNet, WideResNet) */
    {"narrow_32x32", {{48, 12, 32, 3, 1}, {16, 32, 32, 3, 1}, {16, 160, 32, 3, 1}}},
    /* from the eighth: the inception branches' first 3x3 with 16 to 48 input channels */
    {"googlenet",
     {{3, 192, 32, 3, 1},
      {96, 128, 32, 3, 1},
      {16, 32, 32, 3, 1},
      {128, 192, 32, 3, 1},
      {112, 224, 16, 3, 1},
      {160, 320, 8, 3, 1},
      {192, 384, 8, 3, 1},
      {32, 64, 16, 3, 1},
      {32, 128, 16, 3, 1},
      {32, 128, 8, 3, 1},
      {48, 128, 8, 3, 1},
      {16, 48, 16, 3, 1},
      {24, 64, 16, 3, 1}}},
};

typedef struct timing {
    double fwd, bin, bwt; /* ms per run */
} timing;

static int out_hw(const shape *sh) {
    int k = sh->k, stride = sh->stride;
    return (sh->hw + 2 * (k / 2) - k) / stride + 1;
}

/* One shape on one path: the mean of `reps` runs after one warm-up; the outputs read back
 * into y, gx, gw. */
static timing run(mw_runtime *rt, const shape *sh, int batch, int reps, int direct, float *y,
                  float *gx, float *gw) {
    mw_conv_direct = direct;
    double ms[3];
    test_time_conv(rt, sh->cin, sh->cout, batch, sh->hw, sh->k, sh->stride, 1, reps, y, gx, gw,
                   ms);
    return (timing){ms[0], ms[1], ms[2]};
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "resnet18";
    int batch = argc > 2 ? atoi(argv[2]) : 228, reps = argc > 3 ? atoi(argv[3]) : 3;
    bool direct_only = argc > 4 && !strcmp(argv[4], "direct"); /* tuning the direct kernels */
    bool unfused = argc > 4 && !strcmp(argv[4], "unfused");
    bool f2 = argc > 4 && !strcmp(argv[4], "f2"), f4 = argc > 4 && !strcmp(argv[4], "f4");
    bool winograd_only = unfused || f2 || f4 || (argc > 4 && !strcmp(argv[4], "winograd"));
    mw_winograd_fuse = !unfused;
    if (f2 || f4) mw_winograd_f4 = f4 ? 2 : 0;
    if (argc > 4)
        mw_conv_implicit = !strcmp(argv[4], "im2col") ? 1 : !strcmp(argv[4], "implicit") ? 2 : 0;
    const encoder_shapes *e = NULL;
    for (size_t i = 0; i < sizeof ENCODERS / sizeof *ENCODERS; i++)
        if (!strcmp(ENCODERS[i].name, name)) e = &ENCODERS[i];
    if (!e || batch < 1 || reps < 1) {
        fprintf(
            stderr,
            "usage: %s [resnet18|resnet18_down|resnet18_layer4|maps_16x16|wrn28_10|wrn28_10_down|"
            "small_maps|densenet_cifar|narrow_32x32|googlenet] [batch] [reps] "
            "[direct|winograd|unfused|f2|f4|im2col|implicit]\n",
            argv[0]);
        return 2;
    }
    mw_runtime *rt = test_profiling_runtime();
    printf("%s, batch %d, ms per pass (mean of %d), im2col+GEMM / padded rows / batch-major / "
           "Winograd:\n",
           name, batch, reps);
    printf("%-16s %27s %27s %27s  %s\n", "cin cout hw", "forward", "input grad", "weight grad",
           "max rel diff");
    for (int i = 0; i < 16 && e->s[i].cin; i++) {
        const shape *sh = &e->s[i];
        int k = sh->k;
        size_t nx = (size_t)sh->cin * batch * sh->hw * sh->hw;
        size_t ny = (size_t)sh->cout * batch * out_hw(sh) * out_hw(sh);
        size_t nw = (size_t)sh->cout * sh->cin * k * k;
        float *y[PATHS], *gx[PATHS], *gw[PATHS];
        timing t[PATHS];
        double diff = 0;
        for (int p = 0; p < PATHS; p++) {
            y[p] = malloc(ny * sizeof(float));
            gx[p] = malloc(nx * sizeof(float));
            gw[p] = malloc(nw * sizeof(float));
            t[p] = (timing){0, 0, 0};
            if ((p == 0 && direct_only) || (p == 3 && sh->stride != 1) ||
                ((p == 1 || p == 2) && winograd_only))
                continue;
            t[p] = run(rt, sh, batch, reps, p + 1, y[p], gx[p], gw[p]);
            if (p == 0 || (p == 1 && direct_only)) continue;
            int base = direct_only ? 1 : 0;
            diff = fmax(diff, fmax(test_max_rel_error(y[p], y[base], ny),
                                   fmax(test_max_rel_error(gx[p], gx[base], nx),
                                        test_max_rel_error(gw[p], gw[base], nw))));
        }
        char label[32];
        snprintf(label, sizeof label, "%d %d %d%s", sh->cin, sh->cout, sh->hw,
                 sh->stride == 2 ? (k == 1 ? " 1x1/2" : " /2") : "");
        printf("%-16s %6.1f/%6.1f/%6.1f/%6.1f %6.1f/%6.1f/%6.1f/%6.1f %6.1f/%6.1f/%6.1f/%6.1f  "
               "%.1e\n",
               label, t[0].fwd, t[1].fwd, t[2].fwd, t[3].fwd, t[0].bin, t[1].bin, t[2].bin,
               t[3].bin, t[0].bwt, t[1].bwt, t[2].bwt, t[3].bwt, diff);
        fflush(stdout);
        for (int p = 0; p < PATHS; p++) {
            free(y[p]);
            free(gx[p]);
            free(gw[p]);
        }
    }
    mw_runtime_free(rt);
    return 0;
}
