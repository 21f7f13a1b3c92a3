/* Counterfactual quality (memwrap/explain.h, reference-spec 6.6): IM1, IIM1 and IM2, the
 * elastic distance, the step size's decay, the gradient of the distance terms and one FISTA
 * step, each on a hand-computed case; and the autoencoder (memwrap/models.h) against the
 * reference's PyTorch module on both backends: reconstructions, loss, and gradients of the
 * parameters and of the input. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/explain.h"
#include "memwrap/models.h"
#include "memwrap/ops.h"

static void test_scores(void **state) {
    (void)state;
    /* ‖cf‖ = 5; cf − AE_cf(cf) = (0, 1); cf − AE_orig(cf) = (2, 0); AE_cf − AE_full = (3, 0) */
    const float cf[2] = {3, 4}, ae_cf[2] = {3, 3}, ae_orig[2] = {1, 4}, ae_full[2] = {0, 3};
    mw_cf_scores s = mw_cf_interpretability(cf, ae_cf, ae_orig, ae_full, 2);
    assert_true(fabs(s.im1 - 1.0 / (2.0 + 1e-8)) < 1e-12);
    assert_true(fabs(s.iim1 - 2.0 / (1.0 + 1e-8)) < 1e-12);
    assert_true(fabs(s.im2 - 3.0 / (5.0 + 1e-8)) < 1e-12);
    /* a perfect reconstruction by the counterfactual class: IM1 0, IIM1 ‖·‖ / 1e-8 */
    mw_cf_scores z = mw_cf_interpretability(cf, cf, ae_orig, ae_full, 2);
    assert_true(z.im1 == 0.0);
    assert_true(fabs(z.iim1 - 2e8) < 1.0);
}

static void test_distance_and_rate(void **state) {
    (void)state;
    /* δ = (−1, 0, 2): ‖δ‖² = 5, ‖δ‖₁ = 3 */
    const float orig[3] = {1, 2, 3}, adv[3] = {2, 2, 1};
    assert_true(fabs(mw_cf_elastic_distance(orig, adv, 0.1f, 3) - 5.3) < 1e-6);
    assert_true(fabs(mw_cf_elastic_distance(orig, adv, 0.0f, 3) - 5.0) < 1e-12);
    assert_true(fabs(mw_cf_learning_rate(0.1, 0, 100, 0.5) - 0.1) < 1e-15);
    assert_true(fabs(mw_cf_learning_rate(0.1, 75, 100, 0.5) - 0.05) < 1e-15);
    assert_true(mw_cf_learning_rate(0.1, 100, 100, 0.5) == 0.0);
    assert_true(mw_cf_learning_rate(0.1, 150, 100, 0.5) == 0.0); /* decay ends at the last step */
}

static void test_distance_gradient(void **state) {
    (void)state;
    /* s − orig = (1, 0, −1, 999): β·sign + 2(s − orig) added to the prototype term's gradient,
     * clipped to ±1000; sign(0) = 0 as autograd's |x|' */
    const float orig[4] = {1, 1, 1, 1}, s[4] = {2, 1, 0, 1000};
    float grad[4] = {0.5f, 0.25f, 0, 0};
    mw_cf_distance_gradient(orig, s, 0.1f, 1000.0f, grad, 4);
    const float want[4] = {2.6f, 0.25f, -2.1f, 1000.0f};
    for (int i = 0; i < 4; i++)
        assert_true(fabsf(grad[i] - want[i]) < 1e-5f);
}

static void test_fista_step(void **state) {
    (void)state;
    /* s − lr·grad = (0.5, 0.05, −1, 5) from orig 0: shrunk by β = 0.1 to (0.4, 0, −0.9, 2)
     * (the last clamped to hi = 2); momentum at k = 0 is 1/4 against the previous iterate
     * (0.2, 0, 0, 0): s = (0.45, 0, −1.125, 2.5 -> 2) */
    const float orig[4] = {0, 0, 0, 0}, grad[4] = {1, 0, 0, 0};
    float adv[4] = {0.2f, 0, 0, 0}, s[4] = {1, 0.05f, -1, 5};
    mw_cf_fista_step(orig, grad, 0.5f, 0, 0.1f, -2.0f, 2.0f, adv, s, 4);
    const float want_adv[4] = {0.4f, 0, -0.9f, 2.0f}, want_s[4] = {0.45f, 0, -1.125f, 2.0f};
    for (int i = 0; i < 4; i++) {
        assert_true(fabsf(adv[i] - want_adv[i]) < 1e-6f);
        assert_true(fabsf(s[i] - want_s[i]) < 1e-6f);
    }
    /* at k = 8 the momentum is 9/12; a value inside β of the input snaps back to it */
    float adv2[2] = {1.0f, 3.0f}, s2[2] = {3.0f, 0.05f};
    const float orig2[2] = {1.0f, 0.0f}, zero[2] = {0, 0};
    mw_cf_fista_step(orig2, zero, 0.1f, 8, 0.1f, -10.0f, 10.0f, adv2, s2, 2);
    assert_true(fabsf(adv2[0] - 2.9f) < 1e-6f && fabsf(s2[0] - (2.9f + 0.75f * 1.9f)) < 1e-5f);
    assert_true(adv2[1] == 0.0f && fabsf(s2[1] - (0.0f - 0.75f * 3.0f)) < 1e-6f);
}

/* ---- the autoencoder against the reference's module ------------------------------------ */

/* [N, C, H, W] <-> [C, N, H, W] */
static void swap_nc(const float *in, float *out, int a, int b, size_t plane) {
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++)
            memcpy(out + ((size_t)j * a + i) * plane, in + ((size_t)i * b + j) * plane,
                   plane * sizeof *out);
}

static void autoencoder_case(const char *name, int C, int N, int H, int W, mw_runtime *rt) {
    mw_safetensors *ref = test_reference("autoencoder.safetensors");
    char key[128];
    const size_t plane = (size_t)H * W, numel = (size_t)N * C * plane;
    mw_graph *g = mw_graph_create();
    int64_t shape[4] = {N, C, H, W};
    int images = mw_graph_input(g, "images", MW_F32, 4, shape);
    int maps = mw_images_to_maps(g, images), code;
    int recon = mw_autoencoder(g, maps, &code);
    int loss = mw_mse_loss(g, recon, maps);
    mw_graph_keep(g, recon);
    mw_graph_keep(g, code);
    mw_graph_keep(g, loss);
    assert_int_equal(mw_graph_backward(g, loss, &images, 1), MW_OK);
    assert_int_equal(mw_graph_status(g), MW_OK);
    assert_int_equal(mw_graph_param_count(g), 12); /* 6 convs, weight and bias */
    mw_exec *ex = NULL;
    assert_int_equal(mw_exec_create(g, rt, &ex), MW_OK);
    /* the reference's parameters by their state_dict names */
    for (int i = 0; i < mw_graph_param_count(g); i++) {
        int p = mw_graph_param_at(g, i);
        snprintf(key, sizeof key, "%s.%s", name, mw_tensor_name(g, p));
        float *v = test_reference_f32(ref, key, mw_tensor_numel(g, p));
        assert_int_equal(mw_exec_write(ex, p, v, mw_tensor_numel(g, p) * sizeof *v), MW_OK);
        free(v);
    }
    snprintf(key, sizeof key, "%s.x", name);
    float *x = test_reference_f32(ref, key, numel);
    assert_int_equal(mw_exec_write(ex, images, x, numel * sizeof *x), MW_OK);
    float *got = malloc(numel * sizeof *got), *got_nchw = malloc(numel * sizeof *got_nchw);
    test_poison(got, numel);
    assert_int_equal(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD), MW_OK);
    assert_int_equal(mw_exec_read(ex, recon, got, numel * sizeof *got), MW_OK);
    swap_nc(got, got_nchw, C, N, plane);
    snprintf(key, sizeof key, "%s.y", name);
    float *want = test_reference_f32(ref, key, numel);
    test_assert_close("autoencoder output", got_nchw, want, numel, 1e-4);
    free(want);
    const size_t code_numel = (size_t)N * (H / 2) * (W / 2); /* one channel: same layouts */
    assert_int_equal(mw_exec_read(ex, code, got, code_numel * sizeof *got), MW_OK);
    snprintf(key, sizeof key, "%s.code", name);
    want = test_reference_f32(ref, key, code_numel);
    test_assert_close("autoencoder code", got, want, code_numel, 1e-4);
    free(want);
    float got_loss;
    assert_int_equal(mw_exec_read(ex, loss, &got_loss, sizeof got_loss), MW_OK);
    snprintf(key, sizeof key, "%s.loss", name);
    want = test_reference_f32(ref, key, 1);
    test_assert_close("autoencoder loss", &got_loss, want, 1, 1e-4);
    free(want);
    /* gradients: x is both the input and the target, as in training */
    assert_int_equal(mw_exec_read(ex, mw_graph_grad(g, images), got, numel * sizeof *got), MW_OK);
    snprintf(key, sizeof key, "%s.grad.x", name);
    want = test_reference_f32(ref, key, numel);
    test_assert_close("autoencoder input gradient", got, want, numel, 1e-4);
    free(want);
    for (int i = 0; i < mw_graph_param_count(g); i++) {
        int p = mw_graph_param_at(g, i);
        size_t n = mw_tensor_numel(g, p);
        float *gp = malloc(n * sizeof *gp);
        assert_int_equal(mw_exec_read(ex, mw_graph_grad(g, p), gp, n * sizeof *gp), MW_OK);
        snprintf(key, sizeof key, "%s.grad.%s", name, mw_tensor_name(g, p));
        want = test_reference_f32(ref, key, n);
        test_assert_close(key, gp, want, n, 1e-4);
        free(want), free(gp);
    }
    free(x), free(got), free(got_nchw);
    mw_exec_free(ex);
    mw_graph_free(g);
    mw_safetensors_free(ref);
}

static void test_autoencoder(void **state) {
    (void)state;
    autoencoder_case("ae1", 1, 2, 28, 28, NULL);
    autoencoder_case("ae3", 3, 2, 32, 32, NULL);
    autoencoder_case("ae1", 1, 2, 28, 28, test_runtime());
    autoencoder_case("ae3", 3, 2, 32, 32, test_runtime());
}

static void test_autoencoder_shapes(void **state) {
    (void)state;
    mw_graph *g = mw_graph_create();
    int64_t odd[4] = {1, 2, 7, 8};
    int code;
    int maps = mw_graph_input(g, "maps", MW_F32, 4, odd);
    assert_int_equal(mw_autoencoder(g, maps, &code), -1);
    assert_int_equal(code, -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_graph_error(g), "H and W even"));
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores),          cmocka_unit_test(test_distance_and_rate),
        cmocka_unit_test(test_distance_gradient), cmocka_unit_test(test_fista_step),
        cmocka_unit_test(test_autoencoder),     cmocka_unit_test(test_autoencoder_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
