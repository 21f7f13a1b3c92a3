/* Adam over the parameter arena: one kernel launch per step whatever the model. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "memwrap/train.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "train/optim.h"

struct mw_adam {
    mw_exec *ex;
    mw_adam_options opt;
    cl_mem m, v;            /* first and second moments (OpenCL backend) */
    float *host_m, *host_v; /* the same on the reference backend */
    uint64_t steps;         /* steps taken */
};

/* Step t's bias corrections, in double as torch computes them: lr / (1 - beta1^t) and
 * sqrt(1 - beta2^t). */
static void corrections(float lr, float beta1, float beta2, uint64_t t, double *step_size,
                        double *bc2_sqrt) {
    *step_size = (double)lr / (1.0 - pow((double)beta1, (double)t));
    *bc2_sqrt = sqrt(1.0 - pow((double)beta2, (double)t));
}

void mw_ref_adam_step(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, uint64_t step) {
    double step_size, bc2_sqrt;
    corrections(lr, beta1, beta2, step, &step_size, &bc2_sqrt);
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + weight_decay * p[i];
        float mi = (1.0f - beta1) * d, vi = (1.0f - beta2) * d * d;
        if (step > 1) {
            mi += beta1 * m[i];
            vi += beta2 * v[i];
        }
        m[i] = mi;
        v[i] = vi;
        p[i] -= (float)step_size * (mi / (sqrtf(vi) / (float)bc2_sqrt + eps));
    }
}

mw_adam_options mw_adam_defaults(void) {
    return (mw_adam_options){.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
}

static bool is_beta(float b) {
    return b >= 0.0f && b < 1.0f; /* false for NaN */
}

mw_status mw_adam_create(mw_exec *ex, const mw_adam_options *opt, mw_adam **out) {
    *out = NULL;
    if (!is_beta(opt->beta1) || !is_beta(opt->beta2) || !(opt->eps > 0.0f) || !isfinite(opt->eps) ||
        !(opt->weight_decay >= 0.0f) || !isfinite(opt->weight_decay))
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "adam: beta1 and beta2 must be in [0, 1), eps finite and > 0, "
                            "weight_decay finite and >= 0 (got betas (%g, %g), eps %g, "
                            "weight_decay %g)",
                            (double)opt->beta1, (double)opt->beta2, (double)opt->eps,
                            (double)opt->weight_decay);
    mw_adam *a = calloc(1, sizeof *a);
    if (!a) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    a->ex = ex;
    a->opt = *opt;
    mw_status st = mw_optim_state_buffer(ex, "Adam's first moments", &a->m, &a->host_m);
    if (st == MW_OK) st = mw_optim_state_buffer(ex, "Adam's second moments", &a->v, &a->host_v);
    if (st != MW_OK) {
        mw_adam_free(a);
        return st;
    }
    *out = a;
    return MW_OK;
}

void mw_adam_free(mw_adam *a) {
    if (!a) return;
    if (a->m) clReleaseMemObject(a->m);
    if (a->v) clReleaseMemObject(a->v);
    free(a->host_m);
    free(a->host_v);
    free(a);
}

mw_status mw_adam_step(mw_adam *a, float lr) {
    mw_exec_arenas ar = mw_exec_get_arenas(a->ex);
    uint64_t t = ++a->steps;
    if (ar.trainable_floats == 0) return MW_OK;
    const mw_adam_options *o = &a->opt;
    mw_runtime *rt = mw_exec_runtime(a->ex);
    if (!rt) {
        mw_ref_adam_step(ar.host_params, ar.host_grads, a->host_m, a->host_v, ar.trainable_floats,
                         lr, o->beta1, o->beta2, o->eps, o->weight_decay, t);
        return MW_OK;
    }
    double step_size, bc2_sqrt;
    corrections(lr, o->beta1, o->beta2, t, &step_size, &bc2_sqrt);
    mw_cl_ctx ctx = {.rt = rt, .queue = mw_runtime_queue(rt, 0)};
    MW_TRY(mw_launch(&ctx, "adam", "adam_step_f32", ar.trainable_floats, "mmmmuffffffi", ar.params,
                     ar.grads, a->m, a->v, (unsigned)ar.trainable_floats, step_size,
                     (double)o->beta1, (double)o->beta2, (double)o->eps, (double)o->weight_decay,
                     bc2_sqrt, (int)(t == 1)));
    return MW_OK;
}
