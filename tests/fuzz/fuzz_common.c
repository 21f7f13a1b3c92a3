/* Helpers shared by the libFuzzer harnesses (see fuzz_common.h). */
#define _XOPEN_SOURCE 700

#include "fuzz_common.h"
#include "memwrap/data.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[PATH_MAX];

static void die(const char *what, const char *path) {
    fprintf(stderr, "fuzz harness: %s '%s': %s\n", what, path, strerror(errno));
    abort();
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes everything below the scratch directory, and the directory itself when `self`. */
static void remove_tree(int self) {
    if (!scratch[0]) return;
    /* FTW_DEPTH: children before their directory. */
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (!self && mkdir(scratch, 0700) != 0) die("cannot recreate", scratch);
}

static void remove_scratch(void) {
    remove_tree(1);
}

const char *fuzz_dir(void) {
    if (scratch[0]) return scratch;
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/memwrap-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) die("cannot create", scratch);
    atexit(remove_scratch);
    return scratch;
}

void fuzz_clear(void) {
    fuzz_dir();
    remove_tree(0);
}

const char *fuzz_write(const char *rel, const void *data, size_t size) {
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), rel);
    /* mkdir -p for the directories inside rel. */
    for (char *p = path + strlen(fuzz_dir()) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) die("cannot create", path);
        *p = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("cannot create", path);
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("cannot write", path);
        p += n;
        size -= (size_t)n;
    }
    if (close(fd) != 0) die("cannot close", path);
    return path;
}

void fuzz_check_error(mw_status s, const char *name) {
    /* To see what each seed does: MEMWRAP_FUZZ_VERBOSE=1 ./fuzz_x -runs=0 corpus/fuzz_x */
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("MEMWRAP_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "%s: %s\n", mw_status_name(s), s ? mw_error_message() : "");
    if (s == MW_OK) return;
    const char *msg = mw_error_message();
    if (!msg || !*msg || !strstr(msg, name)) {
        fprintf(stderr, "fuzz harness: %s without naming '%s': \"%s\"\n", mw_status_name(s), name,
                msg ? msg : "(null)");
        abort();
    }
}

int fuzz_split(const uint8_t *data, size_t size, char **pieces, int max, char **buffer) {
    char *buf = malloc(size + 1);
    if (!buf) abort();
    if (size) memcpy(buf, data, size);
    buf[size] = '\0';
    int n = 1;
    pieces[0] = buf;
    for (size_t i = 0; i < size && n < max; i++)
        if (buf[i] == '\0') pieces[n++] = buf + i + 1;
    *buffer = buf;
    return n;
}

void fuzz_dataset_file(const char *dataset, const char *file, const uint8_t *data, size_t size) {
    const char *path = fuzz_write(file, data, size);
    mw_dataset *d = NULL;
    mw_status s = mw_dataset_load(dataset, fuzz_dir(), MW_SPLIT_TEST, &d);
    fuzz_check_error(s, path);
    for (int i = 0; s == MW_OK && i < d->count; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->classes) abort();
    mw_dataset_free(d);
}
