/* mw_world without MPI: a process always runs alone (see apps/world.h). */
#include "world.h"

#include <string.h>

mw_status mw_world_init(int *argc, char ***argv, mw_world *w) {
    (void)argc, (void)argv;
    memset(w, 0, sizeof *w);
    w->size = w->local_size = 1;
    int launched = mw_world_launched_size();
    if (launched > 1)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "started by an MPI launcher as one of %d processes, but this memwrap "
                            "was built without MPI: rebuild it with MPI (Debian: libopenmpi-dev; "
                            "CMake finds it) or run one process",
                            launched);
    return MW_OK;
}

void mw_world_finalize(mw_world *w) {
    (void)w;
}

mw_status mw_world_barrier(const mw_world *w) {
    (void)w;
    return MW_OK;
}
