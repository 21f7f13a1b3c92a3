/* Files written atomically: a temporary file in the same directory, flushed and fsync'd,
 * then renamed over the destination, so a crash never leaves a torn file and a failed
 * write leaves the old file untouched. Every writer of memwrap goes through this. */
#ifndef MEMWRAP_IO_ATOMIC_FILE_H
#define MEMWRAP_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "memwrap/status.h"

typedef struct mw_atomic_file {
    FILE *f;    /* write here */
    char *tmp;  /* the temporary name (for messages) */
    const char *path;
} mw_atomic_file;

mw_status mw_atomic_begin(const char *path, mw_atomic_file *af);
/* Flush, fsync, close, rename; on any failure the temporary file is removed.
 * Fault injection for the crash tests: with MEMWRAP_KILL_AT_WRITE=N in the environment, the
 * process's Nth commit cuts its temporary file to half its length and kills the process
 * with SIGKILL before the rename, as a crash in the middle of a write would. */
mw_status mw_atomic_commit(mw_atomic_file *af);
/* Gives up: closes and removes the temporary file. */
void mw_atomic_abort(mw_atomic_file *af);

/* The whole file at once. */
mw_status mw_write_file_atomic(const char *path, const void *data, size_t len);

/* Removes what writes killed in flight left in `dir`: files named <name>.tmp.<pid>.<n>
 * (never a finished file). Only for a directory no other process is writing into (the
 * caller holds its lock); returns how many were removed. */
int mw_atomic_sweep(const char *dir);

/* Creates directory `path` and its missing parents (mkdir -p); an error names the
 * directory that could not be made. */
mw_status mw_make_dirs(const char *path);

#endif
