/* IDX files (MNIST, Fashion-MNIST).
 *
 * Format: a big-endian uint32 magic 0x0000TTNN (TT = element type, 0x08 = unsigned byte;
 * NN = number of dimensions), NN big-endian uint32 sizes, then the elements row-major.
 * Images are 0x00000803 (count, rows, cols), labels 0x00000801 (count). Files are usually
 * gzip-compressed; zlib's gzread reads plain and gzip files alike, so one path serves both.
 * The header must describe the data exactly: a short file and trailing bytes are errors. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/reader.h"
#include "memwrap/data.h"

/* Deflate cannot expand data by more than about 1032:1, so a gzip file of n bytes holds at
 * most this many: a corrupt header cannot make us allocate more than the file could fill. */
#define IDX_MAX_GZIP_RATIO 1100u
/* 1 TiB: far beyond any IDX file, small enough that sizes never overflow. */
#define IDX_MAX_BYTES ((uint64_t)1 << 40)

typedef struct idx_file {
    gzFile gz;
    const char *path;
    uint64_t offset; /* decompressed bytes consumed, for messages */
} idx_file;

/* Why gzread stopped early: a read error, corrupt gzip data, or a plain end of data. */
static mw_status idx_short_read(idx_file *f, const char *what_ended) {
    int errnum = Z_OK;
    const char *zmsg = gzerror(f->gz, &errnum);
    if (errnum == Z_ERRNO)
        return mw_error_set(MW_ERR_IO, "IDX '%s': read failed: %s", f->path, strerror(errno));
    if (errnum == Z_DATA_ERROR)
        return mw_error_set(MW_ERR_FORMAT, "IDX '%s': corrupt gzip data (%s)", f->path, zmsg);
    if (errnum == Z_MEM_ERROR)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "IDX '%s': zlib out of memory", f->path);
    if (errnum != Z_OK)
        return mw_error_set(MW_ERR_FORMAT, "IDX '%s': truncated gzip stream in %s (%s)", f->path,
                            what_ended, zmsg);
    return mw_error_set(MW_ERR_FORMAT, "IDX '%s': truncated: data ends at byte %llu, inside %s",
                        f->path, (unsigned long long)f->offset, what_ended);
}

static mw_status idx_read(idx_file *f, void *buf, size_t n, const char *what) {
    uint8_t *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n; /* gzread takes unsigned */
        int got = gzread(f->gz, p, chunk);
        if (got > 0) f->offset += (uint64_t)got;
        if (got <= 0) return idx_short_read(f, what);
        p += got;
        n -= (size_t)got;
    }
    return MW_OK;
}

/* Opens `path`, checks the magic for `ndims` unsigned-byte dimensions, reads the sizes into
 * dims[] and checks that the data they describe can be in the file. *payload: data bytes. */
static mw_status idx_open(idx_file *f, const char *path, int ndims, uint32_t dims[3],
                          uint64_t *payload) {
    f->path = path;
    f->offset = 0;
    f->gz = NULL;
    uint64_t file_size;
    MW_TRY(mw_data_stat("IDX", path, &file_size));
    errno = 0; /* gzopen leaves errno 0 when it fails for lack of memory */
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        if (errno == 0)
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "IDX '%s': zlib out of memory", path);
        return mw_error_set(MW_ERR_IO, "IDX '%s': cannot open: %s", path, strerror(errno));
    }
    gzbuffer(f->gz, 1u << 17);

    uint8_t head[16];
    size_t head_len = 4 + 4 * (size_t)ndims;
    MW_TRY(idx_read(f, head, 4, "the magic number"));
    uint32_t magic = mw_load_be32(head), want = 0x0800u | (uint32_t)ndims;
    if (magic != want) {
        if (head[0] || head[1])
            return mw_error_set(MW_ERR_FORMAT, "IDX '%s': bad magic number 0x%08x (want 0x%08x)",
                                path, magic, want);
        if (head[2] != 0x08)
            return mw_error_set(
                MW_ERR_FORMAT,
                "IDX '%s': unexpected element type 0x%02x (want 0x08, unsigned byte)", path,
                head[2]);
        return mw_error_set(MW_ERR_FORMAT, "IDX '%s': %u dimensions, want %d (magic 0x%08x)", path,
                            head[3], ndims, want);
    }
    MW_TRY(idx_read(f, head + 4, head_len - 4, "the header"));
    *payload = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = mw_load_be32(head + 4 + 4 * i);
        /* Checked before multiplying, so the product cannot wrap. */
        if (dims[i] == 0 || dims[i] > INT_MAX || *payload > IDX_MAX_BYTES / dims[i])
            return mw_error_set(MW_ERR_FORMAT, "IDX '%s': implausible size %u of dimension %d",
                                path, dims[i], i);
        *payload *= dims[i];
    }
    if (gzdirect(f->gz)) {
        uint64_t have = file_size - head_len; /* a plain file: the header was in it */
        if (have < *payload)
            return mw_error_set(
                MW_ERR_FORMAT,
                "IDX '%s': truncated: header describes %llu data bytes, file has %llu", path,
                (unsigned long long)*payload, (unsigned long long)have);
        if (have > *payload)
            return mw_error_set(MW_ERR_FORMAT,
                                "IDX '%s': %llu trailing bytes after the %llu data bytes the "
                                "header describes",
                                path, (unsigned long long)(have - *payload),
                                (unsigned long long)*payload);
    } else if (*payload > file_size * IDX_MAX_GZIP_RATIO) {
        return mw_error_set(MW_ERR_FORMAT,
                            "IDX '%s': header describes %llu data bytes, more than a %llu-byte "
                            "gzip file can hold",
                            path, (unsigned long long)*payload, (unsigned long long)file_size);
    }
    return MW_OK;
}

/* After the data: nothing may follow, and the gzip trailer (CRC, length) must check out. */
static mw_status idx_finish(idx_file *f) {
    uint8_t extra;
    int got = gzread(f->gz, &extra, 1);
    if (got > 0)
        return mw_error_set(MW_ERR_FORMAT,
                            "IDX '%s': trailing data after byte %llu, where the header says the "
                            "data ends",
                            f->path, (unsigned long long)f->offset);
    int errnum = Z_OK;
    gzerror(f->gz, &errnum);
    if (got < 0 || errnum != Z_OK) return idx_short_read(f, "the gzip trailer");
    return MW_OK;
}

static void idx_close(idx_file *f) {
    if (f->gz) gzclose_r(f->gz);
    f->gz = NULL;
}

mw_status mw_idx_read_images(const char *path, int *count, int *height, int *width,
                             uint8_t **images) {
    if (!path || !count || !height || !width || !images)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_idx_read_images: NULL argument");
    *count = *height = *width = 0;
    *images = NULL;
    idx_file f;
    uint32_t dims[3];
    uint64_t payload = 0;
    uint8_t *px = NULL;
    mw_status s = idx_open(&f, path, 3, dims, &payload);
    if (s == MW_OK && (dims[1] > 4096 || dims[2] > 4096))
        s = mw_error_set(MW_ERR_FORMAT, "IDX '%s': images of %ux%u pixels are implausible", path,
                         dims[1], dims[2]);
    if (s == MW_OK) s = mw_data_alloc("IDX", path, dims[0], (uint64_t)dims[1] * dims[2], &px, NULL);
    if (s == MW_OK) s = idx_read(&f, px, (size_t)payload, "the pixels");
    if (s == MW_OK) s = idx_finish(&f);
    idx_close(&f);
    if (s != MW_OK) {
        free(px);
        return s;
    }
    *count = (int)dims[0];
    *height = (int)dims[1];
    *width = (int)dims[2];
    *images = px;
    return MW_OK;
}

mw_status mw_idx_read_labels(const char *path, int *count, int32_t **labels) {
    if (!path || !count || !labels)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_idx_read_labels: NULL argument");
    *count = 0;
    *labels = NULL;
    idx_file f;
    uint32_t dims[3];
    uint64_t payload = 0;
    uint8_t *raw = NULL;
    int32_t *out = NULL;
    mw_status s = idx_open(&f, path, 1, dims, &payload);
    if (s == MW_OK) s = mw_data_alloc("IDX", path, dims[0], 1, &raw, &out);
    if (s == MW_OK) s = idx_read(&f, raw, (size_t)payload, "the labels");
    if (s == MW_OK) s = idx_finish(&f);
    idx_close(&f);
    for (uint32_t i = 0; s == MW_OK && i < dims[0]; i++) {
        if (raw[i] > 9) {
            s = mw_error_set(MW_ERR_FORMAT, "IDX '%s': label %u at index %u out of range 0..9",
                             path, raw[i], i);
            break;
        }
        out[i] = raw[i];
    }
    free(raw);
    if (s != MW_OK) {
        free(out);
        return s;
    }
    *count = (int)dims[0];
    *labels = out;
    return MW_OK;
}
