/* The counterfactual-quality scores and the steps of CF-Proto's search (memwrap/explain.h,
 * reference-spec 6.6): pure functions over host arrays, in double where they sum. */
#include <math.h>

#include "memwrap/explain.h"

enum { NORM_EPS_EXPONENT = -8 }; /* the reference's EPSILON, 1e-8 */

static double distance(const float *a, const float *b, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        sum += d * d;
    }
    return sqrt(sum);
}

mw_cf_scores mw_cf_interpretability(const float *cf, const float *ae_cf, const float *ae_orig,
                                    const float *ae_full, size_t n) {
    const double eps = pow(10.0, NORM_EPS_EXPONENT);
    double to_cf_class = distance(cf, ae_cf, n), to_input_class = distance(cf, ae_orig, n);
    double size = 0;
    for (size_t i = 0; i < n; i++)
        size += (double)cf[i] * cf[i];
    return (mw_cf_scores){.im1 = to_cf_class / (to_input_class + eps),
                          .iim1 = to_input_class / (to_cf_class + eps),
                          .im2 = distance(ae_cf, ae_full, n) / (sqrt(size) + eps)};
}

double mw_cf_elastic_distance(const float *orig, const float *adv, float beta, size_t n) {
    double l2 = 0, l1 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)orig[i] - adv[i];
        l2 += d * d;
        l1 += fabs(d);
    }
    return l2 + beta * l1;
}

double mw_cf_learning_rate(double lr0, int k, int steps, double power) {
    double done = k < steps ? (double)k / steps : 1.0;
    return lr0 * pow(1.0 - done, power);
}

void mw_cf_distance_gradient(const float *orig, const float *s, float beta, float clip,
                             float *grad, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float d = s[i] - orig[i]; /* the loss is of orig − s: its gradient in s has this sign */
        float sign = d > 0 ? 1.0f : d < 0 ? -1.0f : 0.0f; /* autograd's |x|' at 0 is 0 */
        float v = grad[i] + beta * sign + 2.0f * d;
        grad[i] = fminf(fmaxf(v, -clip), clip);
    }
}

void mw_cf_fista_step(const float *orig, const float *grad, float lr, int k, float beta, float lo,
                      float hi, float *adv, float *s, size_t n) {
    float momentum = (float)(k + 1) / (float)(k + 4); /* the step count is k + 1 by then */
    for (size_t i = 0; i < n; i++) {
        float step = s[i] - lr * grad[i], d = step - orig[i];
        /* soft thresholding: within β of the input it snaps back to it */
        float next = d > beta ? fminf(step - beta, hi) : d < -beta ? fmaxf(step + beta, lo) : orig[i];
        float ahead = next + momentum * (next - adv[i]);
        s[i] = fminf(fmaxf(ahead, lo), hi);
        adv[i] = next;
    }
}
