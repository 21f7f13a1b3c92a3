/* `memwrap report`: one self-contained HTML page (inline CSS and SVG, no script, no network)
 * that presents a grid's results for a reader and for print:
 *   - the results table in the layout of the paper's Table 1 (rows dataset / model /
 *     variant, "Std", "Only Memory", "Memory Wrap"; columns the training-set sizes
 *     ascending, "full" last; mean ± population std and the number of runs);
 *   - per (dataset, model) test accuracy against training-set size, one line per variant
 *     with ± std error bars (log x axis when the sizes span more than a factor 4);
 *   - every run's details and its training curve (mean loss per epoch, learning rate);
 *   - links to explanation pages written by `memwrap explain`: for a checkpoint
 *     RUN_DIR/<base>.safetensors, the folder RUN_DIR/explain/<base>/ with index.html
 *     (linked when it exists) and explanations.json, whose numeric "explanation_accuracy",
 *     "counterfactual_accuracy", "example_accuracy" and "accuracy" (percent) are shown and
 *     whose "panels"[0]."memory" (a PNG, relative to that folder) is the run's thumbnail.
 *     Missing or malformed explanation files are noted in the page, never an error. */
#ifndef MEMWRAP_REPORT_H
#define MEMWRAP_REPORT_H

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads run_dir/results.json and writes run_dir/report.html atomically. A missing or
 * malformed results.json is an error naming the file (MW_ERR_NOT_FOUND, MW_ERR_FORMAT). */
mw_status mw_report_write(const char *run_dir);

#ifdef __cplusplus
}
#endif
#endif
