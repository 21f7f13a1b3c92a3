/* See dir_lock.h. */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "io/dir_lock.h"

mw_status mw_dir_lock_take(const char *dir, const char *what, mw_dir_lock *lock) {
    lock->fd = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, MW_DIR_LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return mw_error_set(MW_ERR_IO, "cannot open the lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        /* The holder wrote who it is; a short read just gives a vaguer message. */
        char holder[256] = {0};
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (err == EWOULDBLOCK)
            return mw_error_set(MW_ERR_IO,
                                "%s is in use by another process (%s); wait for it to finish, "
                                "or choose another output directory",
                                dir, holder[0] ? holder : "unknown");
        return mw_error_set(MW_ERR_IO, "cannot lock %s: %s", path, strerror(err));
    }
    char me[256];
    int len = snprintf(me, sizeof me, "pid %ld: %s\n", (long)getpid(), what);
    /* Who holds it, for the message above; the lock itself does not depend on it. */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, (size_t)len, 0) != len) {
        int err = errno;
        close(fd);
        return mw_error_set(MW_ERR_IO, "cannot write the lock file %s: %s", path, strerror(err));
    }
    lock->fd = fd;
    return MW_OK;
}

void mw_dir_lock_release(mw_dir_lock *lock) {
    if (lock->fd < 0) return;
    close(lock->fd); /* drops the flock; the file stays, harmless, for the next holder */
    lock->fd = -1;
}
