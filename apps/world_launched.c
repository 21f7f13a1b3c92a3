/* Whether an MPI launcher started this process (apps/world.h), from its environment. */
#include <stdlib.h>

#include "world.h"

int mw_world_launched_size(void) {
    /* Open MPI's mpirun; MPICH's and Intel MPI's hydra (PMI); Slurm's srun, which sets the
     * step's task count only in the processes it starts (SLURM_NTASKS is the job's, and is
     * also seen by a batch script's own shell) */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        int n = v ? atoi(v) : 0;
        if (n > 0) return n;
    }
    return 1;
}
