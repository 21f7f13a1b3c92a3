/* See memwrap/image.h: the RGB canvas, de-normalisation, scaling, rectangles, and PNG files
 * through libpng. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "io/atomic_file.h"
#include "memwrap/image.h"

/* ---- canvas -------------------------------------------------------------------------- */

static mw_status check_size(const char *what, int width, int height) {
    if (width < 1 || height < 1 || width > MW_IMAGE_MAX_SIDE || height > MW_IMAGE_MAX_SIDE)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: size %dx%d outside 1..%d per side", what,
                            width, height, (int)MW_IMAGE_MAX_SIDE);
    if ((long long)width * height > MW_IMAGE_MAX_PIXELS)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: %dx%d is more than %d pixels", what, width,
                            height, (int)MW_IMAGE_MAX_PIXELS);
    return MW_OK;
}

mw_status mw_image_init(mw_image *img, int width, int height, const uint8_t background[3]) {
    if (!img) return mw_error_set(MW_ERR_INVALID_ARG, "mw_image_init: img is NULL");
    memset(img, 0, sizeof *img);
    MW_TRY(check_size("mw_image_init", width, height));
    size_t n = (size_t)width * (size_t)height;
    uint8_t *rgb = background ? malloc(n * 3) : calloc(n, 3);
    if (!rgb)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "mw_image_init: out of memory for %dx%d", width,
                            height);
    if (background)
        for (size_t p = 0; p < n; p++)
            memcpy(rgb + 3 * p, background, 3);
    img->width = width;
    img->height = height;
    img->rgb = rgb;
    return MW_OK;
}

void mw_image_free(mw_image *img) {
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

static bool image_valid(const mw_image *img) {
    return img && img->rgb && img->width > 0 && img->height > 0;
}

mw_status mw_image_scale(const mw_image *src, int scale, mw_image *out) {
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_image_scale: out is NULL");
    memset(out, 0, sizeof *out);
    if (!image_valid(src))
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_image_scale: src is NULL or empty");
    if (scale < 1 || scale > MW_IMAGE_MAX_SCALE)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_image_scale: scale %d outside 1..%d", scale,
                            (int)MW_IMAGE_MAX_SCALE);
    long long w = (long long)src->width * scale, h = (long long)src->height * scale;
    if (w > MW_IMAGE_MAX_SIDE || h > MW_IMAGE_MAX_SIDE || w * h > MW_IMAGE_MAX_PIXELS)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "mw_image_scale: %dx%d at scale %d exceeds %d per side or %d pixels",
                            src->width, src->height, scale, (int)MW_IMAGE_MAX_SIDE,
                            (int)MW_IMAGE_MAX_PIXELS);
    MW_TRY(mw_image_init(out, src->width * scale, src->height * scale, NULL));
    size_t out_row = (size_t)out->width * 3;
    for (int y = 0; y < src->height; y++) {
        uint8_t *row = out->rgb + (size_t)y * scale * out_row;
        for (int x = 0; x < src->width; x++) {
            const uint8_t *p = mw_image_pixel(src, x, y);
            for (int k = 0; k < scale; k++)
                memcpy(row + ((size_t)x * scale + (size_t)k) * 3, p, 3);
        }
        /* the other scale-1 rows of this block are copies of the first */
        for (int k = 1; k < scale; k++)
            memcpy(row + (size_t)k * out_row, row, out_row);
    }
    return MW_OK;
}

mw_status mw_image_from_normalized(const float *chw, int channels, int height, int width,
                                   const float mean[3], const float std[3], int scale,
                                   mw_image *out) {
    const char *fn = "mw_image_from_normalized";
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!chw || !mean || !std)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: chw, mean or std is NULL", fn);
    if (channels != 1 && channels != 3)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: channels is %d, want 1 or 3", fn, channels);
    MW_TRY(check_size(fn, width, height));
    if (scale < 1 || scale > MW_IMAGE_MAX_SCALE)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: scale %d outside 1..%d", fn, scale,
                            (int)MW_IMAGE_MAX_SCALE);
    size_t plane = (size_t)width * (size_t)height;
    for (size_t i = 0; i < plane * (size_t)channels; i++)
        if (!isfinite(chw[i]))
            return mw_error_set(MW_ERR_NUMERIC, "%s: value %zu (channel %zu) is not finite", fn, i,
                                i / plane);
    for (int c = 0; c < channels; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]))
            return mw_error_set(MW_ERR_NUMERIC, "%s: mean[%d] or std[%d] is not finite", fn, c, c);
    mw_image small;
    MW_TRY(mw_image_init(&small, width, height, NULL));
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            int src = channels == 1 ? 0 : c;
            float v = chw[(size_t)src * plane + p] * std[src] + mean[src];
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            small.rgb[3 * p + (size_t)c] = (uint8_t)lroundf(v * 255.0f);
        }
    if (scale == 1) {
        *out = small;
        return MW_OK;
    }
    mw_status s = mw_image_scale(&small, scale, out);
    mw_image_free(&small);
    return s;
}

/* ---- rectangles ---------------------------------------------------------------------- */

/* Intersects [x, x+w) x [y, y+h) with the canvas, in 64 bits so that x + w cannot overflow;
 * false when nothing is left. */
static bool clip_rect(const mw_image *img, long long *x, long long *y, long long *w, long long *h) {
    if (!image_valid(img) || *w <= 0 || *h <= 0) return false;
    long long x0 = *x, y0 = *y, x1 = *x + *w, y1 = *y + *h;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    if (x0 >= x1 || y0 >= y1) return false;
    *x = x0;
    *y = y0;
    *w = x1 - x0;
    *h = y1 - y0;
    return true;
}

static void fill_rect(mw_image *dst, long long x, long long y, long long w, long long h,
                      const uint8_t rgb[3]) {
    if (!rgb || !clip_rect(dst, &x, &y, &w, &h)) return;
    for (long long r = 0; r < h; r++) {
        uint8_t *p = mw_image_pixel(dst, (int)x, (int)(y + r));
        for (long long k = 0; k < w; k++)
            memcpy(p + 3 * k, rgb, 3);
    }
}

void mw_image_fill_rect(mw_image *dst, int x, int y, int w, int h, const uint8_t rgb[3]) {
    fill_rect(dst, x, y, w, h, rgb);
}

void mw_image_frame(mw_image *dst, int x, int y, int w, int h, int thickness,
                    const uint8_t rgb[3]) {
    if (thickness <= 0 || w <= 0 || h <= 0) return;
    long long t = thickness;
    if (2 * t >= w || 2 * t >= h) {
        fill_rect(dst, x, y, w, h, rgb);
        return;
    }
    /* top, bottom, then the left and right strips between them; 64-bit so that edges near
     * INT_MAX cannot overflow */
    fill_rect(dst, x, y, w, t, rgb);
    fill_rect(dst, x, (long long)y + h - t, w, t, rgb);
    fill_rect(dst, x, (long long)y + t, t, h - 2 * t, rgb);
    fill_rect(dst, (long long)x + w - t, (long long)y + t, t, h - 2 * t, rgb);
}

void mw_image_blit(mw_image *dst, const mw_image *src, int x, int y) {
    if (!image_valid(src)) return;
    long long cx = x, cy = y, w = src->width, h = src->height;
    if (!clip_rect(dst, &cx, &cy, &w, &h)) return;
    long long sx = cx - x, sy = cy - y; /* where the visible part starts in src */
    size_t bytes = (size_t)w * 3;
    /* Copying onto itself lower down must go bottom-up so rows are read before being
     * overwritten; memmove handles the overlap within a row. */
    bool upward = src->rgb == dst->rgb && cy > sy;
    for (long long i = 0; i < h; i++) {
        long long r = upward ? h - 1 - i : i;
        memmove(mw_image_pixel(dst, (int)cx, (int)(cy + r)),
                mw_image_pixel(src, (int)sx, (int)(sy + r)), bytes);
    }
}

/* ---- PNG ----------------------------------------------------------------------------- */

/* libpng reports errors through this callback, which must not return: keep the message and
 * jump back to the setjmp of the png_* helper below that is running. */
typedef struct png_msg {
    char text[256];
} png_msg;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_msg *m = png_get_error_ptr(png);
    snprintf(m->text, sizeof m->text, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (an odd sRGB profile, a bad ancillary chunk CRC) leave the pixels intact. */
static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* Each helper holds everything between its setjmp and a possible longjmp, and reads no
 * local changed after setjmp once the jump has happened (it returns at once), so nothing
 * can be clobbered. They return 0, or -1 on a libpng error (message in the error pointer). */
static int png_write_all(png_structp png, png_infop info, FILE *f, const mw_image *img,
                         png_bytep *rows) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    return 0;
}

mw_status mw_png_write(const char *path, const mw_image *img) {
    if (!path) return mw_error_set(MW_ERR_INVALID_ARG, "mw_png_write: path is NULL");
    if (!image_valid(img))
        return mw_error_set(MW_ERR_INVALID_ARG, "PNG '%s': image is NULL or empty", path);
    MW_TRY(check_size(path, img->width, img->height));
    png_bytep *rows = malloc((size_t)img->height * sizeof *rows);
    if (!rows) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG '%s': out of memory", path);
    for (int y = 0; y < img->height; y++)
        rows[y] = mw_image_pixel(img, 0, y);
    png_msg msg = {{0}};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &msg, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        free(rows);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG '%s': cannot create a libpng writer", path);
    }
    mw_atomic_file af;
    mw_status s = mw_atomic_begin(path, &af);
    if (s != MW_OK) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        return mw_error_wrap(s, "PNG ");
    }
    int rc = png_write_all(png, info, af.f, img, rows);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (rc != 0 || ferror(af.f)) {
        s = mw_error_set(MW_ERR_IO, "PNG '%s': writing '%s' failed: %s", path, af.tmp,
                         rc != 0 ? msg.text : strerror(errno));
        mw_atomic_abort(&af);
        return s;
    }
    s = mw_atomic_commit(&af);
    return s == MW_OK ? MW_OK : mw_error_wrap(s, "PNG ");
}

/* Reads the header and sets up the conversion to 8-bit RGB; *rowbytes is what one decoded
 * row takes, so the caller can check the conversion before trusting its buffer size. */
static int png_read_header(png_structp png, png_infop info, FILE *f, png_uint_32 *w, png_uint_32 *h,
                           size_t *rowbytes) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_init_io(png, f);
    png_set_sig_bytes(png, 8); /* checked by the caller */
    png_read_info(png, info);
    *w = png_get_image_width(png, info);
    *h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    /* the high byte of 16-bit samples, as PIL's convert("RGB") (which torchvision's
     * ImageFolder, the reference's CINIC-10 loader, uses) */
    if (depth == 16) png_set_strip_16(png);
    /* palette_to_rgb also turns a tRNS chunk into an alpha channel: strip that too */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_bit_depth(png, info) != 8 || png_get_channels(png, info) != 3)
        png_error(png, "not 8-bit RGB after conversion");
    *rowbytes = png_get_rowbytes(png, info);
    return 0;
}

static int png_read_pixels(png_structp png, png_infop info, png_bytep *rows) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_read_image(png, rows);
    png_read_end(png, info); /* reads to IEND, so a file cut after the pixels is caught */
    return 0;
}

mw_status mw_png_read(const char *path, mw_image *out) {
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_png_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return mw_error_set(MW_ERR_INVALID_ARG, "mw_png_read: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f)
        return mw_error_set(errno == ENOENT ? MW_ERR_NOT_FOUND : MW_ERR_IO,
                            "PNG '%s': cannot open: %s", path, strerror(errno));
    png_byte sig[8];
    size_t got = fread(sig, 1, sizeof sig, f);
    if (got < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        mw_status s =
            ferror(f)
                ? mw_error_set(MW_ERR_IO, "PNG '%s': read failed: %s", path, strerror(errno))
                : mw_error_set(MW_ERR_FORMAT, "PNG '%s': not a PNG file (%s)", path,
                               got < sizeof sig ? "shorter than the signature" : "bad signature");
        fclose(f);
        return s;
    }
    png_msg msg = {{0}};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &msg, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG '%s': cannot create a libpng reader", path);
    }
    /* libpng rejects larger headers itself, before allocating anything */
    png_set_user_limits(png, MW_IMAGE_MAX_SIDE, MW_IMAGE_MAX_SIDE);
    png_uint_32 w = 0, h = 0;
    size_t rowbytes = 0;
    png_bytep *rows = NULL;
    mw_status s = MW_OK;
    int rc = png_read_header(png, info, f, &w, &h, &rowbytes);
    if (rc == 0 && (unsigned long long)w * h > MW_IMAGE_MAX_PIXELS)
        s = mw_error_set(MW_ERR_FORMAT, "PNG '%s': %lux%lu is more than %d pixels", path,
                         (unsigned long)w, (unsigned long)h, (int)MW_IMAGE_MAX_PIXELS);
    if (rc == 0 && s == MW_OK && rowbytes != (size_t)w * 3)
        s = mw_error_set(MW_ERR_FORMAT, "PNG '%s': %zu bytes per row after conversion, want %zu",
                         path, rowbytes, (size_t)w * 3);
    if (rc == 0 && s == MW_OK) {
        s = mw_image_init(out, (int)w, (int)h, NULL);
        if (s != MW_OK) mw_error_wrap(s, "PNG '%s': ", path);
    }
    if (rc == 0 && s == MW_OK) {
        rows = malloc((size_t)h * sizeof *rows);
        if (!rows) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "PNG '%s': out of memory", path);
    }
    if (rc == 0 && s == MW_OK) {
        for (png_uint_32 y = 0; y < h; y++)
            rows[y] = mw_image_pixel(out, 0, (int)y);
        rc = png_read_pixels(png, info, rows);
    }
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    int read_error = ferror(f), at_end = feof(f);
    fclose(f);
    if (rc != 0) {
        if (read_error)
            s = mw_error_set(MW_ERR_IO, "PNG '%s': read failed (libpng: %s)", path, msg.text);
        else if (at_end)
            s = mw_error_set(MW_ERR_FORMAT, "PNG '%s': truncated (libpng: %s)", path, msg.text);
        else
            s = mw_error_set(MW_ERR_FORMAT, "PNG '%s': cannot decode (libpng: %s)", path, msg.text);
    }
    if (s != MW_OK) mw_image_free(out);
    return s;
}
