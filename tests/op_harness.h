/* Running one op (or a small composite) both ways: on the OpenCL device and on the plain-C
 * reference backend, forward and backward with a given upstream gradient, plus a
 * finite-difference check of the reference backward. Every op test is built on it. */
#ifndef MEMWRAP_TEST_OP_HARNESS_H
#define MEMWRAP_TEST_OP_HARNESS_H

#include "support.h"

enum { OP_MAX_IN = 4 };

typedef int (*op_build_fn)(mw_graph *g, const int *inputs, const void *ctx);

typedef struct op_spec {
    int n_in;
    int ndim[OP_MAX_IN];
    int64_t shape[OP_MAX_IN][MW_MAX_DIMS];
    mw_dtype dtype[OP_MAX_IN]; /* MW_F32 inputs get gradients */
    op_build_fn build;
    const void *ctx;
} op_spec;

typedef struct op_result {
    float *out;                /* forward output */
    float *grad[OP_MAX_IN];    /* d <out, seed> / d input (NULL for int inputs) */
    size_t out_numel, in_numel[OP_MAX_IN];
} op_result;

/* Runs the op on `rt` (NULL: reference backend): inputs[i] as float or int32 data, seed
 * the upstream gradient of the output. Outputs are poisoned with NaN before the run. */
void op_run(const op_spec *spec, mw_runtime *rt, void *const *inputs, const float *seed,
            op_result *res);
void op_result_free(op_result *res);

/* Central differences of <out, seed> on the reference backend against res->grad, for every
 * float input; |fd − analytic| <= tol · max(|analytic|, 1e-2 · max|analytic|) elementwise. */
void op_check_finite_differences(const op_spec *spec, void *const *inputs, const float *seed,
                                 const op_result *res, float h, double tol);

/* Checks CL against the reference backend, both against PyTorch's vectors `want_out`,
 * `want_grad[i]` (any may be NULL), with relative tolerance `rtol`. */
void op_check_against(const char *what, const op_result *got, const float *want_out,
                      float *const *want_grad, int n_in, double rtol);

/* Runs the op on the OpenCL device (twice: with the device's work-group sizes and with
 * 64-item groups, the GPU shape of the row kernels) and on the reference backend and checks
 * all against PyTorch's `want_out` / `want_grad` (op_check_against), or, when want_out is
 * NULL, the device against the reference backend; then, if fd_h > 0, the reference backward
 * by finite differences with step fd_h and tolerance fd_tol. */
void op_check_both(const char *what, const op_spec *spec, void *const *inputs, const float *seed,
                   const float *want_out, float *const *want_grad, double rtol, float fd_h,
                   double fd_tol);

#endif
