/* Shared test helpers (see support.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "support.h"

#include "hashed_init.h"

#include <dirent.h>
#include <pthread.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/wait.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static mw_runtime *shared_runtime;
static pthread_t runtime_thread; /* the thread that created it */

/* Also an atexit handler. A kernel that crashes does so on one of PoCL's worker threads,
 * where cmocka's signal handler calls exit: freeing the runtime there waits for that very
 * thread, and the test hung until ctest's timeout instead of failing. Off the creating
 * thread the process is going down anyway, so the runtime is left to it. */
static void free_shared_runtime(void) {
    if (shared_runtime && !pthread_equal(pthread_self(), runtime_thread)) return;
    mw_runtime_free(shared_runtime);
    shared_runtime = NULL;
}

mw_runtime *test_runtime(void) {
    if (!shared_runtime) {
        mw_runtime_options opt = {0};
        mw_status s = mw_runtime_create(&opt, &shared_runtime);
        if (s != MW_OK) {
            print_error("cannot open an OpenCL device: %s\n", mw_error_message());
            fail();
        }
        runtime_thread = pthread_self();
        atexit(free_shared_runtime);
        const mw_device_info *d = mw_runtime_device(shared_runtime);
        print_message("[ device  ] %d:%d %s / %s\n", d->platform_index, d->device_index,
                      d->platform_name, d->name);
    }
    return shared_runtime;
}

int test_free_runtime(void **state) {
    (void)state;
    free_shared_runtime();
    return 0;
}

bool test_small_shapes(void) {
    const char *v = getenv("MEMWRAP_TEST_SMALL_SHAPES");
    return v && *v && strcmp(v, "0") != 0;
}

size_t test_size(size_t full, size_t small) {
    return test_small_shapes() ? small : full;
}

void test_rng_seed(test_rng *r, uint64_t seed) {
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->s == 0) r->s = 1;
}

static uint64_t rng_next(test_rng *r) {
    /* xorshift64*: fast, good enough for test data, identical on every platform. */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

float test_rng_uniform(test_rng *r, float lo, float hi) {
    double u = (double)(rng_next(r) >> 11) / (double)(1ull << 53);
    return (float)(lo + (hi - lo) * u);
}

float test_rng_normal(test_rng *r) {
    double u1 = ((double)(rng_next(r) >> 11) + 0.5) / (double)(1ull << 53);
    double u2 = (double)(rng_next(r) >> 11) / (double)(1ull << 53);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void test_fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = test_rng_uniform(r, lo, hi);
}

void test_fill_normal(test_rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = scale * test_rng_normal(r);
}

void test_poison(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    return m;
}

static double worst(const float *got, const float *want, size_t n, size_t *at) {
    double floor = 1e-2 * max_abs(want, n), w = 0;
    if (floor == 0) floor = 1e-30;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double e = d / fmax(fabs((double)want[i]), floor);
        if (!(e <= w)) { /* NaN counts as the worst error */
            w = isnan(e) ? INFINITY : e;
            *at = i;
            if (isinf(w)) break;
        }
    }
    return w;
}

double test_max_rel_error(const float *got, const float *want, size_t n) {
    size_t at;
    return worst(got, want, n, &at);
}

void test_assert_close(const char *what, const float *got, const float *want, size_t n,
                       double rtol) {
    size_t at;
    double w = worst(got, want, n, &at);
    if (!(w <= rtol)) {
        print_error("%s: max relative error %.3g > %.3g at [%zu]: got %.9g, want %.9g\n", what, w,
                    rtol, at, (double)got[at], (double)want[at]);
        fail();
    }
}

mw_safetensors *test_reference(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MEMWRAP_REFERENCE_DIR, file);
    mw_safetensors *st = NULL;
    test_assert_ok_(mw_safetensors_load(path, &st), "mw_safetensors_load", __FILE__, __LINE__);
    return st;
}

/* Reads `name` (of exactly `numel` elements) as float32 or int32 into a new array. */
static void *read_reference(const mw_safetensors *st, const char *name, size_t numel, bool as_int) {
    void *out = malloc(numel * 4);
    assert_non_null(out);
    const mw_st_tensor *t = mw_safetensors_find(st, name);
    if (!t || t->numel != numel) {
        print_error("reference %s: tensor %s missing or not of %zu elements\n", st->path, name,
                    numel);
        fail();
    }
    mw_status s = as_int ? mw_safetensors_read_i32(st, name, -1, NULL, out, numel)
                         : mw_safetensors_read_f32(st, name, -1, NULL, out, numel);
    test_assert_ok_(s, name, __FILE__, __LINE__);
    return out;
}

float *test_reference_f32(const mw_safetensors *st, const char *name, size_t numel) {
    return read_reference(st, name, numel, false);
}

int32_t *test_reference_i32(const mw_safetensors *st, const char *name, size_t numel) {
    return read_reference(st, name, numel, true);
}

void test_assert_ok_(mw_status s, const char *expr, const char *file, int line) {
    if (s != MW_OK) {
        print_error("%s:%d: %s returned %s: %s\n", file, line, expr, mw_status_name(s),
                    mw_error_message());
        fail();
    }
}

void test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

uint8_t *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    buf[size] = 0;
    if (n) *n = (size_t)size;
    return buf;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void test_remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool test_make_tmpdir(char *out, size_t cap, const char *prefix) {
    int n = snprintf(out, cap, "/tmp/%sXXXXXX", prefix);
    return n > 0 && (size_t)n < cap && mkdtemp(out) != NULL;
}

/* Runs a shell command line with its output to `log`. */
static int run_logged(const char *log, const char *line) {
    char cmd[4400];
    int n = snprintf(cmd, sizeof cmd, "(%s) >'%s' 2>&1", line, log);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int test_cli(const char *log, const char *fmt, ...) {
    char args[3000], line[4000];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof args);
    snprintf(line, sizeof line, "'%s' %s", MEMWRAP_CLI_PATH, args);
    return run_logged(log, line);
}

int test_shell(const char *log, const char *fmt, ...) {
    char line[4000];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    return run_logged(log, line);
}

int test_dir_setup(void **state, const char *prefix, const char *file) {
    test_dir_fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    if (!test_make_tmpdir(fx->dir, sizeof fx->dir, prefix)) {
        free(fx);
        return -1;
    }
    if (file) snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, file);
    *state = fx;
    return 0;
}

int test_dir_teardown(void **state) {
    test_dir_fixture *fx = *state;
    test_remove_tree(fx->dir);
    free(fx);
    return 0;
}

int test_count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* The weight next to `name` ("<prefix>.weight"), whose shape picks the hashed range. */
static int sibling_weight(const mw_graph *g, const char *name) {
    char w[256];
    const char *dot = strrchr(name, '.');
    snprintf(w, sizeof w, "%.*s.weight", (int)(dot - name), name);
    return mw_graph_find(g, w);
}

void test_hashed_load(mw_exec *ex, const mw_graph *g, const mw_safetensors *ref) {
    int np = mw_graph_param_count(g), total = np + mw_graph_state_count(g);
    for (int i = 0; i < total; i++) {
        int t = i < np ? mw_graph_param_at(g, i) : mw_graph_state_at(g, i - np);
        const char *name = mw_tensor_name(g, t);
        size_t n = mw_tensor_numel(g, t);
        float *buf = calloc(n, 4);
        assert_non_null(buf);
        char key[256];
        snprintf(key, sizeof key, "init.%s.ab", name);
        if (mw_tensor_dtype(g, t) == MW_I32) {
            /* counters start at 0 */
        } else if (mw_safetensors_find(ref, key)) {
            double r[2];
            TEST_OK(mw_safetensors_read_f64(ref, key, -1, NULL, r, 2));
            hashed_fill(name, buf, n, r[0], r[1]);
        } else {
            int w = sibling_weight(g, name);
            assert_true(w >= 0);
            int64_t shape[MW_MAX_DIMS];
            for (int d = 0; d < mw_tensor_ndim(g, w); d++)
                shape[d] = mw_tensor_dim(g, w, d);
            assert_int_equal(hashed_init_tensor(name, mw_tensor_ndim(g, w), shape, buf, n), 0);
        }
        TEST_OK(mw_exec_write(ex, t, buf, n * 4));
        free(buf);
    }
}

void test_check_png(const char *folder, const char *name) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    mw_image img = {0};
    TEST_OK(mw_png_read(path, &img));
    assert_true(img.width > 100 && img.height > 100);
    mw_image_free(&img);
}

const cJSON *test_json_item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) fail_msg("the JSON has no key '%s'", key);
    return v;
}

int test_profile_runs(mw_exec *ex, mw_run_mode mode, int reps, mw_op_time *t) {
    TEST_OK(mw_exec_set_profiling(ex, true));
    TEST_OK(mw_exec_run(ex, mode));
    mw_exec_profile_reset(ex);
    for (int i = 0; i < reps; i++)
        TEST_OK(mw_exec_run(ex, mode));
    return mw_exec_profile(ex, t, MW_OP_TIME_MAX);
}

static double op_ms(const mw_op_time *t, int n, const char *op) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].op, op)) return t[i].ms;
    return 0;
}

void test_time_conv(mw_runtime *rt, int cin, int cout, int batch, int hw, int k, int stride,
                    int groups, int reps, float *y, float *gx, float *gw, double ms[3]) {
    int ho = (hw + 2 * (k / 2) - k) / stride + 1;
    mw_graph *g = mw_graph_create();
    int64_t xs[4] = {cin, batch, hw, hw}, ws[4] = {cout, cin / groups, k, k};
    int64_t ys[4] = {cout, batch, ho, ho};
    int x = mw_graph_input(g, "x", MW_F32, 4, xs), w = mw_graph_param(g, "w", 4, ws);
    int out = mw_conv2d(g, x, w, -1, stride, k / 2, groups);
    int seed = mw_graph_input(g, "gy", MW_F32, 4, ys);
    TEST_OK(mw_graph_backward_from(g, out, seed, &x, 1));
    mw_graph_keep(g, out);
    mw_exec *ex = NULL;
    TEST_OK(mw_exec_create(g, rt, &ex));
    TEST_OK(mw_exec_init_params(ex, 7));
    size_t nx = (size_t)cin * batch * hw * hw, ny = (size_t)cout * batch * ho * ho;
    size_t nw = (size_t)cout * (cin / groups) * k * k;
    float *hx = malloc(nx * sizeof *hx), *hy = malloc(ny * sizeof *hy);
    float *hwt = malloc(nw * sizeof *hwt);
    test_rng r;
    test_rng_seed(&r, 11);
    test_fill_uniform(&r, hx, nx, -1, 1);
    test_fill_uniform(&r, hy, ny, -1, 1);
    test_fill_uniform(&r, hwt, nw, -1, 1); /* mw_exec_init_params leaves a bare param zero */
    TEST_OK(mw_exec_write(ex, x, hx, nx * sizeof *hx));
    TEST_OK(mw_exec_write(ex, seed, hy, ny * sizeof *hy));
    TEST_OK(mw_exec_write(ex, w, hwt, nw * sizeof *hwt));
    mw_op_time t[MW_OP_TIME_MAX];
    int nt = test_profile_runs(ex, MW_RUN_FORWARD_BACKWARD, reps, t);
    ms[0] = op_ms(t, nt, "conv2d") / reps;
    ms[1] = op_ms(t, nt, "conv2d_bwd_input") / reps;
    ms[2] = op_ms(t, nt, "conv2d_bwd_weight") / reps;
    TEST_OK(mw_exec_read(ex, out, y, ny * sizeof *y));
    TEST_OK(mw_exec_read(ex, mw_graph_grad(g, x), gx, nx * sizeof *gx));
    TEST_OK(mw_exec_read(ex, mw_graph_grad(g, w), gw, nw * sizeof *gw));
    mw_exec_free(ex);
    mw_graph_free(g);
    free(hx);
    free(hy);
    free(hwt);
}

mw_runtime *test_profiling_runtime(void) {
    mw_runtime_options opt = {.profiling = true};
    mw_runtime *rt = NULL;
    if (mw_runtime_create(&opt, &rt) != MW_OK) {
        fprintf(stderr, "no OpenCL device: %s\n", mw_error_message());
        exit(1);
    }
    return rt;
}

/* Runs `memwrap ARGS` (stderr discarded), returns its exit status and stdout (malloc'd). */
int test_cli_output(const char *args, char **out) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", MEMWRAP_CLI_PATH, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + len, 1, cap - 1 - len, p)) > 0) {
        len += got;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    if (out)
        *out = buf;
    else
        free(buf);
    return WEXITSTATUS(status);
}
