/* A grid's runs shared by the ranks of an MPI group (`mpirun -np K memwrap train ...`).
 *
 * Rank 0 holds the output directory's lock, decides what is left (unfinished runs, and
 * finished runs whose explanation did not finish), hands out one cell at a time to whichever
 * rank asks, and is the only writer of results.json and results.md. It trains cells too:
 * between its own steps (at every progress report) it answers the others' messages, so no
 * rank waits longer than one of its steps. A rank sends its result when a run is evaluated;
 * rank 0 records it and removes the run's resume file, and the rank then explains the run
 * and asks for the next. Checkpoints, resume files and explanations are written by the rank
 * that runs the cell, into the shared output directory (a shared file system on a cluster).
 *
 * A run's result depends on its seed and device type only, not on its rank, so a grid
 * stopped and started again with any number of ranks resumes each run where it stopped.
 * A rank that fails tells rank 0, which hands out nothing more; the others finish the run
 * they have and stop, and then every rank exits, non-zero. A rank that is killed stops the
 * whole job (MPI's launchers end every rank when one dies), and a restart loses nothing. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train_grid.h"
#include "world.h"

enum { TAG_TO_ROOT = 1, TAG_ASSIGN = 2, TAG_RECORDED = 3 };
enum { MSG_WANT = 1, MSG_RESULT, MSG_FAILED };

/* What a rank tells rank 0; a result's training log follows it in the same message. */
typedef struct report_msg {
    int32_t kind, cell, status;
    char error[1024];
    mw_result_row row; /* MSG_RESULT; its `epochs` pointer is not sent */
} report_msg;

typedef struct assign_msg {
    int32_t cell; /* -1: no more work */
    int32_t work; /* mw_cell_work; with cell -1, whether the grid stopped on a failure */
} assign_msg;

typedef struct scheduler {
    mw_grid *g;
    const mw_world *w;
    int *cells; /* what is left, in grid order */
    mw_cell_work *work;
    int n, next;
    int active;        /* ranks other than 0 not yet told to stop */
    mw_status failure; /* the first failure anywhere */
    char message[1600];
} scheduler;

/* Waits for a message without holding a core: MPI's blocking calls poll, and the core is
 * what the other ranks on this machine train with. */
static void wait_message(int source, int tag, MPI_Status *st) {
    for (int flag = 0;;) {
        MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, st);
        if (flag) return;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void note_failure(scheduler *sc, mw_status s, const char *fmt, const char *text, int rank) {
    if (sc->failure != MW_OK) return;
    sc->failure = s;
    snprintf(sc->message, sizeof sc->message, fmt, rank, text);
}

static void assign_next(scheduler *sc, int rank) {
    assign_msg a = {-1, 0};
    if (sc->failure == MW_OK && sc->next < sc->n) {
        a.cell = sc->cells[sc->next];
        a.work = (int32_t)sc->work[sc->next];
        sc->next++;
    } else {
        a.work = sc->failure != MW_OK;
        sc->active--;
    }
    MPI_Send(&a, sizeof a, MPI_BYTE, rank, TAG_ASSIGN, MPI_COMM_WORLD);
}

static void handle(scheduler *sc, int rank, report_msg *m, size_t bytes) {
    if (m->kind == MSG_WANT) {
        assign_next(sc, rank);
    } else if (m->kind == MSG_RESULT) {
        mw_run_spec spec;
        mw_result_row row = m->row;
        row.epochs = (mw_epoch_stat *)(m + 1);
        mw_status s = (size_t)row.n_epochs * sizeof *row.epochs == bytes - sizeof *m
                          ? mw_grid_cell(sc->g->cfg, m->cell, &spec)
                          : mw_error_set(MW_ERR_GROUP, "a malformed result message");
        if (s == MW_OK) s = mw_grid_record(sc->g, &spec, &row);
        if (s != MW_OK) {
            note_failure(sc, s, "recording the result of rank %d: %s", mw_error_message(), rank);
            sc->active--; /* told below; it stops */
        }
        int32_t code = (int32_t)s;
        MPI_Send(&code, 1, MPI_INT32_T, rank, TAG_RECORDED, MPI_COMM_WORLD);
    } else { /* MSG_FAILED: it stops */
        m->error[sizeof m->error - 1] = '\0';
        note_failure(sc, MW_ERR_GROUP, "rank %d failed: %s", m->error, rank);
        sc->active--;
    }
}

/* Answers what the other ranks sent; with `block`, waits for one message first. */
static void serve(scheduler *sc, bool block) {
    for (;;) {
        MPI_Status st;
        int flag = 0;
        if (block)
            wait_message(MPI_ANY_SOURCE, TAG_TO_ROOT, &st), flag = 1;
        else
            MPI_Iprobe(MPI_ANY_SOURCE, TAG_TO_ROOT, MPI_COMM_WORLD, &flag, &st);
        if (!flag) return;
        int bytes = 0;
        MPI_Get_count(&st, MPI_BYTE, &bytes);
        report_msg *m = malloc(bytes > (int)sizeof *m ? (size_t)bytes : sizeof *m);
        if (!m) { /* cannot even read it: stop handing out work, and let MPI end the job */
            MPI_Abort(MPI_COMM_WORLD, 1);
            return;
        }
        MPI_Recv(m, bytes, MPI_BYTE, st.MPI_SOURCE, TAG_TO_ROOT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if ((size_t)bytes >= sizeof *m) handle(sc, st.MPI_SOURCE, m, (size_t)bytes);
        free(m);
        if (block) return;
    }
}

static void serve_now(void *user) {
    serve(user, false);
}

/* Trains a cell on this rank when it needs training (`row` gets its result). */
static mw_status train_cell(mw_grid *g, int cell, mw_cell_work work, mw_run_spec *spec,
                            mw_result_row *row, const char **stage) {
    MW_TRY(mw_grid_cell(g->cfg, cell, spec));
    g->index = cell + 1;
    if (work != MW_CELL_TRAIN) return MW_OK;
    *stage = "training";
    return mw_grid_train(g, spec, row);
}

static mw_status root(mw_grid *g, const mw_world *w, const char **stage) {
    scheduler sc = {.g = g, .w = w, .active = w->size - 1};
    sc.cells = malloc((size_t)g->total * sizeof *sc.cells);
    sc.work = malloc((size_t)g->total * sizeof *sc.work);
    mw_status s =
        sc.cells && sc.work ? MW_OK : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < g->total && s == MW_OK; i++) {
        mw_run_spec spec;
        if ((s = mw_grid_cell(g->cfg, i, &spec)) != MW_OK) break;
        mw_cell_work work = mw_grid_cell_work(g, &spec);
        g->index = i + 1;
        if (work != MW_CELL_TRAIN) mw_grid_skip(g, &spec);
        if (work == MW_CELL_DONE) continue;
        sc.cells[sc.n] = i;
        sc.work[sc.n++] = work;
    }
    if (s != MW_OK) note_failure(&sc, s, "rank %d: %s", mw_error_message(), 0);
    g->serve = serve_now;
    g->serve_user = &sc;
    while (sc.failure == MW_OK) {
        serve(&sc, false);
        if (sc.failure != MW_OK || sc.next >= sc.n) break;
        int k = sc.next++;
        mw_result_row row = {0};
        mw_run_spec spec;
        s = train_cell(g, sc.cells[k], sc.work[k], &spec, &row, stage);
        if (s == MW_OK && sc.work[k] == MW_CELL_TRAIN) {
            *stage = "writing results";
            s = mw_grid_record(g, &spec, &row);
            if (s == MW_OK) mw_grid_print_result(g, &spec, &row);
        }
        free(row.epochs);
        if (s == MW_OK) {
            *stage = "explaining";
            s = mw_grid_explain(g, &spec);
        }
        if (s != MW_OK) {
            char what[1200];
            snprintf(what, sizeof what, "%s: %s", *stage, mw_error_message());
            note_failure(&sc, s, "rank %d: %s", what, 0);
        }
    }
    if (sc.active > 0 && sc.failure == MW_OK)
        fprintf(stderr, "memwrap train: rank 0: every run is handed out; waiting for %d rank%s\n",
                sc.active, sc.active == 1 ? "" : "s");
    while (sc.active > 0)
        serve(&sc, true);
    g->serve = NULL;
    free(sc.cells);
    free(sc.work);
    if (sc.failure == MW_OK) return MW_OK;
    *stage = "sharing the grid over ranks";
    return mw_error_set(sc.failure, "%s", sc.message);
}

static void tell_root(const report_msg *m, const mw_result_row *row) {
    size_t log = row ? (size_t)row->n_epochs * sizeof *row->epochs : 0;
    char *buf = malloc(sizeof *m + log);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1); /* nothing sensible is left to do */
    memcpy(buf, m, sizeof *m);
    if (log) memcpy(buf + sizeof *m, row->epochs, log);
    MPI_Send(buf, (int)(sizeof *m + log), MPI_BYTE, 0, TAG_TO_ROOT, MPI_COMM_WORLD);
    free(buf);
}

static void tell_failed(int cell, mw_status s, const char *stage) {
    report_msg m = {.kind = MSG_FAILED, .cell = cell, .status = (int32_t)s};
    snprintf(m.error, sizeof m.error, "%s: %s", stage, mw_error_message());
    tell_root(&m, NULL);
}

static mw_status worker(mw_grid *g, const char **stage) {
    report_msg want = {.kind = MSG_WANT};
    tell_root(&want, NULL);
    for (;;) {
        assign_msg a;
        MPI_Status st;
        *stage = "waiting for rank 0";
        wait_message(0, TAG_ASSIGN, &st);
        MPI_Recv(&a, sizeof a, MPI_BYTE, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (a.cell < 0 && a.work)
            return mw_error_set(MW_ERR_GROUP, "the grid stopped because another rank failed "
                                              "(rank 0's output names it)");
        if (a.cell < 0) return MW_OK;
        report_msg m = {.kind = MSG_RESULT, .cell = a.cell};
        mw_run_spec spec;
        mw_status s = train_cell(g, a.cell, (mw_cell_work)a.work, &spec, &m.row, stage);
        if (s != MW_OK) {
            tell_failed(a.cell, s, *stage);
            return s;
        }
        if (a.work == MW_CELL_TRAIN) {
            tell_root(&m, &m.row);
            free(m.row.epochs);
            m.row.epochs = NULL;
            int32_t code;
            *stage = "waiting for rank 0 to record the result";
            wait_message(0, TAG_RECORDED, &st);
            MPI_Recv(&code, 1, MPI_INT32_T, 0, TAG_RECORDED, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (code != MW_OK)
                return mw_error_set(MW_ERR_GROUP, "rank 0 could not record this rank's result "
                                                  "(its message is in its output)");
            mw_grid_print_result(g, &spec, &m.row);
        }
        *stage = "explaining";
        s = mw_grid_explain(g, &spec);
        if (s != MW_OK) {
            tell_failed(a.cell, s, *stage);
            return s;
        }
        tell_root(&want, NULL);
    }
}

mw_status mw_grid_over_ranks(mw_grid *g, const mw_world *w, const char **stage) {
    return w->rank == 0 ? root(g, w, stage) : worker(g, stage);
}
