/* `memwrap train CONFIG`: runs an experiment grid (datasets x models x variants x training-set
 * sizes x runs) with the paper's protocol, writing each run's checkpoint and, after every
 * run, results.json and results.md. Started again with the same --out, it skips finished
 * runs and resumes an interrupted one from its last completed epoch. With the config's
 * "explain" block, each memory-variant run is explained after it finishes. At the end, and when
 * it stops on an error after some runs finished, it writes report.html (memwrap/report.h);
 * the report is a view of results.json, so failing to write it is said on stderr but does
 * not change the exit status, which is the training's. */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "io/atomic_file.h"
#include "io/dir_lock.h"
#include "memwrap/config.h"
#include "memwrap/explain.h"
#include "memwrap/report.h"
#include "memwrap/results.h"
#include "memwrap/trainer.h"

#include "mw_commit.h" /* MEMWRAP_COMMIT, generated at build time by apps/commit.cmake */

enum { MAX_SETS = 64 };

static void usage(FILE *to) {
    fprintf(to,
            "usage: memwrap train CONFIG.json [--out DIR] [--device SPEC] [--set KEY=VALUE ...]\n"
            "Runs the grid of CONFIG (see configs/); results.json, results.md and one\n"
            "checkpoint per run go to DIR (default runs/<config name>). Run it again with\n"
            "the same --out to continue an interrupted grid. At the end (or when it stops\n"
            "after some runs finished) it writes DIR/report.html, as `memwrap report DIR`;\n"
            "the exit status is the training's even when the report cannot be written.\n");
}

/* Bounded copy (truncating long names rather than overflowing). */
static void copy_text(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

typedef struct progress_state {
    bool tty;
    int index, total; /* run number in the grid */
} progress_state;

static void format_time(double s, char *out, size_t cap) {
    if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void on_progress(const mw_progress *p, void *user) {
    const progress_state *ps = user;
    if (strcmp(p->phase, "train") != 0 && strcmp(p->phase, "eval") != 0) {
        mw_explain_progress(p, ps->tty); /* the config's explanations after a run */
        return;
    }
    bool train = strcmp(p->phase, "train") == 0;
    bool last = p->step == p->steps;
    if (!ps->tty && !last) return; /* plain logs: one line per epoch (or eval pass) */
    char eta[32];
    format_time(p->eta_s, eta, sizeof eta);
    if (train)
        fprintf(stderr,
                "%s[%d/%d] %s/%s n=%ld run %d: epoch %d/%d step %d/%d loss %.4f lr %.4g "
                "%.0f img/s ETA %s%s",
                ps->tty ? "\r\033[K" : "", ps->index, ps->total, p->spec->model.name,
                mw_variant_name(p->spec->variant), p->spec->train_examples, p->spec->run, p->epoch,
                p->epochs, p->step, p->steps, (double)p->loss, (double)p->lr, p->images_per_s, eta,
                ps->tty ? "" : "\n");
    else
        fprintf(stderr, "%s[%d/%d] evaluating: pass %d/%d batch %d/%d, %.0f img/s%s",
                ps->tty ? "\r\033[K" : "", ps->index, ps->total, p->epoch, p->epochs, p->step,
                p->steps, p->images_per_s, ps->tty ? "" : "\n");
    fflush(stderr);
}

/* The config's "explain" block: a finished memory-variant run is explained into
 * <out>/explain/<run>/ unless it was already (explanations.json there), so a grid started
 * again explains what an interruption left unexplained and nothing twice. */
static mw_status explain_run(const mw_trainer *t, const mw_config *c, const mw_run_spec *spec,
                             const progress_state *ps) {
    if (spec->variant == MW_VARIANT_STD || (c->explain.images <= 0 && !c->explain.metrics))
        return MW_OK;
    char base[512], checkpoint[1400], dir[2048], done[2200];
    mw_run_basename(t->run, spec, base, sizeof base);
    snprintf(checkpoint, sizeof checkpoint, "%s/%s.safetensors", t->out_dir, base);
    mw_explain_default_dir(checkpoint, dir, sizeof dir);
    snprintf(done, sizeof done, "%s/explanations.json", dir);
    if (access(done, F_OK) == 0) return MW_OK;
    mw_explain_options o = {.out_dir = dir,
                            .images = c->explain.images,
                            .metrics = c->explain.metrics,
                            .repeats = c->explain.repeats,
                            .seed = (uint64_t)spec->run};
    mw_explain_summary sum;
    mw_status s = mw_explain_run(t, spec, checkpoint, &o, &sum);
    if (ps->tty) fprintf(stderr, "\n");
    if (s != MW_OK) return s;
    fprintf(stderr, "[%d/%d] %s: explained in %s/index.html", ps->index, ps->total, base, dir);
    if (sum.has_metrics)
        fprintf(stderr, " (explanation accuracy %.2f%%, example accuracy %.2f%%)",
                sum.mean.explanation_accuracy, sum.mean.example_accuracy);
    fprintf(stderr, "\n");
    return MW_OK;
}

/* Removes what writes killed in flight left in the output directory and its explanation
 * folders (the caller holds the directory's lock, so no writer is running there). */
static void sweep_leftovers(const char *out_dir) {
    int removed = mw_atomic_sweep(out_dir);
    char explain[1024];
    snprintf(explain, sizeof explain, "%s/explain", out_dir);
    DIR *d = opendir(explain);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char sub[2048];
        snprintf(sub, sizeof sub, "%s/%s", explain, e->d_name);
        removed += mw_atomic_sweep(sub);
    }
    if (d) closedir(d);
    if (removed)
        fprintf(stderr, "memwrap train: removed %d unfinished file%s of an interrupted write\n",
                removed, removed == 1 ? "" : "s");
}

int mw_cmd_train(int argc, char **argv) {
    const char *config_path = NULL, *out = NULL, *device = NULL;
    const char *sets[MAX_SETS];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        } else if (strcmp(a, "--out") == 0 && v) {
            out = v, i++;
        } else if (strcmp(a, "--device") == 0 && v) {
            device = v, i++;
        } else if (strcmp(a, "--set") == 0 && v && n_sets < MAX_SETS) {
            sets[n_sets++] = v, i++;
        } else if (a[0] != '-' && !config_path) {
            config_path = a;
        } else {
            fprintf(stderr, "memwrap train: bad argument '%s'\n", a);
            usage(stderr);
            return MW_EXIT_USAGE;
        }
    }
    if (!config_path) {
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    mw_config cfg;
    mw_status s = mw_config_load(config_path, sets, n_sets, &cfg);
    if (s != MW_OK) {
        fprintf(stderr, "memwrap train: %s\n", mw_error_message());
        return mw_exit_code(s);
    }
    if (cfg.warning[0]) fprintf(stderr, "memwrap train: warning: %s\n", cfg.warning);
    if (device) snprintf(cfg.device, sizeof cfg.device, "%s", device);
    char out_dir[768];
    if (out)
        snprintf(out_dir, sizeof out_dir, "%s", out);
    else
        snprintf(out_dir, sizeof out_dir, "runs/%s", cfg.name[0] ? cfg.name : "grid");

    mw_dataset *train = NULL, *test = NULL;
    mw_runtime *rt = NULL;
    mw_results results = {0};
    char *config_json = NULL;
    mw_dir_lock lock = {-1};
    const char *stage = "creating the output directory";
    if ((s = mw_make_dirs(out_dir)) != MW_OK) goto done;
    stage = "locking the output directory";
    if ((s = mw_dir_lock_take(out_dir, "memwrap train", &lock)) != MW_OK) goto done;
    sweep_leftovers(out_dir);
    stage = "reading results (move the file away or choose another --out)";
    if ((s = mw_results_load(out_dir, &results)) != MW_OK) goto done;
    stage = "checking the dataset";
    if ((s = mw_config_check_root(&cfg)) != MW_OK) goto done;
    stage = "loading the training set";
    if ((s = mw_dataset_load(cfg.run.dataset, cfg.data_root, MW_SPLIT_TRAIN, &train)) != MW_OK)
        goto done;
    stage = "loading the test set";
    if ((s = mw_dataset_load(cfg.run.dataset, cfg.data_root, MW_SPLIT_TEST, &test)) != MW_OK)
        goto done;
    stage = "opening the device";
    mw_runtime_options ro = {.device_spec = cfg.device[0] ? cfg.device : NULL};
    if ((s = mw_runtime_create(&ro, &rt)) != MW_OK) goto done;
    const mw_device_info *dev = mw_runtime_device(rt);
    config_json = mw_config_to_json(&cfg);
    fprintf(stderr,
            "memwrap train: %s on %d:%d %s; %s: %d training and %d test images; "
            "output in %s\n",
            cfg.name, dev->platform_index, dev->device_index, dev->name, cfg.run.dataset,
            train->count, test->count, out_dir);

    progress_state ps = {isatty(fileno(stderr)) != 0, 0,
                         cfg.n_models * cfg.n_variants * cfg.n_sizes * cfg.runs};
    /* every run of the grid takes its settings; checkpoints record the grid's config */
    mw_trainer t = {.rt = rt,
                    .run = &cfg.run,
                    .train = train,
                    .test = test,
                    .out_dir = out_dir,
                    .config_json = config_json,
                    .progress = on_progress,
                    .progress_user = &ps,
                    .keep_resume = true}; /* removed below, once the result is recorded */
    for (int mi = 0; mi < cfg.n_models && s == MW_OK; mi++)
        for (int si = 0; si < cfg.n_sizes && s == MW_OK; si++)
            for (int vi = 0; vi < cfg.n_variants && s == MW_OK; vi++)
                for (int r = 0; r < cfg.runs && s == MW_OK; r++) {
                    mw_run_spec spec = {.variant = cfg.variants[vi],
                                        .train_examples = cfg.train_examples[si],
                                        .run = r};
                    stage = "choosing the encoder"; /* known good: the config resolved it */
                    if ((s = mw_config_encoder(&cfg, cfg.models[mi], &spec.model)) != MW_OK) break;
                    ps.index++;
                    const char *model = spec.model.name;
                    const char *variant = mw_variant_name(spec.variant);
                    if (mw_results_find(&results, cfg.run.dataset, model, variant,
                                        spec.train_examples, r)) {
                        fprintf(stderr, "[%d/%d] %s/%s n=%ld run %d: done earlier, skipped\n",
                                ps.index, ps.total, model, variant, spec.train_examples, r);
                        mw_train_remove_resume(&t, &spec); /* killed before it was removed */
                        stage = "explaining";
                        s = explain_run(&t, &cfg, &spec, &ps);
                        continue;
                    }
                    char base[512], resume[1400];
                    mw_run_basename(&cfg.run, &spec, base, sizeof base);
                    mw_train_resume_path(&t, &spec, resume, sizeof resume);
                    if (access(resume, F_OK) == 0)
                        fprintf(stderr, "[%d/%d] %s: resuming from its last completed epoch\n",
                                ps.index, ps.total, base);
                    mw_run_result res;
                    stage = "training";
                    s = mw_train_run(&t, &spec, &res);
                    if (ps.tty) fprintf(stderr, "\n");
                    if (s != MW_OK) break;
                    mw_result_row row = {.train_examples = spec.train_examples,
                                         .run = r,
                                         .accuracy = res.accuracy,
                                         .seconds = res.seconds,
                                         .train_count = res.train_count,
                                         .repeats = res.repeats,
                                         .n_epochs = res.n_epochs,
                                         .epochs = res.epochs};
                    memcpy(row.repeat_accuracy, res.repeat_accuracy, sizeof row.repeat_accuracy);
                    copy_text(row.dataset, sizeof row.dataset, cfg.run.dataset);
                    copy_text(row.model, sizeof row.model, model);
                    copy_text(row.variant, sizeof row.variant, variant);
                    copy_text(row.device, sizeof row.device, dev->name);
                    copy_text(row.commit, sizeof row.commit, MEMWRAP_COMMIT);
                    const char *slash = strrchr(res.checkpoint, '/');
                    copy_text(row.checkpoint, sizeof row.checkpoint,
                              slash ? slash + 1 : res.checkpoint);
                    stage = "writing results";
                    s = mw_results_add(&results, &row); /* copies the training log */
                    mw_run_result_free(&res);
                    if (s == MW_OK) s = mw_results_write(&results, out_dir, config_json);
                    if (s == MW_OK) mw_train_remove_resume(&t, &spec);
                    fprintf(stderr,
                            "[%d/%d] %s/%s n=%ld run %d: accuracy %.2f%% (%d images, "
                            "%.0f s%s)\n",
                            ps.index, ps.total, model, variant, spec.train_examples, r,
                            res.accuracy, res.train_count, res.seconds,
                            res.resumed_from_epoch ? ", resumed" : "");
                    stage = "explaining";
                    if (s == MW_OK) s = explain_run(&t, &cfg, &spec, &ps);
                }
    if (s == MW_OK) {
        char *md = mw_results_markdown(&results);
        if (md) fputs(md, stdout);
        free(md);
    }
done:;
    int rc = MW_EXIT_OK;
    if (s != MW_OK) {
        fprintf(stderr, "memwrap train: %s: %s\n", stage, mw_error_message());
        rc = mw_exit_code(s);
    }
    if (results.count > 0) { /* a partial grid gets its report too */
        if (mw_report_write(out_dir) == MW_OK)
            fprintf(stderr, "memwrap train: report of %d finished run%s in %s/report.html\n",
                    results.count, results.count == 1 ? "" : "s", out_dir);
        else
            fprintf(stderr,
                    "memwrap train: the report was not written (%s); the results are "
                    "in %s/results.json and `memwrap report %s` tries again\n",
                    mw_error_message(), out_dir, out_dir);
    }
    mw_dir_lock_release(&lock); /* after the report: it is written into the directory too */
    free(config_json);
    mw_results_free(&results);
    mw_runtime_free(rt);
    mw_dataset_free(train);
    mw_dataset_free(test);
    return rc;
}
