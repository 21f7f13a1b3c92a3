/* Data-parallel training over a group of processes (see data_parallel.h). */
#include "train/data_parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/trainer.h"

mw_status mw_dp_init(mw_data_parallel *dp, const mw_collective *group, int batch,
                     const char *base) {
    memset(dp, 0, sizeof *dp);
    dp->batch = dp->shard = batch;
    if (!group || group->size <= 1) return MW_OK;
    if (batch < group->size)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: a batch of %d images cannot be split over %d processes "
                            "(each needs one at least): raise batch_size or use fewer processes",
                            base, batch, group->size);
    dp->group = group;
    /* contiguous parts whose sizes differ by one at most */
    dp->shard_start = (int)((long)batch * group->rank / group->size);
    dp->shard = (int)((long)batch * (group->rank + 1) / group->size) - dp->shard_start;
    /* MEMWRAP_DP_CHECK_EVERY=N checks the parameters every N steps; debug builds every 100 */
    const char *every = getenv("MEMWRAP_DP_CHECK_EVERY");
#ifdef NDEBUG
    dp->check_every = 0;
#else
    dp->check_every = 100;
#endif
    if (every && *every) dp->check_every = atoi(every);
    /* MEMWRAP_TEST_DIVERGE_RANK=r: process r nudges one parameter before the first check, as
     * a reduction that gave the processes different sums would (the check's own test) */
    const char *diverge = getenv("MEMWRAP_TEST_DIVERGE_RANK");
    dp->perturb = diverge && *diverge && atoi(diverge) == group->rank;
    return MW_OK;
}

mw_status mw_dp_bind(mw_data_parallel *dp, mw_exec *ex) {
    if (!dp->group) return MW_OK;
    dp->trainable = mw_exec_get_arenas(ex).trainable_floats;
    dp->sum = malloc((dp->trainable + 1 + (size_t)dp->group->size) * sizeof *dp->sum);
    if (!dp->sum)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY,
                            "out of host memory for the data-parallel gradient buffer (%zu floats)",
                            dp->trainable);
    return MW_OK;
}

void mw_dp_free(mw_data_parallel *dp) {
    free(dp->sum);
    dp->sum = NULL;
}

mw_status mw_dp_reduce_step(mw_data_parallel *dp, mw_exec *ex, mw_status local, float *loss) {
    if (!dp->group) return local;
    const mw_collective *g = dp->group;
    const size_t n = dp->trainable;
    const float weight = (float)dp->shard / (float)dp->batch;
    float *flags = dp->sum + n + 1;
    if (local == MW_OK) local = mw_exec_arena_read(ex, MW_ARENA_GRADS, 0, n, dp->sum);
    if (local == MW_OK) {
        for (size_t i = 0; i < n; i++)
            dp->sum[i] *= weight;
        dp->sum[n] = *loss * weight;
    } else { /* still takes part, so the others learn of the failure instead of waiting */
        memset(dp->sum, 0, (n + 1) * sizeof *dp->sum);
    }
    memset(flags, 0, (size_t)g->size * sizeof *flags);
    flags[g->rank] = local != MW_OK;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", local != MW_OK ? mw_error_message() : "");
    mw_status s = g->sum_f32(g, dp->sum, n + 1 + (size_t)g->size);
    if (local != MW_OK) return mw_error_set(local, "%s", saved);
    if (s != MW_OK) return mw_error_wrap(s, "summing the gradients over %d processes: ", g->size);
    char failed[256];
    mw_collective_name_flagged(flags, g->size, failed, sizeof failed);
    if (failed[0])
        return mw_error_set(MW_ERR_GROUP,
                            "process %s of the data-parallel group failed in this step (its own "
                            "message is in its output); this process stops too",
                            failed);
    *loss = dp->sum[n];
    return mw_exec_arena_write(ex, MW_ARENA_GRADS, 0, n, dp->sum);
}

mw_status mw_dp_average_state(mw_data_parallel *dp, mw_exec *ex) {
    if (!dp->group) return MW_OK;
    mw_graph *g = mw_exec_graph(ex);
    for (int i = 0; i < mw_graph_state_count(g); i++) {
        int t = mw_graph_state_at(g, i);
        if (mw_tensor_dtype(g, t) != MW_F32) continue; /* batch counters agree already */
        size_t n = mw_tensor_numel(g, t);
        float *v = malloc(n * sizeof *v);
        if (!v) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory averaging state");
        mw_status s = mw_exec_read(ex, t, v, n * sizeof *v);
        if (s == MW_OK) s = dp->group->sum_f32(dp->group, v, n);
        for (size_t k = 0; k < n && s == MW_OK; k++)
            v[k] /= (float)dp->group->size;
        if (s == MW_OK) s = mw_exec_write(ex, t, v, n * sizeof *v);
        free(v);
        if (s != MW_OK)
            return mw_error_wrap(s, "averaging %s over the group: ", mw_tensor_name(g, t));
    }
    return MW_OK;
}

mw_status mw_dp_local(const mw_data_parallel *dp, mw_status s) {
    /* MW_ERR_GROUP comes from the group's own calls: every process has it already */
    if (s == MW_OK || s == MW_ERR_GROUP || !dp->group || !dp->group->abort) return s;
    char message[2048];
    snprintf(message, sizeof message,
             "process %d of the data-parallel group failed where the others cannot learn of "
             "it: %s; stopping every process (the resume file keeps the last completed epoch)",
             dp->group->rank, mw_error_message());
    dp->group->abort(dp->group, message);
    return s; /* an abort that returned */
}

mw_status mw_dp_check_params(mw_data_parallel *dp, mw_exec *ex, long step) {
    if (!dp->group || dp->check_every <= 0 || step % dp->check_every != 0) return MW_OK;
    const mw_collective *g = dp->group;
    size_t n = mw_exec_get_arenas(ex).total_floats;
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory checking parameters");
    mw_status s = mw_exec_arena_read(ex, MW_ARENA_PARAMS, 0, n, p);
    if (s == MW_OK && dp->perturb && n > 0) {
        p[0] += 1e-3f;
        s = mw_exec_arena_write(ex, MW_ARENA_PARAMS, 0, 1, p);
        dp->perturb = false;
    }
    char differ[256] = "";
    /* every process learns whether any differs, so all stop together */
    if (s == MW_OK) s = mw_collective_same(g, p, n * sizeof *p, differ, sizeof differ);
    free(p);
    MW_TRY(s);
    if (differ[0])
        return mw_error_set(MW_ERR_GROUP,
                            "after step %ld the parameters of process %s differ from process "
                            "0's: the gradient sum did not give every process the same values",
                            step, differ);
    return MW_OK;
}
