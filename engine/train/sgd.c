/* SGD over the parameter arena: one kernel launch per step whatever the model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/train.h"
#include "ops/launch.h"
#include "ops/reference.h"
#include "runtime/cl_check.h"
#include "train/optim.h"

struct mw_sgd {
    mw_exec *ex;
    mw_sgd_options opt;
    cl_mem buf;
    cl_mem flag; /* one int: mw_sgd_gradients_finite's answer */
    float *host_buf;
    bool stepped;
};

void mw_ref_sgd_step(float *p, const float *g, float *buf, size_t n, float lr, float momentum,
                     float weight_decay, bool nesterov, bool first_step) {
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + weight_decay * p[i];
        if (momentum != 0.0f) {
            float b = first_step ? d : momentum * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] -= lr * d;
    }
}

mw_status mw_optim_state_buffer(mw_exec *ex, const char *what, cl_mem *dev, float **host) {
    mw_exec_arenas a = mw_exec_get_arenas(ex);
    size_t n = a.trainable_floats ? a.trainable_floats : 1;
    if (mw_exec_runtime(ex))
        return mw_runtime_buffer(mw_exec_runtime(ex), n * sizeof(float), what, dev);
    if (!(*host = calloc(n, sizeof(float))))
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for %s", what);
    return MW_OK;
}

mw_status mw_sgd_create(mw_exec *ex, const mw_sgd_options *opt, mw_sgd **out) {
    *out = NULL;
    if (opt->momentum < 0 || opt->weight_decay < 0 || (opt->nesterov && opt->momentum <= 0))
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "sgd: momentum and weight_decay must be >= 0, and Nesterov needs "
                            "momentum > 0 (got momentum %g, weight_decay %g)",
                            (double)opt->momentum, (double)opt->weight_decay);
    mw_sgd *s = calloc(1, sizeof *s);
    if (!s) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    s->ex = ex;
    s->opt = *opt;
    mw_status st = mw_optim_state_buffer(ex, "momentum buffers", &s->buf, &s->host_buf);
    if (st == MW_OK && mw_exec_runtime(ex))
        st = mw_runtime_buffer(mw_exec_runtime(ex), sizeof(cl_int), "gradient check", &s->flag);
    if (st != MW_OK) {
        mw_sgd_free(s);
        return st;
    }
    *out = s;
    return MW_OK;
}

void mw_sgd_free(mw_sgd *s) {
    if (!s) return;
    if (s->buf) clReleaseMemObject(s->buf);
    if (s->flag) clReleaseMemObject(s->flag);
    free(s->host_buf);
    free(s);
}

mw_status mw_sgd_step(mw_sgd *s, float lr) {
    mw_exec_arenas a = mw_exec_get_arenas(s->ex);
    bool first = !s->stepped;
    s->stepped = true;
    if (a.trainable_floats == 0) return MW_OK;
    mw_runtime *rt = mw_exec_runtime(s->ex);
    if (!rt) {
        mw_ref_sgd_step(a.host_params, a.host_grads, s->host_buf, a.trainable_floats, lr,
                        s->opt.momentum, s->opt.weight_decay, s->opt.nesterov, first);
        return MW_OK;
    }
    mw_cl_ctx ctx = {.rt = rt, .queue = mw_runtime_queue(rt, 0)};
    MW_TRY(mw_launch(&ctx, "sgd", "sgd_step_f32", a.trainable_floats, "mmmufffii", a.params,
                     a.grads, s->buf, (unsigned)a.trainable_floats, (double)lr,
                     (double)s->opt.momentum, (double)s->opt.weight_decay, (int)s->opt.nesterov,
                     (int)first));
    return MW_OK;
}

mw_status mw_sgd_gradients_finite(mw_sgd *s, bool *finite) {
    mw_exec_arenas a = mw_exec_get_arenas(s->ex);
    *finite = true;
    if (a.trainable_floats == 0) return MW_OK;
    mw_runtime *rt = mw_exec_runtime(s->ex);
    if (!rt) {
        for (size_t i = 0; i < a.trainable_floats && *finite; i++)
            *finite = isfinite(a.host_grads[i]);
        return MW_OK;
    }
    cl_command_queue q = mw_runtime_queue(rt, 0);
    const cl_int zero = 0;
    cl_int flag = 1;
    MW_CL_CHECK(clEnqueueWriteBuffer(q, s->flag, CL_FALSE, 0, sizeof zero, &zero, 0, NULL, NULL));
    mw_cl_ctx ctx = {.rt = rt, .queue = q};
    MW_TRY(mw_launch(&ctx, "sgd", "flag_nonfinite_f32", a.trainable_floats, "mum", a.grads,
                     (unsigned)a.trainable_floats, s->flag));
    MW_CL_CHECK(clEnqueueReadBuffer(q, s->flag, CL_TRUE, 0, sizeof flag, &flag, 0, NULL, NULL));
    *finite = flag == 0;
    return MW_OK;
}

size_t mw_sgd_state_floats(const mw_sgd *s) {
    return mw_exec_get_arenas(s->ex).trainable_floats;
}

mw_status mw_sgd_get_state(mw_sgd *s, float *momentum, bool *stepped) {
    size_t n = mw_sgd_state_floats(s);
    *stepped = s->stepped;
    if (n == 0) return MW_OK;
    mw_runtime *rt = mw_exec_runtime(s->ex);
    if (!rt) {
        memcpy(momentum, s->host_buf, n * sizeof *momentum);
        return MW_OK;
    }
    MW_CL_CHECK(clEnqueueReadBuffer(mw_runtime_queue(rt, 0), s->buf, CL_TRUE, 0,
                                    n * sizeof *momentum, momentum, 0, NULL, NULL));
    return MW_OK;
}

mw_status mw_sgd_set_state(mw_sgd *s, const float *momentum, bool stepped) {
    size_t n = mw_sgd_state_floats(s);
    s->stepped = stepped;
    if (n == 0) return MW_OK;
    mw_runtime *rt = mw_exec_runtime(s->ex);
    if (!rt) {
        memcpy(s->host_buf, momentum, n * sizeof *momentum);
        return MW_OK;
    }
    MW_CL_CHECK(clEnqueueWriteBuffer(mw_runtime_queue(rt, 0), s->buf, CL_TRUE, 0,
                                     n * sizeof *momentum, momentum, 0, NULL, NULL));
    return MW_OK;
}
