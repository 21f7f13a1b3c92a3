/* Pieces shared by the dataset readers (engine/data): file checks with the error codes the
 * public API promises, exact reads that tell truncation from I/O failure, overflow-checked
 * output allocation, path joining and byte-order loads. Messages read "<format> '<file>': ..."
 * where <format> is the `what` argument ("IDX", "CIFAR-10", ...). */
#ifndef MEMWRAP_DATA_READER_H
#define MEMWRAP_DATA_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memwrap/status.h"

/* Size of the regular file `path` in *size. Missing: MW_ERR_NOT_FOUND; not a regular file or
 * not stat-able: MW_ERR_IO. */
mw_status mw_data_stat(const char *what, const char *path, uint64_t *size);

/* mw_data_stat, then fopen(path, "rb") into *f. */
mw_status mw_data_open(const char *what, const char *path, FILE **f, uint64_t *size);

/* Reads exactly `n` bytes; `offset` is the file position, for the message. End of file first:
 * MW_ERR_FORMAT ("truncated"); a read error: MW_ERR_IO. */
mw_status mw_data_read(const char *what, const char *path, FILE *f, void *buf, size_t n,
                       uint64_t offset);

/* Allocates count * pixels image bytes and, when `labels` is not NULL, count labels; checks
 * that count fits an int and the product a size_t. Both pointers are NULL on failure. */
mw_status mw_data_alloc(const char *what, const char *path, uint64_t count, uint64_t pixels,
                        uint8_t **images, int32_t **labels);

/* out = dir + "/" + name; MW_ERR_INVALID_ARG when it does not fit `cap` bytes. */
mw_status mw_data_path(char *out, size_t cap, const char *dir, const char *name);

/* Whether `path` exists and is a directory. */
int mw_data_is_dir(const char *path);

static inline uint32_t mw_load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint32_t mw_load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
