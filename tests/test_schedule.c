/* Learning-rate schedules against PyTorch's own values (tests/reference/data/ops.safetensors,
 * `schedule.*.lr`: the LR in effect during each epoch, scheduler stepped once per epoch),
 * plus validation. Needs no OpenCL device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "memwrap/safetensors.h"
#include "memwrap/schedule.h"

#ifndef MEMWRAP_REFERENCE_DIR
#error "MEMWRAP_REFERENCE_DIR must point at tests/reference/data"
#endif

/* |got - want| <= 1e-12 |want|; exact where want is 0 (the cosine's last epoch). */
static void assert_lr_matches(const mw_lr_schedule *s, const double *want, int n,
                              const char *what) {
    for (int e = 0; e < n; e++) {
        double got = mw_lr_at_epoch(s, e);
        double err = fabs(got - want[e]);
        if (!(err <= 1e-12 * fabs(want[e]))) {
            fprintf(stderr, "%s: epoch %d: got %.17g, PyTorch %.17g\n", what, e, got, want[e]);
            fail();
        }
    }
}

static void read_reference(const char *name, double *out, int64_t n) {
    mw_safetensors *st = NULL;
    mw_status s = mw_safetensors_load(MEMWRAP_REFERENCE_DIR "/ops.safetensors", &st);
    if (s != MW_OK) fprintf(stderr, "%s\n", mw_error_message());
    assert_int_equal(s, MW_OK);
    s = mw_safetensors_read_f64(st, name, 1, &n, out, (size_t)n);
    if (s != MW_OK) fprintf(stderr, "%s\n", mw_error_message());
    assert_int_equal(s, MW_OK);
    mw_safetensors_free(st);
}

/* SVHN's schedule: SGD lr 0.1, MultiStepLR([20, 30], gamma 0.1), 40 epochs (+1). */
static void test_multistep_matches_pytorch(void **state) {
    (void)state;
    double want[41];
    read_reference("schedule.multistep.lr", want, 41);
    mw_lr_schedule s = {.kind = MW_SCHEDULE_MULTISTEP,
                        .base_lr = 0.1,
                        .milestones = {20, 30},
                        .n_milestones = 2,
                        .gamma = 0.1};
    assert_int_equal(mw_lr_schedule_validate(&s), MW_OK);
    assert_lr_matches(&s, want, 41, "multistep");
    /* the boundaries, spelled out: a milestone's epoch already uses the reduced LR */
    assert_true(mw_lr_at_epoch(&s, 19) == 0.1);
    assert_true(fabs(mw_lr_at_epoch(&s, 20) - 0.01) < 1e-17);
    assert_true(fabs(mw_lr_at_epoch(&s, 29) - 0.01) < 1e-17);
    assert_true(fabs(mw_lr_at_epoch(&s, 30) - 0.001) < 1e-18);
    assert_true(mw_lr_at_epoch(&s, -5) == 0.1);
}

/* CINIC10's schedule: CosineAnnealingLR(T_max=300, eta_min=0), PyTorch's recursive form. */
static void test_cosine_matches_pytorch(void **state) {
    (void)state;
    double want[301];
    read_reference("schedule.cosine.lr", want, 301);
    mw_lr_schedule s = {.kind = MW_SCHEDULE_COSINE, .base_lr = 0.1, .t_max = 300, .eta_min = 0};
    assert_int_equal(mw_lr_schedule_validate(&s), MW_OK);
    assert_lr_matches(&s, want, 301, "cosine");
    assert_true(mw_lr_at_epoch(&s, 0) == 0.1);
    assert_true(mw_lr_at_epoch(&s, 300) == 0.0);
    assert_true(fabs(mw_lr_at_epoch(&s, 150) - 0.05) < 1e-16);
}

static void test_constant_and_eta_min(void **state) {
    (void)state;
    mw_lr_schedule c = {.kind = MW_SCHEDULE_CONSTANT, .base_lr = 0.05};
    assert_int_equal(mw_lr_schedule_validate(&c), MW_OK);
    for (int e = 0; e < 500; e += 37)
        assert_true(mw_lr_at_epoch(&c, e) == 0.05);

    mw_lr_schedule s = {.kind = MW_SCHEDULE_COSINE, .base_lr = 0.1, .t_max = 10, .eta_min = 0.01};
    assert_int_equal(mw_lr_schedule_validate(&s), MW_OK);
    assert_true(fabs(mw_lr_at_epoch(&s, 10) - 0.01) < 1e-16);
    assert_true(fabs(mw_lr_at_epoch(&s, 5) - 0.055) < 1e-16);
    /* no milestones: constant */
    mw_lr_schedule m = {.kind = MW_SCHEDULE_MULTISTEP, .base_lr = 0.1, .gamma = 0.5};
    assert_int_equal(mw_lr_schedule_validate(&m), MW_OK);
    assert_true(mw_lr_at_epoch(&m, 1000) == 0.1);
    assert_true(isnan(mw_lr_at_epoch(NULL, 0)));
}

static void expect_invalid(const mw_lr_schedule *s, const char *needle) {
    mw_status st = mw_lr_schedule_validate(s);
    assert_int_equal(st, MW_ERR_INVALID_ARG);
    if (!strstr(mw_error_message(), needle)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", mw_error_message(), needle);
        fail();
    }
}

static void test_validation(void **state) {
    (void)state;
    const mw_lr_schedule ok_ms = {.kind = MW_SCHEDULE_MULTISTEP,
                                  .base_lr = 0.1,
                                  .milestones = {20, 30},
                                  .n_milestones = 2,
                                  .gamma = 0.1};
    const mw_lr_schedule ok_cos = {.kind = MW_SCHEDULE_COSINE, .base_lr = 0.1, .t_max = 300};
    mw_lr_schedule s;

    assert_int_equal(mw_lr_schedule_validate(NULL), MW_ERR_INVALID_ARG);
    s = ok_ms;
    s.kind = (mw_schedule_kind)42;
    expect_invalid(&s, "kind");

    s = ok_ms;
    s.base_lr = 0;
    expect_invalid(&s, "lr must be > 0");
    s.base_lr = -0.1;
    expect_invalid(&s, "lr must be > 0");
    s.base_lr = NAN;
    expect_invalid(&s, "lr must be > 0");
    s = ok_cos;
    s.base_lr = INFINITY;
    expect_invalid(&s, "lr must be > 0");

    s = ok_ms;
    s.milestones[0] = 30;
    s.milestones[1] = 20;
    expect_invalid(&s, "strictly increasing");
    s.milestones[1] = 30;
    expect_invalid(&s, "strictly increasing");
    s.milestones[0] = 0;
    expect_invalid(&s, "must be > 0");
    s.milestones[0] = -3;
    expect_invalid(&s, "must be > 0");
    s = ok_ms;
    s.n_milestones = 17;
    expect_invalid(&s, "milestones");
    s.n_milestones = -1;
    expect_invalid(&s, "milestones");
    s = ok_ms;
    s.gamma = 0;
    expect_invalid(&s, "gamma");
    s.gamma = 1.5;
    expect_invalid(&s, "gamma");
    s.gamma = NAN;
    expect_invalid(&s, "gamma");
    s.gamma = 1.0; /* no decay is allowed */
    assert_int_equal(mw_lr_schedule_validate(&s), MW_OK);

    s = ok_cos;
    s.t_max = 0;
    expect_invalid(&s, "t_max");
    s.t_max = -300;
    expect_invalid(&s, "t_max");
    s = ok_cos;
    s.eta_min = -1e-3;
    expect_invalid(&s, "eta_min");

    /* fields of other kinds are ignored: a cosine schedule's zero gamma is fine */
    s = ok_cos;
    s.gamma = 0;
    s.n_milestones = 99;
    assert_int_equal(mw_lr_schedule_validate(&s), MW_OK);
}

static void test_kind_names(void **state) {
    (void)state;
    for (int k = 0; k < MW_SCHEDULE_KIND_COUNT; k++) {
        mw_schedule_kind back;
        assert_int_equal(
            mw_schedule_kind_from_name(mw_schedule_kind_name((mw_schedule_kind)k), &back), MW_OK);
        assert_int_equal(back, k);
    }
    assert_string_equal(mw_schedule_kind_name(MW_SCHEDULE_COSINE), "cosine");
    mw_schedule_kind k;
    assert_int_equal(mw_schedule_kind_from_name("step", &k), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "'step'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multistep_matches_pytorch),
        cmocka_unit_test(test_cosine_matches_pytorch),
        cmocka_unit_test(test_constant_and_eta_min),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
