/* One run of the paper's protocol on a device: train a model on the run's subset for the
 * configured epochs (fresh memory every step), save it, evaluate it (one fresh memory set
 * per test batch, the pass repeated eval_repeats times). Resumable: after every epoch the
 * model, the optimizer and the generators are saved, and a run started again continues from
 * the last completed epoch with the same results as an uninterrupted one. */
#ifndef MEMWRAP_TRAINER_H
#define MEMWRAP_TRAINER_H

#include "memwrap/collective.h"
#include "memwrap/models.h"
#include "memwrap/schedule.h"
#include "memwrap/data.h"
#include "memwrap/results.h"
#include "memwrap/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mw_memory_source {
    MW_MEMORY_FROM_SUBSET = 0, /* memory drawn from the run's training subset (arXiv-era code) */
    MW_MEMORY_FROM_FULL_TRAIN, /* from the whole training set, no augmentation (HEAD CIFAR-10) */
} mw_memory_source;

/* The settings of one run of the protocol (reference-spec 3-4): what a grid config expands
 * into (mw_config.run), or what a C user takes from mw_run_options_defaults and changes. */
typedef struct mw_run_options {
    char dataset[32];        /* dataset.name: its normalisation, flips and class names */
    int validation_examples; /* removed from the training set before subsets are drawn */
    mw_memory_source memory_source;
    int epochs;
    mw_lr_schedule schedule; /* base_lr = optimizer.lr; cosine: t_max = epochs */
    float momentum, weight_decay;
    bool nesterov;
    int batch_size, test_batch_size, memory_examples;
    int eval_repeats;  /* 1 .. MW_RESULT_MAX_REPEATS evaluation passes */
    int test_examples; /* 0 = the whole test set; N = its first N images (smoke runs) */
    char distance[16];
} mw_run_options;

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
    const mw_run_options *run;
    const mw_dataset *train, *test;
    const char *out_dir; /* checkpoints and resume files go here (created by mw_train_run) */
    /* The config each checkpoint records (its grid's, as JSON), from which `memwrap eval` and
     * `explain` rebuild the run; NULL: mw_config_for_run's, of this run alone. */
    const char *config_json;
    mw_progress_fn progress; /* may be NULL */
    void *progress_user;
    /* false: mw_train_run removes the run's resume file once the run is evaluated. true: it
     * is left for the caller to remove (mw_train_remove_resume) after recording the result,
     * so a crash between the evaluation and the record resumes at the last epoch and only
     * evaluates again, instead of training the run from scratch (what `memwrap train` does). */
    bool keep_resume;
    /* Data-parallel training (NULL or a group of one: this process alone). Every process of
     * the group calls mw_train_run with the same run; each trains on its part of every batch
     * and the gradients are summed over the group before each step, so all hold the same
     * parameters. The first process (rank 0) alone writes the resume file and the
     * checkpoint; each process encodes its share of the test set for the evaluation, and
     * every process returns the same result. Batch norm uses each
     * process's own part of the batch (as PyTorch's DistributedDataParallel); its running
     * statistics are averaged over the group after each epoch. Every process encodes the
     * whole memory set of each step (the same draw everywhere). */
    const mw_collective *group;
} mw_trainer;

typedef struct mw_run_result {
    double accuracy; /* percent, mean of the eval repeats */
    double repeat_accuracy[MW_RESULT_MAX_REPEATS];
    int repeats;
    /* Memory variants: the paper's majority-vote baselines over the same evaluation (percent,
     * mean of the repeats): the most frequent predicted class (MVO) or true label (MVY) of
     * the memory samples with weight > 0, against the input's label (mw_explain_majority). */
    bool has_majority;
    double mvo_accuracy, mvy_accuracy;
    double seconds;         /* training + evaluation, this process */
    int resumed_from_epoch; /* 0 when trained from scratch */
    int train_count;        /* size of the subset */
    char checkpoint[1200];
    /* mw_train_run: the training log, one entry per epoch, the epochs done before a resume
     * included (restored from the resume file); malloc'd, free with mw_run_result_free.
     * NULL (n_epochs 0) from mw_evaluate_run and on failure. */
    mw_epoch_stat *epochs;
    int n_epochs;
} mw_run_result;

void mw_run_result_free(mw_run_result *r);

/* The file names of a run in out_dir: "<dataset>-<model>-<variant>-<size>-run<r>". */
void mw_run_basename(const mw_run_options *run, const mw_run_spec *spec, char *out, size_t cap);

mw_status mw_train_run(const mw_trainer *t, const mw_run_spec *spec, mw_run_result *out);

/* The resume file of `spec` in t->out_dir ("<basename>.resume.safetensors"), written after
 * every completed epoch; and its removal, if there is one (see keep_resume). */
void mw_train_resume_path(const mw_trainer *t, const mw_run_spec *spec, char *out, size_t cap);
void mw_train_remove_resume(const mw_trainer *t, const mw_run_spec *spec);

/* Evaluates a checkpoint of `spec` with the protocol (memory from the run's subset). */
mw_status mw_evaluate_run(const mw_trainer *t, const mw_run_spec *spec, const char *checkpoint,
                          mw_run_result *out);

#ifdef __cplusplus
}
#endif
#endif
