/* Training: PyTorch's SGD (momentum, Nesterov, weight decay) and Adam, each as one fused
 * kernel over the parameter arena. Learning-rate schedules are in memwrap/schedule.h. */
#ifndef MEMWRAP_TRAIN_H
#define MEMWRAP_TRAIN_H

#include "memwrap/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mw_sgd_options {
    float momentum;     /* 0.9 in the paper */
    float weight_decay; /* 5e-4 in the paper; applies to every parameter, as the reference */
    bool nesterov;
} mw_sgd_options;

typedef struct mw_sgd mw_sgd;

/* Optimizer over every parameter of `ex` that receives a gradient (parameters without one
 * are skipped, as PyTorch skips grad None). The momentum buffers are allocated here. */
mw_status mw_sgd_create(mw_exec *ex, const mw_sgd_options *opt, mw_sgd **out);
void mw_sgd_free(mw_sgd *sgd);

/* One step with learning rate `lr`, after a MW_RUN_FORWARD_BACKWARD run:
 *   d = g + wd·p;  buf = d (first step) or momentum·buf + d;
 *   d = d + momentum·buf (Nesterov) or buf;  p -= lr·d. */
mw_status mw_sgd_step(mw_sgd *sgd, float lr);

/* Whether every gradient the next step would apply is finite (one small kernel and a 4-byte
 * read): the trainer checks it before each step, so a NaN never reaches the parameters. */
mw_status mw_sgd_gradients_finite(mw_sgd *sgd, bool *finite);

/* The momentum buffers (for resuming): `floats` values, and whether a step was taken. */
size_t mw_sgd_state_floats(const mw_sgd *sgd);
mw_status mw_sgd_get_state(mw_sgd *sgd, float *momentum, bool *stepped);
mw_status mw_sgd_set_state(mw_sgd *sgd, const float *momentum, bool stepped);

/* torch.optim.Adam without amsgrad. The learning rate is given to each step. */
typedef struct mw_adam_options {
    float beta1, beta2; /* moment decay rates, each in [0, 1) */
    float eps;          /* > 0, added to the bias-corrected sqrt(v) */
    float weight_decay; /* >= 0; L2 as torch's Adam: added to the gradient (not AdamW) */
} mw_adam_options;

/* PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0 (and lr 1e-3, which the
 * caller passes to mw_adam_step). */
mw_adam_options mw_adam_defaults(void);

typedef struct mw_adam mw_adam;

/* Optimizer over the same parameters as mw_sgd_create (those that receive a gradient). The
 * first and second moments are allocated here; the step count starts at 0. */
mw_status mw_adam_create(mw_exec *ex, const mw_adam_options *opt, mw_adam **out);
void mw_adam_free(mw_adam *adam);

/* One step t (1 for the first) with learning rate `lr`, after a MW_RUN_FORWARD_BACKWARD run:
 *   d = g + wd·p;  m = β1·m + (1-β1)·d;  v = β2·v + (1-β2)·d²;
 *   p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps). */
mw_status mw_adam_step(mw_adam *adam, float lr);

#ifdef __cplusplus
}
#endif
#endif
