/* See op_harness.h. */
#include "op_harness.h"

#include "ops/launch.h" /* mw_group_size_override */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t numel_of(const op_spec *s, int i) {
    size_t n = 1;
    for (int d = 0; d < s->ndim[i]; d++)
        n *= (size_t)s->shape[i][d];
    return n;
}

typedef struct built {
    mw_graph *g;
    int in[OP_MAX_IN], out, seed, grad[OP_MAX_IN];
} built;

static built build(const op_spec *spec) {
    built b = {mw_graph_create(), {-1, -1, -1, -1}, -1, -1, {-1, -1, -1, -1}};
    assert_non_null(b.g);
    int wrt[OP_MAX_IN], n_wrt = 0;
    for (int i = 0; i < spec->n_in; i++) {
        char name[32];
        snprintf(name, sizeof name, "in%d", i);
        b.in[i] = mw_graph_input(b.g, name, spec->dtype[i], spec->ndim[i], spec->shape[i]);
        if (spec->dtype[i] == MW_F32) wrt[n_wrt++] = b.in[i];
    }
    b.out = spec->build(b.g, b.in, spec->ctx);
    if (b.out < 0) {
        print_error("building the op graph failed: %s\n", mw_graph_error(b.g));
        fail();
    }
    mw_graph_keep(b.g, b.out);
    int64_t shape[MW_MAX_DIMS];
    int ndim = mw_tensor_ndim(b.g, b.out);
    for (int d = 0; d < ndim; d++)
        shape[d] = mw_tensor_dim(b.g, b.out, d);
    b.seed = mw_graph_input(b.g, "seed", MW_F32, ndim, shape);
    TEST_OK(mw_graph_backward_from(b.g, b.out, b.seed, wrt, n_wrt));
    for (int i = 0; i < spec->n_in; i++)
        b.grad[i] = mw_graph_grad(b.g, b.in[i]);
    return b;
}

static void write_inputs(mw_exec *ex, const built *b, const op_spec *spec, void *const *inputs,
                         const float *seed, size_t out_numel) {
    for (int i = 0; i < spec->n_in; i++)
        TEST_OK(mw_exec_write(ex, b->in[i], inputs[i], numel_of(spec, i) * 4));
    TEST_OK(mw_exec_write(ex, b->seed, seed, out_numel * 4));
}

void op_run(const op_spec *spec, mw_runtime *rt, void *const *inputs, const float *seed,
            op_result *res) {
    memset(res, 0, sizeof *res);
    built b = build(spec);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(b.g, rt, &ex));
    res->out_numel = mw_tensor_numel(b.g, b.out);
    res->out = malloc(res->out_numel * sizeof(float));
    test_poison(res->out, res->out_numel);
    TEST_OK(mw_exec_write(ex, b.out, res->out, res->out_numel * 4));
    for (int i = 0; i < spec->n_in; i++) {
        res->in_numel[i] = numel_of(spec, i);
        if (b.grad[i] < 0) continue;
        res->grad[i] = malloc(res->in_numel[i] * sizeof(float));
        test_poison(res->grad[i], res->in_numel[i]);
        TEST_OK(mw_exec_write(ex, b.grad[i], res->grad[i], res->in_numel[i] * 4));
    }
    write_inputs(ex, &b, spec, inputs, seed, res->out_numel);
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD_BACKWARD));
    TEST_OK(mw_exec_read(ex, b.out, res->out, res->out_numel * 4));
    for (int i = 0; i < spec->n_in; i++)
        if (res->grad[i]) TEST_OK(mw_exec_read(ex, b.grad[i], res->grad[i], res->in_numel[i] * 4));
    mw_exec_free(ex);
    mw_graph_free(b.g);
}

void op_result_free(op_result *res) {
    free(res->out);
    for (int i = 0; i < OP_MAX_IN; i++)
        free(res->grad[i]);
    memset(res, 0, sizeof *res);
}

static double dot_seed(mw_exec *ex, const built *b, const float *seed, size_t n, float *buf) {
    TEST_OK(mw_exec_run(ex, MW_RUN_FORWARD));
    TEST_OK(mw_exec_read(ex, b->out, buf, n * 4));
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)buf[i] * seed[i];
    return s;
}

void op_check_finite_differences(const op_spec *spec, void *const *inputs, const float *seed,
                                 const op_result *res, float h, double tol) {
    built b = build(spec);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(b.g, NULL, &ex));
    write_inputs(ex, &b, spec, inputs, seed, res->out_numel);
    float *buf = malloc(res->out_numel * sizeof *buf);
    for (int i = 0; i < spec->n_in; i++) {
        if (spec->dtype[i] != MW_F32 || !res->grad[i]) continue;
        size_t n = numel_of(spec, i);
        float *x = malloc(n * sizeof *x);
        memcpy(x, inputs[i], n * sizeof *x);
        double scale = 0;
        for (size_t k = 0; k < n; k++)
            scale = fmax(scale, fabs(res->grad[i][k]));
        for (size_t k = 0; k < n; k++) {
            float orig = x[k];
            x[k] = orig + h;
            TEST_OK(mw_exec_write(ex, b.in[i], x, n * 4));
            double up = dot_seed(ex, &b, seed, res->out_numel, buf);
            x[k] = orig - h;
            TEST_OK(mw_exec_write(ex, b.in[i], x, n * 4));
            double down = dot_seed(ex, &b, seed, res->out_numel, buf);
            x[k] = orig;
            double fd = (up - down) / (2.0 * h), an = res->grad[i][k];
            double err = fabs(fd - an) / fmax(fabs(an), 1e-2 * scale + 1e-12);
            if (!(err <= tol)) {
                print_error("finite differences, input %d [%zu]: numeric %.7g, analytic %.7g "
                            "(relative error %.3g > %.3g)\n",
                            i, k, fd, an, err, tol);
                fail();
            }
        }
        TEST_OK(mw_exec_write(ex, b.in[i], x, n * 4));
        free(x);
    }
    free(buf);
    mw_exec_free(ex);
    mw_graph_free(b.g);
}

void op_check_against(const char *what, const op_result *got, const float *want_out,
                      float *const *want_grad, int n_in, double rtol) {
    char label[160];
    if (want_out) {
        snprintf(label, sizeof label, "%s forward", what);
        test_assert_close(label, got->out, want_out, got->out_numel, rtol);
    }
    for (int i = 0; i < n_in; i++) {
        if (!want_grad || !want_grad[i]) continue;
        assert_non_null(got->grad[i]);
        snprintf(label, sizeof label, "%s gradient of input %d", what, i);
        test_assert_close(label, got->grad[i], want_grad[i], got->in_numel[i], rtol);
    }
}

void op_check_both(const char *what, const op_spec *spec, void *const *inputs, const float *seed,
                   const float *want_out, float *const *want_grad, double rtol, float fd_h,
                   double fd_tol) {
    op_result cl, wide, cpu;
    op_run(spec, test_runtime(), inputs, seed, &cl);
    /* The GPU shape of the row kernels (cl/row_group.clh): 64-item work-groups, as a GPU
     * gets them, on whatever device the tests have. */
    mw_group_size_override = 64;
    op_run(spec, test_runtime(), inputs, seed, &wide);
    mw_group_size_override = 0;
    op_run(spec, NULL, inputs, seed, &cpu);
    char label[160];
    const op_result *cls[2] = {&cl, &wide};
    const char *const shapes[2] = {"opencl", "opencl, 64-item groups"};
    for (int i = 0; i < 2; i++) {
        if (want_out) {
            snprintf(label, sizeof label, "%s %s", what, shapes[i]);
            op_check_against(label, cls[i], want_out, want_grad, spec->n_in, rtol);
        } else {
            snprintf(label, sizeof label, "%s %s vs reference", what, shapes[i]);
            op_check_against(label, cls[i], cpu.out, cpu.grad, spec->n_in, rtol);
        }
    }
    if (want_out) {
        snprintf(label, sizeof label, "%s reference", what);
        op_check_against(label, &cpu, want_out, want_grad, spec->n_in, rtol);
    }
    if (fd_h > 0) op_check_finite_differences(spec, inputs, seed, &cpu, fd_h, fd_tol);
    op_result_free(&cl);
    op_result_free(&wide);
    op_result_free(&cpu);
}
