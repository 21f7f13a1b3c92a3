/* Dataset readers: small fixtures written in the exact on-disk formats (IDX plain and gzip,
 * CIFAR-10 binary, SVHN level-5 .mat plain and miCOMPRESSED, CINIC-style PNG folders), read
 * back pixel by pixel; truncated and corrupted variants of each give the right status and a
 * message naming the file; and the real Fashion-MNIST the setup installs. Needs no OpenCL. */
#define _XOPEN_SOURCE 700

#include "support.h"

#include <ftw.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "memwrap/data.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---- helpers --------------------------------------------------------------------- */

typedef test_dir_fixture fixture;

static int setup(void **state) {
    return test_dir_setup(state, "mw_test_data_", NULL);
}

static int teardown(void **state) {
    return test_dir_teardown(state);
}

/* fx->dir + "/" + name, in a rotating set of buffers so that a few can be live at once. */
static const char *fpath(const fixture *fx, const char *name) {
    static char bufs[16][512];
    static int next;
    char *p = bufs[next++ % 16];
    snprintf(p, sizeof bufs[0], "%s/%s", fx->dir, name);
    return p;
}

static void make_dir(const char *path) {
    assert_int_equal(mkdir(path, 0755), 0);
}

static void write_gz(const char *path, const void *p, size_t n) {
    gzFile gz = gzopen(path, "wb9");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, p, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

/* A deterministic byte pattern that differs between neighbouring pixels, images, planes. */
static uint8_t pattern(uint32_t seed, uint32_t i) {
    uint32_t h = (i + 1) * 2654435761u ^ seed * 40503u;
    return (uint8_t)(h >> 13 ^ h >> 24);
}

/* Asserts status `s` == `want` and that the message names `file` and contains `what`. */
static void expect_error_(mw_status s, mw_status want, const char *file, const char *what,
                          const char *src, int line) {
    const char *msg = mw_error_message();
    int ok = s == want && strstr(msg, file) && (!what || strstr(msg, what));
    if (!ok) {
        print_error("%s:%d: want %s naming '%s'%s%s%s, got %s: %s\n", src, line,
                    mw_status_name(want), file, what ? " and '" : "", what ? what : "",
                    what ? "'" : "", mw_status_name(s), msg);
        fail();
    }
}
#define expect_error(s, want, file, what)                                                          \
    expect_error_((s), (want), (file), (what), __FILE__, __LINE__)

/* A growable byte buffer for building files. */
typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le32(bytes *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put_be32(bytes *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void pad8(bytes *b) {
    static const uint8_t zero[8] = {0};
    put(b, zero, (8 - b->n % 8) % 8);
}

/* Truncation points for a file of n bytes: every byte near the start and the end (headers,
 * element tags, trailers), every 37th in between, which keeps the loops fast. */
static size_t next_cut(size_t cut, size_t n) {
    return cut < 400 || cut + 200 >= n ? cut + 1 : cut + 37;
}

/* Writes the first `n` bytes of `b` to path. */
static void write_prefix(const char *path, const bytes *b, size_t n) {
    test_write_file(path, b->p, n);
}

/* ---- IDX ------------------------------------------------------------------------- */

enum { IDX_N = 7 };

static bytes idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols) {
    bytes b = {0};
    put_be32(&b, magic);
    put_be32(&b, n);
    put_be32(&b, rows);
    put_be32(&b, cols);
    for (uint32_t i = 0; i < n * rows * cols; i++) {
        uint8_t v = pattern(1, i);
        put(&b, &v, 1);
    }
    return b;
}

static const uint8_t idx_label_values[IDX_N] = {9, 0, 3, 3, 7, 1, 5};

static bytes idx_labels(uint32_t magic, uint32_t n) {
    bytes b = {0};
    put_be32(&b, magic);
    put_be32(&b, n);
    for (uint32_t i = 0; i < n; i++)
        put(&b, &idx_label_values[i % IDX_N], 1);
    return b;
}

static void check_idx_images(const uint8_t *px, int count) {
    for (int i = 0; i < count * 28 * 28; i++)
        if (px[i] != pattern(1, (uint32_t)i))
            fail_msg("pixel %d: %u, want %u", i, px[i], pattern(1, (uint32_t)i));
}

static void test_idx_round_trip(void **state) {
    fixture *fx = *state;
    bytes im = idx_images(0x803, IDX_N, 28, 28), lb = idx_labels(0x801, IDX_N);
    test_write_file(fpath(fx, "im"), im.p, im.n);
    write_gz(fpath(fx, "im.gz"), im.p, im.n);
    test_write_file(fpath(fx, "lb"), lb.p, lb.n);
    write_gz(fpath(fx, "lb.gz"), lb.p, lb.n);
    const char *names[2][2] = {{"im", "lb"}, {"im.gz", "lb.gz"}};
    for (int v = 0; v < 2; v++) {
        int n = 0, h = 0, w = 0;
        uint8_t *px = NULL;
        int32_t *labels = NULL;
        TEST_OK(mw_idx_read_images(fpath(fx, names[v][0]), &n, &h, &w, &px));
        assert_int_equal(n, IDX_N);
        assert_int_equal(h, 28);
        assert_int_equal(w, 28);
        check_idx_images(px, n);
        TEST_OK(mw_idx_read_labels(fpath(fx, names[v][1]), &n, &labels));
        assert_int_equal(n, IDX_N);
        for (int i = 0; i < n; i++)
            assert_int_equal(labels[i], idx_label_values[i]);
        free(px);
        free(labels);
    }

    /* Through mw_dataset_load: train gzip, test plain, under each accepted name. */
    write_gz(fpath(fx, "train-images-idx3-ubyte.gz"), im.p, im.n);
    write_gz(fpath(fx, "train-labels-idx1-ubyte.gz"), lb.p, lb.n);
    test_write_file(fpath(fx, "t10k-images-idx3-ubyte"), im.p, im.n);
    test_write_file(fpath(fx, "t10k-labels-idx1-ubyte"), lb.p, lb.n);
    const char *aliases[] = {"fashion-mnist", "fmnist", "fashion_mnist", "Fashion-MNIST", "mnist"};
    for (int a = 0; a < 5; a++) {
        for (int split = 0; split < 2; split++) {
            mw_dataset *d = NULL;
            TEST_OK(mw_dataset_load(aliases[a], fx->dir, (mw_split)split, &d));
            assert_string_equal(d->name, a == 4 ? "mnist" : "fashion-mnist");
            assert_int_equal(d->count, IDX_N);
            assert_int_equal(d->channels, 1);
            assert_int_equal(d->height, 28);
            assert_int_equal(d->width, 28);
            assert_int_equal(d->classes, 10);
            check_idx_images(d->images, d->count);
            for (int i = 0; i < d->count; i++)
                assert_int_equal(d->labels[i], idx_label_values[i]);
            mw_dataset_free(d);
        }
    }
    free(im.p);
    free(lb.p);
}

/* Every failing read leaves nothing behind. */
static void expect_idx_images_error(const char *path, mw_status want, const char *what) {
    int n = -1, h = -1, w = -1;
    uint8_t *px = (uint8_t *)&n;
    mw_status s = mw_idx_read_images(path, &n, &h, &w, &px);
    expect_error(s, want, path, what);
    assert_null(px);
    assert_int_equal(n, 0);
}

static void expect_idx_labels_error(const char *path, mw_status want, const char *what) {
    int n = -1;
    int32_t *labels = (int32_t *)&n;
    mw_status s = mw_idx_read_labels(path, &n, &labels);
    expect_error(s, want, path, what);
    assert_null(labels);
    assert_int_equal(n, 0);
}

static void test_idx_errors(void **state) {
    fixture *fx = *state;
    const char *p = fpath(fx, "bad"), *pgz = fpath(fx, "bad.gz");
    bytes im = idx_images(0x803, 3, 28, 28);

    /* Truncated plain file. */
    for (size_t cut = 0; cut < im.n; cut = next_cut(cut, im.n)) {
        write_prefix(p, &im, cut);
        expect_idx_images_error(p, MW_ERR_FORMAT, "truncated");
    }
    /* Truncated gzip file: inside the gzip header, the deflate data, the CRC. */
    write_gz(pgz, im.p, im.n);
    size_t gz_n;
    uint8_t *gz = test_read_file(pgz, &gz_n);
    for (size_t cut = 0; cut < gz_n; cut = next_cut(cut, gz_n)) {
        test_write_file(pgz, gz, cut);
        int n, h, w;
        uint8_t *px = NULL;
        mw_status s = mw_idx_read_images(pgz, &n, &h, &w, &px);
        /* A cut inside the 10-byte gzip header makes the rest look like a plain file. */
        expect_error(s, MW_ERR_FORMAT, pgz, NULL);
        assert_null(px);
    }
    /* Corrupt deflate data and a corrupt CRC. */
    for (int at = 0; at < 2; at++) {
        uint8_t *bad = malloc(gz_n);
        assert_non_null(bad);
        memcpy(bad, gz, gz_n);
        size_t i = at == 0 ? gz_n / 2 : gz_n - 6;
        bad[i] ^= 0x5a;
        test_write_file(pgz, bad, gz_n);
        /* damage in the middle may also surface as wrong lengths: any format error will do */
        expect_idx_images_error(pgz, MW_ERR_FORMAT, at == 0 ? NULL : "gzip");
        free(bad);
    }
    free(gz);

    /* Trailing bytes, plain and compressed. */
    uint8_t extra = 1;
    put(&im, &extra, 1);
    test_write_file(p, im.p, im.n);
    expect_idx_images_error(p, MW_ERR_FORMAT, "trailing");
    write_gz(pgz, im.p, im.n);
    expect_idx_images_error(pgz, MW_ERR_FORMAT, "trailing");
    free(im.p);

    /* Wrong magic, element type, number of dimensions. */
    struct {
        uint32_t magic;
        const char *what;
    } magics[] = {{0x12340803, "bad magic"},
                  {0x00000d03, "element type"},
                  {0x00000802, "dimensions"},
                  {0x00000801, "dimensions"}};
    for (int m = 0; m < 4; m++) {
        im = idx_images(magics[m].magic, 2, 28, 28);
        test_write_file(p, im.p, im.n);
        expect_idx_images_error(p, MW_ERR_FORMAT, magics[m].what);
        write_gz(pgz, im.p, im.n);
        expect_idx_images_error(pgz, MW_ERR_FORMAT, magics[m].what);
        free(im.p);
    }
    /* A count the compressed file cannot possibly hold is refused before allocating. */
    im = idx_images(0x803, 2, 28, 28);
    im.p[5] = 0x7f; /* count = 0x007f0002 */
    write_gz(pgz, im.p, im.n);
    expect_idx_images_error(pgz, MW_ERR_FORMAT, "can hold");
    test_write_file(p, im.p, im.n);
    expect_idx_images_error(p, MW_ERR_FORMAT, "truncated");
    im.p[5] = 0;
    im.p[7] = 0; /* zero images */
    test_write_file(p, im.p, 16);
    expect_idx_images_error(p, MW_ERR_FORMAT, "dimension");
    free(im.p);

    /* Labels: out of range, wrong magic, truncated. */
    bytes lb = idx_labels(0x801, 5);
    lb.p[8 + 3] = 11;
    test_write_file(p, lb.p, lb.n);
    expect_idx_labels_error(p, MW_ERR_FORMAT, "label 11 at index 3");
    write_gz(pgz, lb.p, lb.n);
    expect_idx_labels_error(pgz, MW_ERR_FORMAT, "out of range");
    lb.p[8 + 3] = 1;
    for (size_t cut = 0; cut < lb.n; cut++) {
        write_prefix(p, &lb, cut);
        expect_idx_labels_error(p, MW_ERR_FORMAT, "truncated");
    }
    free(lb.p);
    lb = idx_labels(0x803, 5);
    test_write_file(p, lb.p, lb.n);
    expect_idx_labels_error(p, MW_ERR_FORMAT, NULL);
    free(lb.p);

    /* Missing file. */
    expect_idx_images_error(fpath(fx, "nope"), MW_ERR_NOT_FOUND, "not found");
    expect_idx_labels_error(fpath(fx, "nope"), MW_ERR_NOT_FOUND, "not found");

    /* Dataset level: wrong image size, count mismatch, missing files with a hint. */
    mw_dataset *d = (mw_dataset *)fx;
    expect_error(mw_dataset_load("fashion-mnist", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_NOT_FOUND,
                 "train-images-idx3-ubyte", "dataset-fashion-mnist");
    assert_null(d);
    expect_error(mw_dataset_load("mnist", fx->dir, MW_SPLIT_TEST, &d), MW_ERR_NOT_FOUND,
                 "t10k-images-idx3-ubyte", "lecun");
    im = idx_images(0x803, 4, 27, 28);
    lb = idx_labels(0x801, 4);
    write_gz(fpath(fx, "train-images-idx3-ubyte.gz"), im.p, im.n);
    expect_error(mw_dataset_load("fashion-mnist", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_NOT_FOUND,
                 "train-labels-idx1-ubyte", "not found");
    write_gz(fpath(fx, "train-labels-idx1-ubyte.gz"), lb.p, lb.n);
    expect_error(mw_dataset_load("fashion-mnist", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_FORMAT,
                 "train-images-idx3-ubyte.gz", "27x28, want 28x28");
    assert_null(d);
    free(im.p);
    im = idx_images(0x803, 3, 28, 28);
    write_gz(fpath(fx, "train-images-idx3-ubyte.gz"), im.p, im.n);
    expect_error(mw_dataset_load("fashion-mnist", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_FORMAT,
                 "train-labels-idx1-ubyte.gz", "3 images but 4 labels");
    assert_null(d);
    free(im.p);
    free(lb.p);
}

/* ---- CIFAR-10 -------------------------------------------------------------------- */

enum { CIFAR_REC = 3073 };

/* `n` records of file `file`: label (file + r) % 10, pixels from pattern. */
static bytes cifar_file(int file, int n) {
    bytes b = {0};
    for (int r = 0; r < n; r++) {
        uint8_t label = (uint8_t)((file + r) % 10);
        put(&b, &label, 1);
        for (uint32_t i = 0; i < 3072; i++) {
            uint8_t v = pattern((uint32_t)(100 + file), (uint32_t)r * 3072 + i);
            put(&b, &v, 1);
        }
    }
    return b;
}

static void check_cifar(const mw_dataset *d, int first_file, int n_files, int per_file) {
    assert_int_equal(d->count, n_files * per_file);
    assert_int_equal(d->channels, 3);
    assert_int_equal(d->height, 32);
    assert_int_equal(d->width, 32);
    assert_int_equal(d->classes, 10);
    for (int f = 0; f < n_files; f++)
        for (int r = 0; r < per_file; r++) {
            int k = f * per_file + r;
            assert_int_equal(d->labels[k], (first_file + f + r) % 10);
            for (uint32_t i = 0; i < 3072; i++)
                if (d->images[(size_t)k * 3072 + i] !=
                    pattern((uint32_t)(100 + first_file + f), (uint32_t)r * 3072 + i))
                    fail_msg("image %d byte %u differs", k, i);
        }
}

static void write_cifar_set(const char *dir) {
    char p[512];
    for (int f = 1; f <= 5; f++) {
        bytes b = cifar_file(f, 2);
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, f);
        test_write_file(p, b.p, b.n);
        free(b.p);
    }
    bytes b = cifar_file(0, 3);
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    test_write_file(p, b.p, b.n);
    free(b.p);
}

static void test_cifar10(void **state) {
    fixture *fx = *state;
    /* In root itself, then in root/cifar-10-batches-bin as the tarball unpacks. */
    write_cifar_set(fx->dir);
    for (int layout = 0; layout < 2; layout++) {
        mw_dataset *d = NULL;
        TEST_OK(mw_dataset_load(layout ? "CIFAR-10" : "cifar10", fx->dir, MW_SPLIT_TRAIN, &d));
        assert_string_equal(d->name, "cifar10");
        check_cifar(d, 1, 5, 2);
        mw_dataset_free(d);
        TEST_OK(mw_dataset_load("cifar10", fx->dir, MW_SPLIT_TEST, &d));
        check_cifar(d, 0, 1, 3);
        mw_dataset_free(d);
        if (!layout) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", fx->dir);
            make_dir(sub);
            write_cifar_set(sub);
            /* the root copies are now ignored: make them invalid to prove it */
            test_write_file(fpath(fx, "test_batch.bin"), "x", 1);
        }
    }
}

static void expect_cifar_error(const char *path, mw_status want, const char *what) {
    int n = -1;
    uint8_t *px = (uint8_t *)&n;
    int32_t *labels = (int32_t *)&n;
    expect_error(mw_cifar10_read(&path, 1, &n, &px, &labels), want, path, what);
    assert_null(px);
    assert_null(labels);
    assert_int_equal(n, 0);
}

static void test_cifar10_errors(void **state) {
    fixture *fx = *state;
    const char *p = fpath(fx, "data_batch_1.bin");
    bytes b = cifar_file(3, 3);
    size_t cuts[] = {0, 1, 1000, CIFAR_REC - 1, CIFAR_REC + 1, 2 * CIFAR_REC + 7, b.n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_prefix(p, &b, cuts[c]);
        expect_cifar_error(p, MW_ERR_FORMAT, "multiple of 3073");
    }
    b.p[2 * CIFAR_REC] = 11; /* label of record 2 */
    test_write_file(p, b.p, b.n);
    expect_cifar_error(p, MW_ERR_FORMAT, "record 2: label 11 out of range");
    b.p[2 * CIFAR_REC] = 10;
    test_write_file(p, b.p, b.n);
    expect_cifar_error(p, MW_ERR_FORMAT, "label 10");
    free(b.p);
    expect_cifar_error(fpath(fx, "nope.bin"), MW_ERR_NOT_FOUND, "not found");

    /* Several files: the bad one is named; a missing batch gets the download hint. */
    write_cifar_set(fx->dir);
    const char *paths[3] = {fpath(fx, "data_batch_2.bin"), fpath(fx, "data_batch_3.bin"),
                            fpath(fx, "data_batch_4.bin")};
    bytes bad = cifar_file(0, 1);
    write_prefix(paths[1], &bad, bad.n - 1);
    int n;
    uint8_t *px;
    int32_t *labels;
    expect_error(mw_cifar10_read(paths, 3, &n, &px, &labels), MW_ERR_FORMAT, paths[1], "3073");
    assert_null(px);
    free(bad.p);
    remove(paths[1]);
    mw_dataset *d = NULL;
    expect_error(mw_dataset_load("cifar10", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_NOT_FOUND,
                 "data_batch_3.bin", "cifar-10-binary.tar.gz");
    assert_null(d);
    assert_int_equal(mw_cifar10_read(paths, 0, &n, &px, &labels), MW_ERR_INVALID_ARG);
}

/* ---- SVHN (.mat, MATLAB level 5) ------------------------------------------------- */

enum {
    MI_INT8 = 1,
    MI_UINT8 = 2,
    MI_INT32 = 5,
    MI_UINT32 = 6,
    MI_DOUBLE = 9,
    MI_MATRIX = 14,
    MI_COMPRESSED = 15
};
enum { MX_DOUBLE = 6, MX_UINT8 = 9, MX_CELL = 1 };
enum { SVHN_N = 5 };

static const double svhn_y[SVHN_N] = {10, 1, 2, 9, 10}; /* 10 means the digit 0 */

/* Pixel (row, col, channel) of image n, as X(row, col, channel, n) holds it. */
static uint8_t svhn_px(int n, int c, int row, int col) {
    return (uint8_t)(n * 37 + c * 101 + row * 7 + col * 3 + (row * col) % 5);
}

/* One sub-element: the small format when it fits in 4 bytes and `small` is set. */
static void mat_sub(bytes *b, uint32_t type, const void *data, uint32_t n, int small) {
    if (small && n <= 4) {
        uint8_t d[4] = {0};
        memcpy(d, data, n);
        put_le32(b, n << 16 | type);
        put(b, d, 4);
        return;
    }
    put_le32(b, type);
    put_le32(b, n);
    put(b, data, n);
    pad8(b);
}

typedef struct mat_var {
    const char *name;
    uint32_t cls, flags; /* flags: extra array-flag bits (0x800 complex) */
    uint32_t dims[4];
    int nd;
    uint32_t type; /* storage type of the real part */
    const void *data;
    uint32_t nbytes;
} mat_var;

/* Appends an miMATRIX element, or an miCOMPRESSED one holding it. */
static void mat_put_var(bytes *file, const mat_var *v, int compressed) {
    bytes c = {0};
    uint32_t flags[2] = {v->cls | v->flags, 0};
    mat_sub(&c, MI_UINT32, flags, 8, 0);
    mat_sub(&c, MI_INT32, v->dims, (uint32_t)v->nd * 4, 0);
    mat_sub(&c, MI_INT8, v->name, (uint32_t)strlen(v->name), 1);
    mat_sub(&c, v->type, v->data, v->nbytes, 1);
    bytes m = {0};
    put_le32(&m, MI_MATRIX);
    put_le32(&m, (uint32_t)c.n);
    put(&m, c.p, c.n);
    free(c.p);
    if (!compressed) {
        put(file, m.p, m.n);
    } else {
        uLongf zn = compressBound(m.n);
        uint8_t *z = malloc(zn);
        assert_non_null(z);
        assert_int_equal(compress2(z, &zn, m.p, m.n, 6), Z_OK);
        put_le32(file, MI_COMPRESSED);
        put_le32(file, (uint32_t)zn);
        put(file, z, zn); /* compressed elements are not padded */
        free(z);
    }
    free(m.p);
}

static void mat_header(bytes *b, const char *endian, uint16_t version) {
    char text[116];
    memset(text, ' ', sizeof text);
    const char *t = "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: memwrap test";
    memcpy(text, t, strlen(t));
    put(b, text, sizeof text);
    uint8_t sub[8] = {0}, ver[2] = {(uint8_t)version, (uint8_t)(version >> 8)};
    put(b, sub, 8);
    put(b, ver, 2);
    put(b, endian, 2);
}

/* What a test SVHN file holds; svhn_default() is a valid one. */
typedef struct svhn_opts {
    int compressed, y_first, extra_var, omit_y;
    int y_uint8;  /* class double stored as uint8, as MATLAB does */
    int n_labels; /* y length */
    double bad_label;
    int bad_label_at; /* -1: none */
    mat_var x;
    uint8_t xdata[SVHN_N * 3072];
} svhn_opts;

static void svhn_default(svhn_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_labels = SVHN_N;
    o->bad_label_at = -1;
    for (int n = 0; n < SVHN_N; n++)
        for (int c = 0; c < 3; c++)
            for (int col = 0; col < 32; col++)
                for (int row = 0; row < 32; row++)
                    o->xdata[row + 32 * col + 1024 * c + 3072 * n] = svhn_px(n, c, row, col);
    o->x = (mat_var){"X", MX_UINT8, 0, {32, 32, 3, SVHN_N}, 4, MI_UINT8, o->xdata, SVHN_N * 3072};
}

static bytes svhn_build(const svhn_opts *o) {
    bytes b = {0};
    mat_header(&b, "IM", 0x0100);
    double yd[SVHN_N + 1];
    uint8_t yu[SVHN_N + 1];
    for (int i = 0; i < o->n_labels; i++) {
        yd[i] = svhn_y[i % SVHN_N];
        if (i == o->bad_label_at) yd[i] = o->bad_label;
        yu[i] = (uint8_t)yd[i];
    }
    mat_var y = {"y",
                 MX_DOUBLE,
                 0,
                 {(uint32_t)o->n_labels, 1},
                 2,
                 o->y_uint8 ? MI_UINT8 : MI_DOUBLE,
                 o->y_uint8 ? (const void *)yu : (const void *)yd,
                 (uint32_t)o->n_labels * (o->y_uint8 ? 1u : 8u)};
    /* An unrelated variable, with a name too long for the small format, is skipped. */
    static const int32_t other[3] = {1, 2, 3};
    mat_var extra = {"__unrelated_variable", MX_UINT8, 0, {1, 3}, 2, MI_INT32, other, sizeof other};
    /* and so is one whose name is longer than MATLAB's 63 characters */
    mat_var longer = extra;
    longer.name = "a_variable_name_of_seventy_characters_which_matlab_itself_would_reject";
    if (o->extra_var) mat_put_var(&b, &extra, o->compressed);
    if (o->extra_var) mat_put_var(&b, &longer, o->compressed);
    if (o->y_first && !o->omit_y) mat_put_var(&b, &y, o->compressed);
    mat_put_var(&b, &o->x, o->compressed);
    if (!o->y_first && !o->omit_y) mat_put_var(&b, &y, o->compressed);
    return b;
}

static void check_svhn(const uint8_t *px, const int32_t *labels, int count) {
    assert_int_equal(count, SVHN_N);
    for (int n = 0; n < SVHN_N; n++) {
        int want = svhn_y[n] == 10 ? 0 : (int)svhn_y[n];
        assert_int_equal(labels[n], want);
        for (int c = 0; c < 3; c++)
            for (int row = 0; row < 32; row++)
                for (int col = 0; col < 32; col++) {
                    uint8_t got = px[((n * 3 + c) * 32 + row) * 32 + col];
                    if (got != svhn_px(n, c, row, col))
                        fail_msg("image %d channel %d (%d, %d): %u, want %u", n, c, row, col, got,
                                 svhn_px(n, c, row, col));
                }
    }
}

static void test_svhn(void **state) {
    fixture *fx = *state;
    svhn_opts *o = malloc(sizeof *o);
    assert_non_null(o);
    for (int variant = 0; variant < 4; variant++) {
        svhn_default(o);
        o->compressed = variant & 1;
        o->y_first = o->extra_var = o->y_uint8 = (variant & 2) != 0;
        bytes b = svhn_build(o);
        const char *p = fpath(fx, "train_32x32.mat");
        test_write_file(p, b.p, b.n);
        int n = 0;
        uint8_t *px = NULL;
        int32_t *labels = NULL;
        TEST_OK(mw_svhn_read(p, &n, &px, &labels));
        check_svhn(px, labels, n);
        free(px);
        free(labels);
        test_write_file(fpath(fx, "test_32x32.mat"), b.p, b.n);
        for (int split = 0; split < 2; split++) {
            mw_dataset *d = NULL;
            TEST_OK(mw_dataset_load("svhn", fx->dir, (mw_split)split, &d));
            assert_string_equal(d->name, "svhn");
            assert_int_equal(d->channels, 3);
            assert_int_equal(d->height, 32);
            assert_int_equal(d->width, 32);
            assert_int_equal(d->classes, 10);
            check_svhn(d->images, d->labels, d->count);
            mw_dataset_free(d);
        }
        free(b.p);
    }
    /* One image: MATLAB drops the trailing singleton dimension (32x32x3). */
    svhn_default(o);
    o->x.nd = 3;
    o->x.nbytes = 3072;
    o->n_labels = 1;
    o->y_uint8 = 1; /* 1 byte: stored in the small element format */
    bytes b = svhn_build(o);
    test_write_file(fpath(fx, "one.mat"), b.p, b.n);
    int n = 0;
    uint8_t *px = NULL;
    int32_t *labels = NULL;
    TEST_OK(mw_svhn_read(fpath(fx, "one.mat"), &n, &px, &labels));
    assert_int_equal(n, 1);
    assert_int_equal(labels[0], 0);
    assert_int_equal(px[1 * 32 + 2], svhn_px(0, 0, 1, 2));
    free(px);
    free(labels);
    free(b.p);
    free(o);
}

static void expect_svhn_error(const char *path, mw_status want, const char *what) {
    int n = -1;
    uint8_t *px = (uint8_t *)&n;
    int32_t *labels = (int32_t *)&n;
    expect_error(mw_svhn_read(path, &n, &px, &labels), want, path, what);
    assert_null(px);
    assert_null(labels);
    assert_int_equal(n, 0);
}

/* Builds the file `o` describes, expects the error, and resets `o`. */
static void expect_svhn_variant(const char *path, svhn_opts *o, const char *what) {
    for (int compressed = 0; compressed < 2; compressed++) {
        o->compressed = compressed;
        bytes b = svhn_build(o);
        test_write_file(path, b.p, b.n);
        free(b.p);
        expect_svhn_error(path, MW_ERR_FORMAT, what);
    }
    svhn_default(o);
}

static void test_svhn_errors(void **state) {
    fixture *fx = *state;
    const char *p = fpath(fx, "bad.mat");
    svhn_opts *o = malloc(sizeof *o);
    assert_non_null(o);

    /* Cuts of an uncompressed and of a compressed file (y last, so no cut is valid). */
    for (int compressed = 0; compressed < 2; compressed++) {
        svhn_default(o);
        o->compressed = compressed;
        o->extra_var = 1;
        bytes b = svhn_build(o);
        for (size_t cut = 0; cut < b.n; cut = next_cut(cut, b.n)) {
            write_prefix(p, &b, cut);
            expect_svhn_error(p, MW_ERR_FORMAT, NULL);
        }
        write_prefix(p, &b, b.n - 1);
        expect_svhn_error(p, MW_ERR_FORMAT, "truncated");
        /* Corrupt compressed data: in the middle, and in the checksum of the last element. */
        if (compressed) {
            for (int at = 0; at < 2; at++) {
                size_t i = at ? b.n - 1 : b.n / 2;
                b.p[i] ^= 0x21;
                test_write_file(p, b.p, b.n);
                expect_svhn_error(p, MW_ERR_FORMAT, NULL);
                b.p[i] ^= 0x21;
            }
        }
        free(b.p);
    }

    svhn_default(o);
    o->bad_label_at = 2;
    o->bad_label = 11;
    expect_svhn_variant(p, o, "label 11 at index 2 out of range 1..10");
    o->bad_label_at = 4;
    o->bad_label = 0;
    expect_svhn_variant(p, o, "label 0 at index 4");
    o->bad_label_at = 1;
    o->bad_label = 2.5;
    expect_svhn_variant(p, o, "label 2.5");
    o->n_labels = SVHN_N - 1;
    expect_svhn_variant(p, o, "X holds 5 images but y 4 labels");
    o->omit_y = 1;
    expect_svhn_variant(p, o, "no variable 'y'");
    o->x.name = "X2";
    expect_svhn_variant(p, o, "no variable 'X'");
    o->x.cls = MX_DOUBLE;
    expect_svhn_variant(p, o, "variable 'X': class 6, want uint8");
    o->x.dims[2] = 1;
    o->x.nbytes = SVHN_N * 1024;
    expect_svhn_variant(p, o, "dimensions 32x32x1x5, want 32x32x3xN");
    o->x.dims[0] = 28;
    expect_svhn_variant(p, o, "dimensions 28x32x3x5");
    o->x.type = MI_INT8;
    expect_svhn_variant(p, o, "pixel data of type 1");
    o->x.nbytes -= 3072;
    expect_svhn_variant(p, o, "pixel data of type 2");
    o->x.flags = 0x800;
    expect_svhn_variant(p, o, "complex");
    o->x.cls = MX_CELL;
    expect_svhn_variant(p, o, "class 1");
    o->y_first = 1;
    o->x.name = "y";
    expect_svhn_variant(p, o, "appears twice");

    /* Header: big-endian, v7.3 (HDF5), no MAT header at all. */
    bytes b = svhn_build(o);
    memcpy(b.p + 126, "MI", 2);
    test_write_file(p, b.p, b.n);
    expect_svhn_error(p, MW_ERR_FORMAT, "big-endian");
    memcpy(b.p + 126, "IM", 2);
    b.p[125] = 2;
    test_write_file(p, b.p, b.n);
    expect_svhn_error(p, MW_ERR_FORMAT, "v7.3");
    memset(b.p + 120, 'x', 8);
    test_write_file(p, b.p, b.n);
    expect_svhn_error(p, MW_ERR_FORMAT, "not a MATLAB");
    free(b.p);
    /* An element declaring more bytes than the file has left. */
    o->compressed = 1;
    b = svhn_build(o);
    b.p[128 + 7] = 0x7f; /* the first element's size now reads ~2 GB */
    test_write_file(p, b.p, b.n);
    expect_svhn_error(p, MW_ERR_FORMAT, "truncated: element at byte 128");
    free(b.p);
    /* A compressed element whose inner miMATRIX tag claims far more than deflate could
     * expand its few bytes to: refused before anything is allocated. */
    b = (bytes){0};
    mat_header(&b, "IM", 0x0100);
    uint8_t inner[16] = {MI_MATRIX, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
    uint8_t z[256];
    uLongf zn = sizeof z;
    assert_int_equal(compress2(z, &zn, inner, sizeof inner, 6), Z_OK);
    put_le32(&b, MI_COMPRESSED);
    put_le32(&b, (uint32_t)zn);
    put(&b, z, zn);
    test_write_file(p, b.p, b.n);
    expect_svhn_error(p, MW_ERR_FORMAT, "more data than it can hold");
    free(b.p);

    expect_svhn_error(fpath(fx, "nope.mat"), MW_ERR_NOT_FOUND, "not found");
    mw_dataset *d = NULL;
    expect_error(mw_dataset_load("svhn", fx->dir, MW_SPLIT_TEST, &d), MW_ERR_NOT_FOUND,
                 "test_32x32.mat", "ufldl.stanford.edu");
    assert_null(d);
    free(o);
}

/* ---- CINIC-10 (PNG folders) ------------------------------------------------------- */

static const char *const cinic_classes[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

/* The RGB value image `seed` has at (row, col). */
static void rgb_at(uint32_t seed, int row, int col, uint8_t rgb[3]) {
    for (int c = 0; c < 3; c++)
        rgb[c] = pattern(seed, (uint32_t)((row * 32 + col) * 3 + c));
}

enum {
    PNG_RGB,
    PNG_GRAY,
    PNG_PALETTE,
    PNG_RGBA,
    PNG_RGB16,
    PNG_GRAY_ALPHA,
    PNG_RGB_INTERLACED,
    PNG_KINDS
};

/* Writes a w x h PNG of `kind` whose pixels derive from `seed`; fills want (3 x h x w planes)
 * with the RGB the reader must return. */
static void write_png(const char *path, int kind, uint32_t seed, int w, int h, uint8_t *want) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    static const int types[PNG_KINDS] = {PNG_COLOR_TYPE_RGB,     PNG_COLOR_TYPE_GRAY,
                                         PNG_COLOR_TYPE_PALETTE, PNG_COLOR_TYPE_RGB_ALPHA,
                                         PNG_COLOR_TYPE_RGB,     PNG_COLOR_TYPE_GRAY_ALPHA,
                                         PNG_COLOR_TYPE_RGB};
    int depth = kind == PNG_RGB16 ? 16 : 8;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, types[kind],
                 kind == PNG_RGB_INTERLACED ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color palette[16];
    for (int i = 0; i < 16; i++) {
        palette[i].red = pattern(seed, (uint32_t)i * 3);
        palette[i].green = pattern(seed, (uint32_t)i * 3 + 1);
        palette[i].blue = pattern(seed, (uint32_t)i * 3 + 2);
    }
    if (kind == PNG_PALETTE) png_set_PLTE(png, info, palette, 16);
    png_write_info(png, info);
    int ch = kind == PNG_GRAY || kind == PNG_PALETTE ? 1
             : kind == PNG_GRAY_ALPHA                ? 2
             : kind == PNG_RGBA                      ? 4
                                                     : 3;
    size_t bpp = (size_t)ch * (depth / 8);
    uint8_t *img = malloc((size_t)w * h * bpp);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    assert_non_null(img);
    assert_non_null(rows);
    size_t plane = (size_t)w * h;
    for (int r = 0; r < h; r++) {
        rows[r] = img + (size_t)r * w * bpp;
        for (int c = 0; c < w; c++) {
            uint8_t rgb[3], *px = rows[r] + (size_t)c * bpp;
            rgb_at(seed, r, c, rgb);
            uint8_t alpha = (uint8_t)(r * 8 + c);
            switch (kind) {
            case PNG_GRAY:
            case PNG_GRAY_ALPHA:
                px[0] = rgb[0];
                if (kind == PNG_GRAY_ALPHA) px[1] = alpha;
                rgb[1] = rgb[2] = rgb[0];
                break;
            case PNG_PALETTE:
                px[0] = rgb[0] % 16;
                rgb[0] = palette[px[0]].red;
                rgb[1] = palette[px[0]].green;
                rgb[2] = palette[px[0]].blue;
                break;
            case PNG_RGB16: /* big-endian 16-bit samples: the reader keeps the high byte */
                for (int k = 0; k < 3; k++) {
                    px[2 * k] = rgb[k];
                    px[2 * k + 1] = (uint8_t)(rgb[k] ^ 0xa5);
                }
                break;
            default:
                memcpy(px, rgb, 3);
                if (kind == PNG_RGBA) px[3] = alpha;
            }
            if (want)
                for (int k = 0; k < 3; k++)
                    want[k * plane + (size_t)r * w + c] = rgb[k];
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    assert_int_equal(fclose(f), 0);
    free(img);
    free(rows);
}

/* CINIC-style folders under root/<split>: class k holds `per_class` images named so that
 * their sorted order differs from their creation order, plus a file to ignore. Fills want
 * (count x 3072) and want_labels in reading order. */
static int write_cinic_split(const char *root, const char *split, int per_class, uint8_t *want,
                             int32_t *want_labels) {
    char dir[512], p[640];
    snprintf(dir, sizeof dir, "%s/%s", root, split);
    make_dir(dir);
    int k = 0;
    for (int c = 0; c < 10; c++) {
        snprintf(p, sizeof p, "%s/%s", dir, cinic_classes[9 - c]); /* created out of order */
        make_dir(p);
    }
    for (int c = 0; c < 10; c++) {
        snprintf(p, sizeof p, "%s/%s/notes.txt", dir, cinic_classes[c]);
        test_write_file(p, "not an image", 12);
        for (int i = per_class - 1; i >= 0; i--) { /* written last-first, read first-last */
            snprintf(p, sizeof p, "%s/%s/%s-%03d.%s", dir, cinic_classes[c], split, i,
                     i % 3 == 2 ? "PNG" : "png");
            int idx = k + i;
            uint32_t seed = (uint32_t)(idx * 10 + c + (split[1] == 'e' ? 500 : 0));
            write_png(p, idx % PNG_KINDS, seed, 32, 32, want ? want + (size_t)idx * 3072 : NULL);
            if (want_labels) want_labels[idx] = c;
        }
        k += per_class;
    }
    return k;
}

static void test_cinic10(void **state) {
    fixture *fx = *state;
    enum { PER = 3 };
    uint8_t *want = malloc((size_t)10 * PER * 3072);
    int32_t want_labels[10 * PER];
    assert_non_null(want);
    const char *splits[2] = {"train", "test"};
    for (int split = 0; split < 2; split++) {
        int n = write_cinic_split(fx->dir, splits[split], PER, want, want_labels);
        mw_dataset *d = NULL;
        TEST_OK(mw_dataset_load(split ? "cinic-10" : "cinic10", fx->dir, (mw_split)split, &d));
        assert_string_equal(d->name, "cinic10");
        assert_int_equal(d->count, n);
        assert_int_equal(d->channels, 3);
        assert_int_equal(d->height, 32);
        assert_int_equal(d->classes, 10);
        for (int i = 0; i < n; i++) {
            assert_int_equal(d->labels[i], want_labels[i]);
            for (int b = 0; b < 3072; b++)
                if (d->images[(size_t)i * 3072 + b] != want[(size_t)i * 3072 + b])
                    fail_msg("%s image %d (kind %d) byte %d: %u, want %u", splits[split], i,
                             i % PNG_KINDS, b, d->images[(size_t)i * 3072 + b],
                             want[(size_t)i * 3072 + b]);
        }
        mw_dataset_free(d);
    }
    /* The reader on its own, e.g. for valid/. */
    int n = 0, classes = 0;
    uint8_t *px = NULL;
    int32_t *labels = NULL;
    TEST_OK(mw_png_folders_read(fpath(fx, "test"), 3, 32, &n, &classes, &px, &labels));
    assert_int_equal(n, 10 * PER);
    assert_int_equal(classes, 10);
    free(px);
    free(labels);
    free(want);
}

static void expect_png_error(const char *dir, mw_status want, const char *file, const char *what) {
    int n = -1, classes = -1;
    uint8_t *px = (uint8_t *)&n;
    int32_t *labels = (int32_t *)&n;
    expect_error(mw_png_folders_read(dir, 3, 32, &n, &classes, &px, &labels), want, file, what);
    assert_null(px);
    assert_null(labels);
    assert_int_equal(n, 0);
}

static void test_cinic10_errors(void **state) {
    fixture *fx = *state;
    write_cinic_split(fx->dir, "train", 2, NULL, NULL);
    const char *dir = fpath(fx, "train");
    char victim[512];
    snprintf(victim, sizeof victim, "%s/cat/train-001.png", dir);

    /* Wrong size, named with its file. */
    write_png(victim, PNG_RGB, 1, 31, 32, NULL);
    expect_png_error(dir, MW_ERR_FORMAT, victim, "31x32, want 32x32");
    mw_dataset *d = NULL;
    expect_error(mw_dataset_load("cinic10", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_FORMAT, victim,
                 "31x32");
    assert_null(d);

    /* Truncated at several points, corrupt CRC, not a PNG at all. */
    write_png(victim, PNG_RGB, 1, 32, 32, NULL);
    size_t n;
    uint8_t *png = test_read_file(victim, &n);
    size_t cuts[] = {0, 4, 8, 20, 33, 60, n / 2, n - 13, n - 12, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        test_write_file(victim, png, cuts[c]);
        expect_png_error(dir, MW_ERR_FORMAT, victim, cuts[c] < 8 ? NULL : "truncated");
    }
    png[n / 2] ^= 0x10;
    test_write_file(victim, png, n);
    expect_png_error(dir, MW_ERR_FORMAT, victim, NULL);
    test_write_file(victim, "GIF89a nothing", 14);
    expect_png_error(dir, MW_ERR_FORMAT, victim, "not a PNG file");
    png[n / 2] ^= 0x10;
    test_write_file(victim, png, n);
    free(png);

    /* A missing class folder (9 classes), and an empty one. */
    char cls[512], f[600];
    snprintf(cls, sizeof cls, "%s/truck", dir);
    for (int i = 0; i < 2; i++) {
        snprintf(f, sizeof f, "%s/train-%03d.png", cls, i);
        assert_int_equal(remove(f), 0);
    }
    expect_png_error(dir, MW_ERR_FORMAT, cls, "no .png files");
    snprintf(f, sizeof f, "%s/notes.txt", cls);
    assert_int_equal(remove(f), 0);
    assert_int_equal(rmdir(cls), 0);
    int count = 0, classes = 0;
    uint8_t *px = NULL;
    int32_t *labels = NULL;
    TEST_OK(mw_png_folders_read(dir, 3, 32, &count, &classes, &px, &labels));
    assert_int_equal(classes, 9);
    free(px);
    free(labels);
    expect_error(mw_dataset_load("cinic10", fx->dir, MW_SPLIT_TRAIN, &d), MW_ERR_FORMAT, dir,
                 "9 class folders, want 10");
    assert_null(d);

    /* No folders, missing split (with the download hint), unsupported arguments. */
    expect_png_error(fpath(fx, "nope"), MW_ERR_NOT_FOUND, fpath(fx, "nope"), "not found");
    expect_error(mw_dataset_load("cinic10", fx->dir, MW_SPLIT_TEST, &d), MW_ERR_NOT_FOUND,
                 fpath(fx, "test"), "datashare.ed.ac.uk");
    make_dir(fpath(fx, "test"));
    expect_png_error(fpath(fx, "test"), MW_ERR_FORMAT, fpath(fx, "test"), "no class folders");
    assert_int_equal(mw_png_folders_read(dir, 1, 32, &count, &classes, &px, &labels),
                     MW_ERR_INVALID_ARG);
    assert_int_equal(mw_png_folders_read(dir, 3, 0, &count, &classes, &px, &labels),
                     MW_ERR_INVALID_ARG);
}

/* ---- names, arguments ------------------------------------------------------------ */

static void test_dataset_names(void **state) {
    (void)state;
    mw_dataset *d = (mw_dataset *)state;
    assert_int_equal(mw_dataset_load("imagenet", "/tmp", MW_SPLIT_TRAIN, &d), MW_ERR_INVALID_ARG);
    assert_null(d);
    const char *msg = mw_error_message();
    assert_non_null(strstr(msg, "imagenet"));
    const char *names[] = {"fashion-mnist", "mnist", "cifar10", "svhn", "cinic10"};
    for (int i = 0; i < 5; i++) {
        assert_non_null(strstr(msg, names[i]));
        assert_non_null(strstr(mw_dataset_names(), names[i]));
    }
    assert_int_equal(mw_dataset_load("svhn", NULL, MW_SPLIT_TRAIN, &d), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_dataset_load(NULL, "/tmp", MW_SPLIT_TRAIN, &d), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_dataset_load("svhn", "/tmp", (mw_split)7, &d), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_dataset_load("svhn", "/tmp", MW_SPLIT_TRAIN, NULL), MW_ERR_INVALID_ARG);
    mw_dataset_free(NULL);
}

/* ---- the real Fashion-MNIST ------------------------------------------------------ */

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_fashion_mnist(void **state) {
    (void)state;
    struct stat st;
    if (stat(FASHION_MNIST_DIR, &st) != 0 || !S_ISDIR(st.st_mode))
        fail_msg("%s is missing: install the Debian package dataset-fashion-mnist "
                 "(.ci/setup.sh does)",
                 FASHION_MNIST_DIR);
    const int want_count[2] = {60000, 10000};
    for (int split = 0; split < 2; split++) {
        mw_dataset *d = NULL;
        double t0 = seconds();
        TEST_OK(mw_dataset_load("fashion-mnist", FASHION_MNIST_DIR, (mw_split)split, &d));
        print_message("[ fmnist  ] %s: %d images loaded in %.2f s\n", split ? "test" : "train",
                      d->count, seconds() - t0);
        assert_int_equal(d->count, want_count[split]);
        assert_int_equal(d->channels, 1);
        assert_int_equal(d->height, 28);
        assert_int_equal(d->width, 28);
        assert_int_equal(d->classes, 10);
        int hist[10] = {0};
        for (int i = 0; i < d->count; i++) {
            assert_in_range(d->labels[i], 0, 9);
            hist[d->labels[i]]++;
        }
        for (int c = 0; c < 10; c++)
            assert_int_equal(hist[c], want_count[split] / 10);
        /* Not all black: the pixels really were read (mean intensity of Fashion-MNIST ~ 73). */
        uint64_t sum = 0;
        for (size_t i = 0; i < (size_t)d->count * 784; i++)
            sum += d->images[i];
        double mean = (double)sum / ((double)d->count * 784);
        assert_true(mean > 60 && mean < 90);
        mw_dataset_free(d);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idx_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cifar10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cifar10_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svhn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svhn_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cinic10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cinic10_errors, setup, teardown),
        cmocka_unit_test(test_dataset_names),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
