/* A grid's results: results.json (one object per finished run) and results.md (mean ± std
 * per dataset, model and variant, training-set sizes as columns, as the paper's Table 1),
 * rewritten atomically after every run. A grid started again reads results.json to skip
 * the runs already done. */
#ifndef MEMWRAP_RESULTS_H
#define MEMWRAP_RESULTS_H

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mw_result_row {
    char dataset[32], model[32], variant[32];
    long train_examples; /* -1: full */
    int run;
    double accuracy;     /* percent, mean of the eval repeats */
    double seconds;
    int train_count;     /* images in the run's subset */
    char device[128], commit[48], checkpoint[256];
} mw_result_row;

typedef struct mw_results {
    mw_result_row *rows;
    int count, capacity;
} mw_results;

/* Reads dir/results.json if it exists (an empty list otherwise). */
mw_status mw_results_load(const char *dir, mw_results *r);
void mw_results_free(mw_results *r);
const mw_result_row *mw_results_find(const mw_results *r, const char *dataset, const char *model,
                                     const char *variant, long train_examples, int run);
/* Adds (or replaces the same run's) row. */
mw_status mw_results_add(mw_results *r, const mw_result_row *row);
/* Writes dir/results.json and dir/results.md atomically; `config_json` (or NULL) is stored. */
mw_status mw_results_write(const mw_results *r, const char *dir, const char *config_json);
/* The results.md text (malloc'd). */
char *mw_results_markdown(const mw_results *r);

#ifdef __cplusplus
}
#endif
#endif
