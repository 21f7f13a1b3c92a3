/* Helpers shared by the cmocka tests: one OpenCL runtime per test process, seeded random
 * data, tolerant comparisons that print where they fail, and reference-vector loading. */
#ifndef MEMWRAP_TEST_SUPPORT_H
#define MEMWRAP_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "memwrap/memwrap.h"
#include "memwrap/results.h"
#include "memwrap/data.h"
#include "memwrap/config.h"

/* The runtime on MEMWRAP_DEVICE / the default device, created on first use and freed at
 * exit. Fails the test (with the library's message) when no device can be opened. */
mw_runtime *test_runtime(void);

/* A cmocka group teardown that frees test_runtime()'s runtime before main returns. Tests
 * run under Oclgrind use it: Oclgrind 21.10 frees a thread-local of its own before atexit
 * handlers run, so OpenCL calls from an atexit handler corrupt its heap (README). */
int test_free_runtime(void **state);

/* `full`, or `small` when MEMWRAP_TEST_SMALL_SHAPES is set (not empty, not 0): the simulated
 * device runs (ctest -L oclgrind) interpret every work-item, so the op tests' larger shapes
 * shrink there, keeping their odd and ragged sizes. */
size_t test_size(size_t full, size_t small);
bool test_small_shapes(void);

/* Deterministic xorshift generator; tests seed it per case. */
typedef struct test_rng {
    uint64_t s;
} test_rng;
void test_rng_seed(test_rng *r, uint64_t seed);
float test_rng_uniform(test_rng *r, float lo, float hi);
float test_rng_normal(test_rng *r);
void test_fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi);
void test_fill_normal(test_rng *r, float *x, size_t n, float scale);

/* Fills with a NaN pattern so that an output a kernel forgot to write cannot pass. */
void test_poison(float *x, size_t n);

/* Asserts |got - want| <= rtol * max(|want|, floor) elementwise, where floor = 1e-2 times
 * the largest |want|: a relative tolerance that does not explode on near-zero entries.
 * On failure prints `what`, the worst index and both values. */
void test_assert_close(const char *what, const float *got, const float *want, size_t n,
                       double rtol);
/* Largest relative error as defined above (for reporting). */
double test_max_rel_error(const float *got, const float *want, size_t n);

/* Loads tests/reference/data/<file> (fails the test if missing). */
mw_safetensors *test_reference(const char *file);
/* Reads a float tensor of the given total size from a reference file (fails on error). */
float *test_reference_f32(const mw_safetensors *st, const char *name, size_t numel);
int32_t *test_reference_i32(const mw_safetensors *st, const char *name, size_t numel);

/* Files for fixtures: write or read a whole file (failing the test on any error), and
 * remove a directory tree (teardown of a mkdtemp directory). */
void test_write_file(const char *path, const void *data, size_t n);
uint8_t *test_read_file(const char *path, size_t *n); /* malloc'd, NUL-terminated; n may be NULL */
void test_remove_tree(const char *dir);
/* Makes a fresh directory /tmp/<prefix>XXXXXX into out (cap >= 64); false on failure. */
bool test_make_tmpdir(char *out, size_t cap, const char *prefix);

/* cmocka setup/teardown of a fresh temporary directory /tmp/<prefix>XXXXXX: *state gets a
 * malloc'd test_dir_fixture whose path is dir/<file> ("" when file is NULL); the teardown
 * removes the directory and frees the fixture. */
typedef struct test_dir_fixture {
    char dir[64];
    char path[256];
} test_dir_fixture;
int test_dir_setup(void **state, const char *prefix, const char *file);

/* Runs `memwrap ARGS` (the built CLI; stderr discarded): its exit status, and its stdout
 * (malloc'd) in *out when out is not NULL. */
int test_cli_output(const char *args, char **out);
int test_dir_teardown(void **state);

/* Checks on what an end-to-end run wrote: PNG `folder`/`name` decodes and is larger than
 * 100 x 100 pixels; key `key` of a JSON object (failing the test, naming it, when absent). */
void test_check_png(const char *folder, const char *name);
struct cJSON;
const struct cJSON *test_json_item(const struct cJSON *o, const char *key);

/* Entries of a directory besides . and .. (-1 when it cannot be read). */
int test_count_dir_entries(const char *dir);

/* Runs the memwrap CLI with printf-style arguments, stdout and stderr to `log`; returns its
 * exit code (-1 if it did not exit normally). */
int test_cli(const char *log, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Runs a shell command line (printf-style), stdout and stderr to `log`; returns its exit
 * status (the shell's 128 + N when signal N killed the command, -1 if the shell itself did not
 * exit normally). */
int test_shell(const char *log, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Fails the test unless `html` (a page memwrap wrote into `dir`) starts with a doctype, has
 * balanced tags and paired attribute quotes, no script, and every local src/href present
 * under dir (tests/html_check.c). */
void test_check_html(const char *html, const char *dir);

/* Writes every parameter and state tensor of g as the reference models initialised them
 * (tests/hashed_init.h): the range in `ref`'s init.<name>.ab, or else the hashed default for
 * the shape of the weight beside it; integer counters start at 0. */
void test_hashed_load(mw_exec *ex, const mw_graph *g, const mw_safetensors *ref);

/* The probes' runtime: the default device with profiling events; exits 1 with a message
 * where there is none. */
mw_runtime *test_profiling_runtime(void);

/* The probes' timing: one warm-up run of ex in `mode` (kernels built, buffers touched), then
 * `reps` runs with profiling events; the per-op totals of those runs go to t (capacity
 * MW_OP_TIME_MAX), their count is returned. */
int test_profile_runs(mw_exec *ex, mw_run_mode mode, int reps, mw_op_time *t);

/* The convolution probes' run: one conv2d node (stride, padding k / 2, groups) with the
 * input and weight gradients of a seed gy, on `batch` images of cin x hw x hw uniform in
 * [-1, 1) (gy too), timed by test_profile_runs; ms[0..2] get the mean milliseconds of the
 * forward, input gradient and weight gradient per run, and y, gx and gw the results. */
void test_time_conv(mw_runtime *rt, int cin, int cout, int batch, int hw, int k, int stride,
                    int groups, int reps, float *y, float *gx, float *gw, double ms[3]);

/* Asserts that `status` is MW_OK, printing mw_error_message() otherwise. */
#define TEST_OK(expr) test_assert_ok_((expr), #expr, __FILE__, __LINE__)
void test_assert_ok_(mw_status s, const char *expr, const char *file, int line);

#endif
