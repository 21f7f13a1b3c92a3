/* Integrated Gradients (Sundararajan et al. 2017) through both encoder branches of a Memory
 * Wrap model: attributions of one logit to the input image's pixels and to the memory
 * images' pixels (reference-spec 6.3, memory-wrap paper/scripts/generate_heatmaps.py with
 * captum 0.3's IntegratedGradients). The memory is the support of the input's content
 * weights (the samples with weight > 0, as the reference passes), so the gradient of a
 * memory image flows through the memory branch of the encoder and the attention.
 *
 * One departure from the reference, on purpose: captum concatenates the interpolation
 * steps of every input of the tuple along the batch axis, so in the reference each scaled
 * input attends over the memory images of all the steps in its internal batch at once. Here
 * the input at step α attends over the memory at the same α, so the attributions add up to
 * f(x, m) − f(baseline, baseline) as the completeness property says.
 *
 * The work is done in three passes so that everything runs on full batches: encode every
 * scaled image (all steps, input and memory), run the head with gradients on all the steps
 * at once, then the encoder's backward pass on the same images with those gradients. Only
 * input gradients are computed (mw_graph_backward_inputs): no weight gradient is wasted. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/explainer.h"

/* The reference's baseline: torch.ones_like of the normalised images. */
static const float baseline = 1.0f;

/* Image t of the (steps + 2) x n scaled images: step s = t / n (s == steps: α = 1, the input
 * itself; s == steps + 1: α = 0, the baseline), image j = t % n (0: the input, then memory). */
static void scaled_image(const float *originals, size_t floats, int n, const double *alphas,
                         int steps, int t, float *out) {
    int s = t / n, j = t % n;
    double a = s < steps ? alphas[s] : s == steps ? 1.0 : 0.0;
    const float *v = originals + (size_t)j * floats;
    for (size_t p = 0; p < floats; p++)
        out[p] = (float)(baseline + a * (v[p] - baseline));
}

void explain_attribution_free(explain_attribution *a) {
    free(a->input);
    free(a->memory);
    memset(a, 0, sizeof *a);
}

mw_status explainer_integrated_gradients(mw_explainer *x, const float *image, const float *memory,
                                         int k, int target, int steps, explain_attribution *out) {
    memset(out, 0, sizeof *out);
    if (k < 1 || steps < 1 || target < 0 || target >= x->classes)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "integrated gradients: %d memory images, %d steps, target %d", k, steps,
                            target);
    const int n = 1 + k, all = (steps + 2) * n, P = x->enc_batch, d = x->d;
    const size_t F = x->image_floats;
    double *alphas = malloc((size_t)steps * sizeof *alphas);
    double *wts = malloc((size_t)steps * sizeof *wts);
    float *originals = malloc((size_t)n * F * sizeof(float));
    float *enc = malloc((size_t)all * d * sizeof(float));         /* encodings of every image */
    float *genc = calloc((size_t)all, (size_t)d * sizeof(float)); /* weighted d logit/d enc */
    double *gsum = calloc((size_t)n * F, sizeof(double));         /* Σ_s w_s d logit/d pixel */
    double *step_change = calloc((size_t)steps, sizeof(double));  /* w_s ∇f·(x − b) per step */
    float *grad_images = malloc((size_t)P * F * sizeof(float));
    float *grad_rows = malloc((size_t)P * d * sizeof(float));
    out->input = malloc(F * sizeof(float));
    out->memory = malloc((size_t)k * F * sizeof(float));
    mw_status s = alphas && wts && originals && enc && genc && gsum && step_change &&
                          grad_images && grad_rows && out->input && out->memory
                      ? MW_OK
                      : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for attributions");
    if (s == MW_OK) s = mw_gauss_legendre(steps, alphas, wts);
    if (s == MW_OK) {
        memcpy(originals, image, F * sizeof(float));
        memcpy(originals + F, memory, (size_t)k * F * sizeof(float));
    }
    /* pass 1: encode every scaled image */
    float *images = malloc((size_t)all * F * sizeof(float));
    if (!images && s == MW_OK) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int t = 0; t < all && s == MW_OK; t++)
        scaled_image(originals, F, n, alphas, steps, t, images + (size_t)t * F);
    if (s == MW_OK) s = explainer_encode(x, images, all, enc);
    free(images);
    /* pass 2: the head with gradients for every step at once: row st attends over the
     * memory encodings of step st only (the other blocks masked out), so one run does what
     * steps + 2 runs of a one-row head would, at the cost of one */
    const int rows = steps + 2;
    explain_head *h = NULL;
    float *e_rows = malloc((size_t)rows * d * sizeof(float));
    float *m_rows = malloc((size_t)rows * k * d * sizeof(float));
    float *bias = malloc((size_t)rows * rows * k * sizeof(float));
    float *seeds = calloc((size_t)rows * x->classes, sizeof(float));
    float *all_logits = malloc((size_t)rows * x->classes * sizeof(float));
    float *g_e = malloc((size_t)rows * d * sizeof(float));
    float *g_m = malloc((size_t)rows * k * d * sizeof(float));
    if (s == MW_OK && !(e_rows && m_rows && bias && seeds && all_logits && g_e && g_m))
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for attributions");
    if (s == MW_OK) s = explainer_attribution_head(x, rows, k, &h);
    if (s == MW_OK) {
        for (int st = 0; st < rows; st++) {
            const float *e = enc + (size_t)st * n * d;
            memcpy(e_rows + (size_t)st * d, e, (size_t)d * sizeof(float));
            memcpy(m_rows + (size_t)st * k * d, e + d, (size_t)k * d * sizeof(float));
            for (int j = 0; j < rows * k; j++)
                bias[(size_t)st * rows * k + j] = j / k == st ? 0.0f : MW_ATTENTION_MASKED;
            /* the gradient of the target logit at the interpolation steps only */
            if (st < steps) seeds[(size_t)st * x->classes + target] = 1;
        }
        size_t fl = sizeof(float);
        s = mw_exec_write(h->ex, h->m.encodings, e_rows, (size_t)rows * d * fl);
        if (s == MW_OK)
            s = mw_exec_write(h->ex, h->m.memory_encodings, m_rows, (size_t)rows * k * d * fl);
        if (s == MW_OK)
            s = mw_exec_write(h->ex, h->m.attention_bias, bias, (size_t)rows * rows * k * fl);
        if (s == MW_OK)
            s = mw_exec_write(h->ex, h->m.output_grad, seeds, (size_t)rows * x->classes * fl);
        if (s == MW_OK) s = mw_exec_run(h->ex, MW_RUN_EVAL_BACKWARD);
        if (s == MW_OK)
            s = mw_exec_read(h->ex, h->m.logits, all_logits, (size_t)rows * x->classes * fl);
        if (s == MW_OK) s = mw_exec_read(h->ex, h->m.input_grad, g_e, (size_t)rows * d * fl);
        if (s == MW_OK) s = mw_exec_read(h->ex, h->m.memory_grad, g_m, (size_t)rows * k * d * fl);
    }
    if (s == MW_OK) {
        out->f_input = all_logits[(size_t)steps * x->classes + target];
        out->f_baseline = all_logits[(size_t)(steps + 1) * x->classes + target];
        /* back to the image order of pass 1, weighted by the quadrature weights */
        for (int st = 0; st < steps; st++) {
            float w = (float)wts[st], *g = genc + (size_t)st * n * d;
            for (int i = 0; i < d; i++)
                g[i] = w * g_e[(size_t)st * d + i];
            for (size_t i = 0; i < (size_t)k * d; i++)
                g[d + i] = w * g_m[(size_t)st * k * d + i];
        }
    }
    free(e_rows), free(m_rows), free(bias), free(seeds), free(all_logits), free(g_e), free(g_m);
    /* pass 3: the encoder's backward pass over the interpolation steps' images */
    const int stepped = steps * n;
    for (int start = 0; start < stepped && s == MW_OK; start += P) {
        int c = stepped - start < P ? stepped - start : P;
        for (int i = 0; i < P; i++) {
            float *dst = x->enc_images + (size_t)i * F;
            if (i < c)
                scaled_image(originals, F, n, alphas, steps, start + i, dst);
            else
                memset(dst, 0, F * sizeof(float));
        }
        memset(grad_rows, 0, (size_t)P * d * sizeof(float));
        memcpy(grad_rows, genc + (size_t)start * d, (size_t)c * d * sizeof(float));
        s = mw_exec_write(x->enc_ex, x->enc.images, x->enc_images, (size_t)P * F * sizeof(float));
        if (s == MW_OK)
            s = mw_exec_write(x->enc_ex, x->enc.output_grad, grad_rows,
                              (size_t)P * d * sizeof(float));
        if (s == MW_OK) s = mw_exec_run(x->enc_ex, MW_RUN_EVAL_BACKWARD);
        if (s == MW_OK)
            s = mw_exec_read(x->enc_ex, x->enc.input_grad, grad_images,
                             (size_t)P * F * sizeof(float));
        for (int i = 0; i < c && s == MW_OK; i++) {
            int j = (start + i) % n, step = (start + i) / n;
            double *acc = gsum + (size_t)j * F, dot = 0;
            const float *gi = grad_images + (size_t)i * F, *orig = originals + (size_t)j * F;
            for (size_t p = 0; p < F; p++) {
                acc[p] += gi[p];
                dot += (orig[p] - baseline) * gi[p];
            }
            step_change[step] += dot; /* this image's share of f's change at this step */
        }
    }
    /* attribution = (x − baseline) · Σ_s w_s ∇f(baseline + α_s (x − baseline)) */
    double total = 0;
    for (int j = 0; j < n && s == MW_OK; j++) {
        float *dst = j == 0 ? out->input : out->memory + (size_t)(j - 1) * F;
        for (size_t p = 0; p < F; p++) {
            double a = (originals[(size_t)j * F + p] - baseline) * gsum[(size_t)j * F + p];
            dst[p] = (float)a;
            total += a;
        }
    }
    out->total = total;
    out->path_variation = 0;
    for (int st = 0; st < steps; st++) out->path_variation += fabs(step_change[st]);
    free(step_change);
    free(alphas), free(wts), free(originals), free(enc), free(genc), free(gsum);
    free(grad_images), free(grad_rows);
    if (s != MW_OK) explain_attribution_free(out);
    return s;
}
