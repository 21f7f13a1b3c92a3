/* sparsemax against entmax (PyTorch), its defining properties, ties and degenerate rows,
 * OpenCL vs reference backend and finite differences. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/launch.h" /* mw_group_size_override */
#include "ops/reference.h"

/* The device's work-group size, then 64-item groups: the GPU shape (cl/row_group.clh). */
static const size_t GROUPS[2] = {0, 64};

static int build_sparsemax(mw_graph *g, const int *in, const void *ctx) {
    return mw_sparsemax(g, in[0]);
}

static void check_reference_case(const char *prefix, int rows, int cols) {
    mw_safetensors *ref = test_reference("ops.safetensors");
    char name[64];
    size_t n = (size_t)rows * cols;
#define REF(field)                                                                                 \
    (snprintf(name, sizeof name, "%s.%s", prefix, field), test_reference_f32(ref, name, n))
    float *z = REF("z"), *p = REF("p"), *gp = REF("gp"), *gz = REF("gz");
#undef REF
    op_spec spec = {1, {2}, {{rows, cols}}, {MW_F32}, build_sparsemax, NULL};
    void *inputs[] = {z};
    float *want_grad[] = {gz};
    op_result cpu;
    op_run(&spec, NULL, inputs, gp, &cpu);
    char what[64];
    snprintf(what, sizeof what, "%s reference", prefix);
    op_check_against(what, &cpu, p, want_grad, 1, 1e-5);
    for (int g = 0; g < 2; g++) {
        op_result cl;
        mw_group_size_override = GROUPS[g];
        op_run(&spec, test_runtime(), inputs, gp, &cl);
        mw_group_size_override = 0;
        snprintf(what, sizeof what, "%s opencl, groups %zu", prefix, GROUPS[g]);
        op_check_against(what, &cl, p, want_grad, 1, 1e-5);
        /* Exact zeros must be exact on both backends: they are the explanation's support. */
        for (size_t i = 0; i < n; i++) {
            assert_true((p[i] == 0.0f) == (cl.out[i] == 0.0f));
            assert_true((p[i] == 0.0f) == (cpu.out[i] == 0.0f));
        }
        op_result_free(&cl);
    }
    op_result_free(&cpu);
    free(z), free(p), free(gp), free(gz);
    mw_safetensors_free(ref);
}

static void test_matches_entmax(void **state) {
    check_reference_case("sparsemax", 8, 12);
}

/* All-equal row, one huge value, tied maxima, a large offset. */
static void test_ties_and_degenerate_rows_match_entmax(void **state) {
    check_reference_case("sparsemax_ties", 4, 6);
}

static void assert_properties(const float *z, const float *p, const float *gp, const float *gz,
                              int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double sum = 0, gsum = 0;
        int zeros = 0;
        for (int j = 0; j < cols; j++) {
            float v = p[r * cols + j];
            assert_true(v >= 0.0f);
            zeros += v == 0.0f;
            sum += v;
            gsum += gz[r * cols + j];
            if (v == 0.0f) assert_true(gz[r * cols + j] == 0.0f);
        }
        assert_true(fabs(sum - 1.0) < 1e-5);
        assert_true(fabs(gsum) < 1e-4);
        (void)zeros;
    }
    (void)z, (void)gp;
}

static void test_properties_on_memory_sized_rows(void **state) {
    test_rng r;
    test_rng_seed(&r, 41);
    enum { ROWS = 67, COLS = 100 };
    float *z = malloc(ROWS * COLS * 4), *gp = malloc(ROWS * COLS * 4);
    float *shifted = malloc(ROWS * COLS * 4);
    test_fill_uniform(&r, z, ROWS * COLS, -1.0f, 0.0f); /* cosine − 1 lies in [−2, 0] */
    test_fill_normal(&r, gp, ROWS * COLS, 1.0f);
    for (int i = 0; i < ROWS * COLS; i++) {
        z[i] = roundf(z[i] * 4096.0f) / 4096.0f; /* on a grid, so that the shift is exact */
        shifted[i] = z[i] + 0.75f;
    }
    op_spec spec = {1, {2}, {{ROWS, COLS}}, {MW_F32}, build_sparsemax, NULL};
    op_result cl, cpu, cl_shift, wide;
    void *inputs[] = {z}, *inputs_shift[] = {shifted};
    op_run(&spec, test_runtime(), inputs, gp, &cl);
    op_run(&spec, NULL, inputs, gp, &cpu);
    op_run(&spec, test_runtime(), inputs_shift, gp, &cl_shift);
    mw_group_size_override = GROUPS[1];
    op_run(&spec, test_runtime(), inputs, gp, &wide);
    mw_group_size_override = 0;
    op_check_against("sparsemax 67x100", &cl, cpu.out, cpu.grad, 1, 1e-5);
    op_check_against("sparsemax 67x100, 64-item groups", &wide, cpu.out, cpu.grad, 1, 1e-5);
    op_result_free(&wide);
    assert_properties(z, cl.out, gp, cl.grad[0], ROWS, COLS);
    assert_properties(z, cpu.out, gp, cpu.grad[0], ROWS, COLS);
    /* Invariance to adding a constant to a row. */
    test_assert_close("shift invariance", cl_shift.out, cl.out, ROWS * COLS, 1e-5);
    /* Sparsity: with 100 uniform scores in a unit interval only a few survive. */
    int nonzero = 0;
    for (int i = 0; i < ROWS * COLS; i++)
        nonzero += cl.out[i] != 0.0f;
    assert_true(nonzero < ROWS * COLS / 2);
    op_result_free(&cl);
    op_result_free(&cpu);
    op_result_free(&cl_shift);
    free(z), free(gp), free(shifted);
}

/* Removing entries that got zero weight leaves the others unchanged. */
static void test_dropping_zero_entries_keeps_the_rest(void **state) {
    test_rng r;
    test_rng_seed(&r, 42);
    enum { COLS = 40 };
    float z[COLS], p[COLS], kept[COLS], pk[COLS];
    test_fill_normal(&r, z, COLS, 1.5f);
    mw_ref_sparsemax(z, p, 1, COLS);
    int k = 0;
    for (int j = 0; j < COLS; j++)
        if (p[j] > 0) kept[k++] = z[j];
    assert_true(k > 0 && k < COLS);
    mw_ref_sparsemax(kept, pk, 1, (size_t)k);
    for (int j = 0, i = 0; j < COLS; j++)
        if (p[j] > 0) assert_true(fabsf(pk[i++] - p[j]) < 1e-6f);
}

static void test_finite_differences(void **state) {
    test_rng r;
    test_rng_seed(&r, 43);
    enum { ROWS = 5, COLS = 9 };
    float z[ROWS * COLS], gp[ROWS * COLS];
    test_fill_normal(&r, z, ROWS * COLS, 1.0f);
    test_fill_normal(&r, gp, ROWS * COLS, 1.0f);
    op_spec spec = {1, {2}, {{ROWS, COLS}}, {MW_F32}, build_sparsemax, NULL};
    void *inputs[] = {z};
    op_result cpu;
    op_run(&spec, NULL, inputs, gp, &cpu);
    /* h small enough not to cross a support boundary for these inputs */
    op_check_finite_differences(&spec, inputs, gp, &cpu, 1e-3f, 5e-3);
    op_result_free(&cpu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_entmax),
        cmocka_unit_test(test_ties_and_degenerate_rows_match_entmax),
        cmocka_unit_test(test_properties_on_memory_sized_rows),
        cmocka_unit_test(test_dropping_zero_entries_keeps_the_rest),
        cmocka_unit_test(test_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
