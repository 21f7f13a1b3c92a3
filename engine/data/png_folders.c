/* Image folders of PNG files (CINIC-10), laid out as torchvision's ImageFolder reads them:
 * dir/<class>/<file>.png, classes = the sub-directories sorted by name (label = index),
 * files sorted by name within a class. Every image must be size x size; gray, palette,
 * 16-bit and alpha images are converted to 8-bit RGB as PIL's convert("RGB") does (alpha
 * and tRNS dropped, 16-bit reduced to the high byte; memwrap/image.h decodes). Unlike ImageFolder, class folders are
 * not searched recursively (CINIC-10 has none nested). */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "memwrap/data.h"
#include "memwrap/image.h"

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

/* Decodes one size x size PNG into out as [3, size, size], through memwrap/image.h's reader
 * (any PNG converted to 8-bit RGB, errors naming the file). */
static mw_status png_decode(const char *path, int size, uint8_t *out) {
    mw_image img;
    MW_TRY(mw_png_read(path, &img));
    mw_status s = MW_OK;
    if (img.width != size || img.height != size) {
        s = mw_error_set(MW_ERR_FORMAT, "PNG '%s': image is %dx%d, want %dx%d", path, img.width,
                         img.height, size, size);
    } else {
        size_t plane = (size_t)size * size;
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++)
                out[c * plane + p] = img.rgb[3 * p + (size_t)c];
    }
    mw_image_free(&img);
    return s;
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
    uint8_t *px = NULL;
    size_t per = (size_t)3 * size * size;
    if (s == MW_OK) s = mw_data_alloc("PNG folders", dir, ix.files.n, per, &px, NULL);
    char path[PNG_PATH_MAX];
    for (size_t i = 0; s == MW_OK && i < ix.files.n; i++) {
        s = mw_data_path(path, sizeof path, dir, ix.files.v[i]);
        if (s == MW_OK) s = png_decode(path, size, px + i * per);
    }
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
