/* How representative Memory Wrap's explanation by example is against the paper's other ways
 * of choosing one (reference-spec 6.5; memory-wrap paper/scripts/run_exp_by_examples.py):
 * each way ranks the memory samples for an input and picks the first whose predicted class
 * is the input's; the chosen sample's logits are then compared with the input's. Pure
 * functions over host arrays. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/explain.h"

static const char *const method_names[MW_EBE_METHODS] = {"memory", "twin", "knn", "random"};

const char *mw_ebe_method_name(mw_ebe_method m) {
    return (unsigned)m < MW_EBE_METHODS ? method_names[m] : "?";
}

/* Insertion of j into order[0..n) by key ascending; equal keys stay in index order. */
static void insert_by_key(int32_t *order, int n, int j, const double *key) {
    int at = n;
    while (at > 0 && key[order[at - 1]] > key[j]) {
        order[at] = order[at - 1];
        at--;
    }
    order[at] = j;
}

void mw_ebe_rank_by_weight(const float *weights, int memory, int32_t *order, double *scratch) {
    for (int j = 0; j < memory; j++) {
        scratch[j] = -(double)weights[j];
        insert_by_key(order, j, j, scratch);
    }
}

void mw_ebe_rank_by_distance(const float *query, const float *keys, int memory, int dim,
                             int32_t *order, double *scratch) {
    for (int j = 0; j < memory; j++) {
        const float *k = keys + (size_t)j * dim;
        double sum = 0;
        for (int i = 0; i < dim; i++) {
            double d = (double)query[i] - k[i];
            sum += d * d;
        }
        scratch[j] = sum; /* squared: the same order as the distance */
        insert_by_key(order, j, j, scratch);
    }
}

int mw_ebe_first_agreeing(const int32_t *order, int memory, const int32_t *memory_predictions,
                          int prediction) {
    for (int r = 0; r < memory; r++)
        if (memory_predictions[order[r]] == prediction) return order[r];
    return order[0]; /* the reference's argmax over an all-false row: the first ranked */
}

void mw_ebe_twin_features(const float *hidden, const float *fc2_weight, int prediction, int width,
                          float *out) {
    const float *w = fc2_weight + (size_t)prediction * width;
    for (int i = 0; i < width; i++)
        out[i] = w[i] * hidden[i];
}

double mw_ebe_l1(const float *logits, const float *memory_logits, const int32_t *chosen, int n,
                 int classes) {
    double sum = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < classes; k++)
            sum += fabs((double)memory_logits[(size_t)chosen[i] * classes + k] -
                        logits[(size_t)i * classes + k]);
    return sum / ((double)n * classes);
}

double mw_ebe_cross_entropy(const int32_t *predictions, const float *memory_logits,
                            const int32_t *chosen, int n, int classes) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *z = memory_logits + (size_t)chosen[i] * classes;
        double top = z[0];
        for (int k = 1; k < classes; k++)
            top = fmax(top, z[k]);
        double e = 0;
        for (int k = 0; k < classes; k++)
            e += exp((double)z[k] - top);
        sum += top + log(e) - z[predictions[i]];
    }
    return sum / n;
}

mw_status mw_ebe_batch(const mw_ebe_batch_input *in, mw_ebe_scores *out) {
    const int n = in->n, M = in->memory, H = in->hidden_width, C = in->classes;
    int32_t *order = malloc((size_t)M * sizeof *order);
    int32_t *chosen = malloc((size_t)MW_EBE_METHODS * n * sizeof *chosen);
    double *scratch = malloc((size_t)M * sizeof *scratch);
    float *twin = malloc((size_t)H * sizeof *twin);
    float *memory_twin = malloc((size_t)M * H * sizeof *memory_twin);
    if (!order || !chosen || !scratch || !twin || !memory_twin) {
        free(order), free(chosen), free(scratch), free(twin), free(memory_twin);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the example scores");
    }
    /* the twin system's contributions of each memory sample, for its own predicted class */
    for (int j = 0; j < M; j++)
        mw_ebe_twin_features(in->memory_hidden + (size_t)j * H, in->fc2_weight,
                             in->memory_predictions[j], H, memory_twin + (size_t)j * H);
    for (int i = 0; i < n; i++) {
        const float *h = in->hidden + (size_t)i * H;
        int p = in->predictions[i];
        mw_ebe_rank_by_weight(in->weights + (size_t)i * M, M, order, scratch);
        chosen[MW_EBE_MEMORY * n + i] = mw_ebe_first_agreeing(order, M, in->memory_predictions, p);
        mw_ebe_twin_features(h, in->fc2_weight, p, H, twin);
        mw_ebe_rank_by_distance(twin, memory_twin, M, H, order, scratch);
        chosen[MW_EBE_TWIN * n + i] = mw_ebe_first_agreeing(order, M, in->memory_predictions, p);
        mw_ebe_rank_by_distance(h, in->memory_hidden, M, H, order, scratch);
        chosen[MW_EBE_KNN * n + i] = mw_ebe_first_agreeing(order, M, in->memory_predictions, p);
        chosen[MW_EBE_RANDOM * n + i] =
            mw_ebe_first_agreeing(in->random_orders + (size_t)i * M, M, in->memory_predictions, p);
    }
    for (int m = 0; m < MW_EBE_METHODS; m++) {
        out->input[m] = mw_ebe_l1(in->logits, in->memory_logits, chosen + m * n, n, C);
        out->prediction[m] =
            mw_ebe_cross_entropy(in->predictions, in->memory_logits, chosen + m * n, n, C);
    }
    free(order), free(chosen), free(scratch), free(twin), free(memory_twin);
    return MW_OK;
}
