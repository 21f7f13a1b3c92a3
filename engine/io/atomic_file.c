/* See atomic_file.h. */
#define _POSIX_C_SOURCE 200809L /* fdopen, fsync, kill */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"

/* open(O_EXCL) with mode 0666 rather than mkstemp, so the file gets the usual umask
 * permissions instead of mkstemp's 0600. */
mw_status mw_atomic_begin(const char *path, mw_atomic_file *af) {
    af->f = NULL;
    af->tmp = NULL;
    af->path = path;
    size_t cap = strlen(path) + 64;
    char *tmp = malloc(cap);
    if (!tmp) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "'%s': out of memory", path);
    static _Thread_local unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) {
            mw_status s = mw_error_set(MW_ERR_IO, "'%s': cannot create '%s': %s", path, tmp,
                                       strerror(errno));
            free(tmp);
            return s;
        }
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            mw_status s = mw_error_set(MW_ERR_IO, "'%s': fdopen failed: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return s;
        }
        af->f = f;
        af->tmp = tmp;
        return MW_OK;
    }
    free(tmp);
    return mw_error_set(MW_ERR_IO, "'%s': no free temporary name", path);
}

/* fsync of the directory makes the rename itself durable; best effort, since some file
 * systems refuse fsync on directories. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir) return;
    if (!slash)
        strcpy(dir, ".");
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* MEMWRAP_KILL_AT_WRITE (atomic_file.h): a torn temporary file, then SIGKILL. */
static void maybe_die_mid_write(FILE *f) {
    static long commits;
    const char *at = getenv("MEMWRAP_KILL_AT_WRITE");
    if (!at || ++commits != strtol(at, NULL, 10)) return;
    long len = ftell(f);
    if (len > 0 && ftruncate(fileno(f), len / 2) != 0)
        len = 0; /* no torn file then, but killed all the same */
    kill(getpid(), SIGKILL);
}

mw_status mw_atomic_commit(mw_atomic_file *af) {
    mw_status s = MW_OK;
    if (fflush(af->f) != 0)
        s = mw_error_set(MW_ERR_IO, "'%s': flushing '%s' failed: %s", af->path, af->tmp,
                         strerror(errno));
    if (s == MW_OK) maybe_die_mid_write(af->f);
    /* The data must be on disk before the rename publishes it, or a crash could leave a
     * complete-looking but empty file under the final name. */
    if (s == MW_OK && fsync(fileno(af->f)) != 0)
        s = mw_error_set(MW_ERR_IO, "'%s': fsync of '%s' failed: %s", af->path, af->tmp,
                         strerror(errno));
    if (fclose(af->f) != 0 && s == MW_OK)
        s = mw_error_set(MW_ERR_IO, "'%s': closing '%s' failed: %s", af->path, af->tmp,
                         strerror(errno));
    af->f = NULL;
    if (s == MW_OK && rename(af->tmp, af->path) != 0)
        s = mw_error_set(MW_ERR_IO, "'%s': rename from '%s' failed: %s", af->path, af->tmp,
                         strerror(errno));
    if (s == MW_OK)
        sync_parent_dir(af->path);
    else
        unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    return s;
}

void mw_atomic_abort(mw_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    af->f = NULL;
    af->tmp = NULL;
}

mw_status mw_write_file_atomic(const char *path, const void *data, size_t len) {
    mw_atomic_file af;
    MW_TRY(mw_atomic_begin(path, &af));
    if (len && fwrite(data, 1, len, af.f) != len) {
        mw_status s = mw_error_set(MW_ERR_IO, "'%s': writing '%s' failed: %s", path, af.tmp,
                                   strerror(errno));
        mw_atomic_abort(&af);
        return s;
    }
    return mw_atomic_commit(&af);
}

/* <name>.tmp.<digits>.<digits>, as mw_atomic_begin names its temporary files. */
static bool is_leftover_temporary(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return false;
    const char *p = t + 5;
    for (int part = 0; part < 2; part++) {
        if (*p < '0' || *p > '9') return false;
        while (*p >= '0' && *p <= '9') p++;
        if (part == 0 && *p++ != '.') return false;
    }
    return *p == '\0';
}

int mw_atomic_sweep(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_leftover_temporary(e->d_name)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

mw_status mw_make_dirs(const char *path) {
    char buf[4096];
    if (!path || !*path || strlen(path) >= sizeof buf)
        return mw_error_set(MW_ERR_INVALID_ARG, "cannot create directory '%s': empty or too long",
                            path ? path : "(null)");
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return mw_error_set(MW_ERR_IO, "cannot create directory %s: %s", buf,
                                    strerror(errno));
            *p = c;
        }
        if (c == '\0') return MW_OK;
    }
}
