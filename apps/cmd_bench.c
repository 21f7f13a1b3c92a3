/* `memwrap bench`: training-step and inference throughput of a model on a device, with the
 * share of device time per op from OpenCL profiling events. Compile time (the first step,
 * which builds kernels) is reported apart; steps are timed after a warm-up and the median
 * is taken. Inputs are random: throughput does not depend on the data. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "memwrap/memwrap.h"

typedef struct bench_args {
    mw_model_options model;
    int test_batch, steps, warmup;
    int profile_nodes; /* the slowest nodes listed per phase */
    const char *device;
    bool json, profile;
} bench_args;

typedef struct phase_result {
    /* start-up, seconds since the command started: the graph's buffers allocated, the
     * parameters initialised, the first step launched */
    double exec_at, init_at, launch_at;
    long parameters;      /* trainable values of the model, as the reference counts them */
    size_t summed_floats; /* what a data-parallel step sums over processes (the trainable
                           * gradient arena, with its alignment padding) */
    double first_s, median_ms, images_per_s;
    mw_op_time ops[MW_OP_TIME_MAX];
    int n_ops;
    double profiled_ms;
    mw_node_time *nodes; /* a->profile_nodes of them, slowest first */
    int n_nodes;
    mw_exec_plan_stats plan; /* activations: pooled or in buffers of their own */
} phase_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: memwrap bench [--model NAME]\n"
            "                     [--variant std|memory|encoder_memory|protonet|matching]\n"
            "                     [--batch N] [--memory N] [--test-batch N] [--steps N]\n"
            "                     [--warmup N] [--channels 1|3] [--image-size N] [--queues 1|2]\n"
            "                     [--no-profile] [--profile-nodes N] [--device SPEC] [--json]\n"
            "defaults: mobilenetv2 encoder_memory, batch 128, memory 100, test batch 500,\n"
            "10 timed steps after 2 warm-up steps, 3x32x32 inputs, 2 queues\n"
            "--profile-nodes N lists the N slowest nodes (layers) of each phase beside the\n"
            "time per op, with the bytes each must move and the bandwidth that gives\n");
}

static void fill_random(float *x, size_t n, unsigned *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = (float)((*seed >> 8) * (2.0 / 16777216.0) - 1.0);
    }
}

static double started; /* when the command started (now_s) */

/* One phase: training steps (forward, backward, SGD) or inference batches. */
static mw_status run_phase(const bench_args *a, mw_runtime *rt, bool training, phase_result *r) {
    mw_model_options o = a->model;
    o.training = training;
    if (!training) o.batch = a->test_batch;
    mw_model m = {0};
    mw_exec *ex = NULL;
    mw_sgd *sgd = NULL;
    float *x = NULL, *mem = NULL;
    int32_t *labels = NULL;
    double *times = NULL;
    size_t image = (size_t)o.in_channels * o.image_size * o.image_size;
    bool with_memory = mw_variant_has_memory(o.variant);
    float *average = NULL; /* the support input of protonet and matching */
    mw_status s = mw_model_build(&o, &m);
    for (int i = 0; s == MW_OK && i < mw_graph_param_count(m.g); i++)
        r->parameters += (long)mw_tensor_numel(m.g, mw_graph_param_at(m.g, i));
    if (s == MW_OK) s = mw_exec_create(m.g, rt, &ex);
    if (s == MW_OK) r->plan = mw_exec_get_plan_stats(ex);
    r->exec_at = now_s() - started;
    if (s == MW_OK) s = mw_exec_init_params(ex, 1);
    mw_sgd_options so = {0.9f, 5e-4f, true};
    if (s == MW_OK && training) s = mw_sgd_create(ex, &so, &sgd);
    r->init_at = now_s() - started;
    if (s == MW_OK) r->summed_floats = mw_exec_get_arenas(ex).trainable_floats;
    x = malloc((size_t)o.batch * image * 4);
    mem = malloc((size_t)(o.memory > 0 ? o.memory : 1) * image * 4);
    labels = malloc((size_t)o.batch * 4);
    times = malloc((size_t)a->steps * sizeof *times);
    if (s == MW_OK && (!x || !mem || !labels || !times))
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    unsigned seed = 7;
    if (s == MW_OK) {
        fill_random(x, (size_t)o.batch * image, &seed);
        fill_random(mem, (size_t)(o.memory > 0 ? o.memory : 1) * image, &seed);
        for (int i = 0; i < o.batch; i++)
            labels[i] = i % o.classes;
    }
    if (s == MW_OK && m.support >= 0) { /* support labels j mod classes */
        int32_t *support = malloc((size_t)o.memory * sizeof *support);
        average = malloc((size_t)o.classes * o.memory * sizeof *average);
        s = support && average ? MW_OK : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int j = 0; s == MW_OK && j < o.memory; j++)
            support[j] = j % o.classes;
        if (s == MW_OK) s = mw_support_fill(o.variant, support, o.memory, o.classes, average);
        free(support);
    }
    int total = a->warmup + a->steps + (a->profile ? 2 : 0);
    for (int step = 0; step < total && s == MW_OK; step++) {
        int timed = step - a->warmup;
        if (a->profile && step == a->warmup + a->steps) {
            s = mw_exec_set_profiling(ex, true);
            mw_exec_profile_reset(ex);
        }
        double t0 = now_s();
        if (step == 0) r->launch_at = t0 - started;
        s = mw_exec_write(ex, m.images, x, (size_t)o.batch * image * 4);
        if (s == MW_OK && with_memory)
            s = mw_exec_write(ex, m.memory, mem, (size_t)o.memory * image * 4);
        if (s == MW_OK && average)
            s = mw_exec_write(ex, m.support, average,
                              (size_t)o.classes * o.memory * sizeof *average);
        if (s == MW_OK && training) s = mw_exec_write(ex, m.labels, labels, (size_t)o.batch * 4);
        if (s == MW_OK) s = mw_exec_run(ex, training ? MW_RUN_FORWARD_BACKWARD : MW_RUN_FORWARD);
        if (s == MW_OK && training) s = mw_sgd_step(sgd, 0.01f);
        if (s == MW_OK) s = mw_runtime_finish(rt);
        double dt = now_s() - t0;
        if (step == 0) r->first_s = dt;
        if (timed >= 0 && timed < a->steps) times[timed] = dt * 1e3;
        if (!a->json)
            fprintf(stderr, "\r%s step %d/%d: %.1f ms   ", training ? "train" : "infer", step + 1,
                    total, dt * 1e3);
    }
    if (!a->json) fprintf(stderr, "\n");
    if (s == MW_OK) {
        qsort(times, (size_t)a->steps, sizeof *times, compare_double);
        r->median_ms = times[a->steps / 2];
        r->images_per_s = o.batch / (r->median_ms * 1e-3);
        if (a->profile) {
            r->n_ops = mw_exec_profile(ex, r->ops, MW_OP_TIME_MAX);
            if (r->n_ops > MW_OP_TIME_MAX) r->n_ops = MW_OP_TIME_MAX;
            r->profiled_ms = 0;
            for (int i = 0; i < r->n_ops; i++)
                r->profiled_ms += r->ops[i].ms;
            if (a->profile_nodes > 0) {
                r->nodes = calloc((size_t)a->profile_nodes, sizeof *r->nodes);
                if (!r->nodes) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
                else r->n_nodes = mw_exec_profile_nodes(ex, r->nodes, a->profile_nodes);
                if (r->n_nodes > a->profile_nodes) r->n_nodes = a->profile_nodes;
            }
        }
    }
    mw_sgd_free(sgd);
    mw_exec_free(ex);
    mw_model_free(&m);
    free(x), free(mem), free(labels), free(times), free(average);
    return s;
}

static void print_phase(const char *what, int batch, const phase_result *r) {
    printf("%s: %.1f images/s (median %.1f ms per %d images; first step %.2f s: kernels "
           "built or loaded, buffers touched first)\n",
           what, r->images_per_s, r->median_ms, batch, r->first_s);
    for (int i = 0; i < r->n_ops; i++)
        printf("  %-22s %5.1f%%  %8.2f ms over %ld nodes\n", r->ops[i].op,
               100.0 * r->ops[i].ms / r->profiled_ms, r->ops[i].ms / 2, r->ops[i].nodes / 2);
    if (r->n_nodes)
        printf("  slowest nodes (F forward, B backward): ms per step, GB/s of the bytes each "
               "must move, GFLOP/s:\n");
    for (int i = 0; i < r->n_nodes; i++) {
        const mw_node_time *t = &r->nodes[i];
        double ms = t->ms / (double)t->runs;
        char flops[16] = "";
        if (t->flops > 0) snprintf(flops, sizeof flops, "%6.1f", t->flops / (ms * 1e6));
        printf("  %5d %-18s %c %7.2f ms %6.1f %6s  %s\n", t->node, t->op,
               t->backward ? 'B' : 'F', ms, t->bytes / (ms * 1e6), flops, t->what);
    }
}

static cJSON *phase_json(int batch, const phase_result *r) {
    cJSON *o = cJSON_CreateObject(), *ops = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "batch", batch);
    cJSON_AddNumberToObject(o, "images_per_s", r->images_per_s);
    cJSON_AddNumberToObject(o, "median_ms", r->median_ms);
    cJSON_AddNumberToObject(o, "first_step_s", r->first_s);
    for (int i = 0; i < r->n_ops; i++) {
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", r->ops[i].op);
        cJSON_AddNumberToObject(op, "share", r->ops[i].ms / r->profiled_ms);
        cJSON_AddNumberToObject(op, "ms_per_step", r->ops[i].ms / 2);
        cJSON_AddItemToArray(ops, op);
    }
    cJSON_AddItemToObject(o, "ops", ops);
    if (r->n_nodes) {
        cJSON *nodes = cJSON_CreateArray();
        for (int i = 0; i < r->n_nodes; i++) {
            const mw_node_time *t = &r->nodes[i];
            cJSON *n = cJSON_CreateObject();
            cJSON_AddNumberToObject(n, "node", t->node);
            cJSON_AddStringToObject(n, "op", t->op);
            cJSON_AddBoolToObject(n, "backward", t->backward);
            cJSON_AddStringToObject(n, "what", t->what);
            cJSON_AddNumberToObject(n, "ms_per_run", t->ms / (double)t->runs);
            cJSON_AddNumberToObject(n, "bytes", t->bytes);
            cJSON_AddNumberToObject(n, "flops", t->flops);
            cJSON_AddItemToArray(nodes, n);
        }
        cJSON_AddItemToObject(o, "nodes", nodes);
    }
    return o;
}

static bool parse_int(const char *v, int lo, int *out) {
    long x;
    if (!mw_arg_int(v, lo, 1 << 20, &x)) return false;
    *out = (int)x;
    return true;
}

int mw_cmd_bench(int argc, char **argv) {
    started = now_s();
    bench_args a = {.model = {.encoder = &mw_encoder_mobilenetv2,
                              .variant = MW_VARIANT_ENCODER_MEMORY,
                              .in_channels = 3,
                              .image_size = 32,
                              .classes = 10,
                              .batch = 128,
                              .memory = 100,
                              .dropout = -1,
                              .overlap_branches = true},
                    .test_batch = 500,
                    .steps = 10,
                    .warmup = 2,
                    .profile = true};
    mw_status s = MW_OK;
    for (int i = 1; i < argc && s == MW_OK; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int queues = 2;
        bool ok = true, takes_value = true;
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        } else if (strcmp(f, "--json") == 0) {
            a.json = true, takes_value = false;
        } else if (strcmp(f, "--no-profile") == 0) {
            a.profile = false, takes_value = false;
        } else if (strcmp(f, "--profile-nodes") == 0) {
            ok = parse_int(v, 1, &a.profile_nodes);
        } else if (strcmp(f, "--model") == 0 && v) {
            s = mw_encoder_from_name(v, &a.model.encoder);
        } else if (strcmp(f, "--variant") == 0 && v) {
            s = mw_variant_from_name(v, &a.model.variant);
        } else if (strcmp(f, "--device") == 0 && v) {
            a.device = v;
        } else if (strcmp(f, "--batch") == 0) {
            ok = parse_int(v, 1, &a.model.batch);
        } else if (strcmp(f, "--memory") == 0) {
            ok = parse_int(v, 1, &a.model.memory);
        } else if (strcmp(f, "--test-batch") == 0) {
            ok = parse_int(v, 1, &a.test_batch);
        } else if (strcmp(f, "--steps") == 0) {
            ok = parse_int(v, 1, &a.steps);
        } else if (strcmp(f, "--warmup") == 0) {
            ok = parse_int(v, 1, &a.warmup);
        } else if (strcmp(f, "--channels") == 0) {
            ok = parse_int(v, 1, &a.model.in_channels);
        } else if (strcmp(f, "--image-size") == 0) {
            ok = parse_int(v, 8, &a.model.image_size);
        } else if (strcmp(f, "--queues") == 0) {
            ok = parse_int(v, 1, &queues) && queues <= 2;
            a.model.overlap_branches = queues == 2;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "memwrap bench: bad argument '%s'\n", f);
            usage(stderr);
            return MW_EXIT_USAGE;
        }
        if (takes_value) i++;
    }
    if (s == MW_OK && a.profile_nodes && !a.profile) {
        fprintf(stderr, "memwrap bench: --profile-nodes needs the profile that --no-profile "
                        "turns off\n");
        return MW_EXIT_USAGE;
    }
    if (s != MW_OK) {
        fprintf(stderr, "memwrap bench: %s\n", mw_error_message());
        return mw_exit_code(s);
    }
    mw_runtime_options ro = {.device_spec = a.device, .profiling = a.profile};
    mw_runtime *rt = NULL;
    s = mw_runtime_create(&ro, &rt);
    double runtime_at = now_s() - started;
    if (s != MW_OK) {
        fprintf(stderr, "memwrap bench: %s\n", mw_error_message());
        return mw_exit_code(s);
    }
    const mw_device_info *d = mw_runtime_device(rt);
    if (!a.json)
        printf("device %d:%d %s / %s; %s %s, %dx%dx%d input, batch %d, memory %d, test batch %d\n",
               d->platform_index, d->device_index, d->platform_name, d->name, a.model.encoder->name,
               mw_variant_name(a.model.variant), a.model.in_channels, a.model.image_size,
               a.model.image_size, a.model.batch, a.model.memory, a.test_batch);
    phase_result train = {0}, infer = {0};
    s = run_phase(&a, rt, true, &train);
    if (s == MW_OK && !a.json)
        printf("parameters: %ld; a data-parallel step sums %.1f MB of gradients\n",
               train.parameters, (double)train.summed_floats * 4 / 1e6);
    if (s == MW_OK && !a.json) {
        const mw_exec_plan_stats *p = &train.plan;
        if (p->pooled_tensors)
            printf("training activations: %.1f MB, reused in %.1f MB of pool buffers\n",
                   p->unpooled_bytes / 1e6, p->pool_bytes / 1e6);
        else
            printf("training activations: %.1f MB, each in a buffer of its own (pooling off: "
                   "MEMWRAP_ACTIVATION_POOL, NVIDIA's platform)\n",
                   p->unpooled_bytes / 1e6);
    }
    if (s == MW_OK && !a.json)
        printf("start-up: device and kernel programs ready at %.2f s, graph and buffers at %.2f "
               "s, parameters at %.2f s: first training step launched at %.2f s (since the "
               "command started; %llu programs built, %llu from the cache)\n",
               runtime_at, train.exec_at, train.init_at, train.launch_at,
               (unsigned long long)mw_runtime_get_stats(rt)->program_builds,
               (unsigned long long)mw_runtime_get_stats(rt)->program_cache_hits);
    if (s == MW_OK && !a.json) print_phase("train step", a.model.batch, &train);
    if (s == MW_OK) s = run_phase(&a, rt, false, &infer);
    if (s == MW_OK && !a.json && infer.plan.folded_batch_norms > 0)
        printf("inference: %d batch norms folded into their convolutions (MEMWRAP_BN_FOLD=off "
               "runs them apart)\n",
               infer.plan.folded_batch_norms);
    if (s == MW_OK && !a.json) print_phase("inference", a.test_batch, &infer);
    if (s == MW_OK && a.json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", d->name);
        cJSON_AddStringToObject(root, "platform", d->platform_name);
        cJSON_AddStringToObject(root, "model", a.model.encoder->name);
        cJSON_AddStringToObject(root, "variant", mw_variant_name(a.model.variant));
        cJSON_AddNumberToObject(root, "memory", a.model.memory);
        cJSON_AddNumberToObject(root, "parameters", (double)train.parameters);
        cJSON_AddNumberToObject(root, "allreduce_bytes", (double)train.summed_floats * 4);
        cJSON_AddNumberToObject(root, "activation_bytes", (double)train.plan.unpooled_bytes);
        cJSON_AddNumberToObject(root, "activation_pool_bytes", (double)train.plan.pool_bytes);
        cJSON_AddBoolToObject(root, "activations_pooled", train.plan.pooled_tensors > 0);
        cJSON_AddNumberToObject(root, "inference_folded_batch_norms",
                                infer.plan.folded_batch_norms);
        cJSON *up = cJSON_CreateObject();
        cJSON_AddNumberToObject(up, "runtime_ready_s", runtime_at);
        cJSON_AddNumberToObject(up, "graph_ready_s", train.exec_at);
        cJSON_AddNumberToObject(up, "parameters_ready_s", train.init_at);
        cJSON_AddNumberToObject(up, "first_step_launched_s", train.launch_at);
        cJSON_AddNumberToObject(up, "programs_built",
                                (double)mw_runtime_get_stats(rt)->program_builds);
        cJSON_AddNumberToObject(up, "programs_from_cache",
                                (double)mw_runtime_get_stats(rt)->program_cache_hits);
        cJSON_AddItemToObject(root, "startup", up);
        cJSON_AddItemToObject(root, "train", phase_json(a.model.batch, &train));
        cJSON_AddItemToObject(root, "inference", phase_json(a.test_batch, &infer));
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    }
    if (s != MW_OK) fprintf(stderr, "memwrap bench: %s\n", mw_error_message());
    free(train.nodes), free(infer.nodes);
    mw_runtime_free(rt);
    return mw_exit_code(s);
}
