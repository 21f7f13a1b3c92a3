/* Image folders of PNG files (CINIC-10), laid out as torchvision's ImageFolder reads them:
 * dir/<class>/<file>.png, classes = the sub-directories sorted by name (label = index),
 * files sorted by name within a class. Every image must be size x size; gray, palette,
 * 16-bit and alpha images are converted to 8-bit RGB as PIL's convert("RGB") does (alpha
 * and tRNS dropped, 16-bit reduced to the high byte). Unlike ImageFolder, class folders are
 * not searched recursively (CINIC-10 has none nested). */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "memwrap/data.h"

enum { PNG_MAX_SIZE = 4096, PNG_PATH_MAX = 4096 };

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void names_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (name_list){0};
}

static int names_push(name_list *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy) return 0;
    l->v[l->n++] = copy;
    return 1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b); /* byte order, as Python's sorted() */
}

static int has_png_ext(const char *name) {
    size_t n = strlen(name);
    if (n < 4) return 0;
    const char *e = name + n - 4;
    return e[0] == '.' && tolower((unsigned char)e[1]) == 'p' &&
           tolower((unsigned char)e[2]) == 'n' && tolower((unsigned char)e[3]) == 'g';
}

/* The entries of `dir`, sorted: sub-directories when want_dirs, else *.png names. */
static mw_status list_dir(const char *dir, int want_dirs, name_list *out) {
    *out = (name_list){0};
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return mw_error_set(MW_ERR_NOT_FOUND, "PNG folders '%s': directory not found", dir);
        return mw_error_set(MW_ERR_IO, "PNG folders '%s': cannot open: %s", dir, strerror(errno));
    }
    mw_status s = MW_OK;
    char path[PNG_PATH_MAX];
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                s = mw_error_set(MW_ERR_IO, "PNG folders '%s': cannot list: %s", dir,
                                 strerror(errno));
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int keep;
        if (want_dirs) {
            s = mw_data_path(path, sizeof path, dir, e->d_name);
            if (s != MW_OK) break;
            keep = mw_data_is_dir(path);
        } else {
            keep = has_png_ext(e->d_name);
        }
        if (keep && !names_push(out, e->d_name)) {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG folders '%s': out of memory", dir);
            break;
        }
    }
    closedir(d);
    if (s != MW_OK) {
        names_free(out);
        return s;
    }
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_names);
    return MW_OK;
}

/* libpng reports errors through this callback, which must not return: keep the message and
 * jump back to the setjmp in png_decode_rows. */
typedef struct png_msg {
    char text[200];
} png_msg;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_msg *m = png_get_error_ptr(png);
    snprintf(m->text, sizeof m->text, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (e.g. an sRGB profile libpng finds odd) do not affect the pixels: stay quiet. */
static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* Everything between setjmp and its longjmp lives here, with no local that changes after
 * setjmp, so nothing can be clobbered. Returns 0, -1 on a libpng error (message in the
 * error pointer), or 1 when the image is not size x size (its size in *w, *h). */
static int png_decode_rows(png_structp png, png_infop info, FILE *f, int size, png_bytep *rows,
                           png_uint_32 *w, png_uint_32 *h) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_init_io(png, f);
    png_read_info(png, info);
    *w = png_get_image_width(png, info);
    *h = png_get_image_height(png, info);
    if (*w != (png_uint_32)size || *h != (png_uint_32)size) return 1;
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)size * 3)
        png_error(png, "not 8-bit RGB after conversion");
    png_read_image(png, rows);
    png_read_end(png, NULL); /* reads to IEND, so a file cut after the pixels is caught too */
    return 0;
}

/* Decodes one size x size PNG into out as [3, size, size]; rows[r] points at row r of a
 * size*size*3 scratch buffer. */
static mw_status png_decode(const char *path, int size, uint8_t *rgb, png_bytep *rows,
                            uint8_t *out) {
    FILE *f;
    uint64_t fsize;
    MW_TRY(mw_data_open("PNG", path, &f, &fsize));
    png_msg msg = {{0}};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &msg, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG '%s': cannot create a libpng reader", path);
    }
    png_uint_32 w = 0, h = 0;
    int rc = png_decode_rows(png, info, f, size, rows, &w, &h);
    png_destroy_read_struct(&png, &info, NULL);
    int read_error = ferror(f), at_end = feof(f);
    fclose(f);
    if (rc < 0 && read_error)
        return mw_error_set(MW_ERR_IO, "PNG '%s': read failed (%s)", path, msg.text);
    if (rc < 0 && at_end)
        return mw_error_set(MW_ERR_FORMAT, "PNG '%s': truncated (libpng: %s)", path, msg.text);
    if (rc < 0) return mw_error_set(MW_ERR_FORMAT, "PNG '%s': cannot decode: %s", path, msg.text);
    if (rc > 0)
        return mw_error_set(MW_ERR_FORMAT, "PNG '%s': image is %ux%u, want %dx%d", path,
                            (unsigned)w, (unsigned)h, size, size);
    size_t plane = (size_t)size * size;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++)
            out[c * plane + p] = rgb[3 * p + (size_t)c];
    return MW_OK;
}

/* Every image of the folders, as "class/file" paths relative to dir plus labels. */
typedef struct png_index {
    name_list classes, files;
    int32_t *labels;
    size_t labels_cap;
} png_index;

static void index_free(png_index *ix) {
    names_free(&ix->classes);
    names_free(&ix->files);
    free(ix->labels);
}

static mw_status index_build(const char *dir, png_index *ix) {
    MW_TRY(list_dir(dir, 1, &ix->classes));
    if (ix->classes.n == 0)
        return mw_error_set(MW_ERR_FORMAT, "PNG folders '%s': no class folders", dir);
    if (ix->classes.n > 1000000)
        return mw_error_set(MW_ERR_FORMAT, "PNG folders '%s': too many class folders", dir);
    char cdir[PNG_PATH_MAX], rel[PNG_PATH_MAX];
    for (size_t c = 0; c < ix->classes.n; c++) {
        name_list files;
        MW_TRY(mw_data_path(cdir, sizeof cdir, dir, ix->classes.v[c]));
        MW_TRY(list_dir(cdir, 0, &files));
        mw_status s = files.n ? MW_OK
                              : mw_error_set(MW_ERR_FORMAT,
                                             "PNG folders '%s': class folder holds "
                                             "no .png files",
                                             cdir);
        if (s == MW_OK && ix->files.n + files.n > (size_t)INT32_MAX)
            s = mw_error_set(MW_ERR_FORMAT, "PNG folders '%s': too many images", dir);
        if (s == MW_OK && ix->files.n + files.n > ix->labels_cap) {
            size_t cap = 2 * (ix->files.n + files.n);
            int32_t *l = realloc(ix->labels, cap * sizeof *l);
            if (!l)
                s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG folders '%s': out of memory", dir);
            else {
                ix->labels = l;
                ix->labels_cap = cap;
            }
        }
        for (size_t i = 0; s == MW_OK && i < files.n; i++) {
            s = mw_data_path(rel, sizeof rel, ix->classes.v[c], files.v[i]);
            if (s == MW_OK && !names_push(&ix->files, rel))
                s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG folders '%s': out of memory", dir);
            if (s == MW_OK) ix->labels[ix->files.n - 1] = (int32_t)c;
        }
        names_free(&files);
        MW_TRY(s);
    }
    return MW_OK;
}

mw_status mw_png_folders_read(const char *dir, int channels, int size, int *count, int *classes,
                              uint8_t **images, int32_t **labels) {
    if (!dir || !count || !classes || !images || !labels)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_png_folders_read: NULL argument");
    *count = *classes = 0;
    *images = NULL;
    *labels = NULL;
    if (channels != 3)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "mw_png_folders_read: %d channels, only 3 (RGB) "
                            "are supported",
                            channels);
    if (size < 1 || size > PNG_MAX_SIZE)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_png_folders_read: bad image size %d", size);
    png_index ix = {0};
    mw_status s = index_build(dir, &ix);
    uint8_t *px = NULL, *rgb = NULL;
    png_bytep *rows = NULL;
    size_t per = (size_t)3 * size * size;
    if (s == MW_OK) s = mw_data_alloc("PNG folders", dir, ix.files.n, per, &px, NULL);
    if (s == MW_OK) {
        rgb = malloc(per);
        rows = malloc((size_t)size * sizeof *rows);
        if (!rgb || !rows)
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG folders '%s': out of memory", dir);
        for (int r = 0; s == MW_OK && r < size; r++)
            rows[r] = rgb + (size_t)r * size * 3;
    }
    char path[PNG_PATH_MAX];
    for (size_t i = 0; s == MW_OK && i < ix.files.n; i++) {
        s = mw_data_path(path, sizeof path, dir, ix.files.v[i]);
        if (s == MW_OK) s = png_decode(path, size, rgb, rows, px + i * per);
    }
    free(rgb);
    free(rows);
    if (s != MW_OK) {
        free(px);
        index_free(&ix);
        return s;
    }
    *count = (int)ix.files.n;
    *classes = (int)ix.classes.n;
    *images = px;
    *labels = ix.labels;
    ix.labels = NULL;
    index_free(&ix);
    return MW_OK;
}
