/* SVHN format 2 (train_32x32.mat, test_32x32.mat): MATLAB level-5 MAT files.
 *
 * Layout: a 128-byte header (text, subsystem offset, version 0x0100, endian mark "IM" for a
 * little-endian file), then data elements, each an 8-byte tag (uint32 type, uint32 byte
 * count) and its data. A variable is an miMATRIX element holding sub-elements (array flags
 * with the class, dimensions, name, real part), each padded to 8 bytes; a sub-element of at
 * most 4 bytes may use the "small" tag (count in the high 16 bits, data in the tag's second
 * word). An miCOMPRESSED element holds one zlib-compressed miMATRIX element and is not padded.
 * MATLAB stores numeric data in the smallest type that holds it, so the storage type of the
 * real part may differ from the class (SVHN's double y is stored as uint8).
 *
 * SVHN: X is 32x32x3xN uint8, column-major X(row, col, channel, n): the 3072 bytes of image n
 * are contiguous, channel-major then column then row; y is N x 1 with labels 1..10 where 10
 * means the digit 0. The file is streamed (decompressing through inflate when compressed),
 * transposing each image into [3, 32, 32] (channel, row, col) as it arrives, so loading takes
 * no memory beyond the result. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>

#include "data/reader.h"
#include "memwrap/data.h"

enum {
    MI_INT8 = 1,
    MI_UINT8 = 2,
    MI_INT16 = 3,
    MI_UINT16 = 4,
    MI_INT32 = 5,
    MI_UINT32 = 6,
    MI_SINGLE = 7,
    MI_DOUBLE = 9,
    MI_INT64 = 12,
    MI_UINT64 = 13,
    MI_MATRIX = 14,
    MI_COMPRESSED = 15,
    MI_UTF8 = 16,
};
enum { MX_DOUBLE = 6, MX_SINGLE = 7, MX_INT8 = 8, MX_UINT8 = 9, MX_UINT64 = 15 };
enum { MAT_HEADER = 128, MAT_MAX_DIMS = 8, MAT_MAX_NAME = 63, MAT_COMPLEX_FLAG = 0x800 };
enum { SVHN_SIDE = 32, SVHN_PIXELS = 3 * 32 * 32 };
/* Deflate expands by at most about 1032:1: bounds what a compressed element can claim. */
#define MAT_MAX_INFLATE_RATIO 1100u

/* The byte stream of the file: raw, or inflated from the current miCOMPRESSED element. Reads
 * inside a variable are bounded by `left`, the bytes its miMATRIX tag declared. */
typedef struct mat_src {
    FILE *f;
    const char *path;
    uint64_t file_size, pos; /* pos: offset of the next raw file byte */
    int compressed;
    z_stream zs;
    uint64_t raw_left; /* compressed bytes of the element not yet fed to inflate */
    uint64_t left;     /* bytes left in the current variable */
    const char *var;   /* its name once known ("" before), for messages */
    uint8_t in[16384];
} mat_src;

static mw_status mat_error(const mat_src *m, const char *what) {
    if (*m->var)
        return mw_error_set(MW_ERR_FORMAT, "SVHN '%s': variable '%s': %s", m->path, m->var, what);
    return mw_error_set(MW_ERR_FORMAT, "SVHN '%s': %s", m->path, what);
}

/* Reads n raw file bytes. */
static mw_status raw_read(mat_src *m, void *buf, size_t n) {
    MW_TRY(mw_data_read("SVHN", m->path, m->f, buf, n, m->pos));
    m->pos += n;
    return MW_OK;
}

/* Feeds inflate from the file when its input is used up, then runs it once; *r is
 * Z_OK, Z_STREAM_END or Z_BUF_ERROR (no progress) when it returns MW_OK. */
static mw_status inflate_step(mat_src *m, int *r) {
    if (m->zs.avail_in == 0 && m->raw_left > 0) {
        size_t chunk = m->raw_left < sizeof m->in ? (size_t)m->raw_left : sizeof m->in;
        MW_TRY(raw_read(m, m->in, chunk));
        m->raw_left -= chunk;
        m->zs.next_in = m->in;
        m->zs.avail_in = (uInt)chunk;
    }
    *r = inflate(&m->zs, Z_NO_FLUSH);
    if (*r == Z_MEM_ERROR)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "SVHN '%s': zlib out of memory", m->path);
    if (*r != Z_OK && *r != Z_STREAM_END && *r != Z_BUF_ERROR)
        return mw_error_set(MW_ERR_FORMAT, "SVHN '%s': corrupt compressed element (%s)", m->path,
                            m->zs.msg ? m->zs.msg : "bad zlib data");
    if (*r == Z_BUF_ERROR && m->zs.avail_in == 0 && m->raw_left == 0)
        return mat_error(m, "compressed element is truncated");
    return MW_OK;
}

static mw_status inflate_read(mat_src *m, uint8_t *buf, size_t n) {
    m->zs.next_out = buf;
    m->zs.avail_out = (uInt)n; /* callers read at most a few KiB at a time */
    while (m->zs.avail_out > 0) {
        int r;
        MW_TRY(inflate_step(m, &r));
        if (r == Z_STREAM_END && m->zs.avail_out > 0)
            return mat_error(m, "compressed element ends before the data it declares");
    }
    return MW_OK;
}

/* Inflates the rest of a compressed element, so that zlib verifies its checksum: a corrupt
 * stream must not pass because the damage lies after the variable's data. */
static mw_status inflate_finish(mat_src *m) {
    uint8_t sink[512];
    int r = Z_OK;
    while (r != Z_STREAM_END) {
        m->zs.next_out = sink;
        m->zs.avail_out = sizeof sink;
        MW_TRY(inflate_step(m, &r));
    }
    return MW_OK;
}

/* Reads n bytes of the current variable. */
static mw_status mat_read(mat_src *m, void *buf, size_t n) {
    if (n > m->left) return mat_error(m, "data runs past the end of its element");
    m->left -= n;
    return m->compressed ? inflate_read(m, buf, n) : raw_read(m, buf, n);
}

/* Skips n bytes of the current variable. */
static mw_status mat_skip(mat_src *m, uint64_t n) {
    uint8_t sink[256];
    while (n > 0) {
        size_t k = n < sizeof sink ? (size_t)n : sizeof sink;
        MW_TRY(mat_read(m, sink, k));
        n -= k;
    }
    return MW_OK;
}

/* Skips the padding that brings a sub-element of n data bytes to a multiple of 8. */
static mw_status mat_skip_padding(mat_src *m, uint64_t n) {
    return mat_skip(m, (8 - n % 8) % 8);
}

typedef struct mat_tag {
    uint32_t type, nbytes;
    int small;
    uint8_t data[4]; /* the data of a small element */
} mat_tag;

static void tag_decode(const uint8_t b[8], mat_tag *t) {
    uint32_t w0 = mw_load_le32(b);
    t->small = (w0 >> 16) != 0;
    t->type = t->small ? (w0 & 0xffff) : w0;
    t->nbytes = t->small ? (w0 >> 16) : mw_load_le32(b + 4);
    memcpy(t->data, b + 4, 4);
}

static mw_status sub_tag(mat_src *m, mat_tag *t, const char *what) {
    uint8_t b[8];
    MW_TRY(mat_read(m, b, 8));
    tag_decode(b, t);
    if (t->small && t->nbytes > 4) {
        char msg[96];
        snprintf(msg, sizeof msg, "bad small tag of the %s (%u bytes)", what, t->nbytes);
        return mat_error(m, msg);
    }
    return MW_OK;
}

/* Reads a whole sub-element of type `type` and at most `cap` bytes into buf, and skips its
 * padding. */
static mw_status sub_read(mat_src *m, const char *what, uint32_t type, void *buf, size_t cap,
                          mat_tag *t) {
    MW_TRY(sub_tag(m, t, what));
    char msg[128];
    if (t->type != type) {
        snprintf(msg, sizeof msg, "unexpected data type %u for the %s", t->type, what);
        return mat_error(m, msg);
    }
    if (t->nbytes > cap) {
        snprintf(msg, sizeof msg, "%s of %u bytes is too large", what, t->nbytes);
        return mat_error(m, msg);
    }
    if (t->small) {
        memcpy(buf, t->data, t->nbytes);
        return MW_OK;
    }
    MW_TRY(mat_read(m, buf, t->nbytes));
    return mat_skip_padding(m, t->nbytes);
}

/* The header of a variable: class, dimensions and name. */
typedef struct mat_var {
    uint32_t cls;
    int ndims;
    uint32_t dims[MAT_MAX_DIMS];
    char name[MAT_MAX_NAME + 1];
} mat_var;

static mw_status var_header(mat_src *m, mat_var *v) {
    uint8_t b[MAT_MAX_DIMS * 4];
    mat_tag t;
    MW_TRY(sub_read(m, "array flags", MI_UINT32, b, 8, &t));
    if (t.nbytes != 8) return mat_error(m, "array flags are not 8 bytes");
    uint32_t flags = mw_load_le32(b);
    v->cls = flags & 0xff;
    MW_TRY(sub_read(m, "dimensions", MI_INT32, b, sizeof b, &t));
    if (t.nbytes % 4 || t.nbytes < 8) return mat_error(m, "malformed dimensions");
    v->ndims = (int)(t.nbytes / 4);
    for (int i = 0; i < v->ndims; i++) {
        v->dims[i] = mw_load_le32(b + 4 * i);
        if (v->dims[i] > INT_MAX) return mat_error(m, "negative dimension");
    }
    /* A longer name than MATLAB allows cannot be X or y: keep it empty and skip it. */
    MW_TRY(sub_tag(m, &t, "array name"));
    if (t.type != MI_INT8 && t.type != MI_UTF8) return mat_error(m, "array name is not text");
    uint32_t keep = t.nbytes <= MAT_MAX_NAME ? t.nbytes : 0;
    if (t.small)
        memcpy(v->name, t.data, keep);
    else
        MW_TRY(mat_read(m, v->name, keep));
    v->name[keep] = '\0';
    if (!t.small) MW_TRY(mat_skip(m, t.nbytes - keep + (8 - t.nbytes % 8) % 8));
    if (flags & MAT_COMPLEX_FLAG) {
        m->var = v->name;
        return mat_error(m, "is complex, want real data");
    }
    return MW_OK;
}

static void dims_text(const mat_var *v, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < v->ndims && n < cap; i++) {
        int k = snprintf(out + n, cap - n, i ? "x%u" : "%u", v->dims[i]);
        if (k < 0) break;
        n += (size_t)k;
    }
}

/* X: 32x32x3xN uint8 (a trailing N = 1 is dropped by MATLAB), streamed image by image. */
static mw_status read_x(mat_src *m, const mat_var *v, int *count, uint8_t **images) {
    char msg[160], dims[64];
    dims_text(v, dims, sizeof dims);
    if (v->cls != MX_UINT8) {
        snprintf(msg, sizeof msg, "class %u, want uint8 (9)", v->cls);
        return mat_error(m, msg);
    }
    if (v->ndims < 3 || v->ndims > 4 || v->dims[0] != SVHN_SIDE || v->dims[1] != SVHN_SIDE ||
        v->dims[2] != 3 || (v->ndims == 4 && v->dims[3] == 0)) {
        snprintf(msg, sizeof msg, "dimensions %s, want 32x32x3xN", dims);
        return mat_error(m, msg);
    }
    uint64_t n = v->ndims == 4 ? v->dims[3] : 1;
    mat_tag t;
    MW_TRY(sub_tag(m, &t, "pixel data"));
    if (t.small || t.type != MI_UINT8 || t.nbytes != n * SVHN_PIXELS) {
        snprintf(msg, sizeof msg, "pixel data of type %u and %u bytes, want uint8 (2) and %llu",
                 t.type, t.nbytes, (unsigned long long)(n * SVHN_PIXELS));
        return mat_error(m, msg);
    }
    /* Checked before allocating: a corrupt size cannot claim more than the element holds. */
    if (t.nbytes > m->left) return mat_error(m, "pixel data runs past the end of its element");
    uint8_t *px;
    MW_TRY(mw_data_alloc("SVHN", m->path, n, SVHN_PIXELS, &px, NULL));
    uint8_t in[SVHN_PIXELS];
    for (uint64_t i = 0; i < n; i++) {
        mw_status s = mat_read(m, in, sizeof in);
        if (s != MW_OK) {
            free(px);
            return s;
        }
        uint8_t *out = px + i * SVHN_PIXELS;
        for (int c = 0; c < 3; c++)
            for (int col = 0; col < SVHN_SIDE; col++)
                for (int row = 0; row < SVHN_SIDE; row++)
                    out[(c * SVHN_SIDE + row) * SVHN_SIDE + col] =
                        in[(c * SVHN_SIDE + col) * SVHN_SIDE + row];
    }
    mw_status s = mat_skip_padding(m, t.nbytes);
    if (s != MW_OK) {
        free(px);
        return s;
    }
    *count = (int)n;
    *images = px;
    return MW_OK;
}

/* Size of one element of numeric storage type `type`, 0 if not numeric. */
static size_t mi_size(uint32_t type) {
    switch (type) {
    case MI_INT8:
    case MI_UINT8:
        return 1;
    case MI_INT16:
    case MI_UINT16:
        return 2;
    case MI_INT32:
    case MI_UINT32:
    case MI_SINGLE:
        return 4;
    case MI_DOUBLE:
    case MI_INT64:
    case MI_UINT64:
        return 8;
    default:
        return 0;
    }
}

static double mi_value(uint32_t type, const uint8_t *p) {
    uint64_t u = 0;
    for (size_t b = mi_size(type); b-- > 0;)
        u = u << 8 | p[b];
    switch (type) {
    case MI_INT8:
        return (int8_t)u;
    case MI_UINT8:
    case MI_UINT16:
    case MI_UINT32:
    case MI_UINT64:
        return (double)u;
    case MI_INT16:
        return (int16_t)u;
    case MI_INT32:
        return (int32_t)u;
    case MI_INT64:
        return (double)(int64_t)u;
    case MI_SINGLE: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    default: {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    }
}

/* y: N x 1 (or 1 x N) labels 1..10 of any numeric class and storage type; 10 -> digit 0. */
static mw_status read_y(mat_src *m, const mat_var *v, int *count, int32_t **labels) {
    char msg[160], dims[64];
    dims_text(v, dims, sizeof dims);
    if (v->cls < MX_DOUBLE || v->cls > MX_UINT64) {
        snprintf(msg, sizeof msg, "class %u, want a numeric class (double or uint8)", v->cls);
        return mat_error(m, msg);
    }
    if (v->ndims != 2 || (v->dims[0] != 1 && v->dims[1] != 1) || v->dims[0] == 0 ||
        v->dims[1] == 0) {
        snprintf(msg, sizeof msg, "dimensions %s, want Nx1", dims);
        return mat_error(m, msg);
    }
    uint64_t n = (uint64_t)v->dims[0] * v->dims[1];
    mat_tag t;
    MW_TRY(sub_tag(m, &t, "label data"));
    size_t es = mi_size(t.type);
    if (es == 0 || t.nbytes != n * es) {
        snprintf(msg, sizeof msg, "label data of type %u and %u bytes, want %llu numbers", t.type,
                 t.nbytes, (unsigned long long)n);
        return mat_error(m, msg);
    }
    if (!t.small && t.nbytes > m->left) return mat_error(m, "label data runs past its element");
    uint8_t *raw = malloc(t.nbytes);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    mw_status s = (raw && lab) ? MW_OK
                               : mw_error_set(MW_ERR_OUT_OF_MEMORY,
                                              "SVHN '%s': no memory for %llu "
                                              "labels",
                                              m->path, (unsigned long long)n);
    if (s == MW_OK && t.small) memcpy(raw, t.data, t.nbytes);
    if (s == MW_OK && !t.small) s = mat_read(m, raw, t.nbytes);
    if (s == MW_OK && !t.small) s = mat_skip_padding(m, t.nbytes);
    for (uint64_t i = 0; s == MW_OK && i < n; i++) {
        double y = mi_value(t.type, raw + i * es);
        if (!(y >= 1 && y <= 10) || y != floor(y)) {
            snprintf(msg, sizeof msg, "label %g at index %llu out of range 1..10", y,
                     (unsigned long long)i);
            s = mat_error(m, msg);
            break;
        }
        lab[i] = y == 10 ? 0 : (int32_t)y;
    }
    free(raw);
    if (s != MW_OK) {
        free(lab);
        return s;
    }
    *count = (int)n;
    *labels = lab;
    return MW_OK;
}

static mw_status check_header(mat_src *m) {
    uint8_t h[MAT_HEADER];
    MW_TRY(mw_data_read("SVHN", m->path, m->f, h, sizeof h, 0));
    m->pos = MAT_HEADER;
    if (h[126] == 'M' && h[127] == 'I')
        return mat_error(m, "big-endian MAT file, only little-endian files are supported");
    if (h[126] != 'I' || h[127] != 'M')
        return mat_error(m, "not a MATLAB level-5 MAT file (no endian mark at bytes 126-127)");
    unsigned version = (unsigned)h[124] | (unsigned)h[125] << 8;
    if (version == 0x0200)
        return mat_error(m, "MATLAB v7.3 (HDF5) file, want a level-5 MAT file (save -v7)");
    if (version != 0x0100) {
        char msg[80];
        snprintf(msg, sizeof msg, "MAT version 0x%04x, want 0x0100", version);
        return mat_error(m, msg);
    }
    return MW_OK;
}

/* Reads one top-level element; fills X or y if it is one of them. */
static mw_status read_element(mat_src *m, int *nx, uint8_t **x, int *ny, int32_t **y) {
    uint64_t start = m->pos;
    if (m->file_size - start < 8) return mat_error(m, "truncated: partial element tag at the end");
    uint8_t b[8];
    MW_TRY(raw_read(m, b, 8));
    mat_tag t;
    tag_decode(b, &t);
    uint64_t end = start + 8 + t.nbytes;
    char msg[160];
    if (t.small || (t.type != MI_MATRIX && t.type != MI_COMPRESSED)) {
        snprintf(msg, sizeof msg,
                 "element at byte %llu has type %u, want miMATRIX (14) or "
                 "miCOMPRESSED (15)",
                 (unsigned long long)start, t.type);
        return mat_error(m, msg);
    }
    if (end > m->file_size) {
        snprintf(msg, sizeof msg, "truncated: element at byte %llu declares %u bytes, %llu remain",
                 (unsigned long long)start, t.nbytes,
                 (unsigned long long)(m->file_size - start - 8));
        return mat_error(m, msg);
    }
    mw_status s = MW_OK;
    m->left = t.nbytes;
    if (t.type == MI_COMPRESSED) {
        memset(&m->zs, 0, sizeof m->zs);
        if (inflateInit(&m->zs) != Z_OK)
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "SVHN '%s': zlib init failed", m->path);
        uint64_t zbytes = t.nbytes;
        m->compressed = 1;
        m->raw_left = zbytes;
        m->left = 8;
        s = mat_read(m, b, 8);
        tag_decode(b, &t);
        if (s == MW_OK && (t.small || t.type != MI_MATRIX)) {
            snprintf(msg, sizeof msg,
                     "compressed element at byte %llu holds type %u, want miMATRIX",
                     (unsigned long long)start, t.type);
            s = mat_error(m, msg);
        }
        if (s == MW_OK && t.nbytes > zbytes * MAT_MAX_INFLATE_RATIO + 64)
            s = mat_error(m, "compressed element declares more data than it can hold");
        m->left = t.nbytes;
    }
    mat_var v;
    if (s == MW_OK) s = var_header(m, &v);
    if (s == MW_OK) m->var = v.name;
    int want_x = s == MW_OK && strcmp(v.name, "X") == 0,
        want_y = s == MW_OK && strcmp(v.name, "y") == 0;
    if ((want_x && *x) || (want_y && *y)) s = mat_error(m, "appears twice");
    if (s == MW_OK && want_x) s = read_x(m, &v, nx, x);
    if (s == MW_OK && want_y) s = read_y(m, &v, ny, y);
    if (s == MW_OK && m->compressed && (want_x || want_y)) s = inflate_finish(m);
    if (m->compressed) inflateEnd(&m->zs);
    m->compressed = 0;
    m->var = "";
    if (s == MW_OK && fseeko(m->f, (off_t)end, SEEK_SET) != 0)
        s = mw_error_set(MW_ERR_IO, "SVHN '%s': cannot seek: %s", m->path, strerror(errno));
    m->pos = end;
    return s;
}

mw_status mw_svhn_read(const char *path, int *count, uint8_t **images, int32_t **labels) {
    if (!path || !count || !images || !labels)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_svhn_read: NULL argument");
    *count = 0;
    *images = NULL;
    *labels = NULL;
    mat_src *m = calloc(1, sizeof *m);
    if (!m) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "SVHN '%s': out of memory", path);
    m->path = path;
    m->var = "";
    mw_status s = mw_data_open("SVHN", path, &m->f, &m->file_size);
    if (s == MW_OK && m->file_size < MAT_HEADER)
        s = mat_error(m, "truncated: shorter than the 128-byte MAT header");
    if (s == MW_OK) s = check_header(m);
    int nx = 0, ny = 0;
    uint8_t *x = NULL;
    int32_t *y = NULL;
    while (s == MW_OK && m->pos < m->file_size)
        s = read_element(m, &nx, &x, &ny, &y);
    if (s == MW_OK && (!x || !y))
        s = mat_error(m, !x ? "no variable 'X' (32x32x3xN uint8 images)"
                            : "no variable 'y' (Nx1 labels)");
    if (s == MW_OK && nx != ny) {
        char msg[96];
        snprintf(msg, sizeof msg, "X holds %d images but y %d labels", nx, ny);
        s = mat_error(m, msg);
    }
    if (m->f) fclose(m->f);
    free(m);
    if (s != MW_OK) {
        free(x);
        free(y);
        return s;
    }
    *count = nx;
    *images = x;
    *labels = y;
    return MW_OK;
}
