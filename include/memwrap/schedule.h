/* Learning-rate schedules as PyTorch defines them, stepped once per epoch (the reference
 * calls scheduler.step() at the end of every epoch): constant, MultiStepLR and
 * CosineAnnealingLR. The trainer asks for the LR in effect during each epoch. */
#ifndef MEMWRAP_SCHEDULE_H
#define MEMWRAP_SCHEDULE_H

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_SCHEDULE_MAX_MILESTONES = 16 };

typedef enum mw_schedule_kind {
    MW_SCHEDULE_CONSTANT = 0,
    MW_SCHEDULE_MULTISTEP, /* torch.optim.lr_scheduler.MultiStepLR */
    MW_SCHEDULE_COSINE,    /* torch.optim.lr_scheduler.CosineAnnealingLR */
    MW_SCHEDULE_KIND_COUNT
} mw_schedule_kind;

typedef struct mw_lr_schedule {
    mw_schedule_kind kind;
    double base_lr;                             /* the optimizer's initial lr */
    int milestones[MW_SCHEDULE_MAX_MILESTONES]; /* MULTISTEP: epochs, strictly increasing */
    int n_milestones;                           /* MULTISTEP */
    double gamma;                               /* MULTISTEP: factor at each milestone */
    int t_max;                                  /* COSINE: half period in epochs */
    double eta_min;                             /* COSINE: lr at epoch t_max */
} mw_lr_schedule;

/* The LR used during epoch `epoch` (0-based; epoch 0 uses base_lr). MULTISTEP:
 * base_lr * gamma^(number of milestones <= epoch); COSINE:
 * eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2, which equals
 * PyTorch's recursive update to ~1e-15 relative (tests/test_schedule.c checks it against
 * PyTorch's values). Negative epochs are treated as 0. `s` must have passed
 * mw_lr_schedule_validate; a NULL or unknown kind returns NaN. */
double mw_lr_at_epoch(const mw_lr_schedule *s, int epoch);

/* Checks the fields the kind uses: base_lr > 0; MULTISTEP: 0 <= n_milestones <= 16,
 * milestones > 0 and strictly increasing, gamma in (0, 1]; COSINE: t_max > 0,
 * eta_min >= 0. MW_ERR_INVALID_ARG with a message naming the field otherwise. */
mw_status mw_lr_schedule_validate(const mw_lr_schedule *s);

/* "constant", "multistep", "cosine" (the config file's spelling). */
const char *mw_schedule_kind_name(mw_schedule_kind kind);
/* Inverse of mw_schedule_kind_name; MW_ERR_INVALID_ARG naming the valid kinds otherwise. */
mw_status mw_schedule_kind_from_name(const char *name, mw_schedule_kind *out);

#ifdef __cplusplus
}
#endif
#endif
