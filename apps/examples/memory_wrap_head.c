/* memory_wrap_head: the Memory Wrap head on its own, through memwrap's public C API.
 *
 * In PyTorch, with the reference package (`pip install memorywrap`), a user who already has
 * an encoder writes
 *
 *     head = MemoryWrapLayer(encoder_output_dim, output_dim)
 *     logits = head(encoder(x), encoder(memory_images))
 *
 * and trains the whole thing with SGD, drawing a fresh memory set of training samples at every
 * step. This program does the same in C. The encodings are computed "elsewhere": here they are
 * synthetic (10 classes of Gaussian clusters in 64 dimensions) so the program needs no dataset
 * and runs in seconds on a CPU. With a real encoder, its output tensors take the place of the
 * two graph inputs below, and the gradients that mw_head_build's graph computes for them
 * (Memory Wrap does not detach the memory) flow on into the encoder.
 *
 * What it shows, in order:
 *   1. building a graph: two inputs (encodings e [B, d], memory encodings m [M, d]), the head
 *      (mw_head_build), a loss, and the backward pass;
 *   2. choosing an OpenCL device and planning the graph on it (mw_runtime, mw_exec);
 *   3. training with memwrap's SGD (PyTorch's, with momentum and Nesterov), a fresh memory set
 *      at every step, as the paper's protocol;
 *   4. evaluating with a fresh memory set per test batch, and reading the content weights:
 *      the memory samples with non-zero weight are the explanation of a prediction.
 *
 * Usage: memory_wrap_head [--steps N] [--device SPEC] [--min-accuracy PERCENT]
 * Exit status: 0 ok, 1 a library or device failure (the message says which), 2 bad usage,
 * 3 the test accuracy is below --min-accuracy (a check for CI).
 *
 * Build it against an installed memwrap with CMake (find_package(memwrap) and
 * target_link_libraries(... memwrap::memwrap)) or with
 *     cc memory_wrap_head.c $(pkg-config --cflags --libs memwrap) -lm -o memory_wrap_head
 * (-lm for this program's own log, cos and sqrt).
 */
#include <memwrap/memwrap.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CLASSES = 10, /* output_dim of MemoryWrapLayer */
    DIM = 64,     /* encoder_output_dim */
    BATCH = 128,  /* the paper's batch size */
    MEMORY = 100, /* the paper's memory set size */
    TRAIN = 2000, /* training encodings */
    TEST = 1280,  /* test encodings: 10 batches, so every test batch is full */
    DEFAULT_STEPS = 150,
};

enum { EXIT_USAGE = 2, EXIT_BELOW_TARGET = 3 };

/* ---- synthetic encodings ---------------------------------------------------------------- */

/* A small seeded generator (xorshift64*), so every run sees the same data. */
typedef struct rng {
    uint64_t s;
} rng;

static double uniform01(rng *r) {
    r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
    return (double)((r->s * 0x2545F4914F6CDD1Dull) >> 11) / (double)(1ull << 53);
}

static double normal01(rng *r) { /* Box-Muller */
    double u = uniform01(r) + 1e-300, v = uniform01(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int below(rng *r, int n) { /* uniform in [0, n) */
    int k = (int)(uniform01(r) * n);
    return k < n ? k : n - 1;
}

/* n encodings, each its class centre (coordinates drawn from N(0, 1)) plus N(0, 2²) noise per
 * coordinate; classes in turn, so balanced. The clusters overlap a little: a trained head gets
 * about 96% of the test encodings right, not all of them, and an untrained one about 40%. */
static void make_encodings(rng *r, const float *centres, int n, float *x, int32_t *y) {
    for (int i = 0; i < n; i++) {
        y[i] = i % CLASSES;
        for (int k = 0; k < DIM; k++)
            x[(size_t)i * DIM + k] = centres[y[i] * DIM + k] + (float)(2.0 * normal01(r));
    }
}

/* Copies MEMORY distinct training samples, chosen at random, into mem and records which ones
 * in idx: a partial Fisher-Yates shuffle of perm (a permutation of 0..TRAIN-1). The reference
 * draws the memory from its own shuffled loader over the training set, so a memory sample may
 * also be in the batch. */
static void draw_memory(rng *r, int *perm, const float *train, float *mem, int *idx) {
    for (int j = 0; j < MEMORY; j++) {
        int k = j + below(r, TRAIN - j), t = perm[j];
        perm[j] = perm[k], perm[k] = t;
        idx[j] = perm[j];
        memcpy(mem + (size_t)j * DIM, train + (size_t)perm[j] * DIM, DIM * sizeof *mem);
    }
}

static void shuffle(rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int k = below(r, i + 1), t = a[i];
        a[i] = a[k], a[k] = t;
    }
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int c = 1; c < n; c++)
        if (v[c] > v[best]) best = c;
    return best;
}

/* ---- the program -------------------------------------------------------------------------- */

static void usage(FILE *to) {
    fprintf(to,
            "usage: memory_wrap_head [--steps N] [--device SPEC] [--min-accuracy PERCENT]\n"
            "Trains memwrap's Memory Wrap head (MemoryWrapLayer(%d, %d)) on synthetic encodings\n"
            "for N SGD steps (default %d; batch %d, a fresh memory set of %d each step), then\n"
            "prints the test accuracy and the memory samples behind one prediction.\n"
            "--device: P:D, cpu, gpu, or part of a device name (default: MEMWRAP_DEVICE, else\n"
            "the first GPU, else the first device). --min-accuracy: exit 3 when the test\n"
            "accuracy is lower.\n",
            DIM, CLASSES, DEFAULT_STEPS, BATCH, MEMORY);
}

/* Reports a failed library call with the library's own message and gives the exit status. */
static int failed(const char *what) {
    fprintf(stderr, "memory_wrap_head: %s failed: %s\n", what, mw_error_message());
    return EXIT_FAILURE;
}

int main(int argc, char **argv) {
    long steps = DEFAULT_STEPS;
    double min_accuracy = -1; /* no check unless asked */
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_SUCCESS;
        } else if (strcmp(a, "--steps") == 0 && v && (steps = strtol(v, &end, 10)) > 0 &&
                   steps <= 1000000 && *v && !*end) {
            i++;
        } else if (strcmp(a, "--device") == 0 && v && *v) {
            device = v, i++;
        } else if (strcmp(a, "--min-accuracy") == 0 && v && (min_accuracy = strtod(v, &end)) >= 0 &&
                   min_accuracy <= 100 && *v && !*end) {
            i++;
        } else {
            fprintf(stderr, "memory_wrap_head: bad argument '%s'%s\n", a,
                    v || a[0] != '-' ? "" : " (missing value?)");
            usage(stderr);
            return EXIT_USAGE;
        }
    }

    /* 1. The graph. Tensor ids are small integers; builders return -1 after an error and
     * record it in the graph, so the status is checked once, after the last builder. */
    mw_graph *g = mw_graph_create();
    if (!g) {
        fprintf(stderr, "memory_wrap_head: out of memory\n");
        return EXIT_FAILURE;
    }
    const int64_t e_shape[2] = {BATCH, DIM}, m_shape[2] = {MEMORY, DIM}, y_shape[1] = {BATCH};
    int e = mw_graph_input(g, "encodings", MW_F32, 2, e_shape);
    int m = mw_graph_input(g, "memory_encodings", MW_F32, 2, m_shape);
    int y = mw_graph_input(g, "labels", MW_I32, 1, y_shape);
    /* MemoryWrapLayer(DIM, CLASSES): sparsemax attention over the memory by cosine distance,
     * then memorywrap's MLP (2d -> 4d -> classes) on [e, weights · m]. Parameters are named as
     * the reference's state_dict under the prefix ("mw.classifier.fc1.weight", ...). */
    mw_head_options head = {
        .kind = MW_HEAD_MEMORY_WRAP,
        .distance = "cosine",
        .classes = CLASSES,
        .prefix = "mw.",
        .return_weights = true, /* keep the content weights readable: the explanations */
    };
    mw_head_outputs out;
    mw_status s = mw_head_build(g, e, m, &head, &out);
    int loss = s == MW_OK ? mw_softmax_cross_entropy(g, out.logits, y) : -1;
    mw_graph_keep(g, loss);       /* read after each step */
    mw_graph_keep(g, out.logits); /* read after each evaluation batch */
    if (s != MW_OK || mw_graph_status(g) != MW_OK) {
        fprintf(stderr, "memory_wrap_head: building the head failed: %s\n", mw_graph_error(g));
        mw_graph_free(g);
        return EXIT_FAILURE;
    }
    /* Gradients of the loss for every parameter (and, were they wanted, for e and m). */
    if (mw_graph_backward(g, loss, NULL, 0) != MW_OK) {
        mw_graph_free(g);
        return failed("building the backward pass");
    }

    /* 2. The device: an OpenCL context and queues, plus a start-up self-test of CLBlast. */
    mw_runtime_options ro = {.device_spec = device};
    mw_runtime *rt = NULL;
    if (mw_runtime_create(&ro, &rt) != MW_OK) {
        mw_graph_free(g);
        return failed("opening the OpenCL device");
    }
    const mw_device_info *dev = mw_runtime_device(rt);
    printf("memwrap %s on device %d:%d, %s / %s\n", mw_version(), dev->platform_index,
           dev->device_index, dev->platform_name, dev->name);

    int rc = EXIT_FAILURE;
    mw_exec *ex = NULL;
    mw_sgd *sgd = NULL;
    float *centres = malloc(sizeof(float) * CLASSES * DIM);
    float *train = malloc(sizeof(float) * TRAIN * DIM), *test = malloc(sizeof(float) * TEST * DIM);
    int32_t *train_y = malloc(sizeof(int32_t) * TRAIN), *test_y = malloc(sizeof(int32_t) * TEST);
    float *batch = malloc(sizeof(float) * BATCH * DIM), *mem = malloc(sizeof(float) * MEMORY * DIM);
    int32_t *batch_y = malloc(sizeof(int32_t) * BATCH);
    float *logits = malloc(sizeof(float) * BATCH * CLASSES);
    float *weights = malloc(sizeof(float) * BATCH * MEMORY);
    int *order = malloc(sizeof(int) * TRAIN), *perm = malloc(sizeof(int) * TRAIN);
    int mem_idx[MEMORY];
    if (!centres || !train || !test || !train_y || !test_y || !batch || !mem || !batch_y ||
        !logits || !weights || !order || !perm) {
        fprintf(stderr, "memory_wrap_head: out of host memory\n");
        goto done;
    }

    rng r = {0x9E3779B97F4A7C15ull};
    for (int i = 0; i < CLASSES * DIM; i++)
        centres[i] = (float)normal01(&r);
    make_encodings(&r, centres, TRAIN, train, train_y);
    make_encodings(&r, centres, TEST, test, test_y);
    for (int i = 0; i < TRAIN; i++)
        order[i] = perm[i] = i;

    /* mw_exec_create plans every buffer once (no allocation during training); the parameters
     * start from PyTorch's default init, seeded. The paper's SGD: lr 0.1, momentum 0.9,
     * Nesterov, weight decay 5e-4. */
    if (mw_exec_create(g, rt, &ex) != MW_OK) {
        rc = failed("planning the graph on the device");
        goto done;
    }
    if (mw_exec_init_params(ex, 42) != MW_OK) {
        rc = failed("initialising the parameters");
        goto done;
    }
    mw_sgd_options so = {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true};
    if (mw_sgd_create(ex, &so, &sgd) != MW_OK) {
        rc = failed("creating the optimizer");
        goto done;
    }
    const float lr = 0.1f;

    /* 3. Training: shuffled batches (the last partial batch of an epoch dropped, as the
     * reference's loader), and a fresh memory set at every step. */
    printf("training MemoryWrapLayer(%d, %d) for %ld steps: batch %d, memory %d, %d training "
           "encodings\n",
           DIM, CLASSES, steps, BATCH, MEMORY, TRAIN);
    int cursor = TRAIN; /* forces a shuffle before the first batch */
    for (long step = 0; step < steps; step++) {
        if (cursor + BATCH > TRAIN) {
            shuffle(&r, order, TRAIN);
            cursor = 0;
        }
        for (int i = 0; i < BATCH; i++) {
            memcpy(batch + (size_t)i * DIM, train + (size_t)order[cursor + i] * DIM,
                   DIM * sizeof *batch);
            batch_y[i] = train_y[order[cursor + i]];
        }
        cursor += BATCH;
        draw_memory(&r, perm, train, mem, mem_idx);
        float l = 0;
        if (mw_exec_write(ex, e, batch, sizeof(float) * BATCH * DIM) != MW_OK ||
            mw_exec_write(ex, m, mem, sizeof(float) * MEMORY * DIM) != MW_OK ||
            mw_exec_write(ex, y, batch_y, sizeof(int32_t) * BATCH) != MW_OK ||
            mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD) != MW_OK ||
            mw_exec_read(ex, loss, &l, sizeof l) != MW_OK || mw_sgd_step(sgd, lr) != MW_OK) {
            rc = failed("a training step");
            goto done;
        }
        if (!isfinite(l)) {
            fprintf(stderr, "memory_wrap_head: the loss became %g at step %ld\n", (double)l,
                    step + 1);
            goto done;
        }
        if (step == 0 || (step + 1) % 50 == 0 || step + 1 == steps)
            printf("  step %4ld  loss %.4f\n", step + 1, (double)l);
    }

    /* 4. Evaluation: forward only (eval mode), a fresh memory set per test batch. The first
     * test input's content weights are kept for the explanation below. */
    int correct = 0, shown_prediction = -1, shown_idx[MEMORY];
    float shown_weights[MEMORY];
    for (int start = 0; start < TEST; start += BATCH) {
        draw_memory(&r, perm, train, mem, mem_idx);
        if (mw_exec_write(ex, e, test + (size_t)start * DIM, sizeof(float) * BATCH * DIM) !=
                MW_OK ||
            mw_exec_write(ex, m, mem, sizeof(float) * MEMORY * DIM) != MW_OK ||
            mw_exec_run(ex, MW_RUN_FORWARD) != MW_OK ||
            mw_exec_read(ex, out.logits, logits, sizeof(float) * BATCH * CLASSES) != MW_OK ||
            mw_exec_read(ex, out.content_weights, weights, sizeof(float) * BATCH * MEMORY) !=
                MW_OK) {
            rc = failed("an evaluation batch");
            goto done;
        }
        for (int i = 0; i < BATCH; i++)
            correct += argmax(logits + i * CLASSES, CLASSES) == test_y[start + i];
        if (start == 0) {
            shown_prediction = argmax(logits, CLASSES);
            memcpy(shown_weights, weights, sizeof shown_weights);
            memcpy(shown_idx, mem_idx, sizeof shown_idx);
        }
    }
    double accuracy = 100.0 * correct / TEST;

    /* The explanation: every memory sample with non-zero weight, heaviest first. Sparsemax
     * gives exact zeros, so the support is usually a handful of samples out of the memory. */
    int32_t support[MEMORY];
    int n_support = mw_explain_support(shown_weights, MEMORY, support);
    printf("test input 0 (class %d) is predicted as class %d; %d of %d memory samples have "
           "non-zero weight:\n",
           test_y[0], shown_prediction, n_support, MEMORY);
    for (int k = 0; k < n_support; k++) {
        int j = support[k];
        printf("  memory slot %3d  training sample %4d  class %d  weight %.3f%s\n", j, shown_idx[j],
               train_y[shown_idx[j]], (double)shown_weights[j],
               train_y[shown_idx[j]] == shown_prediction ? "" : "  (not the predicted class)");
    }

    printf("test accuracy: %.2f%% of %d encodings after %ld steps\n", accuracy, TEST, steps);
    rc = EXIT_SUCCESS;
    if (min_accuracy >= 0 && accuracy < min_accuracy) {
        fprintf(stderr, "memory_wrap_head: test accuracy %.2f%% is below the required %.2f%%\n",
                accuracy, min_accuracy);
        rc = EXIT_BELOW_TARGET;
    }
done:
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_runtime_free(rt);
    mw_graph_free(g);
    free(centres), free(train), free(test), free(train_y), free(test_y), free(batch), free(mem);
    free(batch_y), free(logits), free(weights), free(order), free(perm);
    return rc;
}
