/* Shared helpers of the dataset readers (see reader.h). */
#define _POSIX_C_SOURCE 200809L

#include "data/reader.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

mw_status mw_data_stat(const char *what, const char *path, uint64_t *size) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return mw_error_set(MW_ERR_NOT_FOUND, "%s '%s': file not found", what, path);
        return mw_error_set(MW_ERR_IO, "%s '%s': cannot stat: %s", what, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return mw_error_set(MW_ERR_IO, "%s '%s': not a regular file", what, path);
    *size = (uint64_t)st.st_size;
    return MW_OK;
}

mw_status mw_data_open(const char *what, const char *path, FILE **f, uint64_t *size) {
    *f = NULL;
    MW_TRY(mw_data_stat(what, path, size));
    *f = fopen(path, "rb");
    if (!*f)
        return mw_error_set(MW_ERR_IO, "%s '%s': cannot open: %s", what, path, strerror(errno));
    return MW_OK;
}

mw_status mw_data_read(const char *what, const char *path, FILE *f, void *buf, size_t n,
                       uint64_t offset) {
    size_t got = fread(buf, 1, n, f);
    if (got == n) return MW_OK;
    if (ferror(f))
        return mw_error_set(MW_ERR_IO, "%s '%s': read failed at byte %llu: %s", what, path,
                            (unsigned long long)(offset + got), strerror(errno));
    return mw_error_set(MW_ERR_FORMAT,
                        "%s '%s': truncated: file ends at byte %llu, %zu bytes short", what, path,
                        (unsigned long long)(offset + got), n - got);
}

mw_status mw_data_alloc(const char *what, const char *path, uint64_t count, uint64_t pixels,
                        uint8_t **images, int32_t **labels) {
    *images = NULL;
    if (labels) *labels = NULL;
    if (count > INT_MAX || (pixels && count > SIZE_MAX / pixels))
        return mw_error_set(MW_ERR_FORMAT, "%s '%s': %llu images of %llu bytes are too many", what,
                            path, (unsigned long long)count, (unsigned long long)pixels);
    /* malloc(0) may return NULL: ask for at least one byte so that NULL means failure. */
    size_t bytes = (size_t)(count * pixels);
    *images = malloc(bytes ? bytes : 1);
    if (labels) *labels = malloc(count ? (size_t)count * sizeof **labels : 1);
    if (!*images || (labels && !*labels)) {
        free(*images);
        *images = NULL;
        if (labels) {
            free(*labels);
            *labels = NULL;
        }
        return mw_error_set(MW_ERR_OUT_OF_MEMORY,
                            "%s '%s': cannot allocate %llu images of %llu bytes", what, path,
                            (unsigned long long)count, (unsigned long long)pixels);
    }
    return MW_OK;
}

mw_status mw_data_path(char *out, size_t cap, const char *dir, const char *name) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return mw_error_set(MW_ERR_INVALID_ARG, "path '%s/%s' is too long", dir, name);
    return MW_OK;
}

int mw_data_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
