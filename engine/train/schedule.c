/* Learning-rate schedules (PyTorch MultiStepLR / CosineAnnealingLR semantics, per epoch). */
#include "memwrap/schedule.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* M_PI is POSIX, not C11. */
static const double mw_pi = 3.14159265358979323846;

static const char *const kind_names[] = {"constant", "multistep", "cosine"};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == MW_SCHEDULE_KIND_COUNT,
               "every mw_schedule_kind needs a name");

const char *mw_schedule_kind_name(mw_schedule_kind kind) {
    return (unsigned)kind < MW_SCHEDULE_KIND_COUNT ? kind_names[kind] : "unknown";
}

mw_status mw_schedule_kind_from_name(const char *name, mw_schedule_kind *out) {
    if (!name || !out) {
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_schedule_kind_from_name: NULL argument");
    }
    for (int k = 0; k < MW_SCHEDULE_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (mw_schedule_kind)k;
            return MW_OK;
        }
    }
    return mw_error_set(MW_ERR_INVALID_ARG,
                        "unknown schedule kind '%s' (expected constant, multistep or cosine)",
                        name);
}

double mw_lr_at_epoch(const mw_lr_schedule *s, int epoch) {
    if (!s) return NAN;
    if (epoch < 0) epoch = 0;
    switch (s->kind) {
    case MW_SCHEDULE_CONSTANT:
        return s->base_lr;
    case MW_SCHEDULE_MULTISTEP: {
        /* Repeated multiplication, as PyTorch applies gamma at each milestone, rather than
         * pow(): keeps the values bit-identical to the reference's. */
        double lr = s->base_lr;
        int n = s->n_milestones < MW_SCHEDULE_MAX_MILESTONES ? s->n_milestones
                                                             : MW_SCHEDULE_MAX_MILESTONES;
        for (int i = 0; i < n; i++) {
            if (s->milestones[i] <= epoch) lr *= s->gamma;
        }
        return lr;
    }
    case MW_SCHEDULE_COSINE:
        /* Closed form; PyTorch's recursive update agrees to ~1e-15 relative over a whole
         * period (checked against its values in tests/test_schedule.c). */
        return s->eta_min +
               (s->base_lr - s->eta_min) * (1.0 + cos(mw_pi * (double)epoch / s->t_max)) / 2.0;
    default:
        return NAN;
    }
}

mw_status mw_lr_schedule_validate(const mw_lr_schedule *s) {
    if (!s) return mw_error_set(MW_ERR_INVALID_ARG, "schedule: NULL");
    if ((unsigned)s->kind >= MW_SCHEDULE_KIND_COUNT) {
        return mw_error_set(MW_ERR_INVALID_ARG, "schedule: unknown kind %d", (int)s->kind);
    }
    const char *kind = kind_names[s->kind];
    if (!isfinite(s->base_lr) || !(s->base_lr > 0.0)) {
        return mw_error_set(MW_ERR_INVALID_ARG, "%s schedule: lr must be > 0 (got %g)", kind,
                            s->base_lr);
    }
    if (s->kind == MW_SCHEDULE_MULTISTEP) {
        if (s->n_milestones < 0 || s->n_milestones > MW_SCHEDULE_MAX_MILESTONES) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "multistep schedule: %d milestones (0 to %d allowed)",
                                s->n_milestones, (int)MW_SCHEDULE_MAX_MILESTONES);
        }
        for (int i = 0; i < s->n_milestones; i++) {
            if (s->milestones[i] <= 0) {
                return mw_error_set(MW_ERR_INVALID_ARG,
                                    "multistep schedule: milestone %d is %d, must be > 0", i,
                                    s->milestones[i]);
            }
            if (i > 0 && s->milestones[i] <= s->milestones[i - 1]) {
                return mw_error_set(MW_ERR_INVALID_ARG,
                                    "multistep schedule: milestones must be strictly increasing "
                                    "(milestone %d is %d after %d)",
                                    i, s->milestones[i], s->milestones[i - 1]);
            }
        }
        if (!(s->gamma > 0.0 && s->gamma <= 1.0)) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "multistep schedule: gamma must be in (0, 1] (got %g)", s->gamma);
        }
    } else if (s->kind == MW_SCHEDULE_COSINE) {
        if (s->t_max <= 0) {
            return mw_error_set(MW_ERR_INVALID_ARG, "cosine schedule: t_max must be > 0 (got %d)",
                                s->t_max);
        }
        if (!isfinite(s->eta_min) || s->eta_min < 0.0) {
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "cosine schedule: eta_min must be >= 0 (got %g)", s->eta_min);
        }
    }
    return MW_OK;
}
