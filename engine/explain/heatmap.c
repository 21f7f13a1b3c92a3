/* See memwrap/image.h: attribution heatmaps drawn as the Memory Wrap reference draws them
 * (reference-spec 6.3: memory-wrap paper/scripts/generate_heatmaps.py calls captum's
 * visualize_image_attr with method="blended_heat_map", sign="positive", outlier_perc=20,
 * alpha_overlay=0.4, cmap="plasma").
 *
 * The definitions follow captum/attr/_utils/visualization.py (pytorch/captum, read at commit
 * 031e1e3b). captum 0.3, which the reference used, has the same steps under the older name
 * _normalize_image_attr; its _normalize_scale already divided by small thresholds too
 * (captum PR #458, August 2020; before it, thresholds below 1e-5 skipped the division).
 * The colormap and the gray layer follow matplotlib; each source is cited where used. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/image.h"

static mw_status check_shape(const char *fn, int channels, int height, int width) {
    if (channels != 1 && channels != 3)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: channels is %d, want 1 or 3", fn, channels);
    if (height < 1 || width < 1 || height > MW_IMAGE_MAX_SIDE || width > MW_IMAGE_MAX_SIDE ||
        (long long)height * width > MW_IMAGE_MAX_PIXELS)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: size %dx%d outside 1..%d per side or over %d pixels", fn, width,
                            height, (int)MW_IMAGE_MAX_SIDE, (int)MW_IMAGE_MAX_PIXELS);
    return MW_OK;
}

static mw_status check_finite(const char *fn, const char *what, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return mw_error_set(MW_ERR_NUMERIC, "%s: %s[%zu] is not finite", fn, what, i);
    return MW_OK;
}

static int float_ascending(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

mw_status mw_heatmap_normalize_positive(const float *attr_chw, int channels, int height, int width,
                                        float outlier_perc, float *heat_hw) {
    const char *fn = "mw_heatmap_normalize_positive";
    if (!attr_chw || !heat_hw)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: attr_chw or heat_hw is NULL", fn);
    MW_TRY(check_shape(fn, channels, height, width));
    if (!(outlier_perc >= 0.0f && outlier_perc < 100.0f))
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: outlier_perc %g outside [0, 100)", fn,
                            (double)outlier_perc);
    size_t n = (size_t)height * (size_t)width;
    MW_TRY(check_finite(fn, "attr_chw", attr_chw, n * (size_t)channels));
    float *sorted = malloc(n * sizeof *sorted);
    if (!sorted) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);

    /* captum _normalize_attr: attr_combined = np.sum(attr, axis=2) (channels, in float32,
     * first to last), then for sign "positive" (attr_combined > 0) * attr_combined. */
    for (size_t p = 0; p < n; p++) {
        float s = attr_chw[p];
        for (int c = 1; c < channels; c++)
            s += attr_chw[(size_t)c * n + p];
        heat_hw[p] = sorted[p] = s > 0.0f ? s : 0.0f;
    }

    /* captum _cumulative_sum_threshold(values, 100 - outlier_perc): sort ascending, cumsum,
     * the first index whose cumulative sum is >= cum_sums[-1] * 0.01 * percentile, and the
     * value there. numpy's cumsum of float32 adds in float32 from the first element, which
     * this loop repeats; under NumPy 1.x promotion (captum 0.3's era) the product is formed
     * in float64 and compared against the float32 sums as a float32. */
    qsort(sorted, n, sizeof *sorted, float_ascending);
    float total = 0.0f;
    for (size_t i = 0; i < n; i++)
        total += sorted[i];
    double percentile = 100.0 - (double)outlier_perc;
    float target = (float)((double)total * 0.01 * percentile);
    float threshold = sorted[n - 1]; /* reached at the latest by the last sum, which is total */
    float cum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        cum += sorted[i];
        if (cum >= target) {
            threshold = sorted[i];
            break;
        }
    }
    free(sorted);

    /* captum _normalize_scale: attr / threshold clipped to [-1, 1] (here [0, 1], as nothing
     * is negative). With no positive attribution the threshold is 0, which captum 0.3
     * rejects (assert scale_factor != 0; captum issue #959); a blank heatmap says the same
     * without failing, as captum itself later chose (PR #1853). */
    if (!(total > 0.0f) || !(threshold > 0.0f)) {
        memset(heat_hw, 0, n * sizeof *heat_hw);
        return MW_OK;
    }
    for (size_t p = 0; p < n; p++) {
        float v = heat_hw[p] / threshold;
        heat_hw[p] = v > 1.0f ? 1.0f : v;
    }
    return MW_OK;
}

/* matplotlib's "plasma" (lib/matplotlib/_cm_listed.py, _plasma_data: 256 RGB rows, by
 * Nathaniel J. Smith, Stefan van der Walt and Eric Firing, CC0) as matplotlib samples it at
 * v = k/8: a ListedColormap of N = 256 maps v to row min(floor(v * 256), 255), so the
 * anchors are rows 0, 32, 64, ..., 224 and 255, each channel times 255 rounded. Linear
 * interpolation between them stays within 6 levels of the full table. */
static const uint8_t plasma_anchors[9][3] = {
    {0x0d, 0x08, 0x87}, /* 0.000 #0d0887 */
    {0x4c, 0x02, 0xa1}, /* 0.125 #4c02a1 */
    {0x7e, 0x03, 0xa8}, /* 0.250 #7e03a8 */
    {0xaa, 0x23, 0x95}, /* 0.375 #aa2395 */
    {0xcc, 0x47, 0x78}, /* 0.500 #cc4778 */
    {0xe6, 0x6c, 0x5c}, /* 0.625 #e66c5c */
    {0xf8, 0x95, 0x40}, /* 0.750 #f89540 */
    {0xfd, 0xc5, 0x27}, /* 0.875 #fdc527 */
    {0xf0, 0xf9, 0x21}, /* 1.000 #f0f921 */
};

void mw_colormap_plasma(float v, uint8_t rgb[3]) {
    if (!rgb) return;
    if (!(v > 0.0f)) v = 0.0f; /* NaN included */
    if (v > 1.0f) v = 1.0f;
    float t = v * 8.0f;
    int i = (int)t;
    if (i > 7) i = 7;
    float f = t - (float)i;
    for (int c = 0; c < 3; c++) {
        float a = plasma_anchors[i][c], b = plasma_anchors[i + 1][c];
        rgb[c] = (uint8_t)lroundf(a + (b - a) * f);
    }
}

mw_status mw_heatmap_blend(const float *normalized_chw, int channels, int height, int width,
                           const float mean[3], const float std[3], const float *heat_hw,
                           float alpha, int scale, mw_image *out) {
    const char *fn = "mw_heatmap_blend";
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!normalized_chw || !mean || !std || !heat_hw)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: image, mean, std or heat is NULL", fn);
    MW_TRY(check_shape(fn, channels, height, width));
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: alpha %g outside [0, 1]", fn, (double)alpha);
    if (scale < 1 || scale > MW_IMAGE_MAX_SCALE)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: scale %d outside 1..%d", fn, scale,
                            (int)MW_IMAGE_MAX_SCALE);
    size_t n = (size_t)height * (size_t)width;
    MW_TRY(check_finite(fn, "normalized_chw", normalized_chw, n * (size_t)channels));
    MW_TRY(check_finite(fn, "heat_hw", heat_hw, n));
    for (int c = 0; c < channels; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]))
            return mw_error_set(MW_ERR_NUMERIC, "%s: mean[%d] or std[%d] is not finite", fn, c, c);

    /* captum visualize_image_attr: an original image whose maximum is <= 1.0 becomes
     * _prepare_image(original_image * 255) = np.clip(x.astype(int), 0, 255), which truncates;
     * a larger one is used as it is. */
    float vmax = -INFINITY;
    for (int c = 0; c < channels; c++)
        for (size_t p = 0; p < n; p++) {
            float v = normalized_chw[(size_t)c * n + p] * std[c] + mean[c];
            if (v > vmax) vmax = v;
        }
    int to_bytes = vmax <= 1.0f;

    /* captum _visualize_blended_heat_map: imshow(np.mean(original_image, axis=2),
     * cmap="gray"), i.e. the channel mean... */
    double *gray = malloc(n * sizeof *gray);
    if (!gray) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t p = 0; p < n; p++) {
        double sum = 0.0;
        for (int c = 0; c < channels; c++) {
            float v = normalized_chw[(size_t)c * n + p] * std[c] + mean[c];
            if (to_bytes) {
                float b = truncf(v * 255.0f);
                sum += b < 0.0f ? 0.0 : b > 255.0f ? 255.0 : (double)b;
            } else {
                sum += v;
            }
        }
        gray[p] = sum / channels;
        if (gray[p] < lo) lo = gray[p];
        if (gray[p] > hi) hi = gray[p];
    }

    /* ...autoscaled by imshow to the data's own min..max (matplotlib Normalize with vmin,
     * vmax from the data; Normalize maps everything to 0 when vmin == vmax), then
     * imshow(norm_attr, cmap, vmin=0, vmax=1, alpha=alpha_overlay) on top: the heat colour
     * composited "over" the opaque gray layer. */
    mw_image small;
    mw_status s = mw_image_init(&small, width, height, NULL);
    if (s != MW_OK) {
        free(gray);
        return s;
    }
    for (size_t p = 0; p < n; p++) {
        double g = hi > lo ? (gray[p] - lo) / (hi - lo) : 0.0;
        uint8_t heat[3];
        mw_colormap_plasma(heat_hw[p], heat);
        for (int c = 0; c < 3; c++)
            small.rgb[3 * p + (size_t)c] =
                (uint8_t)lround((1.0 - alpha) * 255.0 * g + (double)alpha * heat[c]);
    }
    free(gray);
    if (scale == 1) {
        *out = small;
        return MW_OK;
    }
    s = mw_image_scale(&small, scale, out);
    mw_image_free(&small);
    return s;
}
