/* The cells of a `memwrap train` grid and what is done with each: training a run, recording
 * its result, explaining it. Shared by the one-process loop and the data-parallel loop
 * (cmd_train.c) and by the scheduler that spreads a grid over MPI ranks
 * (world/grid_ranks.c). */
#ifndef MEMWRAP_APPS_TRAIN_GRID_H
#define MEMWRAP_APPS_TRAIN_GRID_H

#include <stdbool.h>

#include "memwrap/config.h"
#include "memwrap/results.h"
#include "memwrap/trainer.h"

typedef struct mw_grid {
    const mw_config *cfg;
    const char *out_dir;
    const char *config_json; /* what results.json and the checkpoints record */
    mw_trainer t;
    const mw_device_info *dev;
    mw_results results; /* results.json as the writer (rank 0) keeps it */
    int total;          /* cells in the grid */
    int index;          /* 1-based cell in progress, for progress lines */
    bool tty;           /* progress updated in place (a terminal) */
    bool quiet;         /* no progress lines (the other processes of a data-parallel group) */
    char who[32];       /* progress lines' prefix: "" alone, "rank 2: " in a group */
    bool resumed;       /* the last run mw_grid_train trained was resumed */
    /* Called at every progress report: how rank 0 answers the other ranks while it trains */
    void (*serve)(void *user);
    void *serve_user;
} mw_grid;

/* The progress callback of a grid's trainer (its user pointer is the mw_grid). */
void mw_grid_progress(const mw_progress *p, void *grid);

/* Cell `i` (0-based) in the order the grid runs them: models, then training-set sizes,
 * then variants, then runs. */
mw_status mw_grid_cell(const mw_config *c, int i, mw_run_spec *spec);

/* What is left of a cell: nothing, its explanation (a finished run of a memory variant
 * whose explanation did not finish), or training (no result yet). */
typedef enum mw_cell_work { MW_CELL_DONE = 0, MW_CELL_EXPLAIN, MW_CELL_TRAIN } mw_cell_work;
mw_cell_work mw_grid_cell_work(const mw_grid *g, const mw_run_spec *spec);

/* Trains a cell's run (resuming it where a resume file is) into `row`, whose training log is
 * malloc'd (free it with free(row->epochs)). */
mw_status mw_grid_train(mw_grid *g, const mw_run_spec *spec, mw_result_row *row);

/* The run's accuracy line, once its result is recorded (a kill before leaves the run to be
 * evaluated again, and the line would have said it was done). */
void mw_grid_print_result(const mw_grid *g, const mw_run_spec *spec, const mw_result_row *row);

/* Adds the row of `spec`'s run to the results (in grid order), writes results.json and
 * results.md, then removes the run's resume file: the writer's part. */
mw_status mw_grid_record(mw_grid *g, const mw_run_spec *spec, const mw_result_row *row);

/* The config's "explain" block for a finished memory-variant run, unless already done. */
mw_status mw_grid_explain(mw_grid *g, const mw_run_spec *spec);

/* Says a cell was finished before this start, and removes a resume file a kill left. */
void mw_grid_skip(mw_grid *g, const mw_run_spec *spec);

/* Removes what writes killed in flight left in the output directory (its lock held). */
void mw_grid_sweep(const char *out_dir);

#ifdef MEMWRAP_HAVE_MPI
/* The grid's runs shared by the ranks of an MPI group (world/grid_ranks.c): each takes the
 * next unfinished cell; rank 0 also records every result. `stage` names what failed. */
struct mw_world;
mw_status mw_grid_over_ranks(mw_grid *g, const struct mw_world *w, const char **stage);
#endif

#endif
