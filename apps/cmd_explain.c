/* `memwrap explain CHECKPOINT`: what a trained Memory Wrap model's memory says about its
 * predictions, as pictures and numbers (memwrap/explain.h), for a checkpoint written by
 * `memwrap train`. */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "memwrap/checkpoint_run.h"
#include "memwrap/explain.h"
#include "memwrap/memwrap.h"

static void usage(FILE *to) {
    fprintf(to,
            "usage: memwrap explain CHECKPOINT.safetensors [--out DIR] [--images N] [--metrics]\n"
            "                       [--repeats R] [--memory-source subset|full] [--seed S]\n"
            "                       [--steps N] [--scale K] [--data DIR] [--device SPEC]\n"
            "                       [--counterfactuals [--cf-inputs N] [--cf-proto-inputs N]\n"
            "                        [--cf-iterations N] [--ae-epochs E] [--ae-images N]]\n"
            "Explains a Memory Wrap (or Only Memory) checkpoint written by `memwrap train`:\n"
            "  --images N       test inputs shown with their memory samples, explanation by\n"
            "                   example, counterfactual and Integrated Gradients heatmaps (8)\n"
            "  --metrics        explanation, counterfactual and example accuracy, the\n"
            "                   majority-vote baselines and the explanation by example against\n"
            "                   its baselines (twin system, nearest neighbour, random) over the\n"
            "                   test set, averaged over --repeats passes (5)\n"
            "  --memory-source  memory sets from the run's training subset (subset, default) or\n"
            "                   from every non-validation training image (full, as the\n"
            "                   reference's explanation scripts)\n"
            "  --seed S         memory draws and the choice of inputs (default: the run index)\n"
            "  --steps N        Integrated Gradients steps (40); --scale K: pixels per image\n"
            "                   pixel in the pictures (default: images at least 96 px)\n"
            "  --counterfactuals  counterfactual quality (IM1, IIM1, IM2 by per-class\n"
            "                   autoencoders) of the memory counterfactuals of the first\n"
            "                   --cf-inputs test images (640) and of CF-Proto's search on the\n"
            "                   first --cf-proto-inputs of those with one (64; 0: none),\n"
            "                   --cf-iterations FISTA steps each (1000); the autoencoders train\n"
            "                   --ae-epochs (4) on every non-validation training image, once:\n"
            "                   DIR/autoencoders.safetensors is reused by later runs;\n"
            "                   --ae-images N: at most N training images per autoencoder\n"
            "  --out DIR        default: explain/<checkpoint name>/ beside the checkpoint\n"
            "Writes DIR/index.html (open it in a browser), DIR/explanations.json and the PNGs.\n");
}

void mw_explain_progress(const mw_progress *p, bool tty) {
    bool last = p->step == p->steps;
    const char *phase = p->phase;
    /* plain logs: a line per phase's end, per explained image, per autoencoder epoch */
    if (!tty && !last && strcmp(phase, "explain") != 0 && strcmp(phase, "autoencoders") != 0)
        return;
    const char *start = tty ? "\r\033[K" : "", *end = tty ? "" : "\n";
    if (strcmp(phase, "explain") == 0)
        fprintf(stderr, "%sexplaining test image %d/%d (%.0f s)%s", start, p->step, p->steps,
                p->elapsed_s, end);
    else if (strcmp(phase, "encode") == 0)
        fprintf(stderr, "%sencoding the test set, batch %d/%d%s", start, p->step, p->steps, end);
    else if (strcmp(phase, "autoencoders") == 0) /* steps over every autoencoder's */
        fprintf(stderr, "%straining autoencoder %d/%d, step %d/%d of all, ETA %.0f s%s", start,
                p->epoch, p->epochs, p->step, p->steps, p->eta_s, end);
    else if (strcmp(phase, "prototypes") == 0)
        fprintf(stderr, "%sclass prototypes: batch %d/%d%s", start, p->step, p->steps, end);
    else if (strcmp(phase, "search") == 0)
        fprintf(stderr, "%sCF-Proto search, test batch %d: iteration %d/%d, ETA %.0f s%s", start,
                p->epoch, p->step, p->steps, p->eta_s, end);
    else if (strcmp(phase, "counterfactuals") == 0)
        fprintf(stderr, "%scounterfactuals: test batch %d/%d%s", start, p->step, p->steps, end);
    else
        fprintf(stderr, "%smetrics: pass %d/%d batch %d/%d, ETA %.0f s%s", start, p->epoch,
                p->epochs, p->step, p->steps, p->eta_s, end);
    fflush(stderr);
}

static void on_progress(const mw_progress *p, void *user) {
    mw_explain_progress(p, *(const bool *)user);
}

static void print_metric(const char *name, double v) {
    if (isfinite(v))
        printf("  %-24s %6.2f%%\n", name, v);
    else
        printf("  %-24s      -  (no such input)\n", name);
}

static void print_counterfactuals(const mw_cf_summary *cf) {
    printf("counterfactual quality over the first %ld test images (IM1 lower, IIM1 higher, IM2 "
           "lower is better):\n  %-7s %7s %6s %15s %15s %15s\n",
           cf->test_inputs, "method", "inputs", "found", "IM1", "IIM1", "IM2");
    const char *names[MW_CF_METHODS] = {"memory", "proto"};
    for (int m = 0; m < MW_CF_METHODS; m++) {
        const mw_cf_quality *q = &cf->method[m];
        printf("  %-7s %7ld %6ld", names[m], q->inputs, q->found);
        double mean[3] = {q->im1, q->iim1, q->im2}, sd[3] = {q->im1_std, q->iim1_std, q->im2_std};
        for (int k = 0; k < 3; k++)
            if (isfinite(mean[k]))
                printf(" %7.3f +- %5.3f", mean[k], sd[k]);
            else
                printf(" %15s", "-");
        printf("\n");
    }
    printf("  autoencoders: %s, %d epoch%s on %ld images", cf->ae_reused ? "reused" : "trained",
           cf->ae_epochs, cf->ae_epochs == 1 ? "" : "s",
           cf->ae_image_cap && cf->ae_image_cap < cf->ae_images ? (long)cf->ae_image_cap
                                                                : cf->ae_images);
    printf("%s; test MSE on every class %.4f\n", cf->ae_image_cap ? " at most, each" : "",
           cf->ae_test_mse[cf->classes]);
}

int mw_cmd_explain(int argc, char **argv) {
    const char *checkpoint = NULL, *data = NULL, *device = NULL, *out = NULL;
    mw_explain_options opt = {.images = -1, .cf_proto_inputs = -1};
    long seed = -1, value = 0;
    bool ok = true;
    for (int i = 1; i < argc && ok; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        } else if (strcmp(a, "--metrics") == 0) {
            opt.metrics = true;
        } else if (strcmp(a, "--counterfactuals") == 0) {
            opt.counterfactuals = true;
        } else if (strcmp(a, "--cf-inputs") == 0) {
            ok = mw_arg_int(v, 1, 1000000, &value), opt.cf_inputs = (int)value, i++;
        } else if (strcmp(a, "--cf-proto-inputs") == 0) {
            ok = mw_arg_int(v, 0, 1000000, &value), opt.cf_proto_inputs = (int)value, i++;
        } else if (strcmp(a, "--cf-iterations") == 0) {
            ok = mw_arg_int(v, 1, 100000, &value), opt.cf_iterations = (int)value, i++;
        } else if (strcmp(a, "--ae-images") == 0) {
            ok = mw_arg_int(v, 1, 100000000, &value), opt.ae_images = (int)value, i++;
        } else if (strcmp(a, "--ae-epochs") == 0) {
            ok = mw_arg_int(v, 1, 1000, &value), opt.ae_epochs = (int)value, i++;
        } else if (strcmp(a, "--data") == 0 && v) {
            data = v, i++;
        } else if (strcmp(a, "--device") == 0 && v) {
            device = v, i++;
        } else if (strcmp(a, "--out") == 0 && v) {
            out = v, i++;
        } else if (strcmp(a, "--images") == 0) {
            ok = mw_arg_int(v, 0, 10000, &value), opt.images = (int)value, i++;
        } else if (strcmp(a, "--repeats") == 0) {
            ok = mw_arg_int(v, 1, MW_EXPLAIN_MAX_REPEATS, &value), opt.repeats = (int)value, i++;
        } else if (strcmp(a, "--steps") == 0) {
            ok = mw_arg_int(v, 1, 1000, &value), opt.ig_steps = (int)value, i++;
        } else if (strcmp(a, "--scale") == 0) {
            ok = mw_arg_int(v, 1, 32, &value), opt.scale = (int)value, i++;
        } else if (strcmp(a, "--seed") == 0) {
            ok = mw_arg_int(v, 0, 0x7fffffffL, &seed), i++;
        } else if (strcmp(a, "--memory-source") == 0 && v) {
            ok = strcmp(v, "subset") == 0 || strcmp(v, "full") == 0;
            opt.memory_source =
                strcmp(v, "full") == 0 ? MW_MEMORY_FROM_FULL_TRAIN : MW_MEMORY_FROM_SUBSET;
            i++;
        } else if (a[0] != '-' && !checkpoint) {
            checkpoint = a;
        } else {
            ok = false;
        }
        if (!ok)
            fprintf(stderr, "memwrap explain: bad argument '%s%s%s'\n", a, v ? " " : "",
                    v && a[0] == '-' && strcmp(a, "--metrics") && strcmp(a, "--counterfactuals")
                        ? v
                        : "");
    }
    if (!ok || !checkpoint) {
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    char out_dir[2048];
    if (out)
        snprintf(out_dir, sizeof out_dir, "%s", out);
    else
        mw_explain_default_dir(checkpoint, out_dir, sizeof out_dir);
    opt.out_dir = out_dir;

    static mw_opened_run run; /* large (the config): not on the stack */
    const mw_run_spec *spec = &run.spec;
    mw_explain_summary sum;
    mw_status s = mw_open_run(checkpoint, data, device, true, &run);
    if (s == MW_OK) {
        opt.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)spec->run;
        const mw_device_info *dev = mw_runtime_device(run.rt);
        fprintf(stderr, "memwrap explain: %s/%s n=%ld run %d on %d:%d %s; output in %s\n",
                spec->model.name, mw_variant_name(spec->variant), spec->train_examples, spec->run,
                dev->platform_index, dev->device_index, dev->name, out_dir);
        bool tty = isatty(fileno(stderr)) != 0;
        mw_trainer t = {.rt = run.rt,
                        .run = &run.cfg.run,
                        .train = run.train,
                        .test = run.test,
                        .progress = on_progress,
                        .progress_user = &tty};
        s = mw_explain_run(&t, spec, checkpoint, &opt, &sum);
        if (tty) fprintf(stderr, "\n");
    }
    if (s == MW_OK) {
        if (sum.images)
            printf("%d test images explained; Integrated Gradients completeness: worst relative "
                   "error %.2g%% (attributions vs f(input) - f(baseline))\n",
                   sum.images, 100 * sum.worst_completeness_error);
        if (sum.has_metrics) {
            printf("explanation metrics over %ld test images, mean of %d passes:\n",
                   sum.test_inputs, sum.repeats);
            print_metric("explanation accuracy", sum.mean.explanation_accuracy);
            print_metric("counterfactual accuracy", sum.mean.counterfactual_accuracy);
            print_metric("example accuracy", sum.mean.example_accuracy);
            print_metric("accuracy", sum.mean.accuracy);
            print_metric("majority vote (MVO)", sum.mean.mvo_accuracy);
            print_metric("majority vote (MVY)", sum.mean.mvy_accuracy);
            if (isfinite(sum.mean.example_scores.input[MW_EBE_MEMORY])) {
                printf("explanation by example against its baselines (lower is more "
                       "representative):\n  %-8s %14s %14s\n",
                       "chosen by", "logit L1", "cross-entropy");
                for (int m = 0; m < MW_EBE_METHODS; m++)
                    printf("  %-8s %14.4f %14.4f\n", mw_ebe_method_name((mw_ebe_method)m),
                           sum.mean.example_scores.input[m], sum.mean.example_scores.prediction[m]);
            }
        }
        if (sum.has_counterfactuals) print_counterfactuals(&sum.counterfactuals);
        printf("open %s/index.html\n", out_dir);
    } else {
        fprintf(stderr, "memwrap explain: %s\n", mw_error_message());
    }
    mw_close_run(&run);
    return mw_exit_code(s);
}
