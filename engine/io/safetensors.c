/* safetensors reader and atomic writer.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header (an object mapping
 * tensor names to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
 * "__metadata__" object of strings), then the data section; offsets are relative to the
 * start of the data section. Every field of an untrusted file is checked before use: the
 * reader must never crash on a truncated or hostile file (checkpoints, `memwrap infer`
 * inputs and reference vectors all come through here). */
#define _POSIX_C_SOURCE 200809L

#include "io/atomic_file.h"
#include "memwrap/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Same cap as the Python library (MAX_HEADER_SIZE): a corrupt length cannot make us
 * allocate gigabytes for a header. */
#define MW_ST_MAX_HEADER ((uint64_t)100000000)

/* Offsets are JSON numbers, which cJSON holds as double: integers beyond 2^53 would be
 * silently rounded, so they are rejected. */
#define MW_ST_MAX_EXACT 9007199254740992.0

static const char *const dtype_names[] = {"F32", "F64", "I32", "I64", "U8"};
static const size_t dtype_sizes[] = {4, 8, 4, 8, 1};
_Static_assert(sizeof(dtype_names) / sizeof(dtype_names[0]) == MW_ST_U8 + 1,
               "every mw_st_dtype needs a name");

const char *mw_st_dtype_name(mw_st_dtype d) {
    return (unsigned)d <= MW_ST_U8 ? dtype_names[d] : "?";
}
_Static_assert(sizeof(dtype_sizes) / sizeof(dtype_sizes[0]) == MW_ST_U8 + 1,
               "every mw_st_dtype needs a size");

static int dtype_valid(mw_st_dtype d) {
    return (unsigned)d <= (unsigned)MW_ST_U8;
}

static int dtype_from_name(const char *s, mw_st_dtype *out) {
    for (int i = 0; i <= (int)MW_ST_U8; i++) {
        if (strcmp(s, dtype_names[i]) == 0) {
            *out = (mw_st_dtype)i;
            return 1;
        }
    }
    return 0;
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Little-endian loads from possibly unaligned file bytes, independent of host order. */
static uint32_t load_u32_le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64_le(const uint8_t *p) {
    return (uint64_t)load_u32_le(p) | (uint64_t)load_u32_le(p + 4) << 32;
}

static float load_f32(const uint8_t *p) {
    uint32_t u = load_u32_le(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double load_f64(const uint8_t *p) {
    uint64_t u = load_u64_le(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ------------------------------------------------------------------------------------ */
/* Reading                                                                                */

void mw_safetensors_free(mw_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->count; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    free(st->metadata_json);
    free(st->blob);
    free(st->path);
    free(st);
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Reads the whole file. Kept simple (one malloc + read loop) rather than mmap so that the
 * blob's lifetime is plain and the file can be replaced while it is loaded. */
static mw_status read_whole_file(const char *path, uint8_t **out, size_t *size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return mw_error_set(MW_ERR_IO, "safetensors '%s': cannot open: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return mw_error_set(MW_ERR_IO, "safetensors '%s': cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return mw_error_set(MW_ERR_IO, "safetensors '%s': not a regular file", path);
    }
    if ((uintmax_t)sb.st_size > (uintmax_t)SIZE_MAX - 1) {
        close(fd);
        return mw_error_set(MW_ERR_IO, "safetensors '%s': file too large", path);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': cannot allocate %zu bytes",
                            path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return mw_error_set(MW_ERR_IO, "safetensors '%s': read failed: %s", path, strerror(e));
        }
        if (r == 0) break; /* shrank under us: validate what we have */
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *size = got;
    return MW_OK;
}

/* A non-negative integer that a double holds exactly. */
static int json_to_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > MW_ST_MAX_EXACT || floor(v) != v) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int compare_tensor_names(const void *a, const void *b) {
    return strcmp(((const mw_st_tensor *)a)->name, ((const mw_st_tensor *)b)->name);
}

/* Parses one header entry into `t` (whose name is already set). */
static mw_status parse_entry(const char *path, const cJSON *entry, const uint8_t *data,
                             size_t data_size, mw_st_tensor *t) {
    const char *name = t->name;
    if (!cJSON_IsObject(entry)) {
        return mw_error_set(MW_ERR_FORMAT, "safetensors '%s': tensor '%s': entry is not an object",
                            path, name);
    }
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype)) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': missing string \"dtype\"", path, name);
    }
    if (!dtype_from_name(dtype->valuestring, &t->dtype)) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': unsupported dtype '%s' "
                            "(supported: F32, F64, I32, I64, U8)",
                            path, name, dtype->valuestring);
    }
    if (!cJSON_IsArray(shape)) {
        return mw_error_set(MW_ERR_FORMAT, "safetensors '%s': tensor '%s': missing array \"shape\"",
                            path, name);
    }
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > MW_ST_MAX_DIMS) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': %d dimensions (at most %d supported)",
                            path, name, ndim, (int)MW_ST_MAX_DIMS);
    }
    t->ndim = ndim;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t dim;
        if (!json_to_u64(cJSON_GetArrayItem(shape, i), &dim)) {
            return mw_error_set(MW_ERR_FORMAT,
                                "safetensors '%s': tensor '%s': shape[%d] is not a "
                                "non-negative integer",
                                path, name, i);
        }
        t->shape[i] = (int64_t)dim;
        if (dim == 0) zero = 1;
    }
    /* The element count is bounded by the data section after each multiply, so it cannot
     * overflow: a shape larger than the file is rejected before that could happen. */
    size_t numel = zero ? 0 : 1;
    const size_t max_elems = data_size / dtype_sizes[t->dtype];
    for (int i = 0; i < ndim && !zero; i++) {
        uint64_t dim = (uint64_t)t->shape[i];
        if (dim > (uint64_t)max_elems || numel > max_elems / (size_t)dim) {
            return mw_error_set(MW_ERR_FORMAT,
                                "safetensors '%s': tensor '%s': shape needs more than the %zu "
                                "bytes of the data section (file truncated?)",
                                path, name, data_size);
        }
        numel *= (size_t)dim;
    }
    t->numel = numel;
    t->nbytes = numel * dtype_sizes[t->dtype];

    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_to_u64(cJSON_GetArrayItem(offs, 0), &begin) ||
        !json_to_u64(cJSON_GetArrayItem(offs, 1), &end)) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': \"data_offsets\" must be two "
                            "non-negative integers",
                            path, name);
    }
    if (end < begin) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': data_offsets [%llu, %llu] end before "
                            "begin",
                            path, name, (unsigned long long)begin, (unsigned long long)end);
    }
    if (end > (uint64_t)data_size) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': data_offsets [%llu, %llu] beyond the "
                            "data section (%zu bytes; file truncated?)",
                            path, name, (unsigned long long)begin, (unsigned long long)end,
                            data_size);
    }
    if (end - begin != (uint64_t)t->nbytes) {
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s': data_offsets [%llu, %llu] hold %llu "
                            "bytes but %s x %zu elements need %zu",
                            path, name, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)(end - begin), dtype_names[t->dtype], numel,
                            t->nbytes);
    }
    t->data = data + begin;
    return MW_OK;
}

/* The "__metadata__" entry must be an object of string values (as in the Python library). */
static mw_status parse_metadata(const char *path, const cJSON *meta, char **out) {
    if (!cJSON_IsObject(meta)) {
        return mw_error_set(MW_ERR_FORMAT, "safetensors '%s': \"__metadata__\" is not an object",
                            path);
    }
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c)) {
            return mw_error_set(MW_ERR_FORMAT,
                                "safetensors '%s': \"__metadata__\" value '%s' is not a string",
                                path, c->string ? c->string : "");
        }
    }
    *out = cJSON_PrintUnformatted(meta);
    if (!*out) {
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': cannot copy metadata", path);
    }
    return MW_OK;
}

static mw_status parse_header(mw_safetensors *st, const char *header, size_t header_len) {
    const char *path = st->path;
    /* JSON text must not contain NUL: cJSON would stop there and ignore the rest. */
    if (memchr(header, '\0', header_len)) {
        return mw_error_set(MW_ERR_FORMAT, "safetensors '%s': header contains a NUL byte", path);
    }
    char *text = malloc(header_len + 1);
    if (!text) {
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': cannot allocate header", path);
    }
    memcpy(text, header, header_len);
    text[header_len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        free(text);
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': header is not valid JSON (near byte %zu of %zu)",
                            path, at, header_len);
    }
    free(text);
    mw_status s = MW_OK;
    if (!cJSON_IsObject(root)) {
        s = mw_error_set(MW_ERR_FORMAT, "safetensors '%s': header is not a JSON object", path);
        goto done;
    }
    const uint8_t *data = st->blob + 8 + header_len;
    size_t data_size = st->blob_size - 8 - header_len;
    int n = 0;
    for (const cJSON *c = root->child; c; c = c->next)
        n++;
    st->tensors = calloc((size_t)(n ? n : 1), sizeof *st->tensors);
    if (!st->tensors) {
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': cannot allocate %d entries", path,
                         n);
        goto done;
    }
    int have_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string) {
            s = mw_error_set(MW_ERR_FORMAT, "safetensors '%s': header entry without a name", path);
            goto done;
        }
        if (strcmp(c->string, "__metadata__") == 0) {
            if (have_meta) {
                s = mw_error_set(MW_ERR_FORMAT, "safetensors '%s': duplicate \"__metadata__\"",
                                 path);
                goto done;
            }
            have_meta = 1;
            s = parse_metadata(path, c, &st->metadata_json);
            if (s != MW_OK) goto done;
            continue;
        }
        mw_st_tensor *t = &st->tensors[st->count];
        t->name = dup_string(c->string);
        if (!t->name) {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", path);
            goto done;
        }
        st->count++; /* counted before validation so that free() releases the name */
        s = parse_entry(path, c, data, data_size, t);
        if (s != MW_OK) goto done;
    }
    /* Sorted by name: lookups become a binary search and duplicates become neighbours. */
    qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, compare_tensor_names);
    for (int i = 1; i < st->count; i++) {
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0) {
            s = mw_error_set(MW_ERR_FORMAT, "safetensors '%s': tensor '%s' appears twice", path,
                             st->tensors[i].name);
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return s;
}

mw_status mw_safetensors_load(const char *path, mw_safetensors **out) {
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_safetensors_load: out is NULL");
    *out = NULL;
    if (!path) return mw_error_set(MW_ERR_INVALID_ARG, "mw_safetensors_load: path is NULL");
    mw_safetensors *st = calloc(1, sizeof *st);
    if (!st) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", path);
    st->path = dup_string(path);
    if (!st->path) {
        free(st);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", path);
    }
    mw_status s = read_whole_file(path, &st->blob, &st->blob_size);
    if (s != MW_OK) goto fail;
    if (st->blob_size < 8) {
        s = mw_error_set(MW_ERR_FORMAT,
                         "safetensors '%s': file is %zu bytes, shorter than the 8-byte header "
                         "length",
                         path, st->blob_size);
        goto fail;
    }
    uint64_t header_len = load_u64_le(st->blob);
    if (header_len > MW_ST_MAX_HEADER) {
        s = mw_error_set(MW_ERR_FORMAT,
                         "safetensors '%s': header length %llu exceeds the %llu-byte limit", path,
                         (unsigned long long)header_len, (unsigned long long)MW_ST_MAX_HEADER);
        goto fail;
    }
    if (header_len > (uint64_t)(st->blob_size - 8)) {
        s = mw_error_set(MW_ERR_FORMAT,
                         "safetensors '%s': header length %llu beyond the end of the file (%zu "
                         "bytes; truncated?)",
                         path, (unsigned long long)header_len, st->blob_size);
        goto fail;
    }
    s = parse_header(st, (const char *)st->blob + 8, (size_t)header_len);
    if (s != MW_OK) goto fail;
    *out = st;
    return MW_OK;
fail:
    mw_safetensors_free(st);
    return s;
}

const mw_st_tensor *mw_safetensors_find(const mw_safetensors *st, const char *name) {
    if (!st || !name || st->count == 0) return NULL;
    mw_st_tensor key;
    memset(&key, 0, sizeof key);
    key.name = (char *)(uintptr_t)name; /* bsearch key only; never written */
    return bsearch(&key, st->tensors, (size_t)st->count, sizeof *st->tensors, compare_tensor_names);
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t at = 0;
    int w = snprintf(buf, cap, "[");
    if (w > 0) at = (size_t)w;
    for (int i = 0; i < ndim && at < cap; i++) {
        w = snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w > 0) at += (size_t)w;
    }
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

/* Common checks of the typed readers: present, expected shape, fits in `count`. */
static mw_status lookup_checked(const mw_safetensors *st, const char *name, int ndim,
                                const int64_t *shape, size_t count, const char *reader,
                                const mw_st_tensor **out) {
    if (!st || !name) {
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: NULL file or tensor name", reader);
    }
    const mw_st_tensor *t = mw_safetensors_find(st, name);
    if (!t) {
        return mw_error_set(MW_ERR_NOT_FOUND, "safetensors '%s': no tensor named '%s'", st->path,
                            name);
    }
    if (ndim >= 0) {
        int same = ndim == t->ndim && (ndim == 0 || shape != NULL);
        for (int i = 0; same && i < ndim; i++)
            same = shape[i] == t->shape[i];
        if (!same) {
            char want[256], have[256];
            if (shape || ndim == 0)
                format_shape(want, sizeof want, ndim > MW_ST_MAX_DIMS ? MW_ST_MAX_DIMS : ndim,
                             shape);
            else
                snprintf(want, sizeof want, "(NULL shape)");
            format_shape(have, sizeof have, t->ndim, t->shape);
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "safetensors '%s': tensor '%s' has shape %s, expected %s", st->path,
                                name, have, want);
        }
    }
    if (t->numel > count) {
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "safetensors '%s': tensor '%s' has %zu elements, buffer holds %zu",
                            st->path, name, t->numel, count);
    }
    *out = t;
    return MW_OK;
}

mw_status mw_safetensors_read_f32(const mw_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, float *out, size_t count) {
    const mw_st_tensor *t;
    MW_TRY(lookup_checked(st, name, ndim, shape, count, "mw_safetensors_read_f32", &t));
    if (t->numel > 0 && !out) {
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_safetensors_read_f32: out is NULL");
    }
    switch (t->dtype) {
    case MW_ST_F32:
        if (host_is_little_endian()) {
            if (t->nbytes) memcpy(out, t->data, t->nbytes);
        } else {
            for (size_t i = 0; i < t->numel; i++)
                out[i] = load_f32(t->data + 4 * i);
        }
        return MW_OK;
    case MW_ST_F64:
        for (size_t i = 0; i < t->numel; i++)
            out[i] = (float)load_f64(t->data + 8 * i);
        return MW_OK;
    default:
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s' is %s, expected F32 or F64", st->path,
                            name, dtype_names[t->dtype]);
    }
}

mw_status mw_safetensors_read_f64(const mw_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, double *out, size_t count) {
    const mw_st_tensor *t;
    MW_TRY(lookup_checked(st, name, ndim, shape, count, "mw_safetensors_read_f64", &t));
    if (t->numel > 0 && !out) {
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_safetensors_read_f64: out is NULL");
    }
    switch (t->dtype) {
    case MW_ST_F32:
        for (size_t i = 0; i < t->numel; i++)
            out[i] = (double)load_f32(t->data + 4 * i);
        return MW_OK;
    case MW_ST_F64:
        for (size_t i = 0; i < t->numel; i++)
            out[i] = load_f64(t->data + 8 * i);
        return MW_OK;
    default:
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s' is %s, expected F32 or F64", st->path,
                            name, dtype_names[t->dtype]);
    }
}

mw_status mw_safetensors_read_i32(const mw_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, int32_t *out, size_t count) {
    const mw_st_tensor *t;
    MW_TRY(lookup_checked(st, name, ndim, shape, count, "mw_safetensors_read_i32", &t));
    if (t->numel > 0 && !out) {
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_safetensors_read_i32: out is NULL");
    }
    switch (t->dtype) {
    case MW_ST_I32:
        for (size_t i = 0; i < t->numel; i++)
            out[i] = (int32_t)load_u32_le(t->data + 4 * i);
        return MW_OK;
    case MW_ST_I64:
        for (size_t i = 0; i < t->numel; i++) {
            int64_t v = (int64_t)load_u64_le(t->data + 8 * i);
            /* Labels and indices: a value outside int32 is a broken file, not a wrap. */
            if (v < INT32_MIN || v > INT32_MAX) {
                return mw_error_set(MW_ERR_FORMAT,
                                    "safetensors '%s': tensor '%s'[%zu] = %lld does not fit in "
                                    "int32",
                                    st->path, name, i, (long long)v);
            }
            out[i] = (int32_t)v;
        }
        return MW_OK;
    default:
        return mw_error_set(MW_ERR_FORMAT,
                            "safetensors '%s': tensor '%s' is %s, expected I32 or I64", st->path,
                            name, dtype_names[t->dtype]);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Writing                                                                                */

static int compare_item_ptrs(const void *a, const void *b) {
    const mw_st_write_item *x = *(const mw_st_write_item *const *)a;
    const mw_st_write_item *y = *(const mw_st_write_item *const *)b;
    return strcmp(x->name, y->name);
}

/* Byte count of one item, or 0 with *ok = 0 when the shape is invalid or overflows. */
static size_t item_nbytes(const mw_st_write_item *it, int *ok) {
    size_t n = dtype_sizes[it->dtype];
    *ok = 1;
    for (int i = 0; i < it->ndim; i++) {
        int64_t d = it->shape[i];
        if (d < 0) {
            *ok = 0;
            return 0;
        }
        if (d == 0) return 0;
        if ((uint64_t)d > SIZE_MAX / n) {
            *ok = 0;
            return 0;
        }
        n *= (size_t)d;
    }
    return n;
}

/* Builds the padded header text. Numbers are written as raw decimal text (cJSON_CreateRaw),
 * because cJSON formats numbers through double and could print large offsets inexactly. */
static mw_status build_header(const char *path, const mw_st_write_item *const *sorted, int count,
                              const char *metadata_json, char **out, size_t *out_len) {
    mw_status s = MW_OK;
    cJSON *meta = NULL;
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (!root) goto oom;
    if (metadata_json) {
        meta = cJSON_ParseWithOpts(metadata_json, NULL, 1); /* no trailing text */
        if (!meta) {
            s = mw_error_set(MW_ERR_INVALID_ARG, "safetensors '%s': metadata is not valid JSON",
                             path);
            goto done;
        }
        if (!cJSON_IsObject(meta)) {
            s = mw_error_set(MW_ERR_INVALID_ARG, "safetensors '%s': metadata must be a JSON object",
                             path);
            goto done;
        }
        for (const cJSON *c = meta->child; c; c = c->next) {
            if (!cJSON_IsString(c)) {
                s = mw_error_set(MW_ERR_INVALID_ARG,
                                 "safetensors '%s': metadata value '%s' is not a string", path,
                                 c->string ? c->string : "");
                goto done;
            }
        }
        /* First, as the Python library writes it. */
        if (!cJSON_AddItemToObject(root, "__metadata__", meta)) goto oom;
        meta = NULL; /* owned by root now */
    }
    uint64_t offset = 0;
    for (int i = 0; i < count; i++) {
        const mw_st_write_item *it = sorted[i];
        int ok; /* shapes were validated by the caller */
        size_t nb = item_nbytes(it, &ok);
        char buf[64 * (MW_ST_MAX_DIMS + 1)];
        cJSON *entry = cJSON_CreateObject();
        if (!entry) goto oom;
        if (!cJSON_AddItemToObject(root, it->name, entry)) {
            cJSON_Delete(entry);
            goto oom;
        }
        if (!cJSON_AddStringToObject(entry, "dtype", dtype_names[it->dtype])) goto oom;
        size_t at = 0;
        buf[at++] = '[';
        for (int d = 0; d < it->ndim; d++) {
            at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%lld", d ? "," : "",
                                   (long long)it->shape[d]);
        }
        snprintf(buf + at, sizeof buf - at, "]");
        if (!cJSON_AddRawToObject(entry, "shape", buf)) goto oom;
        snprintf(buf, sizeof buf, "[%llu,%llu]", (unsigned long long)offset,
                 (unsigned long long)(offset + nb));
        if (!cJSON_AddRawToObject(entry, "data_offsets", buf)) goto oom;
        offset += nb;
    }
    text = cJSON_PrintUnformatted(root);
    if (!text) goto oom;
    size_t len = strlen(text);
    /* Pad with spaces to a multiple of 8 so that the data section stays 8-byte aligned. */
    size_t padded = (len + 7) / 8 * 8;
    char *grown = realloc(text, padded + 1);
    if (!grown) goto oom;
    text = grown;
    memset(text + len, ' ', padded - len);
    text[padded] = '\0';
    *out = text;
    *out_len = padded;
    text = NULL;
    goto done;
oom:
    s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory building the header",
                     path);
done:
    free(text);
    cJSON_Delete(meta);
    cJSON_Delete(root);
    return s;
}

static mw_status write_all(FILE *f, const void *p, size_t n, const char *tmp, const char *path) {
    if (n && fwrite(p, 1, n, f) != n) {
        return mw_error_set(MW_ERR_IO, "safetensors '%s': write to '%s' failed: %s", path, tmp,
                            strerror(errno));
    }
    return MW_OK;
}

/* Tensor bytes in little-endian order; on a big-endian host, swapped through a small buffer. */
static mw_status write_tensor(FILE *f, const mw_st_write_item *it, size_t nbytes, const char *tmp,
                              const char *path) {
    if (host_is_little_endian() || dtype_sizes[it->dtype] == 1) {
        return write_all(f, it->data, nbytes, tmp, path);
    }
    size_t es = dtype_sizes[it->dtype];
    uint8_t buf[4096];
    const uint8_t *src = it->data;
    for (size_t done = 0; done < nbytes;) {
        size_t chunk = nbytes - done < sizeof buf ? nbytes - done : sizeof buf;
        for (size_t e = 0; e < chunk; e += es) {
            for (size_t b = 0; b < es; b++)
                buf[e + b] = src[done + e + es - 1 - b];
        }
        MW_TRY(write_all(f, buf, chunk, tmp, path));
        done += chunk;
    }
    return MW_OK;
}

mw_status mw_safetensors_write(const char *path, const mw_st_write_item *items, int count,
                               const char *metadata_json) {
    if (!path) return mw_error_set(MW_ERR_INVALID_ARG, "mw_safetensors_write: path is NULL");
    if (count < 0 || (count > 0 && !items)) {
        return mw_error_set(MW_ERR_INVALID_ARG, "safetensors '%s': bad item list (count %d)", path,
                            count);
    }
    /* Validate every item before touching the file system. */
    for (int i = 0; i < count; i++) {
        const mw_st_write_item *it = &items[i];
        const char *nm = it->name ? it->name : "(null)";
        if (!it->name || !it->name[0] || strcmp(it->name, "__metadata__") == 0) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "safetensors '%s': item %d has invalid name '%s'", path, i, nm);
        }
        if (!dtype_valid(it->dtype)) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "safetensors '%s': tensor '%s': invalid dtype %d", path, nm,
                                (int)it->dtype);
        }
        if (it->ndim < 0 || it->ndim > MW_ST_MAX_DIMS || (it->ndim > 0 && !it->shape)) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "safetensors '%s': tensor '%s': invalid ndim %d or NULL shape",
                                path, nm, it->ndim);
        }
        int ok;
        size_t nb = item_nbytes(it, &ok);
        if (!ok) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "safetensors '%s': tensor '%s': negative or overflowing shape",
                                path, nm);
        }
        if (nb > 0 && !it->data) {
            return mw_error_set(MW_ERR_INVALID_ARG, "safetensors '%s': tensor '%s': NULL data",
                                path, nm);
        }
    }
    const mw_st_write_item **sorted = malloc(sizeof *sorted * (size_t)(count ? count : 1));
    if (!sorted) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", path);
    for (int i = 0; i < count; i++)
        sorted[i] = &items[i];
    qsort(sorted, (size_t)count, sizeof *sorted, compare_item_ptrs);
    for (int i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            mw_status s =
                mw_error_set(MW_ERR_INVALID_ARG, "safetensors '%s': tensor '%s' given twice", path,
                             sorted[i]->name);
            free(sorted);
            return s;
        }
    }

    char *header = NULL;
    size_t header_len = 0;
    mw_status s = build_header(path, sorted, count, metadata_json, &header, &header_len);
    if (s != MW_OK) {
        free(sorted);
        return s;
    }

    mw_atomic_file af;
    s = mw_atomic_begin(path, &af);
    if (s != MW_OK) goto done;
    FILE *f = af.f;
    const char *tmp = af.tmp;

    uint8_t len_le[8];
    for (int b = 0; b < 8; b++)
        len_le[b] = (uint8_t)((uint64_t)header_len >> (8 * b));
    s = write_all(f, len_le, sizeof len_le, tmp, path);
    if (s == MW_OK) s = write_all(f, header, header_len, tmp, path);
    for (int i = 0; s == MW_OK && i < count; i++) {
        int ok;
        size_t nb = item_nbytes(sorted[i], &ok);
        s = write_tensor(f, sorted[i], nb, tmp, path);
    }
    if (s == MW_OK)
        s = mw_atomic_commit(&af);
    else
        mw_atomic_abort(&af); /* never leave a partial file behind; the destination is untouched */
done:
    free(header);
    free(sorted);
    return s;
}
