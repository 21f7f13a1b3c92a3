/* CIFAR-10 binary version (cifar-10-batches-bin).
 *
 * Each file is a sequence of 3073-byte records: one label byte (0..9), then the 32x32 red,
 * green and blue planes, row-major: already the [3, 32, 32] layout we keep, so a record is
 * copied as is. data_batch_1..5.bin hold 10000 records each (train), test_batch.bin 10000. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "memwrap/data.h"

enum { CIFAR_PIXELS = 3 * 32 * 32, CIFAR_RECORD = 1 + CIFAR_PIXELS, CIFAR_CLASSES = 10 };

/* Number of records in a file of `size` bytes, which must be a positive multiple of 3073. */
static mw_status cifar_records(const char *path, uint64_t size, uint64_t *n) {
    if (size == 0 || size % CIFAR_RECORD != 0)
        return mw_error_set(MW_ERR_FORMAT,
                            "CIFAR-10 '%s': size %llu is not a positive multiple of %d (records of "
                            "1 label byte + %d pixel bytes): truncated or not a CIFAR-10 binary "
                            "batch",
                            path, (unsigned long long)size, CIFAR_RECORD, CIFAR_PIXELS);
    *n = size / CIFAR_RECORD;
    return MW_OK;
}

/* Reads the records of one file into images/labels, which have room for `capacity` records
 * (the file is sized again when opened: it must not have grown since it was counted). */
static mw_status cifar_read_file(const char *path, uint64_t capacity, uint8_t *images,
                                 int32_t *labels, uint64_t *n) {
    FILE *f;
    uint64_t size;
    MW_TRY(mw_data_open("CIFAR-10", path, &f, &size));
    mw_status s = cifar_records(path, size, n);
    if (s == MW_OK && *n > capacity)
        s = mw_error_set(MW_ERR_IO, "CIFAR-10 '%s': file grew while being read", path);
    uint8_t rec[CIFAR_RECORD];
    for (uint64_t r = 0; s == MW_OK && r < *n; r++) {
        s = mw_data_read("CIFAR-10", path, f, rec, sizeof rec, r * CIFAR_RECORD);
        if (s == MW_OK && rec[0] >= CIFAR_CLASSES)
            s = mw_error_set(MW_ERR_FORMAT,
                             "CIFAR-10 '%s': record %llu: label %u out of range 0..9", path,
                             (unsigned long long)r, rec[0]);
        if (s != MW_OK) break;
        labels[r] = rec[0];
        memcpy(images + r * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
    }
    fclose(f);
    return s;
}

mw_status mw_cifar10_read(const char *const *paths, int n_paths, int *count, uint8_t **images,
                          int32_t **labels) {
    if (!paths || n_paths <= 0 || !count || !images || !labels)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_cifar10_read: no files or NULL argument");
    *count = 0;
    *images = NULL;
    *labels = NULL;
    for (int i = 0; i < n_paths; i++)
        if (!paths[i])
            return mw_error_set(MW_ERR_INVALID_ARG, "mw_cifar10_read: path %d is NULL", i);
    /* Every file is sized first: a malformed one is reported before anything is read, and
     * the output is allocated once. */
    uint64_t total = 0;
    for (int i = 0; i < n_paths; i++) {
        uint64_t size = 0, n = 0;
        MW_TRY(mw_data_stat("CIFAR-10", paths[i], &size));
        MW_TRY(cifar_records(paths[i], size, &n));
        total += n;
    }
    uint8_t *px;
    int32_t *lab;
    MW_TRY(mw_data_alloc("CIFAR-10", paths[0], total, CIFAR_PIXELS, &px, &lab));
    uint64_t done = 0;
    mw_status s = MW_OK;
    for (int i = 0; i < n_paths && s == MW_OK; i++) {
        uint64_t n = 0;
        s = cifar_read_file(paths[i], total - done, px + done * CIFAR_PIXELS, lab + done, &n);
        done += n;
    }
    if (s == MW_OK && done != total)
        s = mw_error_set(MW_ERR_IO, "CIFAR-10 '%s': files shrank while being read", paths[0]);
    if (s != MW_OK) {
        free(px);
        free(lab);
        return s;
    }
    *count = (int)total;
    *images = px;
    *labels = lab;
    return MW_OK;
}
