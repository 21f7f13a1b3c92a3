/* `memwrap demo`: a Memory Wrap head (or, with --head memory, the Only Memory baseline; cosine
 * distance unless --distance says l2 or dot) trained and evaluated on the chosen device with
 * no dataset and no encoder: a quick check that a device runs the head. Synthetic 64-d
 * "encodings" of 10 classes stand in for an encoder's output: per dimension a class centre
 * drawn from N(0, 0.5²) plus N(0, 1) noise, clipped at 0 like a ReLU encoder's output; 2000
 * for training, 1024 held out. Training takes consecutive batches of 128 of the training set,
 * each with a memory of 100 distinct training samples drawn afresh, SGD lr 0.1, momentum 0.9,
 * Nesterov, weight decay 5e-4, 300 steps unless --steps says otherwise; evaluation draws a
 * fresh memory per test batch of 128. It prints the device and the setup, progress on stderr,
 * the held-out accuracy and one explanation: how many memory samples weigh on the first test
 * sample's prediction, and which weighs most. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "memwrap/memwrap.h"

enum { DEMO_CLASSES = 10, DEMO_DIM = 64, DEMO_BATCH = 128, DEMO_MEMORY = 100 };
enum { DEMO_TRAIN = 2000, DEMO_TEST = 1024 };

typedef struct demo_rng {
    uint64_t s;
} demo_rng;

static double demo_uniform(demo_rng *r) {
    r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
    return (double)((r->s * 0x2545F4914F6CDD1Dull) >> 11) / (double)(1ull << 53);
}

static double demo_normal(demo_rng *r) {
    double u = demo_uniform(r) + 1e-300, v = demo_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void make_points(demo_rng *r, const float *centres, float *x, int32_t *y, int n,
                        float noise) {
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(demo_uniform(r) * DEMO_CLASSES) % DEMO_CLASSES;
        for (int k = 0; k < DEMO_DIM; k++) {
            double v = centres[y[i] * DEMO_DIM + k] + noise * demo_normal(r);
            x[i * DEMO_DIM + k] = v > 0 ? (float)v : 0.0f;
        }
    }
}

/* M distinct training indices (a partial Fisher-Yates shuffle), like a shuffled loader. */
static void draw_memory(demo_rng *r, int *perm, const float *train, float *mem, int *idx) {
    for (int j = 0; j < DEMO_MEMORY; j++) {
        int k = j + (int)(demo_uniform(r) * (DEMO_TRAIN - j));
        int t = perm[j];
        perm[j] = perm[k];
        perm[k] = t;
        idx[j] = perm[j];
        memcpy(mem + j * DEMO_DIM, train + perm[j] * DEMO_DIM, DEMO_DIM * sizeof *mem);
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: memwrap demo [--device SPEC] [--steps N] [--distance cosine|l2|dot]\n"
            "                    [--head memory_wrap|memory] [--seed N]\n"
            "Trains a Memory Wrap head (batch %d, memory %d, SGD lr 0.1, momentum 0.9,\n"
            "Nesterov, weight decay 5e-4; default 300 steps) on synthetic encodings and\n"
            "prints progress, held-out accuracy and one explanation.\n",
            DEMO_BATCH, DEMO_MEMORY);
}

static int fail(const char *what) {
    fprintf(stderr, "memwrap demo: %s: %s\n", what, mw_error_message());
    return MW_EXIT_FAILURE;
}

int mw_cmd_demo(int argc, char **argv) {
    const char *device = NULL, *distance = "cosine";
    mw_head_kind kind = MW_HEAD_MEMORY_WRAP;
    long steps = 300, seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        }
        if (strcmp(a, "--device") == 0 && v)
            device = v, i++;
        else if (strcmp(a, "--distance") == 0 && v)
            distance = v, i++;
        else if (strcmp(a, "--head") == 0 && v && strcmp(v, "memory_wrap") == 0)
            kind = MW_HEAD_MEMORY_WRAP, i++;
        else if (strcmp(a, "--head") == 0 && v && strcmp(v, "memory") == 0)
            kind = MW_HEAD_BASELINE_MEMORY, i++;
        else if (strcmp(a, "--steps") == 0 && v && (steps = strtol(v, &end, 10)) > 0 && !*end)
            i++;
        else if (strcmp(a, "--seed") == 0 && v && (seed = strtol(v, &end, 10)) >= 0 && !*end)
            i++;
        else {
            fprintf(stderr, "memwrap demo: bad argument '%s'\n", a);
            usage(stderr);
            return MW_EXIT_USAGE;
        }
    }

    mw_graph *g = mw_graph_create();
    int64_t es[2] = {DEMO_BATCH, DEMO_DIM}, ms[2] = {DEMO_MEMORY, DEMO_DIM}, ys[1] = {DEMO_BATCH};
    int e = mw_graph_input(g, "e", MW_F32, 2, es), m = mw_graph_input(g, "m", MW_F32, 2, ms);
    int y = mw_graph_input(g, "y", MW_I32, 1, ys);
    mw_head_options opt = {.kind = kind,
                           .distance = distance,
                           .classes = DEMO_CLASSES,
                           .prefix = "mw.",
                           .return_weights = true};
    mw_head_outputs out;
    if (mw_head_build(g, e, m, &opt, &out) != MW_OK) {
        fprintf(stderr, "memwrap demo: %s\n", mw_graph_error(g));
        mw_graph_free(g);
        return MW_EXIT_USAGE;
    }
    int loss = mw_softmax_cross_entropy(g, out.logits, y);
    mw_graph_keep(g, loss);
    mw_graph_keep(g, out.logits);
    if (mw_graph_backward(g, loss, NULL, 0) != MW_OK) {
        mw_graph_free(g);
        return fail("building the backward pass");
    }

    mw_runtime_options ro = {.device_spec = device};
    mw_runtime *rt = NULL;
    mw_exec *ex = NULL;
    mw_sgd *sgd = NULL;
    int rc = MW_EXIT_FAILURE;
    mw_status rs = mw_runtime_create(&ro, &rt);
    if (rs != MW_OK) {
        fprintf(stderr, "memwrap demo: %s\n", mw_error_message());
        mw_graph_free(g);
        /* a device spec that matches nothing is bad input; a broken driver is a failure */
        return rs == MW_ERR_NOT_FOUND && device ? MW_EXIT_USAGE : MW_EXIT_FAILURE;
    }
    const mw_device_info *dev = mw_runtime_device(rt);
    printf("device %d:%d  %s / %s\n", dev->platform_index, dev->device_index, dev->platform_name,
           dev->name);
    printf("head %s, distance %s; synthetic %d-d encodings of %d classes; batch %d, memory %d\n",
           kind == MW_HEAD_MEMORY_WRAP ? "Memory Wrap (MLP on [e, W·m])"
                                       : "Only Memory (MLP on W·m)",
           distance, DEMO_DIM, DEMO_CLASSES, DEMO_BATCH, DEMO_MEMORY);

    demo_rng r = {0x9E3779B97F4A7C15ull ^ (uint64_t)(seed + 1) * 0xBF58476D1CE4E5B9ull};
    float *centres = malloc(DEMO_CLASSES * DEMO_DIM * sizeof *centres);
    float *train = malloc((size_t)DEMO_TRAIN * DEMO_DIM * sizeof *train);
    float *test = malloc((size_t)DEMO_TEST * DEMO_DIM * sizeof *test);
    int32_t *ytrain = malloc(DEMO_TRAIN * sizeof *ytrain),
            *ytest = malloc(DEMO_TEST * sizeof *ytest);
    float *mem = malloc(DEMO_MEMORY * DEMO_DIM * sizeof *mem);
    float *logits = malloc(DEMO_BATCH * DEMO_CLASSES * sizeof *logits);
    float *weights = malloc(DEMO_BATCH * DEMO_MEMORY * sizeof *weights);
    int *perm = malloc(DEMO_TRAIN * sizeof *perm), mem_idx[DEMO_MEMORY];
    if (!centres || !train || !test || !ytrain || !ytest || !mem || !logits || !weights || !perm) {
        fprintf(stderr, "memwrap demo: out of host memory\n");
        goto done;
    }
    for (int i = 0; i < DEMO_CLASSES * DEMO_DIM; i++)
        centres[i] = (float)(0.5 * demo_normal(&r));
    make_points(&r, centres, train, ytrain, DEMO_TRAIN, 1.0f);
    make_points(&r, centres, test, ytest, DEMO_TEST, 1.0f);
    for (int i = 0; i < DEMO_TRAIN; i++)
        perm[i] = i;

    mw_sgd_options so = {0.9f, 5e-4f, true};
    if (mw_exec_create(g, rt, &ex) != MW_OK) {
        fail("planning the graph");
        goto done;
    }
    if (mw_exec_init_params(ex, (uint64_t)seed) != MW_OK) {
        fail("initialising");
        goto done;
    }
    if (mw_sgd_create(ex, &so, &sgd) != MW_OK) {
        fail("creating the optimizer");
        goto done;
    }
    mw_exec_arenas arenas = mw_exec_get_arenas(ex);
    printf("parameters: %zu floats\n", arenas.trainable_floats);

    double t0 = now_seconds();
    for (long step = 0; step < steps; step++) {
        int start = (int)((step * DEMO_BATCH) % (DEMO_TRAIN - DEMO_BATCH));
        draw_memory(&r, perm, train, mem, mem_idx);
        float l = 0;
        if (mw_exec_write(ex, e, train + start * DEMO_DIM, DEMO_BATCH * DEMO_DIM * 4) != MW_OK ||
            mw_exec_write(ex, m, mem, DEMO_MEMORY * DEMO_DIM * 4) != MW_OK ||
            mw_exec_write(ex, y, ytrain + start, DEMO_BATCH * 4) != MW_OK ||
            mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD) != MW_OK ||
            mw_exec_read(ex, loss, &l, 4) != MW_OK) {
            fail("training step");
            goto done;
        }
        if (!isfinite(l)) {
            fprintf(stderr, "memwrap demo: the loss became %g at step %ld\n", (double)l, step);
            goto done;
        }
        if (mw_sgd_step(sgd, 0.1f) != MW_OK) {
            fail("optimizer step");
            goto done;
        }
        double t = now_seconds();
        if (step == 0 || (step + 1) % 50 == 0 || step + 1 == steps) {
            double rate = (step + 1) * DEMO_BATCH / (t - t0);
            fprintf(stderr, "step %4ld/%ld  loss %.4f  %.0f samples/s\n", step + 1, steps,
                    (double)l, rate);
        }
    }

    /* evaluation: forward only, one fresh memory set per test batch, as the paper's protocol */
    int correct = 0, shown = 0;
    for (int start = 0; start + DEMO_BATCH <= DEMO_TEST; start += DEMO_BATCH) {
        draw_memory(&r, perm, train, mem, mem_idx);
        if (mw_exec_write(ex, e, test + start * DEMO_DIM, DEMO_BATCH * DEMO_DIM * 4) != MW_OK ||
            mw_exec_write(ex, m, mem, DEMO_MEMORY * DEMO_DIM * 4) != MW_OK ||
            mw_exec_run(ex, MW_RUN_FORWARD) != MW_OK ||
            mw_exec_read(ex, out.logits, logits, DEMO_BATCH * DEMO_CLASSES * 4) != MW_OK ||
            mw_exec_read(ex, out.content_weights, weights, DEMO_BATCH * DEMO_MEMORY * 4) != MW_OK) {
            fail("evaluation");
            goto done;
        }
        for (int i = 0; i < DEMO_BATCH; i++) {
            int best = 0;
            for (int c = 1; c < DEMO_CLASSES; c++)
                if (logits[i * DEMO_CLASSES + c] > logits[i * DEMO_CLASSES + best]) best = c;
            correct += best == ytest[start + i];
            if (!shown) {
                shown = 1;
                int support = 0, top = 0;
                for (int j = 0; j < DEMO_MEMORY; j++) {
                    support += weights[i * DEMO_MEMORY + j] > 0;
                    if (weights[i * DEMO_MEMORY + j] > weights[i * DEMO_MEMORY + top]) top = j;
                }
                printf("explanation of test sample %d (true class %d, predicted %d): %d of %d "
                       "memory samples have weight > 0; the heaviest, training sample %d "
                       "(class %d), weighs %.3f\n",
                       start + i, ytest[start + i], best, support, DEMO_MEMORY, mem_idx[top],
                       ytrain[mem_idx[top]], (double)weights[i * DEMO_MEMORY + top]);
            }
        }
    }
    int evaluated = DEMO_TEST / DEMO_BATCH * DEMO_BATCH;
    printf("held-out accuracy: %.2f%% of %d samples after %ld steps (%.2f s)\n",
           100.0 * correct / evaluated, evaluated, steps, now_seconds() - t0);
    rc = MW_EXIT_OK;
done:
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_runtime_free(rt);
    mw_graph_free(g);
    free(centres), free(train), free(test), free(ytrain), free(ytest), free(mem), free(logits);
    free(weights), free(perm);
    return rc;
}
