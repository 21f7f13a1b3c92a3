/* The processes `memwrap train` runs as: one, or a group started by mpirun or srun.
 *
 * memwrap builds with or without MPI (CMake option MEMWRAP_MPI). Built with it, MPI is
 * initialised only when the environment says an MPI launcher started the process, so a
 * plain `memwrap train` starts as fast as ever. Built without it, a process started by a
 * launcher as one of several says so and stops, instead of training the grid K times over. */
#ifndef MEMWRAP_APPS_WORLD_H
#define MEMWRAP_APPS_WORLD_H

#include <stdbool.h>

#include "memwrap/collective.h"
#include "memwrap/status.h"

typedef struct mw_world {
    int rank, size;             /* in the whole group */
    int local_rank, local_size; /* among the group's processes on this machine */
    mw_collective group;        /* sum and broadcast over the group (size > 1) */
    bool mpi;                   /* MPI was initialised (finalize it) */
} mw_world;

/* The group this process belongs to: {0, 1} when it runs alone. */
mw_status mw_world_init(int *argc, char ***argv, mw_world *w);
void mw_world_finalize(mw_world *w);

/* Waits until every process of the group has called it, without holding a core meanwhile
 * (MPI's own barrier polls); MW_OK at once alone. */
mw_status mw_world_barrier(const mw_world *w);

/* How many processes a launcher says it started (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * SLURM_STEP_NUM_TASKS), 1 when none did. */
int mw_world_launched_size(void);

#endif
