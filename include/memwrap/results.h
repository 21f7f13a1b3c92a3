/* A grid's results: results.json (one object per finished run) and results.md (mean ± std
 * per dataset, model and variant, training-set sizes as columns, as the paper's Table 1),
 * rewritten atomically after every run. A grid started again reads results.json to skip
 * the runs already done.
 *
 * Per run, results.json holds (besides the identifying keys) "repeat_accuracy", the
 * accuracy of each evaluation pass, and "epochs", the training log
 * [{"epoch": 1, "loss": mean training loss over the epoch's steps, "lr": lr used}, ...].
 * Both are optional when reading: files written before they existed still load. */
#ifndef MEMWRAP_RESULTS_H
#define MEMWRAP_RESULTS_H

#include <stdbool.h>

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_RESULT_MAX_REPEATS = 16 };

/* One line of a run's training log. */
typedef struct mw_epoch_stat {
    int epoch;   /* 1-based */
    double loss; /* mean of the epoch's step losses */
    double lr;   /* the learning rate of every step of the epoch */
} mw_epoch_stat;

typedef struct mw_result_row {
    char dataset[32], model[32], variant[32];
    long train_examples; /* -1: full */
    int run;
    double accuracy; /* percent, mean of the eval repeats */
    double seconds;
    int train_count; /* images in the run's subset */
    char device[128], commit[48], checkpoint[256];
    int repeats; /* 0 when unknown (older results.json) */
    double repeat_accuracy[MW_RESULT_MAX_REPEATS];
    /* Memory variants: the majority-vote baselines of the same evaluation, percent
     * ("mvo_accuracy", "mvy_accuracy"; memwrap/trainer.h); has_majority false otherwise. */
    bool has_majority;
    double mvo_accuracy, mvy_accuracy;
    /* The training log, ascending epochs (a run resumed from a resume file written before
     * the log existed starts at the resume epoch). In mw_results the rows own it; a row
     * passed to mw_results_add is only read (the log is copied). NULL when n_epochs is 0. */
    int n_epochs;
    mw_epoch_stat *epochs;
} mw_result_row;

typedef struct mw_results {
    mw_result_row *rows;
    int count, capacity;
    char *config_json; /* the "config" object read by mw_results_load, as JSON; may be NULL */
} mw_results;

/* Reads dir/results.json if it exists (an empty list otherwise). Errors name the file. */
mw_status mw_results_load(const char *dir, mw_results *r);
void mw_results_free(mw_results *r);
const mw_result_row *mw_results_find(const mw_results *r, const char *dataset, const char *model,
                                     const char *variant, long train_examples, int run);
/* Adds (or replaces the same run's) row, copying its training log. */
mw_status mw_results_add(mw_results *r, const mw_result_row *row);
/* Writes dir/results.json and dir/results.md atomically; `config_json` (or NULL) is stored. */
mw_status mw_results_write(const mw_results *r, const char *dir, const char *config_json);
/* The results.md text (malloc'd). */
char *mw_results_markdown(const mw_results *r);

/* The Table-1 grouping shared by results.md and the HTML report: one line per (dataset,
 * model, variant) in first-seen order, one column per training-set size (ascending, "full"
 * last), each cell the mean and population std of the runs' accuracies. */
typedef struct mw_result_cell {
    int n; /* runs; 0: an empty cell */
    double mean, std;
} mw_result_cell;

typedef struct mw_results_table {
    int n_sizes;
    long *sizes; /* -1: full */
    int n_lines;
    const mw_result_row **lines; /* the first row of each line (names its dataset/model/variant) */
    mw_result_cell *cells;       /* n_lines x n_sizes, row-major */
} mw_results_table;

/* `t` points into `r`'s rows: use it while `r` is unchanged. */
mw_status mw_results_table_make(const mw_results *r, mw_results_table *t);
void mw_results_table_free(mw_results_table *t);
static inline const mw_result_cell *mw_results_table_cell(const mw_results_table *t, int line,
                                                          int size) {
    return &t->cells[(size_t)line * (size_t)t->n_sizes + (size_t)size];
}

/* The paper's name of a variant: "Std", "Only Memory", "Memory Wrap"; other names as given. */
const char *mw_variant_paper_name(const char *variant);

#ifdef __cplusplus
}
#endif
#endif
