/* Data-parallel training of one run over a group of processes (memwrap/collective.h).
 *
 * Every process runs the same host-side protocol with the same generators: the same batch
 * indices, augmentations and memory draws. Each encodes the whole memory set and its own
 * contiguous part of the batch, [shard_start, shard_start + shard). After the backward pass
 * each process weights its gradients by shard / batch (its loss is the mean over its part),
 * and one sum over the group gives every process the gradient of the whole batch's mean loss:
 * the step a single process would take, up to rounding, where no batch norm is involved.
 * Batch norm normalises with the statistics of the process's own part, as PyTorch's
 * DistributedDataParallel does by default; the running statistics are averaged over the
 * group after every epoch (their update is linear, so this equals averaging every step). */
#ifndef MEMWRAP_TRAIN_DATA_PARALLEL_H
#define MEMWRAP_TRAIN_DATA_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

#include "memwrap/collective.h"
#include "memwrap/graph.h"

typedef struct mw_data_parallel {
    const mw_collective *group; /* NULL: one process, every call below a no-op */
    int batch, shard_start, shard;
    size_t trainable; /* floats of the gradient arena that are summed */
    float *sum;       /* trainable gradients, the weighted loss, one failure flag per process */
    int check_every;  /* steps between parameter-hash checks; 0: never */
    bool perturb;     /* tests: this process's parameters are nudged before the first check */
} mw_data_parallel;

/* This process's part of a batch of `batch` images; `base` names the run in errors (a batch
 * smaller than the group). A group of one or NULL trains alone. */
mw_status mw_dp_init(mw_data_parallel *dp, const mw_collective *group, int batch, const char *base);
/* The gradient buffer, once the model's trainable size is known. */
mw_status mw_dp_bind(mw_data_parallel *dp, mw_exec *ex);
void mw_dp_free(mw_data_parallel *dp);

static inline bool mw_dp_active(const mw_data_parallel *dp) {
    return dp->group != NULL;
}
/* Whether this process writes the run's files (the resume file, the checkpoint). */
static inline bool mw_dp_writer(const mw_data_parallel *dp) {
    return !dp->group || dp->group->rank == 0;
}

/* After this process's forward-backward run (status `local`, loss `*loss` read from it):
 * replaces the gradients with the group's and `*loss` with the whole batch's. A failure on
 * any process fails every process (none waits for a partner that stopped). */
mw_status mw_dp_reduce_step(mw_data_parallel *dp, mw_exec *ex, mw_status local, float *loss);

/* Averages every float state tensor (batch-norm running statistics) over the group. */
mw_status mw_dp_average_state(mw_data_parallel *dp, mw_exec *ex);

/* A failure on this process alone at a point where the group is not told (between its
 * sums): returns `s`, or, in a group, ends every process (mw_collective.abort) with the
 * message, so none waits for this one forever. */
mw_status mw_dp_local(const mw_data_parallel *dp, mw_status s);

/* Every check_every steps: whether every process holds the same parameters (a hash of the
 * parameter arena compared with the first process's). A difference is a bug. */
mw_status mw_dp_check_params(mw_data_parallel *dp, mw_exec *ex, long step);

#endif
