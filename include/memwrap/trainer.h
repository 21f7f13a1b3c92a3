/* One run of the paper's protocol on a device: train a model on the run's subset for the
 * configured epochs (fresh memory every step), save it, evaluate it (one fresh memory set
 * per test batch, the pass repeated eval_repeats times). Resumable: after every epoch the
 * model, the optimizer and the generators are saved, and a run started again continues from
 * the last completed epoch with the same results as an uninterrupted one. */
#ifndef MEMWRAP_TRAINER_H
#define MEMWRAP_TRAINER_H

#include "memwrap/config.h"
#include "memwrap/data.h"
#include "memwrap/results.h"
#include "memwrap/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mw_run_spec {
    mw_encoder model; /* by value; a config-defined one refers into its config */
    mw_variant variant;
    long train_examples; /* -1: the whole training set less the validation split */
    int run;             /* run index, also the seed */
} mw_run_spec;

typedef struct mw_progress {
    const mw_run_spec *spec;
    int epoch, epochs, step, steps; /* 1-based, the step just done */
    float loss, lr;
    double images_per_s, elapsed_s, eta_s; /* eta: the rest of this run */
    const char *phase;                     /* "train" or "eval" */
} mw_progress;

typedef void (*mw_progress_fn)(const mw_progress *p, void *user);

typedef struct mw_trainer {
    mw_runtime *rt;
    const mw_config *cfg;
    const mw_dataset *train, *test;
    const char *out_dir;    /* checkpoints and resume files go here (created by mw_train_run) */
    mw_progress_fn progress; /* may be NULL */
    void *progress_user;
} mw_trainer;

typedef struct mw_run_result {
    double accuracy;      /* percent, mean of the eval repeats */
    double repeat_accuracy[MW_RESULT_MAX_REPEATS];
    int repeats;
    double seconds;       /* training + evaluation, this process */
    int resumed_from_epoch; /* 0 when trained from scratch */
    int train_count;      /* size of the subset */
    char checkpoint[1200];
    /* mw_train_run: the training log, one entry per epoch, the epochs done before a resume
     * included (restored from the resume file); malloc'd, free with mw_run_result_free.
     * NULL (n_epochs 0) from mw_evaluate_run and on failure. */
    mw_epoch_stat *epochs;
    int n_epochs;
} mw_run_result;

void mw_run_result_free(mw_run_result *r);

/* The file names of a run in out_dir: "<dataset>-<model>-<variant>-<size>-run<r>". */
void mw_run_basename(const mw_config *cfg, const mw_run_spec *spec, char *out, size_t cap);

mw_status mw_train_run(const mw_trainer *t, const mw_run_spec *spec, mw_run_result *out);

/* Evaluates a checkpoint of `spec` with the protocol (memory from the run's subset). */
mw_status mw_evaluate_run(const mw_trainer *t, const mw_run_spec *spec, const char *checkpoint,
                          mw_run_result *out);

#ifdef __cplusplus
}
#endif
#endif
