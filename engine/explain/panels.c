/* The pictures of an explanation (reference-spec 6.1-6.3): the memory panel (the input, then
 * every memory sample with non-zero weight by weight, each with its weight and predicted
 * class) and the heatmap panel (input, example and counterfactual, each above its
 * Integrated Gradients heatmap). Layout in pixels of the built-in font (memwrap/image.h). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/panels.h"

static const uint8_t white[3] = {255, 255, 255}, ink[3] = {20, 20, 20}, muted[3] = {95, 95, 95};
static const uint8_t rule[3] = {200, 200, 200}, empty_fill[3] = {236, 236, 236};
/* Okabe-Ito's bluish green and vermilion: told apart by colour-blind readers too. */
const uint8_t mw_panel_example_rgb[3] = {0, 158, 115},
              mw_panel_counterfactual_rgb[3] = {213, 94, 0};
static const uint8_t right_rgb[3] = {0, 120, 80}, wrong_rgb[3] = {200, 80, 0};

enum { FONT = 2, PAD = 12, GAP = 22, LINE_GAP = 4, FRAME = 4, COLUMNS = 5 };

static int line_h(void) {
    return mw_text_height(FONT) + LINE_GAP;
}

static int max_i(int a, int b) {
    return a > b ? a : b;
}

int mw_panel_heat_scale(const mw_panel_input *in) {
    return max_i(in->scale, (160 + in->width - 1) / in->width);
}

/* A content weight for a caption: three decimals, or "<0.001" rather than a 0 that is not. */
static void format_weight(char *out, size_t cap, float w) {
    if (w < 0.0005f)
        snprintf(out, cap, "<0.001");
    else
        snprintf(out, cap, "%.3f", (double)w);
}

/* A picture with caption lines under it, `w` wide (the wider of the two). */
typedef struct tile {
    mw_image img;
    const char *lines[3];
    const uint8_t *colors[3];
    int n_lines, w, h;
    const uint8_t *frame; /* NULL: no frame */
} tile;

static void tile_measure(tile *t) {
    t->w = t->img.width + 2 * FRAME;
    for (int i = 0; i < t->n_lines; i++)
        t->w = max_i(t->w, mw_text_width(t->lines[i], FONT));
    t->h = t->img.height + 2 * FRAME + 6 + t->n_lines * line_h();
}

static void tile_draw(mw_image *dst, const tile *t, int x, int y, int cell_w) {
    int ix = x + (cell_w - t->img.width) / 2;
    if (t->frame)
        mw_image_frame(dst, ix - FRAME, y, t->img.width + 2 * FRAME, t->img.height + 2 * FRAME,
                       FRAME, t->frame);
    mw_image_blit(dst, &t->img, ix, y + FRAME);
    int ty = y + t->img.height + 2 * FRAME + 6;
    for (int i = 0; i < t->n_lines; i++, ty += line_h()) {
        int tw = mw_text_width(t->lines[i], FONT);
        mw_image_text(dst, x + (cell_w - tw) / 2, ty, t->lines[i], FONT,
                      t->colors[i] ? t->colors[i] : ink);
    }
}

static const char *class_name(const mw_panel_input *in, int label, char *buf, size_t cap) {
    const char *name = mw_dataset_class_name(in->dataset, label);
    if (name) return name;
    snprintf(buf, cap, "class %d", label);
    return buf;
}

mw_status mw_panel_memory(const mw_panel_input *in, const char *path) {
    int k = in->support_count;
    int cols = k < COLUMNS ? k : COLUMNS, rows = (k + COLUMNS - 1) / COLUMNS;
    char names[2][32], buf[2][24];
    tile input = {.n_lines = 3};
    tile *mem = calloc((size_t)(k ? k : 1), sizeof *mem);
    char(*text)[2][40] = calloc((size_t)(k ? k : 1), sizeof *text);
    mw_status s = mem && text ? MW_OK : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == MW_OK)
        s = mw_image_from_normalized(in->image, in->channels, in->height, in->width, in->mean,
                                     in->std, in->scale, &input.img);
    bool correct = in->prediction == in->label;
    snprintf(buf[0], sizeof buf[0], "test #%d", in->test_index);
    char pred[48], truth[48];
    snprintf(pred, sizeof pred, "pred: %s",
             class_name(in, in->prediction, names[0], sizeof names[0]));
    snprintf(truth, sizeof truth, "true: %s", class_name(in, in->label, names[1], sizeof names[1]));
    input.lines[0] = buf[0], input.lines[1] = pred, input.lines[2] = truth;
    input.colors[1] = correct ? right_rgb : wrong_rgb;
    tile_measure(&input);
    int cell_w = 0, cell_h = 0;
    for (int j = 0; j < k && s == MW_OK; j++) {
        int m = in->support[j];
        tile *t = &mem[j];
        s = mw_image_from_normalized(in->memory + (size_t)m * in->channels * in->height * in->width,
                                     in->channels, in->height, in->width, in->mean, in->std,
                                     in->scale, &t->img);
        char cname[32], wtext[16];
        format_weight(wtext, sizeof wtext, in->weights[m]);
        snprintf(text[j][0], sizeof text[j][0], "#%d  w %s", j + 1, wtext);
        snprintf(text[j][1], sizeof text[j][1], "%s",
                 class_name(in, in->memory_predictions[m], cname, sizeof cname));
        t->lines[0] = text[j][0], t->lines[1] = text[j][1];
        t->n_lines = 2;
        t->colors[1] = in->memory_predictions[m] == in->prediction ? right_rgb : wrong_rgb;
        t->frame = m == in->example          ? mw_panel_example_rgb
                   : m == in->counterfactual ? mw_panel_counterfactual_rgb
                                             : NULL;
        tile_measure(t);
        cell_w = max_i(cell_w, t->w);
        cell_h = max_i(cell_h, t->h);
    }
    char title[160], subtitle[160];
    snprintf(title, sizeof title, "Memory samples that drove the prediction (%d of %d)", k,
             in->memory_count);
    snprintf(subtitle, sizeof subtitle,
             "weight > 0, largest first; class in green: predicted as the input, orange: not");
    const char *legend_ex = "explanation by example", *legend_cf = "counterfactual";
    int left_w = input.w + 2 * PAD;
    int grid_w = cols * cell_w + (cols - 1) * GAP;
    int header_h = 2 * line_h() + GAP;
    int legend_h = line_h() + GAP;
    int width = left_w + PAD + max_i(grid_w, mw_text_width(subtitle, FONT)) + PAD;
    int height = PAD + max_i(input.h, header_h + rows * cell_h + (rows - 1) * GAP + legend_h) + PAD;
    mw_image canvas = {0};
    if (s == MW_OK) s = mw_image_init(&canvas, width, height, white);
    if (s == MW_OK) {
        tile_draw(&canvas, &input, PAD, PAD + header_h, input.w);
        mw_image_fill_rect(&canvas, left_w, PAD, 2, height - 2 * PAD, rule);
        int gx = left_w + PAD, gy = PAD;
        mw_image_text(&canvas, gx, gy, title, FONT, ink);
        mw_image_text(&canvas, gx, gy + line_h(), subtitle, FONT, muted);
        gy += header_h;
        for (int j = 0; j < k; j++)
            tile_draw(&canvas, &mem[j], gx + (j % COLUMNS) * (cell_w + GAP),
                      gy + (j / COLUMNS) * (cell_h + GAP), cell_w);
        int ly = gy + rows * cell_h + (rows - 1) * GAP + GAP, lx = gx, sw = mw_text_height(FONT);
        mw_image_frame(&canvas, lx, ly, sw, sw, 3, mw_panel_example_rgb);
        mw_image_text(&canvas, lx + sw + 6, ly, legend_ex, FONT, ink);
        lx += sw + 6 + mw_text_width(legend_ex, FONT) + 3 * GAP;
        mw_image_frame(&canvas, lx, ly, sw, sw, 3, mw_panel_counterfactual_rgb);
        mw_image_text(&canvas, lx + sw + 6, ly, legend_cf, FONT, ink);
        s = mw_png_write(path, &canvas);
    }
    mw_image_free(&canvas);
    mw_image_free(&input.img);
    for (int j = 0; mem && j < k; j++)
        mw_image_free(&mem[j].img);
    free(mem);
    free(text);
    return s;
}

/* One column of the heatmap panel: a picture and its heatmap, or an empty box saying why. */
typedef struct heat_column {
    tile top;           /* the image with its caption */
    mw_image heat;      /* the blended heatmap, or empty */
    const char *absent; /* reason when there is no such sample */
} heat_column;

static mw_status heat_column_fill(const mw_panel_input *in, heat_column *c, const float *image,
                                  const float *attribution) {
    MW_TRY(mw_image_from_normalized(image, in->channels, in->height, in->width, in->mean, in->std,
                                    mw_panel_heat_scale(in), &c->top.img));
    size_t hw = (size_t)in->height * in->width;
    float *heat = malloc(hw * sizeof *heat);
    if (!heat) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    mw_status s = mw_heatmap_normalize_positive(attribution, in->channels, in->height, in->width,
                                                20.0f, heat);
    if (s == MW_OK)
        s = mw_heatmap_blend(image, in->channels, in->height, in->width, in->mean, in->std, heat,
                             0.4f, mw_panel_heat_scale(in), &c->heat);
    free(heat);
    return s;
}

mw_status mw_panel_heatmaps(const mw_panel_input *in, const char *path) {
    heat_column col[3] = {0};
    char lines[3][2][48], names[3][32];
    size_t F = (size_t)in->channels * in->height * in->width;
    mw_status s = heat_column_fill(in, &col[0], in->image, in->input_attribution);
    snprintf(lines[0][0], sizeof lines[0][0], "input #%d", in->test_index);
    snprintf(lines[0][1], sizeof lines[0][1], "pred: %s",
             class_name(in, in->prediction, names[0], sizeof names[0]));
    const int which[3] = {-1, in->example, in->counterfactual};
    const char *kind[3] = {NULL, "example", "counterfactual"};
    const uint8_t *frames[3] = {NULL, mw_panel_example_rgb, mw_panel_counterfactual_rgb};
    for (int c = 1; c < 3 && s == MW_OK; c++) {
        int m = which[c];
        if (m < 0) {
            col[c].absent = c == 1 ? "no memory sample is predicted as the input"
                                   : "every memory sample is predicted as the input";
            snprintf(lines[c][0], sizeof lines[c][0], "no %s", kind[c]);
            lines[c][1][0] = '\0';
            continue;
        }
        /* the attribution of memory sample m: its position in the support */
        int pos = 0;
        while (pos < in->support_count && in->support[pos] != m)
            pos++;
        s = heat_column_fill(in, &col[c], in->memory + (size_t)m * F,
                             in->memory_attribution + (size_t)pos * F);
        char wtext[16];
        format_weight(wtext, sizeof wtext, in->weights[m]);
        snprintf(lines[c][0], sizeof lines[c][0], "%s w %s", kind[c], wtext);
        snprintf(lines[c][1], sizeof lines[c][1], "pred: %s",
                 class_name(in, in->memory_predictions[m], names[c], sizeof names[c]));
        col[c].top.frame = frames[c];
    }
    int img_w = in->width * mw_panel_heat_scale(in), img_h = in->height * mw_panel_heat_scale(in);
    int cell_w = img_w + 2 * FRAME;
    for (int c = 0; c < 3; c++) {
        col[c].top.lines[0] = lines[c][0];
        col[c].top.lines[1] = lines[c][1];
        col[c].top.n_lines = 2;
        if (col[c].absent) { /* measure the caption alone */
            cell_w = max_i(cell_w, mw_text_width(lines[c][0], FONT));
            continue;
        }
        tile_measure(&col[c].top);
        cell_w = max_i(cell_w, col[c].top.w);
    }
    cell_w += GAP;
    char title[120];
    snprintf(title, sizeof title,
             "Integrated Gradients (%d steps, baseline: ones), positive attributions",
             in->ig_steps);
    int caption_h = 2 * line_h();
    int row1 = PAD + line_h() + GAP;                           /* images */
    int row2 = row1 + img_h + 2 * FRAME + 6 + caption_h + GAP; /* heatmaps */
    int bar_y = row2 + img_h + 2 * FRAME + GAP;
    int bar_h = 14;
    int width = max_i(2 * PAD + 3 * cell_w, 2 * PAD + mw_text_width(title, FONT));
    int height = bar_y + bar_h + 6 + line_h() + PAD;
    mw_image canvas = {0};
    if (s == MW_OK) s = mw_image_init(&canvas, width, height, white);
    for (int c = 0; c < 3 && s == MW_OK; c++) {
        int x = PAD + c * cell_w;
        if (col[c].absent) {
            mw_image_fill_rect(&canvas, x + (cell_w - img_w) / 2, row1 + FRAME, img_w, img_h,
                               empty_fill);
            mw_image_fill_rect(&canvas, x + (cell_w - img_w) / 2, row2 + FRAME, img_w, img_h,
                               empty_fill);
            int tw = mw_text_width(lines[c][0], FONT);
            mw_image_text(&canvas, x + (cell_w - tw) / 2, row1 + img_h + 2 * FRAME + 6, lines[c][0],
                          FONT, muted);
            continue;
        }
        tile_draw(&canvas, &col[c].top, x, row1, cell_w);
        int hx = x + (cell_w - col[c].heat.width) / 2;
        if (col[c].top.frame)
            mw_image_frame(&canvas, hx - FRAME, row2, col[c].heat.width + 2 * FRAME,
                           col[c].heat.height + 2 * FRAME, FRAME, col[c].top.frame);
        mw_image_blit(&canvas, &col[c].heat, hx, row2 + FRAME);
    }
    if (s == MW_OK) {
        mw_image_text(&canvas, PAD, PAD, title, FONT, ink);
        /* the colour scale: 0 to the 80th-percentile mass threshold (captum's outlier clip) */
        int bx = PAD + mw_text_width("0 ", FONT),
            bw = 3 * cell_w - 2 * mw_text_width("0 ", FONT) - mw_text_width(" high", FONT);
        if (bw < 60) bw = 60;
        for (int i = 0; i < bw; i++) {
            uint8_t rgb[3];
            mw_colormap_plasma((float)i / (float)(bw - 1), rgb);
            mw_image_fill_rect(&canvas, bx + i, bar_y, 1, bar_h, rgb);
        }
        mw_image_text(&canvas, PAD, bar_y + (bar_h - mw_text_height(FONT)) / 2 + 1, "0", FONT, ink);
        mw_image_text(&canvas, bx + bw + mw_text_width(" ", FONT), bar_y + 1, "high", FONT, ink);
        mw_image_text(&canvas, bx, bar_y + bar_h + 6,
                      "attribution to the predicted class; top 20% of the mass saturates", FONT,
                      muted);
        s = mw_png_write(path, &canvas);
    }
    mw_image_free(&canvas);
    for (int c = 0; c < 3; c++) {
        mw_image_free(&col[c].top.img);
        mw_image_free(&col[c].heat);
    }
    return s;
}

/* ---- counterfactuals ------------------------------------------------------------------ */

/* |δ| = Σ_c |cf − input| per pixel, in plasma from 0 to its largest value, scaled up. */
static mw_status change_image(const mw_panel_input *in, const float *image, const float *cf,
                              mw_image *out) {
    const size_t hw = (size_t)in->height * in->width;
    float *change = calloc(hw, sizeof *change);
    if (!change) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    float top = 0;
    for (int c = 0; c < in->channels; c++)
        for (size_t i = 0; i < hw; i++) {
            /* in pixel units: a normalised difference times the channel's std */
            change[i] += fabsf(cf[c * hw + i] - image[c * hw + i]) * in->std[c];
            top = fmaxf(top, change[i]);
        }
    mw_image small = {0};
    mw_status s = mw_image_init(&small, in->width, in->height, white);
    for (size_t i = 0; i < hw && s == MW_OK; i++) {
        uint8_t rgb[3];
        mw_colormap_plasma(top > 0 ? change[i] / top : 0.0f, rgb);
        memcpy(mw_image_pixel(&small, (int)(i % in->width), (int)(i / in->width)), rgb, 3);
    }
    if (s == MW_OK) s = mw_image_scale(&small, in->scale, out);
    mw_image_free(&small);
    free(change);
    return s;
}

enum { CF_COLUMNS = 4 };

mw_status mw_panel_counterfactuals(const mw_panel_input *in, const mw_cf_panel_row *rows, int n,
                                   const char *path) {
    tile *t = calloc((size_t)(n ? n : 1) * CF_COLUMNS, sizeof *t);
    char(*text)[CF_COLUMNS][2][48] = calloc((size_t)(n ? n : 1), sizeof *text);
    mw_status s = t && text ? MW_OK : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    int img_w = in->width * in->scale, img_h = in->height * in->scale;
    int cell_w = img_w + 2 * FRAME, cell_h = 0;
    for (int r = 0; r < n && s == MW_OK; r++) {
        const mw_cf_panel_row *row = &rows[r];
        tile *rt = t + (size_t)r * CF_COLUMNS;
        char names[3][32];
        snprintf(text[r][0][0], sizeof text[r][0][0], "test #%d", row->test_index);
        snprintf(text[r][0][1], sizeof text[r][0][1], "pred: %s",
                 class_name(in, row->prediction, names[0], sizeof names[0]));
        snprintf(text[r][1][0], sizeof text[r][1][0], "memory sample");
        snprintf(text[r][1][1], sizeof text[r][1][1], "pred: %s",
                 class_name(in, row->memory_cf_class, names[1], sizeof names[1]));
        snprintf(text[r][2][0], sizeof text[r][2][0], "CF-Proto");
        if (row->proto_cf)
            snprintf(text[r][2][1], sizeof text[r][2][1], "pred: %s",
                     class_name(in, row->proto_cf_class, names[2], sizeof names[2]));
        else
            snprintf(text[r][2][1], sizeof text[r][2][1], "%s",
                     row->searched ? "none found" : "not searched");
        snprintf(text[r][3][0], sizeof text[r][3][0], "change |cf - input|");
        text[r][3][1][0] = '\0';
        const float *images[3] = {row->image, row->memory_cf, row->proto_cf};
        for (int c = 0; c < CF_COLUMNS && s == MW_OK; c++) {
            rt[c].lines[0] = text[r][c][0], rt[c].lines[1] = text[r][c][1];
            rt[c].n_lines = 2;
            rt[c].colors[1] = c == 0 ? NULL : c < 3 ? wrong_rgb : muted;
            if (c < 3 && images[c])
                s = mw_image_from_normalized(images[c], in->channels, in->height, in->width,
                                             in->mean, in->std, in->scale, &rt[c].img);
            else if (c == 3 && row->proto_cf)
                s = change_image(in, row->image, row->proto_cf, &rt[c].img);
            rt[c].frame = c == 1 || (c == 2 && row->proto_cf) ? mw_panel_counterfactual_rgb : NULL;
            if (!rt[c].img.rgb) { /* an empty box of the same size */
                rt[c].colors[0] = rt[c].colors[1] = muted;
                if (s == MW_OK) s = mw_image_init(&rt[c].img, img_w, img_h, empty_fill);
            }
            tile_measure(&rt[c]);
            cell_w = max_i(cell_w, rt[c].w);
            cell_h = max_i(cell_h, rt[c].h);
        }
    }
    const char *title = "Counterfactuals: the memory's and CF-Proto's";
    const char *subtitle = "CF-Proto: from the input toward the memory sample's class prototype";
    int width = 2 * PAD + max_i(CF_COLUMNS * cell_w + (CF_COLUMNS - 1) * GAP,
                                mw_text_width(subtitle, FONT));
    int top = PAD + 2 * line_h() + GAP;
    int height = top + n * cell_h + (n > 0 ? (n - 1) * GAP : 0) + PAD;
    mw_image canvas = {0};
    if (s == MW_OK) s = mw_image_init(&canvas, width, height, white);
    if (s == MW_OK) {
        mw_image_text(&canvas, PAD, PAD, title, FONT, ink);
        mw_image_text(&canvas, PAD, PAD + line_h(), subtitle, FONT, muted);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < CF_COLUMNS; c++)
                tile_draw(&canvas, &t[(size_t)r * CF_COLUMNS + c], PAD + c * (cell_w + GAP),
                          top + r * (cell_h + GAP), cell_w);
        s = mw_png_write(path, &canvas);
    }
    mw_image_free(&canvas);
    for (int i = 0; t && i < n * CF_COLUMNS; i++)
        mw_image_free(&t[i].img);
    free(t), free(text);
    return s;
}
