/* Mean softmax cross-entropy: against PyTorch, the OpenCL kernel's one-work-group reduction
 * against the reference backend, labels out of range, and shape errors. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_ce(mw_graph *g, const int *in, const void *ctx) {
    return mw_softmax_cross_entropy(g, in[0], in[1]);
}

static op_spec ce_spec(int64_t rows, int64_t classes) {
    return (op_spec){2, {2, 1}, {{rows, classes}, {rows}}, {MW_F32, MW_I32}, build_ce, NULL};
}

static void test_ce_matches_pytorch(void **state) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    float *logits = test_reference_f32(ref, "ce.logits", 80);
    int32_t *labels = test_reference_i32(ref, "ce.labels", 8);
    float *loss = test_reference_f32(ref, "ce.loss", 1);
    float *want_grad[] = {test_reference_f32(ref, "ce.glogits", 80), NULL};
    const float seed[] = {1.0f};
    op_spec spec = ce_spec(8, 10);
    void *inputs[] = {logits, labels};
    /* The loss is a float: its rounding (half an ulp of ~2.3 over 2h) bounds the central
     * differences' accuracy near 5e-3 of the gradient's scale for any step. */
    op_check_both("cross-entropy", &spec, inputs, seed, loss, want_grad, 1e-5, 1e-2f, 1e-2);
    free(logits), free(labels), free(loss), free(want_grad[0]);
    mw_safetensors_free(ref);
}

/* The kernel runs one work-group of 64 items striding over rows: fewer rows than items,
 * one more than the group, and many rows per item. */
static void test_ce_rows_against_reference(void **state) {
    const int rows[] = {1, 65, 500};
    enum { CLASSES = 10 };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        test_rng r;
        test_rng_seed(&r, 40 + i);
        size_t n = (size_t)rows[i] * CLASSES;
        float *logits = malloc(n * sizeof *logits);
        int32_t *labels = malloc((size_t)rows[i] * sizeof *labels);
        test_fill_normal(&r, logits, n, 3.0f);
        for (int k = 0; k < rows[i]; k++)
            labels[k] = (int32_t)test_rng_uniform(&r, 0, CLASSES) % CLASSES;
        const float seed[] = {-0.75f}; /* the upstream gradient scales glogits */
        op_spec spec = ce_spec(rows[i], CLASSES);
        void *inputs[] = {logits, labels};
        char what[64];
        snprintf(what, sizeof what, "cross-entropy over %d rows", rows[i]);
        op_check_both(what, &spec, inputs, seed, NULL, NULL, 1e-5, 0, 0);
        free(logits), free(labels);
    }
}

/* A label outside [0, classes) makes the loss NaN (the trainer turns it into an error). The
 * same exec first computes a finite loss, so a kernel that wrote nothing cannot pass. */
static void test_label_out_of_range_gives_nan(void **state) {
    enum { ROWS = 3, CLASSES = 10 };
    float logits[ROWS * CLASSES], loss;
    test_rng r;
    test_rng_seed(&r, 43);
    test_fill_normal(&r, logits, ROWS * CLASSES, 1.0f);
    const int32_t good[ROWS] = {0, 9, 4}, bad[][ROWS] = {{0, CLASSES, 4}, {-1, 9, 4}};
    mw_runtime *rts[] = {test_runtime(), NULL};
    for (int b = 0; b < 2; b++) {
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            mw_graph *g = mw_graph_create();
            int64_t sl[2] = {ROWS, CLASSES}, sy[1] = {ROWS};
            int x = mw_graph_input(g, "logits", MW_F32, 2, sl);
            int y = mw_graph_input(g, "labels", MW_I32, 1, sy);
            int l = mw_softmax_cross_entropy(g, x, y);
            mw_graph_keep(g, l);
            TEST_OK(mw_graph_backward(g, l, &x, 1));
            mw_exec *ex = NULL;
            TEST_OK(mw_exec_create(g, rts[b], &ex));
            TEST_OK(mw_exec_write(ex, x, logits, sizeof logits));
            TEST_OK(mw_exec_write(ex, y, good, sizeof good));
            TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
            TEST_OK(mw_exec_read(ex, l, &loss, sizeof loss));
            assert_true(isfinite(loss) && loss > 0);
            TEST_OK(mw_exec_write(ex, y, bad[k], sizeof bad[k]));
            TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
            TEST_OK(mw_exec_read(ex, l, &loss, sizeof loss));
            if (!isnan(loss)) {
                print_error("%s backend, labels {%d, %d, %d}: loss %g, expected NaN\n",
                            rts[b] ? "opencl" : "reference", bad[k][0], bad[k][1], bad[k][2],
                            (double)loss);
                fail();
            }
            mw_exec_free(ex);
            mw_graph_free(g);
        }
    }
}

static void test_shape_errors(void **state) {
    int64_t sl[2] = {4, 10}, sy[1] = {4}, sy_short[1] = {3}, sy_2d[2] = {4, 1};
    struct {
        mw_dtype dtype;
        int ndim;
        const int64_t *shape;
    } bad[] = {{MW_F32, 1, sy}, {MW_I32, 1, sy_short}, {MW_I32, 2, sy_2d}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mw_graph *g = mw_graph_create();
        int x = mw_graph_input(g, "logits", MW_F32, 2, sl);
        int y = mw_graph_input(g, "labels", bad[i].dtype, bad[i].ndim, bad[i].shape);
        assert_int_equal(mw_softmax_cross_entropy(g, x, y), -1);
        assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
        assert_non_null(strstr(mw_graph_error(g), "softmax_cross_entropy"));
        assert_non_null(strstr(mw_graph_error(g), "labels"));
        mw_graph_free(g);
    }
    /* Logits that are not a matrix. */
    mw_graph *g = mw_graph_create();
    int x = mw_graph_input(g, "logits", MW_F32, 1, sy),
        y = mw_graph_input(g, "labels", MW_I32, 1, sy);
    assert_int_equal(mw_softmax_cross_entropy(g, x, y), -1);
    assert_int_equal(mw_graph_status(g), MW_ERR_INVALID_ARG);
    mw_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ce_matches_pytorch),
        cmocka_unit_test(test_ce_rows_against_reference),
        cmocka_unit_test(test_label_out_of_range_gives_nan),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
