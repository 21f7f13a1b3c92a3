/* An output directory owned by one process at a time: `memwrap train` holds it for the whole
 * grid, so a second train on the same --out stops at once with a clear error instead of
 * both writing the same checkpoints and results. The lock is flock(2) on a file in the
 * directory: the kernel drops it when the holder exits or is killed, so a crash never
 * leaves a stale lock behind. */
#ifndef MEMWRAP_IO_DIR_LOCK_H
#define MEMWRAP_IO_DIR_LOCK_H

#include "memwrap/status.h"

/* The lock file's name inside the directory. */
#define MW_DIR_LOCK_NAME ".memwrap.lock"

typedef struct mw_dir_lock {
    int fd; /* -1 when not held */
} mw_dir_lock;

/* Takes the lock of `dir` (which must exist) for `what` (e.g. "memwrap train"), without
 * waiting: when another process holds it, MW_ERR_IO naming the directory, that process's pid
 * and what it is doing. */
mw_status mw_dir_lock_take(const char *dir, const char *what, mw_dir_lock *lock);

/* Releases it (a lock not held is ignored). */
void mw_dir_lock_release(mw_dir_lock *lock);

#endif
