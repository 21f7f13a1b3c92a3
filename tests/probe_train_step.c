/* Not a test: one training forward and backward of a whole model at a real step's shape, from
 * a checkpoint and a batch written by tests/reference/compare_train_step.py, with the loss,
 * logits, content weights, every parameter's gradient and, at every convolution, its output and
 * the gradients at its input and output written out for that script to
 * compare with PyTorch's. Run by hand (see the script):
 *   build/tests/probe_train_step ENCODER VARIANT CHECKPOINT INPUTS OUTPUT
 *   build/tests/probe_train_step subset DATASET_COUNT VALIDATION SIZE RUN OUTPUT
 *   build/tests/probe_train_step stream DATASET_COUNT VALIDATION SIZE RUN EPOCHS MEMORY OUTPUT
 *   build/tests/probe_train_step steps ENCODER VARIANT INIT STEPS OUTPUT
 *   build/tests/probe_train_step init ENCODER VARIANT SEED OUTPUT
 * INPUTS holds "images" [B, C, H, W], "memory" [M, C, H, W] (memory variants) and "labels"
 * [B] (int32 or int64); the model's batch and memory sizes are theirs. With PROBE_REFERENCE
 * set, the step runs on the plain-C reference backend instead of the OpenCL device; with
 * PROBE_PROFILE=1 or 2 on the GPU-shaped or CPU-shaped kernels (mw_kernel_profile); with
 * PROBE_WARMUP set, after a first step on other data (PROBE_WARMUP=sgd: and an SGD update). */
#include "support.h"

#include "graph/graph_internal.h"
#include "memwrap/protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t dim_of(const mw_safetensors *st, const char *name, int d) {
    const mw_st_tensor *t = mw_safetensors_find(st, name);
    if (!t || t->ndim <= d) {
        fprintf(stderr, "inputs: no tensor '%s' of %d dimensions\n", name, d + 1);
        exit(2);
    }
    return t->shape[d];
}

/* `subset DATASET_COUNT VALIDATION SIZE RUN OUTPUT`: the run's training subset, as
 * mw_protocol_subset draws it, as "subset" [SIZE] int32. */
static int write_subset(char **argv) {
    int32_t *subset = NULL;
    int count = 0;
    TEST_OK(mw_protocol_subset(atoi(argv[2]), atoi(argv[3]), atol(argv[4]),
                               (uint64_t)atoll(argv[5]), &subset, &count));
    int64_t shape[1] = {count};
    mw_st_write_item item = {"subset", MW_ST_I32, 1, shape, subset};
    TEST_OK(mw_safetensors_write(argv[6], &item, 1, NULL));
    free(subset);
    return 0;
}

/* `stream DATASET_COUNT VALIDATION SIZE RUN EPOCHS MEMORY OUTPUT`: what `memwrap train`
 * feeds run RUN of a dataset without flips, drawn through the same protocol functions as
 * engine/train/trainer.c draws it: "subset" [n], per step "batches" [S, 128] and
 * "memory" [S, MEMORY] dataset indices, and "init_seed" [1], the seed for `init`. */
static int write_stream(char **argv) {
    int32_t *subset = NULL;
    int n = 0, epochs = atoi(argv[6]), M = atoi(argv[7]);
    uint64_t run = (uint64_t)atoll(argv[5]);
    TEST_OK(mw_protocol_subset(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), run, &subset, &n));
    int batch = n < 128 ? n : 128, steps = mw_protocol_steps_per_epoch(n, batch);
    mw_rng rngs[MW_RNG_PURPOSES];
    mw_protocol_run_generators(run, rngs);
    int64_t init_seed = (int64_t)mw_rng_next(&rngs[MW_RNG_INIT]);
    int32_t *order = malloc((size_t)n * sizeof *order), *scratch = malloc((size_t)n * 4);
    int32_t *batches = malloc((size_t)epochs * steps * batch * 4);
    int32_t *memory = malloc((size_t)epochs * steps * (M ? M : 1) * 4);
    if (!order || !scratch || !batches || !memory) return 1;
    for (int i = 0; i < n; i++)
        scratch[i] = i;
    for (int e = 0, k = 0; e < epochs; e++) {
        mw_rng_permutation(&rngs[MW_RNG_SHUFFLE], order, n);
        for (int s = 0; s < steps; s++, k++) {
            mw_protocol_batch_indices(subset, order, s, batch, batches + (size_t)k * batch);
            if (M)
                TEST_OK(mw_protocol_draw_memory(&rngs[MW_RNG_MEMORY], subset, n, M, scratch,
                                                memory + (size_t)k * M));
        }
    }
    int64_t sshape[1] = {n}, bshape[2] = {(int64_t)epochs * steps, batch};
    int64_t mshape[2] = {(int64_t)epochs * steps, M}, ishape[1] = {1};
    mw_st_write_item items[4] = {{"subset", MW_ST_I32, 1, sshape, subset},
                                 {"batches", MW_ST_I32, 2, bshape, batches},
                                 {"init_seed", MW_ST_I64, 1, ishape, &init_seed},
                                 {"memory", MW_ST_I32, 2, mshape, memory}};
    TEST_OK(mw_safetensors_write(argv[8], items, M ? 4 : 3, NULL));
    free(subset), free(order), free(scratch), free(batches), free(memory);
    return 0;
}

/* `steps ENCODER VARIANT INIT STEPS OUTPUT`: from checkpoint INIT, one SGD step (momentum
 * 0.9, Nesterov, weight decay 5e-4) per entry of STEPS ("images" [S, B, C, H, W], "memory"
 * [S, M, C, H, W] for memory variants, "labels" [S, B], "lr" [S]); writes "losses" [S] to
 * OUTPUT and the final state to OUTPUT.ckpt.safetensors. */
static int run_steps(char **argv) {
    const mw_encoder *e = NULL;
    mw_variant v;
    mw_safetensors *in = NULL;
    TEST_OK(mw_encoder_from_name(argv[2], &e));
    TEST_OK(mw_variant_from_name(argv[3], &v));
    TEST_OK(mw_safetensors_load(argv[5], &in));
    bool memory = mw_variant_has_memory(v);
    int S = (int)dim_of(in, "images", 0), B = (int)dim_of(in, "images", 1);
    int C = (int)dim_of(in, "images", 2), H = (int)dim_of(in, "images", 3);
    int M = memory ? (int)dim_of(in, "memory", 1) : 0;
    size_t image = (size_t)C * H * H;
    float *x = malloc((size_t)S * B * image * 4), *mem = malloc((size_t)S * (M ? M : 1) * image * 4);
    float *lr = malloc((size_t)S * 4), *losses = malloc((size_t)S * 4);
    int32_t *labels = malloc((size_t)S * B * 4);
    int64_t xs[5] = {S, B, C, H, H}, ms[5] = {S, M, C, H, H}, ls[2] = {S, B}, ss[1] = {S};
    TEST_OK(mw_safetensors_read_f32(in, "images", 5, xs, x, (size_t)S * B * image));
    TEST_OK(mw_safetensors_read_i32(in, "labels", 2, ls, labels, (size_t)S * B));
    TEST_OK(mw_safetensors_read_f32(in, "lr", 1, ss, lr, (size_t)S));
    if (memory) TEST_OK(mw_safetensors_read_f32(in, "memory", 5, ms, mem, (size_t)S * M * image));
    mw_model_options o = {.encoder = e, .variant = v, .in_channels = C, .image_size = H,
                          .classes = 10, .batch = B, .memory = M, .dropout = -1,
                          .training = true};
    mw_model m;
    mw_exec *ex = NULL;
    mw_sgd *sgd = NULL;
    mw_sgd_options so = {0.9f, 5e-4f, true};
    TEST_OK(mw_model_build(&o, &m));
    TEST_OK(mw_exec_create(m.g, test_runtime(), &ex));
    TEST_OK(mw_checkpoint_load(ex, argv[4]));
    TEST_OK(mw_sgd_create(ex, &so, &sgd));
    for (int s = 0; s < S; s++) {
        TEST_OK(mw_exec_write(ex, m.images, x + (size_t)s * B * image, (size_t)B * image * 4));
        TEST_OK(mw_exec_write(ex, m.labels, labels + (size_t)s * B, (size_t)B * 4));
        if (memory)
            TEST_OK(mw_exec_write(ex, m.memory, mem + (size_t)s * M * image, (size_t)M * image * 4));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        TEST_OK(mw_exec_read(ex, m.loss, &losses[s], 4));
        TEST_OK(mw_sgd_step(sgd, lr[s]));
        fprintf(stderr, "\rstep %d/%d loss %.4f", s + 1, S, (double)losses[s]);
    }
    fprintf(stderr, "\n");
    mw_st_write_item item = {"losses", MW_ST_F32, 1, ss, losses};
    TEST_OK(mw_safetensors_write(argv[6], &item, 1, NULL));
    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt.safetensors", argv[6]);
    TEST_OK(mw_checkpoint_save(ex, ckpt, NULL));
    return 0;
}

/* `init ENCODER VARIANT SEED OUTPUT`: a model initialised as `memwrap train` does, saved. */
static int write_init(char **argv) {
    const mw_encoder *e = NULL;
    mw_variant v;
    TEST_OK(mw_encoder_from_name(argv[2], &e));
    TEST_OK(mw_variant_from_name(argv[3], &v));
    mw_model_options o = {.encoder = e, .variant = v, .in_channels = 1, .image_size = 28,
                          .classes = 10, .batch = 2, .memory = 2, .dropout = -1};
    mw_model m;
    mw_exec *ex = NULL;
    TEST_OK(mw_model_build(&o, &m));
    TEST_OK(mw_exec_create(m.g, test_runtime(), &ex));
    TEST_OK(mw_exec_init_params(ex, (uint64_t)atoll(argv[4])));
    TEST_OK(mw_checkpoint_save(ex, argv[5], NULL));
    return 0;
}

/* Rows [0, n) of `row` floats in reverse order, when `really`. */
static void reverse_rows(float *a, int n, size_t row, int really) {
    for (int i = 0; really && i < n / 2; i++)
        for (size_t k = 0; k < row; k++) {
            float t = a[i * row + k];
            a[i * row + k] = a[(n - 1 - i) * row + k];
            a[(n - 1 - i) * row + k] = t;
        }
}

extern int mw_kernel_profile; /* engine/ops/gemm.h: 1 GPU-shaped kernels, 2 CPU-shaped */

int main(int argc, char **argv) {
    if (getenv("PROBE_PROFILE")) mw_kernel_profile = atoi(getenv("PROBE_PROFILE"));
    if (argc == 7 && !strcmp(argv[1], "subset")) return write_subset(argv);
    if (argc == 9 && !strcmp(argv[1], "stream")) return write_stream(argv);
    if (argc == 7 && !strcmp(argv[1], "steps")) return run_steps(argv);
    if (argc == 6 && !strcmp(argv[1], "init")) return write_init(argv);
    if (argc != 6) {
        fprintf(stderr, "usage: %s ENCODER VARIANT CHECKPOINT INPUTS OUTPUT\n", argv[0]);
        return 2;
    }
    const mw_encoder *e = NULL;
    mw_variant v;
    if (mw_encoder_from_name(argv[1], &e) != MW_OK || mw_variant_from_name(argv[2], &v) != MW_OK) {
        fprintf(stderr, "%s\n", mw_error_message());
        return 2;
    }
    mw_safetensors *in = NULL;
    if (mw_safetensors_load(argv[4], &in) != MW_OK) {
        fprintf(stderr, "%s\n", mw_error_message());
        return 2;
    }
    bool memory = mw_variant_has_memory(v);
    int B = (int)dim_of(in, "images", 0), C = (int)dim_of(in, "images", 1);
    int H = (int)dim_of(in, "images", 2), M = memory ? (int)dim_of(in, "memory", 0) : 0;
    mw_model_options o = {.encoder = e,
                          .variant = v,
                          .in_channels = C,
                          .image_size = H,
                          .classes = 10,
                          .batch = B,
                          .memory = M,
                          .dropout = -1,
                          .training = true};
    mw_model m;
    mw_exec *ex = NULL;
    if (mw_model_build(&o, &m) != MW_OK) {
        fprintf(stderr, "%s\n", mw_error_message());
        return 1;
    }
    /* at every convolution's first use of its weight (the images' pass): the gradient at
     * its input and output, and its output, kept so that they can be read after the run */
    enum { INPUT_GRAD, OUTPUT_GRAD, OUTPUT, KINDS };
    static const char *const kind_names[KINDS] = {"input_grad", "output_grad", "output"};
    int ng = 0, *dx = calloc(KINDS * (size_t)m.g->n_nodes, sizeof *dx);
    int *dx_of = calloc(KINDS * (size_t)m.g->n_nodes, sizeof *dx_of);
    for (int i = 0; i < m.g->n_nodes; i++) {
        const mw_node *nd = &m.g->nodes[i];
        if (nd->op != MW_OP_CONV2D || m.g->tensors[nd->in[1]].role != MW_ROLE_PARAM) continue;
        int kept[KINDS] = {m.g->tensors[nd->in[0]].grad, m.g->tensors[nd->out[0]].grad,
                           nd->out[0]};
        bool seen = false;
        for (int j = 0; j < ng; j++) seen |= dx_of[j] == nd->in[1];
        if (kept[INPUT_GRAD] < 0 || kept[OUTPUT_GRAD] < 0 || seen) continue;
        for (int k = 0; k < KINDS; k++) {
            mw_graph_keep(m.g, kept[k]);
            dx[ng] = kept[k], dx_of[ng++] = nd->in[1];
        }
    }
    if ( mw_exec_create(m.g, getenv("PROBE_REFERENCE") ? NULL : test_runtime(), &ex) != MW_OK ||
        mw_checkpoint_load(ex, argv[3]) != MW_OK) {
        fprintf(stderr, "%s\n", mw_error_message());
        return 1;
    }
    size_t image = (size_t)C * H * H;
    float *x = malloc((size_t)B * image * 4), *mem = malloc((size_t)(M ? M : 1) * image * 4);
    int32_t *labels = malloc((size_t)B * 4);
    int64_t xs[4] = {B, C, H, H}, ms[4] = {M, C, H, H}, ls[1] = {B};
    TEST_OK(mw_safetensors_read_f32(in, "images", 4, xs, x, (size_t)B * image));
    TEST_OK(mw_safetensors_read_i32(in, "labels", 1, ls, labels, (size_t)B));
    if (memory) TEST_OK(mw_safetensors_read_f32(in, "memory", 4, ms, mem, (size_t)M * image));
    /* PROBE_WARMUP: a step on other data first (the batch and memory in reverse order, the
     * labels moved by one class); what a step leaves behind must not change the next one's
     * gradients, so the output must equal the run without it bit for bit */
    int32_t *shifted = malloc((size_t)B * 4);
    for (int i = 0; i < B; i++) shifted[i] = (labels[i] + 1) % 10;
    for (int warm = getenv("PROBE_WARMUP") ? 1 : 0; warm >= 0; warm--) {
        reverse_rows(x, B, image, warm);
        reverse_rows(mem, M, image, warm);
        TEST_OK(mw_exec_write(ex, m.images, x, (size_t)B * image * 4));
        TEST_OK(mw_exec_write(ex, m.labels, warm ? shifted : labels, (size_t)B * 4));
        if (memory) TEST_OK(mw_exec_write(ex, m.memory, mem, (size_t)M * image * 4));
        TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
        reverse_rows(x, B, image, warm); /* back in order for the measured step */
        reverse_rows(mem, M, image, warm);
        if (warm && !strcmp(getenv("PROBE_WARMUP"), "sgd")) {
            /* and an SGD step, saved: a fresh run from OUTPUT.after-sgd.safetensors must
             * match this one bit for bit (nothing derived from the weights goes stale) */
            mw_sgd *sgd = NULL;
            mw_sgd_options so = {0.9f, 5e-4f, true};
            char after[4096];
            snprintf(after, sizeof after, "%s.after-sgd.safetensors", argv[5]);
            TEST_OK(mw_sgd_create(ex, &so, &sgd));
            TEST_OK(mw_sgd_step(sgd, 0.1f));
            TEST_OK(mw_checkpoint_save(ex, after, NULL));
            mw_sgd_free(sgd);
        }
    }

    int np = mw_graph_param_count(m.g);
    int cap = np + 3 + ng, n = 0;
    mw_st_write_item *items = calloc((size_t)cap, sizeof *items);
    int64_t(*shapes)[4] = calloc((size_t)cap, sizeof *shapes);
    char(*names)[MW_NAME_MAX + 8] = calloc((size_t)cap, sizeof *names);
    int kept[3] = {m.loss, m.logits, memory ? m.content_weights : -1};
    const char *kept_names[3] = {"loss", "logits", "content_weights"};
    for (int i = 0; i < np + 3 + ng; i++) {
        int t = i < 3    ? kept[i]
                : i < np + 3 ? mw_graph_grad(m.g, mw_graph_param_at(m.g, i - 3))
                             : dx[i - np - 3];
        if (t < 0) continue;
        int nd = mw_tensor_ndim(m.g, t);
        size_t count = 1;
        for (int d = 0; d < nd; d++) count *= (size_t)(shapes[n][d] = mw_tensor_dim(m.g, t, d));
        void *buf = malloc(count * 4);
        TEST_OK(mw_exec_read(ex, t, buf, count * 4));
        if (i < 3)
            snprintf(names[n], sizeof names[n], "%s", kept_names[i]);
        else if (i >= np + 3) /* named after the weight; channel-major [C, N, H, W] */
            snprintf(names[n], sizeof names[n], "%s.%s", kind_names[(i - np - 3) % KINDS],
                     mw_tensor_name(m.g, dx_of[i - np - 3]));
        else
            snprintf(names[n], sizeof names[n], "grad.%s",
                     mw_tensor_name(m.g, mw_graph_param_at(m.g, i - 3)));
        items[n] = (mw_st_write_item){names[n], MW_ST_F32, nd, shapes[n], buf};
        n++;
    }
    TEST_OK(mw_safetensors_write(argv[5], items, n, NULL));
    float loss;
    TEST_OK(mw_exec_read(ex, m.loss, &loss, 4));
    printf("loss %.6f, %d tensors written to %s\n", (double)loss, n, argv[5]);
    return 0;
}
