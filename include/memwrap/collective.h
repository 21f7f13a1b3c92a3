/* The collective operations data-parallel training needs, as an interface: libmemwrap itself
 * never links MPI. The `memwrap` program supplies an MPI implementation when it is built with
 * MPI (apps/mpi_world.c); a C user may supply their own (NCCL, Gloo, their own MPI
 * communicator). Every process of a group calls the same operations in the same order. */
#ifndef MEMWRAP_COLLECTIVE_H
#define MEMWRAP_COLLECTIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mw_collective mw_collective;
struct mw_collective {
    int rank, size; /* this process's index in the group, and the group's size */
    /* Sums `n` floats over the group in place. Every process must get the same values, bit
     * for bit (MPI_Allreduce's ring and recursive-doubling algorithms do), or the
     * processes' parameters drift apart. */
    mw_status (*sum_f32)(const mw_collective *c, float *data, size_t n);
    /* Copies `bytes` bytes from process `root` to every other. */
    mw_status (*broadcast)(const mw_collective *c, void *data, size_t bytes, int root);
    /* Ends every process of the group at once, after this one printed `message` (may be
     * NULL: the trainer then returns the failure and the others may wait for this process
     * forever). For a failure the group cannot learn of through a sum, because it happened
     * on this process alone between two of them (a device failing in the optimizer step). */
    void (*abort)(const mw_collective *c, const char *message);
    void *impl; /* the implementation's own state */
};

/* Every process's status made every process's: called by all the group's processes at the
 * same point, it returns `local` where that failed, and MW_ERR_GROUP naming the processes
 * that failed where only others did, so no process goes on to wait for one that stopped.
 * `what` says where ("saving the checkpoint"). A NULL group returns `local`. */
mw_status mw_collective_agree(const mw_collective *c, mw_status local, const char *what);

/* One flag per process summed over the group (this process's set where `flagged`); `names`
 * gets the flagged processes' indices ("1, 3"; "" when none). */
mw_status mw_collective_flags(const mw_collective *c, bool flagged, char *names, size_t cap);

/* Whether every process holds the same `bytes` bytes at `data` as process 0 (compared by a
 * 64-bit hash): `names` gets the processes whose bytes differ ("" when none). */
mw_status mw_collective_same(const mw_collective *c, const void *data, size_t bytes, char *names,
                             size_t cap);

/* The indices whose entry of `flags` is non-zero, as "1, 3". */
void mw_collective_name_flagged(const float *flags, int size, char *names, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
