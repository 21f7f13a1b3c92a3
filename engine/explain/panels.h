/* The PNG panels of an explanation (see panels.c). */
#ifndef MEMWRAP_EXPLAIN_PANELS_H
#define MEMWRAP_EXPLAIN_PANELS_H

#include <stdbool.h>
#include <stdint.h>

#include "memwrap/data.h"
#include "memwrap/image.h"

/* Everything a panel shows about one explained test input. Images are normalised
 * [C, H, W] floats, as the model saw them; memory indices are positions in the memory set. */
typedef struct mw_panel_input {
    const char *dataset; /* for class names and nothing else */
    int channels, height, width, scale;
    const float *mean, *std; /* the dataset's normalisation, to show the images as they are */
    int test_index, label, prediction;
    const float *image;
    int memory_count;
    const float *memory;               /* [memory_count, C, H, W] */
    const float *weights;              /* [memory_count] content weights of the input */
    const int32_t *memory_predictions; /* [memory_count] */
    const int32_t *support;            /* memory indices with weight > 0, by weight */
    int support_count;
    int example, counterfactual;     /* memory indices, or -1 */
    const float *input_attribution;  /* [C, H, W] */
    const float *memory_attribution; /* [support_count, C, H, W], in support order */
    int ig_steps;
} mw_panel_input;

/* Reference-spec 6.1: the input with its predicted and true class, and every memory sample
 * with non-zero weight, by weight, each with its weight and predicted class; the example
 * and the counterfactual framed. */
mw_status mw_panel_memory(const mw_panel_input *in, const char *path);

/* Reference-spec 6.3: the input, the example and the counterfactual, each above its
 * Integrated Gradients heatmap (captum's positive blended heat map); a missing example or
 * counterfactual is an empty box that says so. */
mw_status mw_panel_heatmaps(const mw_panel_input *in, const char *path);

/* The heatmap panel's pixels per image pixel: in->scale, or more so that images are at least
 * 160 pixels wide (heatmaps are read for their detail). */
int mw_panel_heat_scale(const mw_panel_input *in);

/* One row of the counterfactual panel: a test input, its memory counterfactual and what
 * CF-Proto's search made of it (normalised [C, H, W] images, NULL where there is none). */
typedef struct mw_cf_panel_row {
    int test_index, prediction;
    const float *image;
    const float *memory_cf; /* the memory sample */
    int memory_cf_class;
    const float *proto_cf; /* NULL: not searched, or the search found none */
    int proto_cf_class;
    bool searched;
} mw_cf_panel_row;

/* Rows of input, memory counterfactual, CF-Proto counterfactual and where the search
 * changed the input (|δ| summed over channels, plasma, 0 to the row's largest change);
 * `in` gives the dataset, sizes, normalisation and scale (its other fields are not read). */
mw_status mw_panel_counterfactuals(const mw_panel_input *in, const mw_cf_panel_row *rows, int n,
                                   const char *path);

extern const uint8_t mw_panel_example_rgb[3], mw_panel_counterfactual_rgb[3];

#endif
