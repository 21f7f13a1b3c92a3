/* Image rendering for explanations: an 8-bit RGB canvas, PNG files, normalised tensors
 * turned back into pictures, rectangles, a built-in bitmap font, and attribution heatmaps
 * drawn as captum's `visualize_image_attr(method="blended_heat_map", sign="positive")`.
 *
 * Units: sizes and coordinates are pixels of the canvas; (0, 0) is the top-left corner, x
 * grows right and y down. Colours are 3 bytes R, G, B. Drawing calls clip to the canvas and
 * never fail. Functions that return mw_status leave a message in mw_error_message() on
 * failure and never exit or abort. */
#ifndef MEMWRAP_IMAGE_H
#define MEMWRAP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits that turn absurd sizes (a corrupt PNG header, a wrong argument) into errors
 * rather than huge allocations: each side, the whole canvas, and the pixel scale factor. */
enum {
    MW_IMAGE_MAX_SIDE = 16384,
    MW_IMAGE_MAX_PIXELS = 1 << 26, /* 192 MiB of RGB */
    MW_IMAGE_MAX_SCALE = 256
};

/* The glyph cell of the built-in font at scale 1: glyphs are 5 x 8 pixels (capitals and
 * digits 7 rows tall, one row below the baseline for descenders) and advance 6 pixels. */
enum { MW_FONT_GLYPH_WIDTH = 5, MW_FONT_GLYPH_HEIGHT = 8, MW_FONT_ADVANCE = 6 };

typedef struct mw_image {
    int width, height;
    uint8_t *rgb; /* width*height*3 bytes, row-major, owned (free with mw_image_free) */
} mw_image;

/* ---- canvas -------------------------------------------------------------------------- */

/* Allocates a width x height canvas filled with `background` (NULL: black). *img is
 * overwritten without freeing what it held; on failure it is zeroed. Sizes must be in
 * 1..MW_IMAGE_MAX_SIDE with at most MW_IMAGE_MAX_PIXELS pixels. */
mw_status mw_image_init(mw_image *img, int width, int height, const uint8_t background[3]);

/* Frees the pixels and zeroes *img; safe on a zeroed struct and on NULL. */
void mw_image_free(mw_image *img);

/* The pixel at (x, y) (no bounds check: callers keep 0 <= x < width, 0 <= y < height). */
static inline uint8_t *mw_image_pixel(const mw_image *img, int x, int y) {
    return img->rgb + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
}

/* A new image, src enlarged `scale` times (1..MW_IMAGE_MAX_SCALE) by nearest neighbour:
 * each pixel becomes a scale x scale block. *out is not freed first; zeroed on failure. */
mw_status mw_image_scale(const mw_image *src, int scale, mw_image *out);

/* A normalised float image [channels, height, width] (channels 1 or 3, as the data loaders
 * produce it) de-normalised for display: v = x*std[c] + mean[c], pixel =
 * round(clamp(v, 0, 1) * 255); one channel gives a gray RGB image. Each source pixel becomes
 * a scale x scale block (nearest neighbour), so *out is (width*scale) x (height*scale).
 * mean/std hold `channels` values. *out receives a new image (not freed first; zeroed on
 * failure). Non-finite pixels are MW_ERR_NUMERIC. */
mw_status mw_image_from_normalized(const float *chw, int channels, int height, int width,
                                   const float mean[3], const float std[3], int scale,
                                   mw_image *out);

/* Copies all of src onto dst with src's top-left corner at (x, y), clipped to dst. src may
 * be dst itself (overlapping copies are handled). */
void mw_image_blit(mw_image *dst, const mw_image *src, int x, int y);

/* Fills the w x h rectangle whose top-left corner is (x, y), clipped to dst. */
void mw_image_fill_rect(mw_image *dst, int x, int y, int w, int h, const uint8_t rgb[3]);

/* A border `thickness` pixels wide drawn inside the w x h rectangle at (x, y) (the whole
 * rectangle when 2*thickness >= w or h), clipped to dst. */
void mw_image_frame(mw_image *dst, int x, int y, int w, int h, int thickness, const uint8_t rgb[3]);

/* ---- text (built-in 5x8 bitmap font, printable ASCII 32..126) --------------------------- */

/* Width in pixels of `text` drawn at `scale` on one line: (6*n - 1)*scale for n > 0 bytes
 * (no trailing gap), 0 for an empty string, NULL, or scale <= 0. Saturates at INT_MAX. */
int mw_text_width(const char *text, int scale);

/* Height in pixels of a line of text at `scale`: 8*scale (0 for scale <= 0). Lines drawn
 * one under another need their own spacing. */
int mw_text_height(int scale);

/* Draws `text` with its top-left corner at (x, y), every font pixel a scale x scale block,
 * clipped to dst. Only glyph pixels are written (no background). Bytes outside 32..126,
 * newlines and UTF-8 included, draw as '?'. Nothing happens for scale <= 0. */
void mw_image_text(mw_image *dst, int x, int y, const char *text, int scale, const uint8_t rgb[3]);

/* ---- PNG files ----------------------------------------------------------------------- */

/* Writes img as an 8-bit RGB PNG. The file is written under a temporary name in the same
 * directory and renamed over `path` only when complete, so a failure leaves nothing new
 * behind and an existing file untouched. Errors name the path (and libpng's message). */
mw_status mw_png_write(const char *path, const mw_image *img);

/* Reads a PNG into a new RGB image (*out not freed first; zeroed on failure). Gray, gray +
 * alpha, palette, RGB and RGBA files of any bit depth are converted to 8-bit RGB; an alpha
 * channel or palette transparency is dropped (not composited), 16-bit samples keep their high
 * byte (as PIL's convert("RGB"), so dataset images read as torchvision reads them). Errors name the
 * path: MW_ERR_NOT_FOUND (no such file), MW_ERR_IO (unreadable), MW_ERR_FORMAT (not a PNG,
 * truncated, corrupt, larger than the limits above). Samples are taken as stored: no gamma or
 * colour-profile correction. */
mw_status mw_png_read(const char *path, mw_image *out);

/* ---- attribution heatmaps ------------------------------------------------------------ */

/* captum's sign="positive" normalisation (captum/attr/_utils/visualization.py,
 * _normalize_attr / _cumulative_sum_threshold / _normalize_scale): attributions
 * [channels, height, width] are summed over channels, values <= 0 become 0, and the result
 * is divided by the threshold t and clipped to [0, 1], where t is the smallest sorted value
 * at which the cumulative sum of the ascending values reaches (100 - outlier_perc)% of the
 * total; so the largest values holding about outlier_perc% of the total saturate at 1.
 * heat_hw receives height*width values in [0, 1]. All-non-positive attributions give all
 * zeros (captum would fail on the zero threshold). outlier_perc must be in [0, 100);
 * non-finite attributions are MW_ERR_NUMERIC. */
mw_status mw_heatmap_normalize_positive(const float *attr_chw, int channels, int height, int width,
                                        float outlier_perc, float *heat_hw);

/* matplotlib's "plasma" colormap at v (clamped to [0, 1]; NaN gives the v = 0 colour),
 * linearly interpolated between nine anchors plasma(k/8), k = 0..8. Within 6 levels per
 * channel of matplotlib's 256-entry table; exactly equal at the anchors. */
void mw_colormap_plasma(float v, uint8_t rgb[3]);

/* The blended heat map of captum's visualize_image_attr(method="blended_heat_map") with
 * cmap="plasma". The de-normalised image v = x*std[c] + mean[c] is turned into captum's
 * bytes clip(trunc(v * 255), 0, 255) when its maximum is <= 1 (kept as it is otherwise, as
 * captum does); gray = the mean of its channels, autoscaled to its own min..max as
 * matplotlib's imshow does (a constant image is black); plasma(heat) is drawn over it at
 * opacity alpha:
 *     pixel = round((1 - alpha) * 255 * gray + alpha * plasma(heat)).
 * heat_hw is [height, width], usually from mw_heatmap_normalize_positive (values clamped to
 * [0, 1]); alpha in [0, 1] (the reference uses 0.4). Scaled and returned like
 * mw_image_from_normalized. Non-finite inputs are MW_ERR_NUMERIC. matplotlib also resamples
 * to the figure and quantises through 256-entry tables; those steps are not reproduced. */
mw_status mw_heatmap_blend(const float *normalized_chw, int channels, int height, int width,
                           const float mean[3], const float std[3], const float *heat_hw,
                           float alpha, int scale, mw_image *out);

#ifdef __cplusplus
}
#endif
#endif
