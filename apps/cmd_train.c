/* `memwrap train CONFIG`: runs an experiment grid (datasets x models x variants x training-set
 * sizes x runs) with the paper's protocol, writing each run's checkpoint and, after every
 * run, results.json and results.md. Started again with the same --out, it skips finished
 * runs and resumes an interrupted one from its last completed epoch. With the config's
 * "explain" block, each memory-variant run is explained after it finishes. At the end, and when
 * it stops on an error after some runs finished, it writes report.html (memwrap/report.h);
 * the report is a view of results.json, so failing to write it is said on stderr but does
 * not change the exit status, which is the training's.
 *
 * Started by mpirun or srun as K processes (apps/world.h), it either spreads the grid's runs
 * over them (world/grid_ranks.c) or, with --data-parallel, trains each run with all of them
 * (memwrap/trainer.h, mw_trainer.group). Either way the first process (rank 0) alone holds
 * the output directory's lock and writes results.json, results.md and the report. */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "io/atomic_file.h"
#include "io/dir_lock.h"
#include "memwrap/config.h"
#include "memwrap/report.h"
#include "memwrap/results.h"
#include "memwrap/trainer.h"
#include "train_grid.h"
#include "world.h"

enum { MAX_SETS = 64 };

static void usage(FILE *to) {
    fprintf(to,
            "usage: memwrap train CONFIG.json [--out DIR] [--device SPEC] [--set KEY=VALUE ...]\n"
            "                     [--data-parallel]\n"
            "Runs the grid of CONFIG (see configs/); results.json, results.md and one\n"
            "checkpoint per run go to DIR (default runs/<config name>). Run it again with\n"
            "the same --out to continue an interrupted grid. At the end (or when it stops\n"
            "after some runs finished) it writes DIR/report.html, as `memwrap report DIR`;\n"
            "the exit status is the training's even when the report cannot be written.\n"
            "Under `mpirun -np K` or `srun -n K` the K processes share the grid's runs, each\n"
            "on its own device (the local rank picks among a machine's GPUs); with\n"
            "--data-parallel they train each run together, each on a part of every batch.\n");
}

/* The grid one run at a time: alone, or with every process of a data-parallel group on the
 * same run (`group`), where the first process decides what is left and writes the files. */
static mw_status run_cells(mw_grid *g, const mw_collective *group, const char **stage) {
    bool writer = !group || group->rank == 0;
    mw_status s = MW_OK;
    for (int i = 0; i < g->total && s == MW_OK; i++) {
        mw_run_spec spec;
        *stage = "choosing the encoder"; /* known good: the config resolved it */
        if ((s = mw_grid_cell(g->cfg, i, &spec)) != MW_OK) break;
        g->index = i + 1;
        int32_t work = writer ? (int32_t)mw_grid_cell_work(g, &spec) : 0;
        *stage = "sharing the grid's state";
        if (group && (s = group->broadcast(group, &work, sizeof work, 0)) != MW_OK) break;
        if (work != MW_CELL_TRAIN) { /* the writer's alone, and every process agrees on it */
            *stage = "explaining";
            if (writer) {
                mw_grid_skip(g, &spec);
                s = mw_grid_explain(g, &spec);
            }
            s = mw_collective_agree(group, s, "explaining a run");
            continue;
        }
        *stage = "training";
        mw_result_row row = {0};
        s = mw_grid_train(g, &spec, &row);
        if (s != MW_OK) break; /* the group agreed on it already */
        *stage = "writing results";
        if (writer) s = mw_grid_record(g, &spec, &row);
        if (s == MW_OK) mw_grid_print_result(g, &spec, &row);
        free(row.epochs);
        if (s == MW_OK && writer) {
            *stage = "explaining";
            s = mw_grid_explain(g, &spec);
        }
        s = mw_collective_agree(group, s, "recording or explaining a run");
    }
    return s;
}

int mw_cmd_train(int argc, char **argv) {
    const char *config_path = NULL, *out = NULL, *device = NULL;
    const char *sets[MAX_SETS];
    int n_sets = 0;
    bool data_parallel = false;
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
        } else if (strcmp(a, "--data-parallel") == 0) {
            data_parallel = true;
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
    mw_world w;
    mw_status s = mw_world_init(NULL, NULL, &w);
    if (s != MW_OK) {
        fprintf(stderr, "memwrap train: %s\n", mw_error_message());
        return mw_exit_code(s);
    }
    const mw_collective *group = w.size > 1 ? &w.group : NULL;
    const bool writer = w.rank == 0;
    char who[32] = "";
    if (group) snprintf(who, sizeof who, "rank %d: ", w.rank);
    mw_config cfg;
    s = mw_config_load(config_path, sets, n_sets, &cfg);
    s = mw_collective_agree(group, s, "loading the config"); /* it may be missing on a node */
    if (s != MW_OK) {
        fprintf(stderr, "memwrap train: %s%s\n", who, mw_error_message());
        mw_world_finalize(&w);
        return mw_exit_code(s);
    }
    if (group) { /* one grid: the file or its --set values may differ between nodes */
        char *json = mw_config_to_json(&cfg), differ[256] = "";
        s = json ? mw_collective_same(group, json, strlen(json), differ, sizeof differ)
                 : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
        free(json);
        if (s == MW_OK && differ[0])
            s = mw_error_set(MW_ERR_INVALID_ARG,
                             "rank %s runs another config than rank 0 (%s or its --set values "
                             "differ): every rank must run the same grid",
                             differ, config_path);
        if (s != MW_OK) {
            fprintf(stderr, "memwrap train: %s%s\n", who, mw_error_message());
            mw_world_finalize(&w);
            return mw_exit_code(s);
        }
    }
    if (cfg.warning[0] && writer) fprintf(stderr, "memwrap train: warning: %s\n", cfg.warning);
    if (data_parallel && !group)
        fprintf(stderr, "memwrap train: --data-parallel with one process: it trains alone (start "
                        "K processes with mpirun -np K)\n");
    if (device) snprintf(cfg.device, sizeof cfg.device, "%s", device);
    char out_dir[768];
    if (out)
        snprintf(out_dir, sizeof out_dir, "%s", out);
    else
        snprintf(out_dir, sizeof out_dir, "runs/%s", cfg.name[0] ? cfg.name : "grid");

    mw_dataset *train = NULL, *test = NULL;
    mw_runtime *rt = NULL;
    char *config_json = NULL;
    mw_dir_lock lock = {-1};
    mw_grid g = {.cfg = &cfg, .out_dir = out_dir};
    snprintf(g.who, sizeof g.who, "%s", who);
    const char *stage = "creating the output directory";
    if (writer) { /* the writer's files: the others wait for them */
        if ((s = mw_make_dirs(out_dir)) != MW_OK) goto agreed;
        stage = "locking the output directory";
        if ((s = mw_dir_lock_take(out_dir, "memwrap train", &lock)) != MW_OK) goto agreed;
        mw_grid_sweep(out_dir);
        stage = "reading results (move the file away or choose another --out)";
        s = mw_results_load(out_dir, &g.results);
    }
agreed:
    if (s == MW_OK) stage = "waiting for the other processes";
    s = mw_collective_agree(group, s, "preparing the output directory");
    if (s != MW_OK) goto done;
    stage = "checking the dataset";
    if ((s = mw_config_check_root(&cfg)) != MW_OK) goto started;
    stage = "loading the training set";
    if ((s = mw_dataset_load(cfg.run.dataset, cfg.data_root, MW_SPLIT_TRAIN, &train)) != MW_OK)
        goto started;
    stage = "loading the test set";
    if ((s = mw_dataset_load(cfg.run.dataset, cfg.data_root, MW_SPLIT_TEST, &test)) != MW_OK)
        goto started;
    stage = "opening the device";
    mw_runtime_options ro = {.device_spec = cfg.device[0] ? cfg.device : NULL,
                             .local_rank = w.local_rank};
    s = mw_runtime_create(&ro, &rt);
started:
    if (s == MW_OK) stage = "waiting for the other processes";
    s = mw_collective_agree(group, s, "loading the data or opening its device");
    if (s != MW_OK) goto done;
    g.dev = mw_runtime_device(rt);
    config_json = mw_config_to_json(&cfg);
    g.config_json = config_json;
    if (writer)
        fprintf(stderr,
                "memwrap train: %s on %d:%d %s; %s: %d training and %d test images; "
                "output in %s\n",
                cfg.name, g.dev->platform_index, g.dev->device_index, g.dev->name, cfg.run.dataset,
                train->count, test->count, out_dir);
    if (group && (!data_parallel || writer))
        fprintf(stderr, "memwrap train: %srank %d of %d (%s) on %d:%d %s\n", who, w.rank, w.size,
                data_parallel ? "data-parallel" : "sharing the grid's runs", g.dev->platform_index,
                g.dev->device_index, g.dev->name);

    g.total = cfg.n_models * cfg.n_variants * cfg.n_sizes * cfg.runs;
    g.tty = isatty(fileno(stderr)) != 0;
    /* every run of the grid takes its settings; checkpoints record the grid's config */
    g.t = (mw_trainer){.rt = rt,
                       .run = &cfg.run,
                       .train = train,
                       .test = test,
                       .out_dir = out_dir,
                       .config_json = config_json,
                       .progress = mw_grid_progress,
                       .progress_user = &g,
                       .keep_resume = true}; /* removed once the result is recorded */
    if (group && !data_parallel) {
#ifdef MEMWRAP_HAVE_MPI
        s = mw_grid_over_ranks(&g, &w, &stage);
#endif
    } else {
        if (group) g.t.group = group;
        g.quiet = !writer;
        s = run_cells(&g, group, &stage);
    }
    if (s == MW_OK && writer) {
        char *md = mw_results_markdown(&g.results);
        if (md) fputs(md, stdout);
        free(md);
    }
done:;
    int rc = MW_EXIT_OK;
    if (s != MW_OK) {
        fprintf(stderr, "memwrap train: %s%s: %s\n", who, stage, mw_error_message());
        rc = mw_exit_code(s);
    }
    if (writer && g.results.count > 0) { /* a partial grid gets its report too */
        if (mw_report_write(out_dir) == MW_OK)
            fprintf(stderr, "memwrap train: report of %d finished run%s in %s/report.html\n",
                    g.results.count, g.results.count == 1 ? "" : "s", out_dir);
        else
            fprintf(stderr,
                    "memwrap train: the report was not written (%s); the results are "
                    "in %s/results.json and `memwrap report %s` tries again\n",
                    mw_error_message(), out_dir, out_dir);
    }
    mw_dir_lock_release(&lock); /* after the report: it is written into the directory too */
    /* Every rank leaves together: a launcher ends the whole job as soon as one rank exits
     * with a failure, so a rank that failed waits here for the others to finish their runs
     * and rank 0 its report. */
    mw_world_barrier(&w);
    free(config_json);
    mw_results_free(&g.results);
    mw_runtime_free(rt);
    mw_dataset_free(train);
    mw_dataset_free(test);
    mw_world_finalize(&w);
    return rc;
}
