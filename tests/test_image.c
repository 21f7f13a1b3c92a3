/* Image rendering: the canvas and its clipping, de-normalisation, the bitmap font, PNG files
 * (round trips, other colour types written with libpng directly, malformed files, failed
 * writes), the plasma colormap, and captum's positive-sign heatmap normalisation and blended
 * heat map on values worked out by hand. Plain cmocka; needs no OpenCL device. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <png.h>

#include "memwrap/image.h"
#include "support.h"

/* ---- helpers --------------------------------------------------------------------- */

typedef test_dir_fixture fixture;

static int setup(void **state) {
    return test_dir_setup(state, "mw_test_image_", "t.png");
}

static int teardown(void **state) {
    return test_dir_teardown(state);
}

static void expect_error(mw_status got, mw_status want, const char *needle) {
    if (got != want)
        fail_msg("got %s, want %s (message: %s)", mw_status_name(got), mw_status_name(want),
                 mw_error_message());
    if (needle && !strstr(mw_error_message(), needle))
        fail_msg("message '%s' does not mention '%s'", mw_error_message(), needle);
}

static const uint8_t BLACK[3] = {0, 0, 0};
static const uint8_t WHITE[3] = {255, 255, 255};
static const uint8_t RED[3] = {255, 0, 0};

static void fill_random(test_rng *r, uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(test_rng_uniform(r, 0.0f, 256.0f));
}

static void assert_pixel(const mw_image *img, int x, int y, int r, int g, int b) {
    const uint8_t *p = mw_image_pixel(img, x, y);
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel (%d,%d) is (%d,%d,%d), want (%d,%d,%d)", x, y, p[0], p[1], p[2], r, g, b);
}

static int rgb_equal(const uint8_t *a, const uint8_t *b) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

/* Writes a PNG of any colour type through libpng directly (not through memwrap), from
 * rows of `rowbytes` packed samples. palette/trans may be NULL. */
static void write_png_direct(const char *path, int w, int h, int color, int depth, int interlace,
                             const uint8_t *data, size_t rowbytes, const png_color *palette,
                             int npalette, const uint8_t *trans, int ntrans) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    assert_non_null(rows);
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)(data + (size_t)y * rowbytes);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing the fixture %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, npalette);
    if (trans) png_set_tRNS(png, info, trans, ntrans, NULL);
    png_write_info(png, info);
    if (depth == 16) png_set_swap(png); /* our 16-bit fixture rows are little-endian */
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    assert_int_equal(fclose(f), 0);
}

static void read_ok(const char *path, mw_image *img, int w, int h) {
    TEST_OK(mw_png_read(path, img));
    assert_int_equal(img->width, w);
    assert_int_equal(img->height, h);
}

/* ---- canvas, de-normalisation, scaling ------------------------------------------------ */

static void test_image_init_free(void **state) {
    (void)state;
    mw_image img;
    const uint8_t bg[3] = {10, 20, 30};
    TEST_OK(mw_image_init(&img, 7, 3, bg));
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 7; x++)
            assert_pixel(&img, x, y, 10, 20, 30);
    mw_image_free(&img);
    assert_null(img.rgb);
    assert_int_equal(img.width, 0);
    mw_image_free(&img); /* twice is fine */
    mw_image zero = {0};
    mw_image_free(&zero);
    mw_image_free(NULL);

    TEST_OK(mw_image_init(&img, 2, 2, NULL));
    assert_pixel(&img, 1, 1, 0, 0, 0);
    mw_image_free(&img);

    expect_error(mw_image_init(&img, 0, 5, bg), MW_ERR_INVALID_ARG, "0x5");
    assert_null(img.rgb);
    expect_error(mw_image_init(&img, 5, -1, bg), MW_ERR_INVALID_ARG, NULL);
    expect_error(mw_image_init(&img, MW_IMAGE_MAX_SIDE + 1, 1, bg), MW_ERR_INVALID_ARG, NULL);
    expect_error(mw_image_init(&img, MW_IMAGE_MAX_SIDE, MW_IMAGE_MAX_SIDE, bg), MW_ERR_INVALID_ARG,
                 "pixels");
    expect_error(mw_image_init(NULL, 5, 5, bg), MW_ERR_INVALID_ARG, "img");
}

static void test_from_normalized_known(void **state) {
    (void)state;
    /* 3 channels, 1 x 3 pixels; v = x*std + mean worked out per pixel:
     * R: mean .5 std .25: x = 0 -> .5 -> 127.5 -> 128; x = -4 -> -.5 -> 0; x = 4 -> 1.5 -> 255
     * G: mean .2 std .1:  x = 1 -> .3 -> 76.5 -> 77; x = 0 -> .2 -> 51; x = 8 -> 1.0 -> 255
     * B: mean 0 std 1:    x = .1 -> 25.5 -> 26; x = 1 -> 255; x = -.001 -> 0 */
    const float chw[9] = {0, -4, 4, 1, 0, 8, 0.1f, 1, -0.001f};
    const float mean[3] = {0.5f, 0.2f, 0.0f}, std[3] = {0.25f, 0.1f, 1.0f};
    mw_image img;
    TEST_OK(mw_image_from_normalized(chw, 3, 1, 3, mean, std, 1, &img));
    assert_int_equal(img.width, 3);
    assert_int_equal(img.height, 1);
    assert_pixel(&img, 0, 0, 128, 77, 26);
    assert_pixel(&img, 1, 0, 0, 51, 255);
    assert_pixel(&img, 2, 0, 255, 255, 0);
    mw_image_free(&img);

    /* one channel gives gray; only mean[0], std[0] are used. 2 rows x 2 columns. */
    const float g[4] = {-1, 0, 1, 0.5f};
    const float m1[3] = {0.5f, 99, 99}, s1[3] = {0.5f, 99, 99}; /* v = 0, .5, 1, .75 */
    TEST_OK(mw_image_from_normalized(g, 1, 2, 2, m1, s1, 3, &img));
    assert_int_equal(img.width, 6);
    assert_int_equal(img.height, 6);
    const int want[4] = {0, 128, 255, 191}; /* .75*255 = 191.25 */
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) {
            int v = want[(y / 3) * 2 + x / 3];
            assert_pixel(&img, x, y, v, v, v);
        }
    mw_image_free(&img);
}

static void test_from_normalized_errors(void **state) {
    (void)state;
    const float chw[6] = {0, 0, 0, 0, 0, NAN};
    const float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    mw_image img = {0};
    expect_error(mw_image_from_normalized(chw, 2, 1, 1, mean, std, 1, &img), MW_ERR_INVALID_ARG,
                 "channels");
    expect_error(mw_image_from_normalized(chw, 3, 0, 2, mean, std, 1, &img), MW_ERR_INVALID_ARG,
                 NULL);
    expect_error(mw_image_from_normalized(chw, 3, 1, 2, mean, std, 0, &img), MW_ERR_INVALID_ARG,
                 "scale");
    expect_error(mw_image_from_normalized(chw, 3, 1, 2, mean, std, MW_IMAGE_MAX_SCALE + 1, &img),
                 MW_ERR_INVALID_ARG, "scale");
    expect_error(mw_image_from_normalized(NULL, 3, 1, 2, mean, std, 1, &img), MW_ERR_INVALID_ARG,
                 NULL);
    expect_error(mw_image_from_normalized(chw, 3, 1, 2, NULL, std, 1, &img), MW_ERR_INVALID_ARG,
                 NULL);
    expect_error(mw_image_from_normalized(chw, 3, 1, 2, mean, std, 1, &img), MW_ERR_NUMERIC,
                 "not finite");
    assert_null(img.rgb);
    const float bad_std[3] = {1, INFINITY, 1};
    expect_error(mw_image_from_normalized(chw, 3, 1, 1, mean, bad_std, 1, &img), MW_ERR_NUMERIC,
                 "std[1]");
    /* a scaled size over the limits */
    const float one[1] = {0};
    expect_error(mw_image_from_normalized(one, 1, 1, 1, mean, std, 1, NULL), MW_ERR_INVALID_ARG,
                 NULL);
    float *big = calloc((size_t)100 * 100, sizeof *big);
    assert_non_null(big);
    expect_error(mw_image_from_normalized(big, 1, 100, 100, mean, std, 200, &img),
                 MW_ERR_INVALID_ARG, NULL);
    free(big);
}

static void test_scale(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 11);
    mw_image src, out;
    TEST_OK(mw_image_init(&src, 5, 3, NULL));
    fill_random(&r, src.rgb, 5 * 3 * 3);
    for (int s = 1; s <= 4; s++) {
        TEST_OK(mw_image_scale(&src, s, &out));
        assert_int_equal(out.width, 5 * s);
        assert_int_equal(out.height, 3 * s);
        for (int y = 0; y < out.height; y++)
            for (int x = 0; x < out.width; x++)
                assert_true(
                    rgb_equal(mw_image_pixel(&out, x, y), mw_image_pixel(&src, x / s, y / s)));
        mw_image_free(&out);
    }
    expect_error(mw_image_scale(&src, 0, &out), MW_ERR_INVALID_ARG, "scale");
    mw_image empty = {0};
    expect_error(mw_image_scale(&empty, 2, &out), MW_ERR_INVALID_ARG, NULL);
    mw_image_free(&src);
}

/* ---- rectangles and blit: every pixel against a predicate, on random rectangles -------- */

static int inside(long long px, long long py, long long x, long long y, long long w, long long h) {
    return px >= x && px < x + w && py >= y && py < y + h;
}

static void test_fill_rect_clipping(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 21);
    mw_image img;
    TEST_OK(mw_image_init(&img, 13, 11, NULL));
    for (int trial = 0; trial < 300; trial++) {
        memset(img.rgb, 0, 13 * 11 * 3);
        int x = (int)test_rng_uniform(&r, -15, 20), y = (int)test_rng_uniform(&r, -15, 20);
        int w = (int)test_rng_uniform(&r, -3, 25), h = (int)test_rng_uniform(&r, -3, 25);
        mw_image_fill_rect(&img, x, y, w, h, RED);
        for (int py = 0; py < 11; py++)
            for (int px = 0; px < 13; px++) {
                int want = w > 0 && h > 0 && inside(px, py, x, y, w, h);
                if (rgb_equal(mw_image_pixel(&img, px, py), RED) != want)
                    fail_msg("fill (%d,%d,%d,%d): pixel (%d,%d) wrong", x, y, w, h, px, py);
            }
    }
    /* extreme values neither crash nor overflow */
    memset(img.rgb, 0, 13 * 11 * 3);
    mw_image_fill_rect(&img, INT_MAX - 1, INT_MAX - 1, INT_MAX, INT_MAX, RED);
    mw_image_fill_rect(&img, INT_MIN, INT_MIN, 5, 5, RED);
    mw_image_fill_rect(&img, 5, 5, 0, 10, RED);
    for (int i = 0; i < 13 * 11 * 3; i++)
        assert_int_equal(img.rgb[i], 0);
    mw_image_fill_rect(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, RED); /* ends at -1 */
    assert_pixel(&img, 0, 0, 0, 0, 0);
    mw_image_fill_rect(&img, -5, -5, INT_MAX, INT_MAX, RED);
    assert_pixel(&img, 0, 0, 255, 0, 0);
    assert_pixel(&img, 12, 10, 255, 0, 0);
    mw_image_fill_rect(NULL, 0, 0, 5, 5, RED);
    mw_image_free(&img);
}

static void test_frame_clipping(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 22);
    mw_image img;
    TEST_OK(mw_image_init(&img, 17, 13, NULL));
    for (int trial = 0; trial < 300; trial++) {
        memset(img.rgb, 0, 17 * 13 * 3);
        int x = (int)test_rng_uniform(&r, -10, 20), y = (int)test_rng_uniform(&r, -10, 16);
        int w = (int)test_rng_uniform(&r, 0, 25), h = (int)test_rng_uniform(&r, 0, 20);
        int t = (int)test_rng_uniform(&r, 0, 7);
        mw_image_frame(&img, x, y, w, h, t, RED);
        for (int py = 0; py < 13; py++)
            for (int px = 0; px < 17; px++) {
                int dx = px - x, dy = py - y;
                int want = t > 0 && inside(px, py, x, y, w, h) &&
                           (dx < t || dx >= w - t || dy < t || dy >= h - t);
                if (rgb_equal(mw_image_pixel(&img, px, py), RED) != want)
                    fail_msg("frame (%d,%d,%d,%d) t=%d: pixel (%d,%d) wrong", x, y, w, h, t, px,
                             py);
            }
    }
    /* a frame on the canvas edge: the border rows/columns only */
    memset(img.rgb, 0, 17 * 13 * 3);
    mw_image_frame(&img, 0, 0, 17, 13, 1, WHITE);
    assert_pixel(&img, 0, 0, 255, 255, 255);
    assert_pixel(&img, 16, 12, 255, 255, 255);
    assert_pixel(&img, 8, 12, 255, 255, 255);
    assert_pixel(&img, 1, 1, 0, 0, 0);
    assert_pixel(&img, 15, 11, 0, 0, 0);
    /* edges near the int limits do not overflow */
    mw_image_frame(&img, INT_MAX, INT_MAX, INT_MAX, INT_MAX, 5, RED);
    mw_image_frame(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 5, RED);
    mw_image_frame(NULL, 0, 0, 5, 5, 1, RED);
    assert_pixel(&img, 1, 1, 0, 0, 0);
    mw_image_free(&img);
}

static void test_blit_clipping(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 23);
    mw_image dst, src, before;
    TEST_OK(mw_image_init(&dst, 12, 9, NULL));
    TEST_OK(mw_image_init(&before, 12, 9, NULL));
    for (int trial = 0; trial < 200; trial++) {
        int sw = (int)test_rng_uniform(&r, 1, 16), sh = (int)test_rng_uniform(&r, 1, 12);
        TEST_OK(mw_image_init(&src, sw, sh, NULL));
        fill_random(&r, src.rgb, (size_t)sw * sh * 3);
        fill_random(&r, dst.rgb, 12 * 9 * 3);
        memcpy(before.rgb, dst.rgb, 12 * 9 * 3);
        int x = (int)test_rng_uniform(&r, -18, 15), y = (int)test_rng_uniform(&r, -14, 12);
        mw_image_blit(&dst, &src, x, y);
        for (int py = 0; py < 9; py++)
            for (int px = 0; px < 12; px++) {
                const uint8_t *want = inside(px, py, x, y, sw, sh)
                                          ? mw_image_pixel(&src, px - x, py - y)
                                          : mw_image_pixel(&before, px, py);
                if (!rgb_equal(mw_image_pixel(&dst, px, py), want))
                    fail_msg("blit %dx%d at (%d,%d): pixel (%d,%d) wrong", sw, sh, x, y, px, py);
            }
        mw_image_free(&src);
    }
    /* onto itself, overlapping in every direction: as if copied from a snapshot */
    for (int trial = 0; trial < 50; trial++) {
        fill_random(&r, dst.rgb, 12 * 9 * 3);
        memcpy(before.rgb, dst.rgb, 12 * 9 * 3);
        int x = (int)test_rng_uniform(&r, -4, 5), y = (int)test_rng_uniform(&r, -4, 5);
        mw_image_blit(&dst, &dst, x, y);
        for (int py = 0; py < 9; py++)
            for (int px = 0; px < 12; px++) {
                const uint8_t *want = inside(px, py, x, y, 12, 9)
                                          ? mw_image_pixel(&before, px - x, py - y)
                                          : mw_image_pixel(&before, px, py);
                if (!rgb_equal(mw_image_pixel(&dst, px, py), want))
                    fail_msg("self-blit at (%d,%d): pixel (%d,%d) wrong", x, y, px, py);
            }
    }
    mw_image_blit(&dst, NULL, 0, 0);
    mw_image_blit(NULL, &dst, 0, 0);
    mw_image_blit(&dst, &before, INT_MIN, INT_MAX);
    mw_image_free(&dst);
    mw_image_free(&before);
}

/* ---- text ------------------------------------------------------------------------------ */

static void test_text_metrics(void **state) {
    (void)state;
    for (int s = 1; s <= 4; s++) {
        assert_int_equal(mw_text_width("", s), 0);
        assert_int_equal(mw_text_width("A", s), 5 * s);
        assert_int_equal(mw_text_width("w:0.25", s), (6 * 6 - 1) * s);
        assert_int_equal(mw_text_height(s), 8 * s);
    }
    assert_int_equal(mw_text_width(NULL, 2), 0);
    assert_int_equal(mw_text_width("abc", 0), 0);
    assert_int_equal(mw_text_width("abc", -1), 0);
    assert_int_equal(mw_text_height(0), 0);
    assert_int_equal(mw_text_width("abc", INT_MAX), INT_MAX);
    assert_int_equal(mw_text_height(INT_MAX), INT_MAX);
}

/* The glyph of c at scale 1 as 40 ink flags, drawn on a canvas exactly one glyph large. */
static void glyph_bitmap(char c, uint8_t ink[40]) {
    mw_image img;
    TEST_OK(mw_image_init(&img, 5, 8, NULL));
    char s[2] = {c, 0};
    mw_image_text(&img, 0, 0, s, 1, WHITE);
    for (int i = 0; i < 40; i++)
        ink[i] = img.rgb[3 * i] != 0;
    mw_image_free(&img);
}

static void test_glyphs(void **state) {
    (void)state;
    uint8_t ink[95][40];
    for (int c = 32; c <= 126; c++) {
        glyph_bitmap((char)c, ink[c - 32]);
        int n = 0;
        for (int i = 0; i < 40; i++)
            n += ink[c - 32][i];
        if (c == ' ')
            assert_int_equal(n, 0);
        else if (n == 0)
            fail_msg("glyph '%c' is empty", c);
    }
    for (int a = 0; a < 95; a++)
        for (int b = a + 1; b < 95; b++)
            if (!memcmp(ink[a], ink[b], 40))
                fail_msg("glyphs '%c' and '%c' are the same", a + 32, b + 32);
    /* anything else draws as '?' */
    uint8_t q[40], other[40];
    glyph_bitmap('?', q);
    const char odd[] = {'\x01', '\n', '\x7f', (char)0xc3, (char)0xff};
    for (size_t i = 0; i < sizeof odd; i++) {
        glyph_bitmap(odd[i], other);
        assert_memory_equal(q, other, 40);
    }
}

static int count_ink(const mw_image *img, const uint8_t *bg) {
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            n += !rgb_equal(mw_image_pixel(img, x, y), bg);
    return n;
}

static void test_text_box(void **state) {
    (void)state;
    char all[96];
    for (int c = 32; c <= 126; c++)
        all[c - 32] = (char)c;
    all[95] = 0;
    const char *texts[] = {"Input", "Predict: 7", "w:0.25 (3%)", "gjpqy_,;", all, "\x01\xc3"};
    const uint8_t bg[3] = {40, 50, 60};
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++)
        for (int s = 1; s <= 3; s++) {
            int w = mw_text_width(texts[t], s), h = mw_text_height(s);
            mw_image img;
            TEST_OK(mw_image_init(&img, w + 20, h + 20, bg));
            mw_image_text(&img, 10, 10, texts[t], s, RED);
            int n = 0, touches_right = 0, touches_bottom = 0;
            for (int y = 0; y < img.height; y++)
                for (int x = 0; x < img.width; x++) {
                    const uint8_t *p = mw_image_pixel(&img, x, y);
                    if (rgb_equal(p, bg)) continue;
                    if (!rgb_equal(p, RED)) fail_msg("'%s': pixel (%d,%d) blended", texts[t], x, y);
                    if (!inside(x, y, 10, 10, w, h))
                        fail_msg("'%s' scale %d: ink at (%d,%d) outside its %dx%d box", texts[t], s,
                                 x, y, w, h);
                    touches_right |= x == 10 + w - 1;
                    touches_bottom |= y == 10 + h - 1;
                    n++;
                }
            assert_true(n > 0);
            if (t == 4) { /* all glyphs: '_' and the descenders reach the box's bottom */
                assert_true(touches_bottom);
                assert_true(touches_right); /* '~' reaches its last column */
            }
            /* ink scales with the area of the pixel blocks */
            mw_image one;
            TEST_OK(mw_image_init(&one, mw_text_width(texts[t], 1) + 2, 10, bg));
            mw_image_text(&one, 1, 1, texts[t], 1, RED);
            assert_int_equal(n, count_ink(&one, bg) * s * s);
            mw_image_free(&one);
            mw_image_free(&img);
        }
}

/* Text drawn partly off the canvas equals the same window of text drawn on a larger one. */
static void test_text_clipping(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 31);
    const char *text = "Saliency 0.87 %/-()";
    int s = 2, tw = mw_text_width(text, s), th = mw_text_height(s);
    int pad = 60;
    mw_image big;
    TEST_OK(mw_image_init(&big, tw + 2 * pad, th + 2 * pad, NULL));
    mw_image_text(&big, pad, pad, text, s, WHITE);
    for (int trial = 0; trial < 100; trial++) {
        int cw = (int)test_rng_uniform(&r, 1, 40), ch = (int)test_rng_uniform(&r, 1, 20);
        int x = (int)test_rng_uniform(&r, -tw - 5, (float)cw + 5);
        int y = (int)test_rng_uniform(&r, -th - 5, (float)ch + 5);
        mw_image small;
        TEST_OK(mw_image_init(&small, cw, ch, NULL));
        mw_image_text(&small, x, y, text, s, WHITE);
        for (int py = 0; py < ch; py++)
            for (int px = 0; px < cw; px++) {
                int bx = pad - x + px, by = pad - y + py;
                const uint8_t *want = bx >= 0 && by >= 0 && bx < big.width && by < big.height
                                          ? mw_image_pixel(&big, bx, by)
                                          : BLACK;
                if (!rgb_equal(mw_image_pixel(&small, px, py), want))
                    fail_msg("text at (%d,%d) on %dx%d: pixel (%d,%d) wrong", x, y, cw, ch, px, py);
            }
        mw_image_free(&small);
    }
    /* far away and extreme positions draw nothing and do not overflow */
    mw_image small;
    TEST_OK(mw_image_init(&small, 8, 8, NULL));
    mw_image_text(&small, INT_MAX - 3, 0, text, 3, WHITE);
    mw_image_text(&small, INT_MIN, INT_MIN, text, 3, WHITE);
    mw_image_text(&small, 0, INT_MAX, text, 1000, WHITE);
    assert_int_equal(count_ink(&small, BLACK), 0);
    mw_image_text(&small, 0, 0, text, 0, WHITE);
    mw_image_text(&small, 0, 0, NULL, 1, WHITE);
    assert_int_equal(count_ink(&small, BLACK), 0);
    mw_image_free(&small);
    mw_image_free(&big);
}

/* ---- PNG ------------------------------------------------------------------------------- */

static void test_png_round_trip(void **state) {
    fixture *fx = *state;
    test_rng r;
    test_rng_seed(&r, 41);
    const int sizes[][2] = {{1, 1}, {3, 5}, {17, 9}, {31, 1}, {1, 29}, {63, 47}, {255, 3}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        mw_image img, back;
        TEST_OK(mw_image_init(&img, sizes[i][0], sizes[i][1], NULL));
        fill_random(&r, img.rgb, (size_t)img.width * img.height * 3);
        TEST_OK(mw_png_write(fx->path, &img)); /* over the previous one after the first */
        read_ok(fx->path, &back, img.width, img.height);
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++)
                if (!rgb_equal(mw_image_pixel(&img, x, y), mw_image_pixel(&back, x, y)))
                    fail_msg("%dx%d: pixel (%d,%d) differs after the round trip", img.width,
                             img.height, x, y);
        mw_image_free(&img);
        mw_image_free(&back);
        assert_int_equal(test_count_dir_entries(fx->dir), 1); /* no temporary file left */
    }
}

static void test_png_other_color_types(void **state) {
    fixture *fx = *state;
    test_rng r;
    test_rng_seed(&r, 42);
    enum { W = 7, H = 5 };
    uint8_t src[W * H * 4];
    uint16_t wide[W * H * 4];
    mw_image img;

    /* 8-bit gray */
    fill_random(&r, src, W * H);
    write_png_direct(fx->path, W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, src, W, NULL, 0,
                     NULL, 0);
    read_ok(fx->path, &img, W, H);
    for (int p = 0; p < W * H; p++)
        assert_pixel(&img, p % W, p / W, src[p], src[p], src[p]);
    mw_image_free(&img);

    /* 8-bit RGBA: colour kept, alpha dropped */
    fill_random(&r, src, W * H * 4);
    write_png_direct(fx->path, W, H, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, src, W * 4, NULL,
                     0, NULL, 0);
    read_ok(fx->path, &img, W, H);
    for (int p = 0; p < W * H; p++)
        assert_pixel(&img, p % W, p / W, src[4 * p], src[4 * p + 1], src[4 * p + 2]);
    mw_image_free(&img);

    /* 8-bit gray + alpha, interlaced */
    fill_random(&r, src, W * H * 2);
    write_png_direct(fx->path, W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_ADAM7, src, W * 2,
                     NULL, 0, NULL, 0);
    read_ok(fx->path, &img, W, H);
    for (int p = 0; p < W * H; p++)
        assert_pixel(&img, p % W, p / W, src[2 * p], src[2 * p], src[2 * p]);
    mw_image_free(&img);

    /* 16-bit RGB: samples b*257 read back as b exactly */
    fill_random(&r, src, W * H * 3);
    for (int i = 0; i < W * H * 3; i++)
        wide[i] = (uint16_t)(src[i] * 257);
    write_png_direct(fx->path, W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE,
                     (const uint8_t *)wide, W * 6, NULL, 0, NULL, 0);
    read_ok(fx->path, &img, W, H);
    for (int p = 0; p < W * H; p++)
        assert_pixel(&img, p % W, p / W, src[3 * p], src[3 * p + 1], src[3 * p + 2]);
    mw_image_free(&img);

    /* 4-bit palette with transparency: palette colours, transparency dropped */
    png_color pal[16];
    for (int i = 0; i < 16; i++) {
        pal[i].red = (png_byte)(i * 16 + 1);
        pal[i].green = (png_byte)(255 - i * 7);
        pal[i].blue = (png_byte)(i * i);
    }
    const uint8_t trans[3] = {0, 128, 255};
    uint8_t idx[W * H], packed[H * 4];
    fill_random(&r, idx, W * H);
    memset(packed, 0, sizeof packed);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            idx[y * W + x] &= 15;
            packed[y * 4 + x / 2] |= (uint8_t)(idx[y * W + x] << (x % 2 ? 0 : 4));
        }
    write_png_direct(fx->path, W, H, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, packed, 4, pal,
                     16, trans, 3);
    read_ok(fx->path, &img, W, H);
    for (int p = 0; p < W * H; p++) {
        const png_color *c = &pal[idx[p]];
        assert_pixel(&img, p % W, p / W, c->red, c->green, c->blue);
    }
    mw_image_free(&img);

    /* 1-bit gray: 0 -> black, 1 -> white */
    uint8_t bits[H];
    fill_random(&r, bits, H);
    write_png_direct(fx->path, W, H, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, bits, 1, NULL, 0,
                     NULL, 0);
    read_ok(fx->path, &img, W, H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = (bits[y] >> (7 - x)) & 1 ? 255 : 0;
            assert_pixel(&img, x, y, v, v, v);
        }
    mw_image_free(&img);
}

static void test_png_read_errors(void **state) {
    fixture *fx = *state;
    mw_image img = {0};
    char path[300];

    snprintf(path, sizeof path, "%s/missing.png", fx->dir);
    expect_error(mw_png_read(path, &img), MW_ERR_NOT_FOUND, path);
    assert_null(img.rgb);

    snprintf(path, sizeof path, "%s/text.png", fx->dir);
    const char *text = "this is not a PNG file, only text\n";
    test_write_file(path, text, strlen(text));
    expect_error(mw_png_read(path, &img), MW_ERR_FORMAT, path);
    assert_non_null(strstr(mw_error_message(), "not a PNG"));

    test_write_file(path, "", 0);
    expect_error(mw_png_read(path, &img), MW_ERR_FORMAT, path);

    expect_error(mw_png_read(fx->dir, &img), MW_ERR_IO, fx->dir); /* a directory */

    /* a valid file cut at every length from the signature on: an error naming the path */
    test_rng r;
    test_rng_seed(&r, 43);
    mw_image good;
    TEST_OK(mw_image_init(&good, 19, 13, NULL));
    fill_random(&r, good.rgb, 19 * 13 * 3);
    TEST_OK(mw_png_write(fx->path, &good));
    mw_image_free(&good);
    size_t n;
    uint8_t *bytes = test_read_file(fx->path, &n);
    assert_true(n > 100);
    snprintf(path, sizeof path, "%s/cut.png", fx->dir);
    int truncated_messages = 0;
    for (size_t len = 8; len < n; len++) {
        test_write_file(path, bytes, len);
        mw_status s = mw_png_read(path, &img);
        if (s != MW_ERR_FORMAT)
            fail_msg("cut at %zu of %zu bytes: got %s (%s)", len, n, mw_status_name(s),
                     mw_error_message());
        assert_non_null(strstr(mw_error_message(), path));
        truncated_messages += strstr(mw_error_message(), "truncated") != NULL;
        assert_null(img.rgb);
    }
    assert_true(truncated_messages > 0);

    /* a corrupted pixel byte fails the zlib / CRC checks: libpng's message is passed on */
    bytes[n / 2] ^= 0x5a;
    test_write_file(path, bytes, n);
    expect_error(mw_png_read(path, &img), MW_ERR_FORMAT, path);
    assert_non_null(strstr(mw_error_message(), "libpng"));
    free(bytes);

    /* a header beyond the size limits is refused before any pixel is allocated */
    enum { WIDE = MW_IMAGE_MAX_SIDE + 8 };
    uint8_t *row = calloc(WIDE / 8, 1);
    assert_non_null(row);
    write_png_direct(path, WIDE, 1, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, row, WIDE / 8, NULL,
                     0, NULL, 0);
    free(row);
    expect_error(mw_png_read(path, &img), MW_ERR_FORMAT, path);

    expect_error(mw_png_read(NULL, &img), MW_ERR_INVALID_ARG, NULL);
    expect_error(mw_png_read(fx->path, NULL), MW_ERR_INVALID_ARG, NULL);
}

static void test_png_write_errors(void **state) {
    fixture *fx = *state;
    mw_image img;
    TEST_OK(mw_image_init(&img, 4, 3, WHITE));
    char path[300];
    snprintf(path, sizeof path, "%s/no/such/dir/out.png", fx->dir);
    mw_status s = mw_png_write(path, &img);
    expect_error(s, MW_ERR_IO, path);
    assert_int_equal(test_count_dir_entries(fx->dir), 0); /* nothing left behind */

    /* a failed write leaves an existing file as it was */
    TEST_OK(mw_png_write(fx->path, &img));
    size_t n0;
    uint8_t *before = test_read_file(fx->path, &n0);
    mw_image empty = {0};
    expect_error(mw_png_write(fx->path, &empty), MW_ERR_INVALID_ARG, fx->path);
    size_t n1;
    uint8_t *after = test_read_file(fx->path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    assert_int_equal(test_count_dir_entries(fx->dir), 1);

    /* a path that is a directory: the rename fails, the temporary file is removed */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", fx->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    expect_error(mw_png_write(sub, &img), MW_ERR_IO, sub);
    assert_int_equal(test_count_dir_entries(fx->dir), 2);
    assert_int_equal(test_count_dir_entries(sub), 0);

    expect_error(mw_png_write(NULL, &img), MW_ERR_INVALID_ARG, NULL);
    mw_image_free(&img);
}

/* ---- colormap -------------------------------------------------------------------------- */

static void assert_rgb(const uint8_t *got, int r, int g, int b, const char *what) {
    if (got[0] != r || got[1] != g || got[2] != b)
        fail_msg("%s: (%d,%d,%d), want (%d,%d,%d)", what, got[0], got[1], got[2], r, g, b);
}

static void test_colormap_known(void **state) {
    (void)state;
    /* matplotlib plasma(k/8) = _plasma_data rows 0, 32, ..., 224, 255 (times 255, rounded) */
    const int anchors[9][3] = {{13, 8, 135},   {76, 2, 161},   {126, 3, 168},
                               {170, 35, 149}, {204, 71, 120}, {230, 108, 92},
                               {248, 149, 64}, {253, 197, 39}, {240, 249, 33}};
    uint8_t c[3];
    for (int k = 0; k <= 8; k++) {
        mw_colormap_plasma((float)k / 8.0f, c);
        assert_rgb(c, anchors[k][0], anchors[k][1], anchors[k][2], "anchor");
    }
    mw_colormap_plasma(-3.0f, c);
    assert_rgb(c, 13, 8, 135, "below 0");
    mw_colormap_plasma(NAN, c);
    assert_rgb(c, 13, 8, 135, "NaN");
    mw_colormap_plasma(7.0f, c);
    assert_rgb(c, 240, 249, 33, "above 1");
    /* halfway between anchors: (13+76)/2 = 44.5 -> 45, (8+2)/2 = 5, (135+161)/2 = 148 */
    mw_colormap_plasma(1.0f / 16.0f, c);
    assert_rgb(c, 45, 5, 148, "1/16");
    /* (204+230)/2 = 217, (71+108)/2 = 89.5 -> 90, (120+92)/2 = 106 */
    mw_colormap_plasma(0.5625f, c);
    assert_rgb(c, 217, 90, 106, "9/16");
    /* a quarter of the way from 0.75 to 0.875: 248 + 5/4 = 249.25, 149 + 48/4 = 161,
     * 64 - 25/4 = 57.75 */
    mw_colormap_plasma(0.78125f, c);
    assert_rgb(c, 249, 161, 58, "25/32");

    /* Rows of matplotlib's table in between the anchors (rounded to bytes): the linear
     * interpolation stays within 6 levels, as image.h promises. */
    const int rows[][4] = {{16, 49, 5, 151},    {48, 102, 0, 167},   {80, 149, 17, 161},
                           {112, 188, 53, 135}, {144, 218, 90, 106}, {176, 240, 128, 78},
                           {208, 253, 172, 51}, {240, 248, 223, 37}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        mw_colormap_plasma(((float)rows[i][0] + 0.5f) / 256.0f, c);
        for (int ch = 0; ch < 3; ch++)
            if (abs(c[ch] - rows[i][1 + ch]) > 6)
                fail_msg("row %d channel %d: %d vs matplotlib %d", rows[i][0], ch, c[ch],
                         rows[i][1 + ch]);
    }
}

static void test_colormap_luminance_increases(void **state) {
    (void)state;
    /* Rec. 709 luma of the bytes at 65 evenly spaced values: strictly increasing (plasma is
     * perceptually uniform; each step moves it by more than byte rounding can undo) */
    double prev = -1.0;
    for (int i = 0; i <= 64; i++) {
        uint8_t c[3];
        mw_colormap_plasma((float)i / 64.0f, c);
        double y = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        if (!(y > prev)) fail_msg("luma at %d/64 is %g, not above %g", i, y, prev);
        prev = y;
    }
    /* and never decreasing on a fine grid */
    prev = -1.0;
    for (int i = 0; i <= 4096; i++) {
        uint8_t c[3];
        mw_colormap_plasma((float)i / 4096.0f, c);
        double y = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        if (y < prev - 1.0) fail_msg("luma drops at %d/4096", i);
        if (y > prev) prev = y;
    }
}

/* ---- heatmap normalisation -------------------------------------------------------------- */

static void test_normalize_hand_computed(void **state) {
    (void)state;
    /* 3 channels, 3 x 4 pixels. Per-pixel channel sums s (the channels split each sum into
     * a positive, a negative and a small part; all exact in float):
     *   3 -7 10 1 / 6 2 9 -3 / 4 8 5 7
     * Positive part: the negatives become 0. Sorted: 0 0 1 2 3 4 5 6 7 8 9 10, total 55.
     * outlier_perc 20: target 0.8 * 55 = 44; cumulative sums 0 0 1 3 6 10 15 21 28 36 45
     * -> first >= 44 at value 9, so heat = min(s / 9, 1). */
    const float s[12] = {3, -7, 10, 1, 6, 2, 9, -3, 4, 8, 5, 7};
    float attr[36];
    for (int p = 0; p < 12; p++) {
        attr[p] = s[p] + 8.0f; /* a positive channel even where the sum is negative */
        attr[12 + p] = -9.0f;  /* a negative one */
        attr[24 + p] = 1.0f;   /* s + 8 - 9 + 1 = s */
    }
    float heat[12];
    test_poison(heat, 12);
    TEST_OK(mw_heatmap_normalize_positive(attr, 3, 3, 4, 20.0f, heat));
    for (int p = 0; p < 12; p++) {
        float want = s[p] <= 0 ? 0.0f : fminf(s[p] / 9.0f, 1.0f);
        if (fabsf(heat[p] - want) > 1e-6f)
            fail_msg("outlier 20, pixel %d: %g, want %g", p, (double)heat[p], (double)want);
    }
    /* outlier_perc 0: target 55, reached at the last value: heat = s / 10 */
    TEST_OK(mw_heatmap_normalize_positive(attr, 3, 3, 4, 0.0f, heat));
    for (int p = 0; p < 12; p++)
        assert_float_equal(heat[p], s[p] <= 0 ? 0.0f : s[p] / 10.0f, 1e-6f);
    /* outlier_perc 50: target 27.5, first cumulative sum >= 27.5 is 28 at value 7 */
    TEST_OK(mw_heatmap_normalize_positive(attr, 3, 3, 4, 50.0f, heat));
    for (int p = 0; p < 12; p++)
        assert_float_equal(heat[p], s[p] <= 0 ? 0.0f : fminf(s[p] / 7.0f, 1.0f), 1e-6f);

    /* one channel, ties: 2 2 2 2 1, total 9, target 7.2: sums 1 3 5 7 9 -> threshold 2 */
    const float tie[5] = {2, 2, 1, 2, 2};
    float h5[5];
    TEST_OK(mw_heatmap_normalize_positive(tie, 1, 1, 5, 20.0f, h5));
    const float want5[5] = {1, 1, 0.5f, 1, 1};
    for (int p = 0; p < 5; p++)
        assert_float_equal(h5[p], want5[p], 1e-7f);
}

static void test_normalize_degenerate(void **state) {
    (void)state;
    float zeros[3 * 2 * 2] = {0}, heat[4];
    test_poison(heat, 4);
    TEST_OK(mw_heatmap_normalize_positive(zeros, 3, 2, 2, 20.0f, heat));
    for (int p = 0; p < 4; p++)
        assert_true(heat[p] == 0.0f);
    float neg[4] = {-1, -2, 0, -0.5f};
    test_poison(heat, 4);
    TEST_OK(mw_heatmap_normalize_positive(neg, 1, 2, 2, 20.0f, heat));
    for (int p = 0; p < 4; p++)
        assert_true(heat[p] == 0.0f);
    /* a single positive pixel saturates, whatever the tiny size */
    float one[4] = {0, 1e-30f, 0, -1};
    TEST_OK(mw_heatmap_normalize_positive(one, 1, 2, 2, 20.0f, heat));
    assert_true(heat[1] == 1.0f && heat[0] == 0.0f && heat[3] == 0.0f);

    expect_error(mw_heatmap_normalize_positive(zeros, 2, 2, 2, 20.0f, heat), MW_ERR_INVALID_ARG,
                 "channels");
    expect_error(mw_heatmap_normalize_positive(zeros, 3, 0, 2, 20.0f, heat), MW_ERR_INVALID_ARG,
                 NULL);
    expect_error(mw_heatmap_normalize_positive(zeros, 3, 2, 2, 100.0f, heat), MW_ERR_INVALID_ARG,
                 "outlier_perc");
    expect_error(mw_heatmap_normalize_positive(zeros, 3, 2, 2, -1.0f, heat), MW_ERR_INVALID_ARG,
                 "outlier_perc");
    expect_error(mw_heatmap_normalize_positive(NULL, 3, 2, 2, 20.0f, heat), MW_ERR_INVALID_ARG,
                 NULL);
    zeros[5] = INFINITY;
    expect_error(mw_heatmap_normalize_positive(zeros, 3, 2, 2, 20.0f, heat), MW_ERR_NUMERIC,
                 "attr_chw[5]");
}

/* On random attributions, the defining property of captum's threshold t: the values below t
 * hold less than (100 - outlier)% of the positive total, those up to t at least that much. */
static void test_normalize_random_property(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 51);
    enum { C = 3, H = 9, W = 11, N = H * W };
    float attr[C * N], heat[N], sum[N];
    for (int trial = 0; trial < 50; trial++) {
        test_fill_normal(&r, attr, C * N, 1.0f);
        float outlier = test_rng_uniform(&r, 0.0f, 60.0f);
        TEST_OK(mw_heatmap_normalize_positive(attr, C, H, W, outlier, heat));
        double total = 0;
        for (int p = 0; p < N; p++) {
            sum[p] = attr[p] + attr[N + p] + attr[2 * N + p];
            if (sum[p] > 0) total += sum[p];
        }
        double t = -1;
        for (int p = 0; p < N; p++) {
            assert_true(heat[p] >= 0.0f && heat[p] <= 1.0f);
            assert_true((heat[p] == 0.0f) == (sum[p] <= 0.0f));
            if (heat[p] > 0 && heat[p] < 1) {
                double tp = sum[p] / heat[p];
                if (t < 0) t = tp;
                assert_true(fabs(tp - t) <= 1e-5 * t);
            }
        }
        if (t < 0) continue; /* every positive value saturated: nothing to pin t down */
        double below = 0, upto = 0;
        for (int p = 0; p < N; p++) {
            if (sum[p] <= 0) continue;
            if (sum[p] < t * (1 - 1e-6)) below += sum[p];
            if (sum[p] <= t * (1 + 1e-6)) upto += sum[p];
        }
        double target = total * (100.0 - outlier) / 100.0;
        if (!(below < target + 1e-3 && upto >= target - 1e-3))
            fail_msg("t %g: below %g, up to %g, target %g", t, below, upto, target);
        for (int p = 0; p < N; p++) /* and the order of the sums is kept */
            for (int q = 0; q < N; q++)
                if (sum[p] > sum[q]) assert_true(heat[p] >= heat[q]);
    }
}

/* ---- blended heat map ------------------------------------------------------------------- */

static void test_blend_gray(void **state) {
    (void)state;
    /* 1 channel, 1 x 3: mean .5, std .25, x = -2, 0, 2 -> v = 0, .5, 1 -> captum's bytes
     * trunc(v*255) = 0, 127, 255 -> autoscaled gray 0, 127/255, 1. alpha 0.4:
     * pixel = round(0.6 * 255 * gray + 0.4 * plasma(heat)).
     *   heat 1 on gray 0:      0.4 * (240,249,33)            = 96, 99.6, 13.2  -> 96,100,13
     *   heat .5 on gray 127:   76.2 + 0.4 * (204,71,120)     = 157.8,104.6,124.2 -> 158,105,124
     *   heat 0 on gray 1:      153 + 0.4 * (13,8,135)        = 158.2,156.2,207 -> 158,156,207 */
    const float x[3] = {-2, 0, 2}, heat[3] = {1, 0.5f, 0};
    const float mean[3] = {0.5f, 0, 0}, std[3] = {0.25f, 0, 0};
    mw_image img;
    TEST_OK(mw_heatmap_blend(x, 1, 1, 3, mean, std, heat, 0.4f, 1, &img));
    assert_int_equal(img.width, 3);
    assert_int_equal(img.height, 1);
    assert_pixel(&img, 0, 0, 96, 100, 13);
    assert_pixel(&img, 1, 0, 158, 105, 124); /* 125 in blue would mean rounding, not trunc */
    assert_pixel(&img, 2, 0, 158, 156, 207);
    mw_image_free(&img);

    /* scaled: every block equals its pixel */
    mw_image big;
    TEST_OK(mw_heatmap_blend(x, 1, 1, 3, mean, std, heat, 0.4f, 4, &big));
    TEST_OK(mw_heatmap_blend(x, 1, 1, 3, mean, std, heat, 0.4f, 1, &img));
    assert_int_equal(big.width, 12);
    assert_int_equal(big.height, 4);
    for (int y = 0; y < 4; y++)
        for (int i = 0; i < 12; i++)
            assert_true(rgb_equal(mw_image_pixel(&big, i, y), mw_image_pixel(&img, i / 4, 0)));
    mw_image_free(&big);
    mw_image_free(&img);

    /* alpha 0 is the gray image, alpha 1 the colormap */
    TEST_OK(mw_heatmap_blend(x, 1, 1, 3, mean, std, heat, 0.0f, 1, &img));
    assert_pixel(&img, 1, 0, 127, 127, 127);
    mw_image_free(&img);
    TEST_OK(mw_heatmap_blend(x, 1, 1, 3, mean, std, heat, 1.0f, 1, &img));
    assert_pixel(&img, 1, 0, 204, 71, 120);
    mw_image_free(&img);

    /* a constant image is black under the heat (matplotlib maps vmin == vmax to 0):
     * 0.4 * (13,8,135) = 5.2, 3.2, 54 */
    const float flat[3] = {0.3f, 0.3f, 0.3f}, cold[3] = {0, 0, 0};
    TEST_OK(mw_heatmap_blend(flat, 1, 1, 3, mean, std, cold, 0.4f, 1, &img));
    for (int i = 0; i < 3; i++)
        assert_pixel(&img, i, 0, 5, 3, 54);
    mw_image_free(&img);

    /* a maximum above 1.0 keeps captum's image as floats: v = 0, .5, 2 -> gray 0, .25, 1;
     * heat 0 on gray .25: 38.25 + (5.2, 3.2, 54) = 43.45, 41.45, 92.25 */
    const float over[3] = {-2, 0, 6};
    TEST_OK(mw_heatmap_blend(over, 1, 1, 3, mean, std, cold, 0.4f, 1, &img));
    assert_pixel(&img, 1, 0, 43, 41, 92);
    mw_image_free(&img);
}

static void test_blend_color(void **state) {
    (void)state;
    /* 3 channels, 1 x 3. mean (.5, .25, .75), std (.5, .25, .25):
     *   pixel 0: x (-1, -1, -3) -> v (0, 0, 0)      -> bytes 0, 0, 0     -> mean 0
     *   pixel 1: x (1, 1, -2)   -> v (1, .5, .25)   -> bytes 255, 127, 63 -> mean 445/3
     *   pixel 2: x (1, 3, 1)    -> v (1, 1, 1)      -> bytes 255 x 3     -> mean 255
     * gray = 0, 445/765, 1; heat .25, .75, .625 -> plasma (126,3,168), (248,149,64),
     * (230,108,92).
     *   pixel 0: 0.4 * (126,3,168) = 50.4, 1.2, 67.2             -> 50, 1, 67
     *   pixel 1: 0.6*445/3 = 89; 89 + (99.2, 59.6, 25.6)          -> 188, 149, 115
     *   pixel 2: 153 + (92, 43.2, 36.8)                            -> 245, 196, 190 */
    const float x[9] = {-1, 1, 1, -1, 1, 3, -3, -2, 1};
    const float mean[3] = {0.5f, 0.25f, 0.75f}, std[3] = {0.5f, 0.25f, 0.25f};
    const float heat[3] = {0.25f, 0.75f, 0.625f};
    mw_image img;
    TEST_OK(mw_heatmap_blend(x, 3, 1, 3, mean, std, heat, 0.4f, 1, &img));
    assert_pixel(&img, 0, 0, 50, 1, 67);
    assert_pixel(&img, 1, 0, 188, 149, 115);
    assert_pixel(&img, 2, 0, 245, 196, 190);
    mw_image_free(&img);

    /* heat outside [0, 1] is clamped like matplotlib's vmin/vmax */
    const float wild[3] = {-5, 2, 0.625f};
    TEST_OK(mw_heatmap_blend(x, 3, 1, 3, mean, std, wild, 0.4f, 1, &img));
    assert_pixel(&img, 0, 0, 5, 3, 54); /* 0.4 * (13, 8, 135) */
    assert_pixel(&img, 2, 0, 245, 196, 190);
    mw_image_free(&img);
}

static void test_blend_errors(void **state) {
    (void)state;
    const float x[3] = {0, 0, 0}, heat[3] = {0, NAN, 0};
    const float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1}, ok[3] = {0, 0, 0};
    mw_image img = {0};
    expect_error(mw_heatmap_blend(x, 1, 1, 3, mean, std, ok, 1.5f, 1, &img), MW_ERR_INVALID_ARG,
                 "alpha");
    expect_error(mw_heatmap_blend(x, 1, 1, 3, mean, std, ok, NAN, 1, &img), MW_ERR_INVALID_ARG,
                 "alpha");
    expect_error(mw_heatmap_blend(x, 2, 1, 1, mean, std, ok, 0.4f, 1, &img), MW_ERR_INVALID_ARG,
                 "channels");
    expect_error(mw_heatmap_blend(x, 1, 1, 3, mean, std, ok, 0.4f, 0, &img), MW_ERR_INVALID_ARG,
                 "scale");
    expect_error(mw_heatmap_blend(x, 1, 1, 3, mean, std, NULL, 0.4f, 1, &img), MW_ERR_INVALID_ARG,
                 NULL);
    expect_error(mw_heatmap_blend(x, 1, 1, 3, mean, std, heat, 0.4f, 1, &img), MW_ERR_NUMERIC,
                 "heat_hw[1]");
    assert_null(img.rgb);
}

/* The whole chain on a synthetic picture: normalise attributions that are positive on a
 * square and negative elsewhere, blend, and check the square is painted hotter. */
static void test_heatmap_pipeline(void **state) {
    (void)state;
    test_rng r;
    test_rng_seed(&r, 61);
    enum { C = 3, H = 16, W = 16, N = H * W };
    float x[C * N], attr[C * N], heat[N];
    test_fill_normal(&r, x, C * N, 1.0f);
    for (int c = 0; c < C; c++)
        for (int p = 0; p < N; p++) {
            int in = (p / W) >= 4 && (p / W) < 8 && (p % W) >= 4 && (p % W) < 8;
            attr[c * N + p] = in ? test_rng_uniform(&r, 0.5f, 1.0f) : -test_rng_uniform(&r, 0, 1);
        }
    TEST_OK(mw_heatmap_normalize_positive(attr, C, H, W, 20.0f, heat));
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    mw_image img;
    TEST_OK(mw_heatmap_blend(x, C, H, W, mean, std, heat, 0.4f, 2, &img));
    assert_int_equal(img.width, 2 * W);
    for (int p = 0; p < N; p++) {
        const uint8_t *px = mw_image_pixel(&img, 2 * (p % W), 2 * (p / W));
        int in = heat[p] > 0;
        /* plasma's hot end carries far more red than its cold end's 0.4*13 */
        if (in) assert_true(heat[p] >= 0.5f);
        if (!in) assert_true(px[0] <= 153 + 6);
        if (in) assert_true(px[0] >= (int)(0.4 * 170));
    }
    mw_image_free(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_init_free),
        cmocka_unit_test(test_from_normalized_known),
        cmocka_unit_test(test_from_normalized_errors),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_fill_rect_clipping),
        cmocka_unit_test(test_frame_clipping),
        cmocka_unit_test(test_blit_clipping),
        cmocka_unit_test(test_text_metrics),
        cmocka_unit_test(test_glyphs),
        cmocka_unit_test(test_text_box),
        cmocka_unit_test(test_text_clipping),
        cmocka_unit_test_setup_teardown(test_png_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_png_other_color_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_png_read_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_png_write_errors, setup, teardown),
        cmocka_unit_test(test_colormap_known),
        cmocka_unit_test(test_colormap_luminance_increases),
        cmocka_unit_test(test_normalize_hand_computed),
        cmocka_unit_test(test_normalize_degenerate),
        cmocka_unit_test(test_normalize_random_property),
        cmocka_unit_test(test_blend_gray),
        cmocka_unit_test(test_blend_color),
        cmocka_unit_test(test_blend_errors),
        cmocka_unit_test(test_heatmap_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
