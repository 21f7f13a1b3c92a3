/* The cells of a `memwrap train` grid (see train_grid.h). */
#define _POSIX_C_SOURCE 200809L /* access */
#include "train_grid.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "io/atomic_file.h"
#include "memwrap/explain.h"

#include "mw_commit.h" /* MEMWRAP_COMMIT, generated at build time by apps/commit.cmake */

/* Bounded copy (truncating long names rather than overflowing). */
static void copy_text(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void format_time(double s, char *out, size_t cap) {
    if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

void mw_grid_progress(const mw_progress *p, void *user) {
    mw_grid *g = user;
    if (g->serve) g->serve(g->serve_user);
    if (g->quiet) return;
    if (strcmp(p->phase, "train") != 0 && strcmp(p->phase, "eval") != 0) {
        if (g->who[0] && (g->tty || p->step == p->steps || strcmp(p->phase, "explain") == 0))
            fputs(g->who, stderr);
        mw_explain_progress(p, g->tty); /* the config's explanations after a run */
        return;
    }
    bool train = strcmp(p->phase, "train") == 0;
    bool last = p->step == p->steps;
    if (!g->tty && !last) return; /* plain logs: one line per epoch (or eval pass) */
    char eta[32];
    format_time(p->eta_s, eta, sizeof eta);
    if (train)
        fprintf(stderr,
                "%s%s[%d/%d] %s/%s n=%ld run %d: epoch %d/%d step %d/%d loss %.4f lr %.4g "
                "%.0f img/s ETA %s%s",
                g->tty ? "\r\033[K" : "", g->who, g->index, g->total, p->spec->model.name,
                mw_variant_name(p->spec->variant), p->spec->train_examples, p->spec->run, p->epoch,
                p->epochs, p->step, p->steps, (double)p->loss, (double)p->lr, p->images_per_s, eta,
                g->tty ? "" : "\n");
    else
        fprintf(stderr, "%s%s[%d/%d] evaluating: pass %d/%d batch %d/%d, %.0f img/s%s",
                g->tty ? "\r\033[K" : "", g->who, g->index, g->total, p->epoch, p->epochs, p->step,
                p->steps, p->images_per_s, g->tty ? "" : "\n");
    fflush(stderr);
}

mw_status mw_grid_cell(const mw_config *c, int i, mw_run_spec *spec) {
    int r = i % c->runs;
    i /= c->runs;
    int vi = i % c->n_variants;
    i /= c->n_variants;
    int si = i % c->n_sizes;
    int mi = i / c->n_sizes;
    *spec = (mw_run_spec){
        .variant = c->variants[vi], .train_examples = c->train_examples[si], .run = r};
    return mw_config_encoder(c, c->models[mi], &spec->model); /* resolved when loaded */
}

/* explanations.json, the mark of a finished explanation, of a run's default explain folder */
static void explanation_paths(const mw_grid *g, const mw_run_spec *spec, char *checkpoint,
                              size_t ccap, char *dir, size_t dcap, char *done, size_t cap) {
    char base[512];
    mw_run_basename(g->t.run, spec, base, sizeof base);
    snprintf(checkpoint, ccap, "%s/%s.safetensors", g->out_dir, base);
    mw_explain_default_dir(checkpoint, dir, dcap);
    snprintf(done, cap, "%s/explanations.json", dir);
}

static bool wants_explanation(const mw_grid *g, const mw_run_spec *spec) {
    return mw_variant_has_attention(spec->variant) &&
           (g->cfg->explain.images > 0 || g->cfg->explain.metrics ||
            g->cfg->explain.counterfactuals);
}

mw_cell_work mw_grid_cell_work(const mw_grid *g, const mw_run_spec *spec) {
    if (!mw_results_find(&g->results, g->cfg->run.dataset, spec->model.name,
                         mw_variant_name(spec->variant), spec->train_examples, spec->run))
        return MW_CELL_TRAIN;
    if (!wants_explanation(g, spec)) return MW_CELL_DONE;
    char checkpoint[1400], dir[2048], done[2200];
    explanation_paths(g, spec, checkpoint, sizeof checkpoint, dir, sizeof dir, done, sizeof done);
    return access(done, F_OK) == 0 ? MW_CELL_DONE : MW_CELL_EXPLAIN;
}

void mw_grid_skip(mw_grid *g, const mw_run_spec *spec) {
    fprintf(stderr, "%s[%d/%d] %s/%s n=%ld run %d: done earlier, skipped\n", g->who, g->index,
            g->total, spec->model.name, mw_variant_name(spec->variant), spec->train_examples,
            spec->run);
    mw_train_remove_resume(&g->t, spec); /* killed before it was removed */
}

mw_status mw_grid_train(mw_grid *g, const mw_run_spec *spec, mw_result_row *row) {
    char base[512], resume[1400];
    mw_run_basename(g->t.run, spec, base, sizeof base);
    mw_train_resume_path(&g->t, spec, resume, sizeof resume);
    if (!g->quiet && access(resume, F_OK) == 0)
        fprintf(stderr, "%s[%d/%d] %s: resuming from its last completed epoch\n", g->who, g->index,
                g->total, base);
    mw_run_result res;
    mw_status s = mw_train_run(&g->t, spec, &res);
    if (g->tty && !g->quiet) fprintf(stderr, "\n");
    if (s != MW_OK) return s;
    const char *model = spec->model.name, *variant = mw_variant_name(spec->variant);
    *row = (mw_result_row){.train_examples = spec->train_examples,
                           .run = spec->run,
                           .accuracy = res.accuracy,
                           .seconds = res.seconds,
                           .train_count = res.train_count,
                           .repeats = res.repeats,
                           .n_epochs = res.n_epochs,
                           .epochs = res.epochs}; /* the row takes the log */
    memcpy(row->repeat_accuracy, res.repeat_accuracy, sizeof row->repeat_accuracy);
    row->has_majority = res.has_majority;
    row->mvo_accuracy = res.mvo_accuracy;
    row->mvy_accuracy = res.mvy_accuracy;
    copy_text(row->dataset, sizeof row->dataset, g->t.run->dataset);
    copy_text(row->model, sizeof row->model, model);
    copy_text(row->variant, sizeof row->variant, variant);
    copy_text(row->device, sizeof row->device, g->dev->name);
    copy_text(row->commit, sizeof row->commit, MEMWRAP_COMMIT);
    const char *slash = strrchr(res.checkpoint, '/');
    copy_text(row->checkpoint, sizeof row->checkpoint, slash ? slash + 1 : res.checkpoint);
    g->resumed = res.resumed_from_epoch > 0;
    return MW_OK;
}

void mw_grid_print_result(const mw_grid *g, const mw_run_spec *spec, const mw_result_row *row) {
    if (g->quiet) return;
    fprintf(stderr, "%s[%d/%d] %s/%s n=%ld run %d: accuracy %.2f%% (%d images, %.0f s%s)\n", g->who,
            g->index, g->total, spec->model.name, mw_variant_name(spec->variant),
            spec->train_examples, spec->run, row->accuracy, row->train_count, row->seconds,
            g->resumed ? ", resumed" : "");
}

/* The results in the grid's order whatever order the runs finished in (over several
 * processes they finish in any): rows of other grids first, as they were. */
static int row_cell(const mw_grid *g, const mw_result_row *row) {
    if (strcmp(row->dataset, g->cfg->run.dataset) != 0) return -1;
    for (int i = 0; i < g->total; i++) {
        mw_run_spec spec;
        if (mw_grid_cell(g->cfg, i, &spec) != MW_OK) return -1;
        if (strcmp(spec.model.name, row->model) == 0 &&
            strcmp(mw_variant_name(spec.variant), row->variant) == 0 &&
            spec.train_examples == row->train_examples && spec.run == row->run)
            return i;
    }
    return -1;
}

static mw_status sort_rows(mw_grid *g) {
    mw_results *r = &g->results;
    int *key = malloc((size_t)(r->count ? r->count : 1) * sizeof *key);
    if (!key) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for results");
    for (int i = 0; i < r->count; i++)
        key[i] = row_cell(g, &r->rows[i]);
    for (int i = 1; i < r->count; i++) { /* insertion sort: stable, and nearly sorted input */
        mw_result_row row = r->rows[i];
        int k = key[i], j = i;
        for (; j > 0 && key[j - 1] > k; j--) {
            r->rows[j] = r->rows[j - 1];
            key[j] = key[j - 1];
        }
        r->rows[j] = row;
        key[j] = k;
    }
    free(key);
    return MW_OK;
}

mw_status mw_grid_record(mw_grid *g, const mw_run_spec *spec, const mw_result_row *row) {
    mw_status s = mw_results_add(&g->results, row); /* copies the training log */
    if (s == MW_OK) s = sort_rows(g);
    if (s == MW_OK) s = mw_results_write(&g->results, g->out_dir, g->config_json);
    if (s == MW_OK) mw_train_remove_resume(&g->t, spec);
    return s;
}

mw_status mw_grid_explain(mw_grid *g, const mw_run_spec *spec) {
    if (!wants_explanation(g, spec)) return MW_OK;
    char checkpoint[1400], dir[2048], done[2200];
    explanation_paths(g, spec, checkpoint, sizeof checkpoint, dir, sizeof dir, done, sizeof done);
    if (access(done, F_OK) == 0) return MW_OK;
    mw_explain_options o = {.out_dir = dir,
                            .images = g->cfg->explain.images,
                            .metrics = g->cfg->explain.metrics,
                            .repeats = g->cfg->explain.repeats,
                            .counterfactuals = g->cfg->explain.counterfactuals,
                            .cf_inputs = g->cfg->explain.cf_inputs,
                            .cf_proto_inputs = g->cfg->explain.cf_proto_inputs,
                            .cf_iterations = g->cfg->explain.cf_iterations,
                            .ae_epochs = g->cfg->explain.ae_epochs,
                            .ae_images = g->cfg->explain.ae_images,
                            .seed = (uint64_t)spec->run};
    mw_explain_summary sum;
    mw_status s = mw_explain_run(&g->t, spec, checkpoint, &o, &sum);
    if (g->tty) fprintf(stderr, "\n");
    if (s != MW_OK) return s;
    char base[512];
    mw_run_basename(g->t.run, spec, base, sizeof base);
    fprintf(stderr, "%s[%d/%d] %s: explained in %s/index.html", g->who, g->index, g->total, base,
            dir);
    if (sum.has_metrics)
        fprintf(stderr, " (explanation accuracy %.2f%%, example accuracy %.2f%%)",
                sum.mean.explanation_accuracy, sum.mean.example_accuracy);
    fprintf(stderr, "\n");
    return MW_OK;
}

void mw_grid_sweep(const char *out_dir) {
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
