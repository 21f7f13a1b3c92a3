/* safetensors reader/writer: round trips, conversions, and every malformed-file path the
 * reader guards (truncation at each byte, corrupt JSON, inconsistent entries), plus the
 * atomic-write guarantees. Plain cmocka + the public API; needs no OpenCL device. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memwrap/safetensors.h"
#include "support.h"

/* ---- helpers --------------------------------------------------------------------- */

typedef test_dir_fixture fixture;

static int setup(void **state) {
    return test_dir_setup(state, "mw_test_st_", "t.safetensors");
}

static int teardown(void **state) {
    return test_dir_teardown(state);
}

/* A file with the given header text (unpadded, as a hostile writer might produce) and
 * `ndata` bytes of data. */
static void write_raw(const char *path, const char *header, size_t ndata) {
    size_t hl = strlen(header);
    size_t n = 8 + hl + ndata;
    uint8_t *buf = calloc(1, n);
    assert_non_null(buf);
    for (int b = 0; b < 8; b++)
        buf[b] = (uint8_t)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < ndata; i++)
        buf[8 + hl + i] = (uint8_t)i;
    test_write_file(path, buf, n);
    free(buf);
}

/* Loads `path`, expects `want`, and checks that the message names the file and `name`. */
static void expect_load_error(const char *path, mw_status want, const char *name) {
    mw_safetensors *st = (mw_safetensors *)(uintptr_t)1;
    mw_status s = mw_safetensors_load(path, &st);
    if (s != want) {
        fprintf(stderr, "expected %s, got %s: %s\n", mw_status_name(want), mw_status_name(s),
                mw_error_message());
    }
    assert_int_equal(s, want);
    assert_null(st);
    assert_non_null(strstr(mw_error_message(), path));
    if (name) {
        if (!strstr(mw_error_message(), name)) fprintf(stderr, "message: %s\n", mw_error_message());
        assert_non_null(strstr(mw_error_message(), name));
    }
}

/* The standard test content: one tensor of each writable dtype, listed out of order. */
static const float f32_data[6] = {1.5f, -2.25f, 3.0f, 1e-30f, -0.0f, 65504.0f};
static const double f64_data[4] = {0.1, -1e300, 3.141592653589793, 2.5e-310};
static const int32_t i32_data[6] = {0, -1, 2147483647, -2147483647 - 1, 7, 42};
static const int64_t i64_data[5] = {5, -3, 2147483647, -2147483648LL, 0};
static const uint8_t u8_data[3] = {0, 128, 255};
static const int64_t f32_shape[2] = {2, 3};
static const int64_t f64_shape[1] = {4};
static const int64_t i32_shape[3] = {3, 1, 2};
static const int64_t i64_shape[1] = {5};
static const int64_t u8_shape[1] = {3};
static const int64_t empty_shape[2] = {0, 7};

static mw_status write_standard(const char *path, const char *metadata) {
    const mw_st_write_item items[] = {
        {"zeta.f32", MW_ST_F32, 2, f32_shape, f32_data},
        {"alpha.f64", MW_ST_F64, 1, f64_shape, f64_data},
        {"mid.i64", MW_ST_I64, 1, i64_shape, i64_data},
        {"beta.i32", MW_ST_I32, 3, i32_shape, i32_data},
        {"empty", MW_ST_F32, 2, empty_shape, NULL},
        {"scalar", MW_ST_F64, 0, NULL, &f64_data[2]},
        {"u8", MW_ST_U8, 1, u8_shape, u8_data},
    };
    return mw_safetensors_write(path, items, (int)(sizeof items / sizeof items[0]), metadata);
}

/* ---- round trip -------------------------------------------------------------------- */

static void test_round_trip(void **state) {
    fixture *fx = *state;
    const char *meta = "{\"variant\":\"encoder_memory\",\"epoch\":\"3\",\"q\":\"a \\\"b\\\"\"}";
    assert_int_equal(write_standard(fx->path, meta), MW_OK);
    assert_int_equal(test_count_dir_entries(fx->dir), 1);

    mw_safetensors *st = NULL;
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_int_equal(st->count, 7);
    assert_string_equal(st->path, fx->path);
    /* tensors are sorted by name */
    for (int i = 1; i < st->count; i++)
        assert_true(strcmp(st->tensors[i - 1].name, st->tensors[i].name) < 0);

    const mw_st_tensor *t = mw_safetensors_find(st, "zeta.f32");
    assert_non_null(t);
    assert_int_equal(t->dtype, MW_ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->nbytes, 24);
    assert_memory_equal(t->data, f32_data, sizeof f32_data);

    t = mw_safetensors_find(st, "alpha.f64");
    assert_non_null(t);
    assert_int_equal(t->dtype, MW_ST_F64);
    assert_memory_equal(t->data, f64_data, sizeof f64_data);
    t = mw_safetensors_find(st, "beta.i32");
    assert_non_null(t);
    assert_int_equal(t->dtype, MW_ST_I32);
    assert_int_equal(t->ndim, 3);
    assert_memory_equal(t->data, i32_data, sizeof i32_data);
    t = mw_safetensors_find(st, "mid.i64");
    assert_non_null(t);
    assert_int_equal(t->dtype, MW_ST_I64);
    assert_memory_equal(t->data, i64_data, sizeof i64_data);
    t = mw_safetensors_find(st, "u8");
    assert_non_null(t);
    assert_memory_equal(t->data, u8_data, sizeof u8_data);
    t = mw_safetensors_find(st, "empty");
    assert_non_null(t);
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    t = mw_safetensors_find(st, "scalar");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_null(mw_safetensors_find(st, "nope"));

    assert_non_null(st->metadata_json);
    assert_string_equal(st->metadata_json, meta);

    float f[6];
    assert_int_equal(mw_safetensors_read_f32(st, "zeta.f32", 2, f32_shape, f, 6), MW_OK);
    assert_memory_equal(f, f32_data, sizeof f);
    double d[4];
    assert_int_equal(mw_safetensors_read_f64(st, "alpha.f64", 1, f64_shape, d, 4), MW_OK);
    assert_memory_equal(d, f64_data, sizeof d);
    int32_t i[6];
    assert_int_equal(mw_safetensors_read_i32(st, "beta.i32", 3, i32_shape, i, 6), MW_OK);
    assert_memory_equal(i, i32_data, sizeof i);
    /* ndim < 0: any shape */
    assert_int_equal(mw_safetensors_read_i32(st, "mid.i64", -1, NULL, i, 6), MW_OK);
    for (int k = 0; k < 5; k++)
        assert_int_equal(i[k], (int32_t)i64_data[k]);
    assert_int_equal(mw_safetensors_read_f32(st, "empty", 2, empty_shape, NULL, 0), MW_OK);
    mw_safetensors_free(st);
}

/* The bytes on disk follow the format rules: padded header, sorted names, contiguous
 * offsets, metadata first. */
static void test_file_layout(void **state) {
    fixture *fx = *state;
    assert_int_equal(write_standard(fx->path, "{\"k\":\"v\"}"), MW_OK);
    size_t n;
    uint8_t *b = test_read_file(fx->path, &n);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)b[k] << (8 * k);
    assert_int_equal(hl % 8, 0);
    assert_true(8 + hl <= n);
    char *h = malloc(hl + 1);
    assert_non_null(h);
    memcpy(h, b + 8, hl);
    h[hl] = '\0';
    size_t len = strlen(h);
    assert_int_equal(len, hl);
    assert_true(h[0] == '{');
    /* trailing padding is spaces only, after the closing brace */
    char *close = strrchr(h, '}');
    assert_non_null(close);
    for (char *p = close + 1; *p; p++)
        assert_int_equal(*p, ' ');
    assert_true(hl - (size_t)(close + 1 - h) < 8);
    const char *order[] = {"\"__metadata__\"", "\"alpha.f64\"", "\"beta.i32\"", "\"empty\"",
                           "\"mid.i64\"",      "\"scalar\"",    "\"u8\"",       "\"zeta.f32\""};
    const char *prev = h;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        const char *at = strstr(h, order[k]);
        assert_non_null(at);
        assert_true(at >= prev);
        prev = at;
    }
    /* contiguous offsets in name order */
    assert_non_null(
        strstr(h, "\"alpha.f64\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,32]}"));
    assert_non_null(
        strstr(h, "\"beta.i32\":{\"dtype\":\"I32\",\"shape\":[3,1,2],\"data_offsets\":[32,56]}"));
    assert_non_null(
        strstr(h, "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,7],\"data_offsets\":[56,56]}"));
    assert_non_null(
        strstr(h, "\"scalar\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[96,104]}"));
    assert_non_null(
        strstr(h, "\"zeta.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[107,131]}"));
    assert_int_equal(n, 8 + hl + 131);
    free(h);
    free(b);
}

static void test_conversions(void **state) {
    fixture *fx = *state;
    assert_int_equal(write_standard(fx->path, NULL), MW_OK);
    mw_safetensors *st = NULL;
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_null(st->metadata_json);

    float f[4];
    assert_int_equal(mw_safetensors_read_f32(st, "alpha.f64", 1, f64_shape, f, 4), MW_OK);
    for (int k = 0; k < 4; k++)
        assert_true(f[k] == (float)f64_data[k]);
    double d[6];
    assert_int_equal(mw_safetensors_read_f64(st, "zeta.f32", 2, f32_shape, d, 6), MW_OK);
    for (int k = 0; k < 6; k++)
        assert_true(d[k] == (double)f32_data[k]);
    int32_t i[5];
    assert_int_equal(mw_safetensors_read_i32(st, "mid.i64", 1, i64_shape, i, 5), MW_OK);
    for (int k = 0; k < 5; k++)
        assert_int_equal(i[k], (int32_t)i64_data[k]);

    /* dtype families do not mix */
    assert_int_equal(mw_safetensors_read_f32(st, "mid.i64", -1, NULL, f, 5), MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "mid.i64"));
    assert_int_equal(mw_safetensors_read_i32(st, "alpha.f64", -1, NULL, i, 5), MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "alpha.f64"));
    mw_safetensors_free(st);

    /* I64 values outside int32 are an error, not a silent wrap */
    const int64_t big[2] = {1, 4294967296LL};
    const int64_t shape[1] = {2};
    const mw_st_write_item item = {"labels", MW_ST_I64, 1, shape, big};
    assert_int_equal(mw_safetensors_write(fx->path, &item, 1, NULL), MW_OK);
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_int_equal(mw_safetensors_read_i32(st, "labels", 1, shape, i, 2), MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "labels"));
    mw_safetensors_free(st);
}

static void test_shape_and_missing(void **state) {
    fixture *fx = *state;
    assert_int_equal(write_standard(fx->path, NULL), MW_OK);
    mw_safetensors *st = NULL;
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    float f[16];
    const int64_t wrong[2] = {3, 2};
    assert_int_equal(mw_safetensors_read_f32(st, "zeta.f32", 2, wrong, f, 16), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "zeta.f32"));
    assert_non_null(strstr(mw_error_message(), fx->path));
    assert_non_null(strstr(mw_error_message(), "[2, 3]"));
    assert_non_null(strstr(mw_error_message(), "[3, 2]"));
    const int64_t flat[1] = {6};
    assert_int_equal(mw_safetensors_read_f32(st, "zeta.f32", 1, flat, f, 16), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "zeta.f32"));
    /* buffer too small */
    assert_int_equal(mw_safetensors_read_f32(st, "zeta.f32", -1, NULL, f, 5), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "zeta.f32"));

    assert_int_equal(mw_safetensors_read_f32(st, "fc9.weight", -1, NULL, f, 16), MW_ERR_NOT_FOUND);
    assert_non_null(strstr(mw_error_message(), "fc9.weight"));
    assert_non_null(strstr(mw_error_message(), fx->path));
    int32_t i[4];
    assert_int_equal(mw_safetensors_read_i32(st, "labels", -1, NULL, i, 4), MW_ERR_NOT_FOUND);
    assert_non_null(strstr(mw_error_message(), "labels"));
    mw_safetensors_free(st);
}

/* ---- malformed files ------------------------------------------------------------------ */

static void test_truncated_everywhere(void **state) {
    fixture *fx = *state;
    assert_int_equal(write_standard(fx->path, "{\"k\":\"v\"}"), MW_OK);
    size_t n;
    uint8_t *full = test_read_file(fx->path, &n);
    char cut[300];
    snprintf(cut, sizeof cut, "%s/cut.safetensors", fx->dir);
    /* every cut point: inside the length, inside the header, inside the data */
    for (size_t k = 0; k < n; k++) {
        test_write_file(cut, full, k);
        expect_load_error(cut, MW_ERR_FORMAT, NULL);
    }
    test_write_file(cut, full, n);
    mw_safetensors *st = NULL;
    assert_int_equal(mw_safetensors_load(cut, &st), MW_OK);
    mw_safetensors_free(st);
    free(full);
}

static void test_corrupt_header(void **state) {
    fixture *fx = *state;
    const char *p = fx->path;
    static const struct {
        const char *header;
        size_t ndata;
        const char *name; /* the message must name it, when not NULL */
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, NULL}, /* no } */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8, NULL},
        {"not json at all", 0, NULL},
        {"", 0, NULL},
        {"[1,2,3]", 0, NULL},
        {"{\"a\":[0,8]}", 8, "a"},
        {"{\"a\":\"F32\"}", 8, "a"},
        {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "w"},
        {"{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "F16"},
        {"{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "w"},
        {"{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, "w"},
        {"{\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
         "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8,
         "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 9, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]}}", 8, "w"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "w"},
        {"{\"__metadata__\":{\"a\":1}}", 0, "__metadata__"},
        {"{\"__metadata__\":[\"a\"]}", 0, "__metadata__"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_raw(p, cases[k].header, cases[k].ndata);
        expect_load_error(p, MW_ERR_FORMAT, cases[k].name);
    }

    /* a header length past the end of the file, and an absurd one */
    uint8_t buf[16] = {40, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    test_write_file(p, buf, sizeof buf);
    expect_load_error(p, MW_ERR_FORMAT, NULL);
    memset(buf, 0xff, 8);
    test_write_file(p, buf, sizeof buf);
    expect_load_error(p, MW_ERR_FORMAT, NULL);
    /* a NUL inside the header would hide the rest from the JSON parser */
    uint8_t nul[18] = {10, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, 'x', ' ', ' ', ' ', ' ', ' ', ' '};
    test_write_file(p, nul, sizeof nul);
    expect_load_error(p, MW_ERR_FORMAT, NULL);

    /* a flipped byte in a written file's header */
    assert_int_equal(write_standard(p, NULL), MW_OK);
    size_t n;
    uint8_t *b = test_read_file(p, &n);
    b[8] = '!';
    test_write_file(p, b, n);
    expect_load_error(p, MW_ERR_FORMAT, NULL);
    free(b);
}

/* What the format allows must load: empty header, unpadded header, overlapping and
 * out-of-order offsets within bounds, trailing unreferenced bytes. */
static void test_lenient_but_bounded(void **state) {
    fixture *fx = *state;
    mw_safetensors *st = NULL;
    write_raw(fx->path, "{}", 0);
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_int_equal(st->count, 0);
    assert_null(mw_safetensors_find(st, "x"));
    mw_safetensors_free(st);

    write_raw(fx->path,
              "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
              "\"a\":{\"dtype\":\"U8\",\"shape\":[2,3],\"data_offsets\":[0,6]},"
              "\"c\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
              10);
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_int_equal(st->count, 3);
    assert_string_equal(st->tensors[0].name, "a");
    const mw_st_tensor *t = mw_safetensors_find(st, "b");
    assert_non_null(t);
    assert_int_equal(t->data[0], 4);
    t = mw_safetensors_find(st, "c");
    assert_non_null(t);
    assert_int_equal(t->data[0], 2);
    mw_safetensors_free(st);
}

static void test_missing_file(void **state) {
    fixture *fx = *state;
    char p[300];
    snprintf(p, sizeof p, "%s/does-not-exist.safetensors", fx->dir);
    expect_load_error(p, MW_ERR_IO, NULL);
    expect_load_error(fx->dir, MW_ERR_IO, NULL); /* a directory */
}

/* ---- writing -------------------------------------------------------------------------- */

static void test_write_failure_leaves_nothing(void **state) {
    fixture *fx = *state;
    char p[300];
    snprintf(p, sizeof p, "%s/no/such/dir/t.safetensors", fx->dir);
    assert_int_equal(write_standard(p, NULL), MW_ERR_IO);
    assert_non_null(strstr(mw_error_message(), p));
    assert_int_equal(test_count_dir_entries(fx->dir), 0);
}

static void test_overwrite_is_atomic(void **state) {
    fixture *fx = *state;
    assert_int_equal(write_standard(fx->path, "{\"v\":\"1\"}"), MW_OK);
    struct stat before, after;
    assert_int_equal(stat(fx->path, &before), 0);

    mw_safetensors *old = NULL;
    assert_int_equal(mw_safetensors_load(fx->path, &old), MW_OK);

    const float x[3] = {7, 8, 9};
    const int64_t shape[1] = {3};
    const mw_st_write_item item = {"x", MW_ST_F32, 1, shape, x};
    assert_int_equal(mw_safetensors_write(fx->path, &item, 1, "{\"v\":\"2\"}"), MW_OK);
    assert_int_equal(test_count_dir_entries(fx->dir), 1); /* no temporary left behind */
    assert_int_equal(stat(fx->path, &after), 0);
    /* a new inode was renamed over the old one, not the old file rewritten in place */
    assert_true(before.st_ino != after.st_ino);

    mw_safetensors *st = NULL;
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_int_equal(st->count, 1);
    assert_string_equal(st->metadata_json, "{\"v\":\"2\"}");
    float y[3];
    assert_int_equal(mw_safetensors_read_f32(st, "x", 1, shape, y, 3), MW_OK);
    assert_memory_equal(x, y, sizeof x);
    mw_safetensors_free(st);
    /* the previously loaded file is unaffected */
    assert_int_equal(old->count, 7);
    assert_non_null(mw_safetensors_find(old, "zeta.f32"));
    mw_safetensors_free(old);

    /* a rejected write leaves the existing destination untouched */
    size_t n1, n2;
    uint8_t *b1 = test_read_file(fx->path, &n1);
    assert_int_equal(mw_safetensors_write(fx->path, &item, 1, "{\"v\":2}"), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_safetensors_write(fx->path, &item, 1, "[\"v\"]"), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_safetensors_write(fx->path, &item, 1, "{oops"), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_safetensors_write(fx->path, &item, 1, "{\"v\":\"3\"} x"),
                     MW_ERR_INVALID_ARG);
    uint8_t *b2 = test_read_file(fx->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    assert_int_equal(test_count_dir_entries(fx->dir), 1);
    free(b1);
    free(b2);
}

static void test_write_rejects_bad_items(void **state) {
    fixture *fx = *state;
    const float x[2] = {1, 2};
    const int64_t shape[1] = {2};
    const int64_t neg[1] = {-2};
    mw_st_write_item two[2] = {{"x", MW_ST_F32, 1, shape, x}, {"x", MW_ST_F32, 1, shape, x}};
    assert_int_equal(mw_safetensors_write(fx->path, two, 2, NULL), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "'x'"));
    two[1].name = "__metadata__";
    assert_int_equal(mw_safetensors_write(fx->path, two, 2, NULL), MW_ERR_INVALID_ARG);
    two[1].name = "y";
    two[1].shape = neg;
    assert_int_equal(mw_safetensors_write(fx->path, two, 2, NULL), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "'y'"));
    two[1].shape = shape;
    two[1].data = NULL;
    assert_int_equal(mw_safetensors_write(fx->path, two, 2, NULL), MW_ERR_INVALID_ARG);
    two[1].data = x;
    two[1].dtype = (mw_st_dtype)99;
    assert_int_equal(mw_safetensors_write(fx->path, two, 2, NULL), MW_ERR_INVALID_ARG);
    assert_int_equal(test_count_dir_entries(fx->dir), 0);
    /* zero tensors is a valid file */
    assert_int_equal(mw_safetensors_write(fx->path, NULL, 0, NULL), MW_OK);
    mw_safetensors *st = NULL;
    assert_int_equal(mw_safetensors_load(fx->path, &st), MW_OK);
    assert_int_equal(st->count, 0);
    mw_safetensors_free(st);
}

/* ---- the committed reference vectors (written by tests/reference/make_reference.py) ---- */

#ifdef MEMWRAP_REFERENCE_DIR
/* The Python writer and this reader agree: every file loads, carries metadata, and a value
 * recomputed here from the stored inputs matches the stored float64 output. */
static void test_reference_files(void **state) {
    (void)state;
    static const char *const files[] = {"ops",
                                        "head_encoder_memory_cosine",
                                        "head_encoder_memory_l2",
                                        "head_encoder_memory_dot",
                                        "head_memory_cosine",
                                        "head_memory_l2",
                                        "head_memory_dot"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.safetensors", MEMWRAP_REFERENCE_DIR, files[f]);
        mw_safetensors *st = NULL;
        mw_status s = mw_safetensors_load(path, &st);
        if (s != MW_OK) fprintf(stderr, "%s\n", mw_error_message());
        assert_int_equal(s, MW_OK);
        assert_non_null(st->metadata_json);
        assert_non_null(strstr(st->metadata_json, "\"torch_version\""));
        if (f == 0) {
            const int64_t as[2] = {5, 9}, bs[2] = {9, 6}, cs[2] = {5, 6}, ls[1] = {8};
            double a[45], b[54], c[30];
            assert_int_equal(mw_safetensors_read_f64(st, "matmul.a", 2, as, a, 45), MW_OK);
            assert_int_equal(mw_safetensors_read_f64(st, "matmul.b", 2, bs, b, 54), MW_OK);
            assert_int_equal(mw_safetensors_read_f64(st, "matmul.c", 2, cs, c, 30), MW_OK);
            assert_int_equal(mw_safetensors_find(st, "matmul.a")->dtype, MW_ST_F32);
            assert_int_equal(mw_safetensors_find(st, "matmul.c")->dtype, MW_ST_F64);
            for (int i = 0; i < 5; i++) {
                for (int j = 0; j < 6; j++) {
                    double acc = 0;
                    for (int k = 0; k < 9; k++)
                        acc += a[i * 9 + k] * b[k * 6 + j];
                    assert_true(fabs(acc - c[i * 6 + j]) <= 1e-12 * (1 + fabs(acc)));
                }
            }
            int32_t labels[8];
            assert_int_equal(mw_safetensors_find(st, "ce.labels")->dtype, MW_ST_I64);
            assert_int_equal(mw_safetensors_read_i32(st, "ce.labels", 1, ls, labels, 8), MW_OK);
            for (int i = 0; i < 8; i++)
                assert_true(labels[i] >= 0 && labels[i] < 10);
        } else {
            const int64_t es[3] = {20, 16, 32}, ys[2] = {20, 16};
            float e[20 * 16 * 32];
            int32_t y[20 * 16];
            assert_int_equal(mw_safetensors_read_f32(st, "e", 3, es, e, 20 * 16 * 32), MW_OK);
            assert_int_equal(mw_safetensors_read_i32(st, "y", 2, ys, y, 20 * 16), MW_OK);
            assert_non_null(mw_safetensors_find(st, "init.classifier.fc1.weight"));
            assert_int_equal(mw_safetensors_find(st, "final.classifier.fc2.bias")->dtype,
                             MW_ST_F64);
        }
        mw_safetensors_free(st);
    }
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shape_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lenient_but_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_rejects_bad_items, setup, teardown),
#ifdef MEMWRAP_REFERENCE_DIR
        cmocka_unit_test(test_reference_files),
#endif
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
