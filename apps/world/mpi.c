/* mw_world over MPI (see apps/world.h): the group is MPI_COMM_WORLD; its collective sums with
 * MPI_Allreduce, whose result MPI's reduction algorithms give every process identically. */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "world.h"

/* MPI's own message for an error code. */
static mw_status mpi_failed(int code, const char *call) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "code %d", code);
    return mw_error_set(MW_ERR_GROUP, "%s failed: %s", call, text);
}

/* Waits for a non-blocking collective: polling at once for the first 200 ms (MPI_Test is also
 * what moves the collective on, and a gradient sum between partners in step takes less),
 * then every millisecond, so a rank that waits long (for rank 0's checkpoint or
 * explanations) does not hold a core that another rank on the machine computes with, as
 * MPI's blocking calls, which poll, do. */
static int wait_request(MPI_Request *request) {
    int done = 0, rc = MPI_SUCCESS;
    double start = MPI_Wtime();
    while (rc == MPI_SUCCESS && !done) {
        rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
        if (!done && MPI_Wtime() - start > 0.2) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return rc;
}

/* Sums of more than this many floats are gradient sums (or the evaluation's encodings)
 * between ranks in step: MPI's blocking allreduce is twice as fast as its non-blocking one
 * there (Open MPI 4.1, 2 ranks, 62 MB: 33 ms against 68 ms, bench/RESULTS.md). Smaller sums
 * are agreements, where a rank may wait long for another's work: those wait without a core. */
enum { BLOCKING_SUM_FLOATS = 1 << 16 };

static mw_status sum_f32(const mw_collective *c, float *data, size_t n) {
    (void)c;
    /* in pieces: MPI counts are ints */
    for (size_t done = 0; done < n;) {
        int count = n - done > (size_t)1 << 30 ? 1 << 30 : (int)(n - done);
        int rc;
        if (n > BLOCKING_SUM_FLOATS) {
            rc =
                MPI_Allreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        } else {
            MPI_Request request;
            rc = MPI_Iallreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM,
                                MPI_COMM_WORLD, &request);
            if (rc == MPI_SUCCESS) rc = wait_request(&request);
        }
        if (rc != MPI_SUCCESS) return mpi_failed(rc, "MPI_Allreduce");
        done += (size_t)count;
    }
    return MW_OK;
}

static mw_status broadcast(const mw_collective *c, void *data, size_t bytes, int root) {
    (void)c;
    for (size_t done = 0; done < bytes;) {
        int count = bytes - done > (size_t)1 << 30 ? 1 << 30 : (int)(bytes - done);
        MPI_Request request;
        int rc = MPI_Ibcast((char *)data + done, count, MPI_BYTE, root, MPI_COMM_WORLD, &request);
        if (rc == MPI_SUCCESS) rc = wait_request(&request);
        if (rc != MPI_SUCCESS) return mpi_failed(rc, "MPI_Ibcast");
        done += (size_t)count;
    }
    return MW_OK;
}

/* mpirun and srun end every rank with SIGTERM when one fails or is killed: each says why it
 * stops before it does (write(2) is async-signal-safe; snprintf is not, so the line is made
 * in advance). */
static char stop_line[256];
static size_t stop_len;

static void on_terminate(int sig) {
    ssize_t ignored = write(STDERR_FILENO, stop_line, stop_len);
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void say_why_when_terminated(int rank) {
    int n = snprintf(stop_line, sizeof stop_line,
                     "memwrap train: rank %d: stopped by SIGTERM (the launcher ends every rank "
                     "when one fails or is killed); finished runs are kept: run the same "
                     "command again to continue\n",
                     rank);
    stop_len = n > 0 && (size_t)n < sizeof stop_line ? (size_t)n : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_terminate;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

static void abort_group(const mw_collective *c, const char *message) {
    fprintf(stderr, "memwrap train: rank %d: %s\n", c->rank, message);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

mw_status mw_world_init(int *argc, char ***argv, mw_world *w) {
    memset(w, 0, sizeof *w);
    w->size = w->local_size = 1;
    if (mw_world_launched_size() <= 1) return MW_OK; /* alone: no MPI start-up cost */
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) return mw_error_set(MW_ERR_GROUP, "MPI_Init failed (code %d)", rc);
    w->mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    /* the processes sharing this machine's memory: the local rank picks a device */
    MPI_Comm local;
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &local);
    if (rc != MPI_SUCCESS) return mpi_failed(rc, "MPI_Comm_split_type");
    MPI_Comm_rank(local, &w->local_rank);
    MPI_Comm_size(local, &w->local_size);
    MPI_Comm_free(&local);
    w->group = (mw_collective){w->rank, w->size, sum_f32, broadcast, abort_group, NULL};
    say_why_when_terminated(w->rank);
    return MW_OK;
}

mw_status mw_world_barrier(const mw_world *w) {
    if (!w->mpi) return MW_OK;
    MPI_Request request;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &request);
    if (rc == MPI_SUCCESS) rc = wait_request(&request);
    return rc == MPI_SUCCESS ? MW_OK : mpi_failed(rc, "MPI_Ibarrier");
}

void mw_world_finalize(mw_world *w) {
    if (w->mpi) MPI_Finalize();
    w->mpi = false;
}
