/* Which memory samples explain a prediction, and the explanation metrics (reference-spec
 * 6.2 and 6.4; memory-wrap paper/scripts/generate_heatmaps.py and
 * paper/explanation_accuracy.py). Pure functions over weights and predicted classes. */
#include <math.h>

#include "memwrap/explain.h"

void mw_explain_select(const float *weights, const int32_t *memory_predictions, int memory,
                       int prediction, int *example, int *counterfactual) {
    int ex = -1, cf = -1;
    for (int j = 0; j < memory; j++) {
        if (!(weights[j] > 0)) continue;
        /* strict > keeps the lower index on ties */
        if (memory_predictions[j] == prediction) {
            if (ex < 0 || weights[j] > weights[ex]) ex = j;
        } else if (cf < 0 || weights[j] > weights[cf]) {
            cf = j;
        }
    }
    *example = ex;
    *counterfactual = cf;
}

int mw_explain_support(const float *weights, int memory, int32_t *order) {
    int n = 0;
    for (int j = 0; j < memory; j++) {
        if (!(weights[j] > 0)) continue;
        /* insertion by weight descending; equal weights stay in index order */
        int at = n;
        while (at > 0 && weights[order[at - 1]] < weights[j]) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = j;
        n++;
    }
    return n;
}

/* argmax with ties to the first index, as torch.max over a row */
static int argmax_first(const float *row, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

int mw_explain_majority(const float *weights, const int32_t *classes, int memory) {
    int best = -1, best_count = 0;
    for (int j = 0; j < memory; j++) {
        if (!(weights[j] > 0)) continue;
        int count = 0; /* O(support^2): the support is a handful of samples */
        for (int k = 0; k < memory; k++)
            count += weights[k] > 0 && classes[k] == classes[j];
        if (count > best_count || (count == best_count && classes[j] < best))
            best = classes[j], best_count = count;
    }
    return best;
}

void mw_explain_count(const float *weights, int n, int memory, const int32_t *predictions,
                      const int32_t *labels, const int32_t *memory_predictions,
                      const int32_t *memory_labels, mw_explain_counts *c) {
    for (int i = 0; i < n; i++) {
        const float *row = weights + (size_t)i * memory;
        c->mvo_correct += mw_explain_majority(row, memory_predictions, memory) == labels[i];
        c->mvy_correct += mw_explain_majority(row, memory_labels, memory) == labels[i];
        int top = argmax_first(row, memory);
        bool right = predictions[i] == labels[i];
        bool agrees = memory_predictions[top] == predictions[i];
        c->inputs++;
        c->correct += right;
        c->explained += agrees;
        if (agrees) {
            c->example_inputs++;
            c->example_correct += right;
        } else {
            c->counterfactual_inputs++;
            c->counterfactual_correct += right;
        }
    }
}

static double percent(long part, long whole) {
    return whole > 0 ? 100.0 * (double)part / (double)whole : NAN;
}

mw_explain_metrics mw_explain_metrics_of(const mw_explain_counts *c) {
    mw_explain_metrics m = {
        .explanation_accuracy = percent(c->explained, c->inputs),
        .counterfactual_accuracy = percent(c->counterfactual_correct, c->counterfactual_inputs),
        .example_accuracy = percent(c->example_correct, c->example_inputs),
        .accuracy = percent(c->correct, c->inputs),
        .mvo_accuracy = percent(c->mvo_correct, c->inputs),
        .mvy_accuracy = percent(c->mvy_correct, c->inputs),
    };
    for (int k = 0; k < MW_EBE_METHODS; k++) /* not from counts: mw_ebe_batch's */
        m.example_scores.input[k] = m.example_scores.prediction[k] = NAN;
    return m;
}

/* Nodes and weights of Gauss-Legendre quadrature: the roots of the Legendre polynomial P_n by
 * Newton's method from Tricomi's initial guesses, weights 2 / ((1 − x²) P_n'(x)²), then mapped
 * from [−1, 1] to [0, 1] (so the weights sum to 1), as numpy.polynomial.legendre.leggauss
 * followed by captum's mapping. */
mw_status mw_gauss_legendre(int n, double *alphas, double *weights) {
    if (n < 1 || n > 1000 || !alphas || !weights)
        return mw_error_set(MW_ERR_INVALID_ARG, "Gauss-Legendre: %d nodes (1 to 1000)", n);
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < (n + 1) / 2; i++) {
        double x = cos(pi * (i + 0.75) / (n + 0.5)), dp = 1;
        for (int iter = 0; iter < 100; iter++) {
            double p0 = 1, p1 = x; /* P_0, P_1, then the recurrence up to P_n */
            for (int k = 2; k <= n; k++) {
                double pk = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = pk;
            }
            dp = n * (x * p1 - p0) / (x * x - 1); /* P_n'(x) */
            double step = p1 / dp;
            x -= step;
            if (fabs(step) < 1e-15) break;
        }
        /* recompute the derivative at the converged root */
        double p0 = 1, p1 = x;
        for (int k = 2; k <= n; k++) {
            double pk = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / k;
            p0 = p1;
            p1 = pk;
        }
        dp = n * (x * p1 - p0) / (x * x - 1);
        double w = 2 / ((1 - x * x) * dp * dp);
        /* x is the i-th largest root; its mirror −x is the i-th smallest */
        alphas[n - 1 - i] = 0.5 * (1 + x);
        alphas[i] = 0.5 * (1 - x);
        weights[n - 1 - i] = weights[i] = 0.5 * w;
    }
    return MW_OK;
}
