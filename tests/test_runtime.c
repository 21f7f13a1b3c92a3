/* Runtime tests: device listing and selection, runtime lifetime, the CLBlast self-test, the
 * on-disk program cache (miss, hit, truncated and corrupt entries, disabled), build errors,
 * the kernel launcher (local sizes fitted to the limits, shared defines, errors), error
 * names, out-of-memory reporting, and the `memwrap devices` command. */
#define _POSIX_C_SOURCE 200809L
#include "support.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/cl_check.h"
#include "runtime/internal.h"
#include "runtime/kernel_defines.h"

/* ---- helpers --------------------------------------------------------------------------- */

/* Saves an environment variable so a test can change it and put it back. */
typedef struct saved_env {
    const char *name;
    char *value; /* NULL: was unset */
} saved_env;

static saved_env env_save(const char *name) {
    const char *v = getenv(name);
    saved_env s = {name, v ? strdup(v) : NULL};
    return s;
}

static void env_restore(saved_env *s) {
    if (s->value)
        setenv(s->name, s->value, 1);
    else
        unsetenv(s->name);
    free(s->value);
    s->value = NULL;
}

static void list_devices(mw_device_info **devs, int *count) {
    TEST_OK(mw_devices_list(devs, count));
    assert_non_null(*devs);
    assert_true(*count > 0);
}

static mw_runtime *make_runtime(const char *spec) {
    mw_runtime_options opt = {.device_spec = spec, .skip_blas_selftest = true};
    mw_runtime *rt = NULL;
    TEST_OK(mw_runtime_create(&opt, &rt));
    assert_non_null(rt);
    return rt;
}

/* A fresh empty directory under the system temp dir (removed by remove_dir). */
static char *make_temp_dir(void) {
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/memwrap-test-runtime-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(path));
    return path;
}

/* Removes a directory holding plain files only (what the cache writes). */
static void remove_dir(char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            unlink(file);
        }
        closedir(d);
    }
    rmdir(path);
    free(path);
}

/* Number of "*.bin" entries in dir; *first gets the path of one of them. */
static int cache_files(const char *dir, char *first, size_t cap) {
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0) {
            if (n == 0 && first) snprintf(first, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Reads n floats of buf and counts those equal to value. */
static size_t count_equal(mw_runtime *rt, cl_mem buf, size_t n, float value) {
    float *host = malloc(n * sizeof *host);
    assert_non_null(host);
    test_poison(host, n);
    assert_int_equal(clEnqueueReadBuffer(mw_runtime_queue(rt, 0), buf, CL_TRUE, 0,
                                         n * sizeof(float), host, 0, NULL, NULL),
                     CL_SUCCESS);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += host[i] == value;
    free(host);
    return same;
}

/* Runs fill_f32 over n floats through the launcher, which must find kernel `k` in the cache,
 * and checks every element got the value. */
static void check_fill_kernel(mw_runtime *rt, cl_kernel k) {
    enum { N = 1000 };
    cl_kernel cached = NULL;
    TEST_OK(mw_runtime_kernel(rt, "fill", "", "fill_f32", &cached));
    assert_ptr_equal(cached, k);
    cl_mem buf = NULL;
    TEST_OK(mw_runtime_buffer(rt, N * sizeof(float), "fill test buffer", &buf));
    const float value = 3.25f;
    /* rounded up past N to whole groups of 64: the kernel bounds-checks */
    const mw_launch_spec spec = {.family = "fill",
                                 .kernel = "fill_f32",
                                 .kind = MW_RANGE_ITEMS,
                                 .dims = 1,
                                 .global = {N},
                                 .local = {64}};
    uint64_t before = mw_runtime_get_stats(rt)->kernels_enqueued;
    TEST_OK(mw_runtime_launch(rt, mw_runtime_queue(rt, 0), &spec, "mfu", buf, (double)value,
                              (unsigned)N));
    assert_int_equal(mw_runtime_get_stats(rt)->kernels_enqueued, before + 1);
    assert_int_equal(count_equal(rt, buf, N, value), N); /* every element got the value */
    clReleaseMemObject(buf);
}

static cl_kernel get_fill(mw_runtime *rt) {
    cl_kernel k = NULL;
    TEST_OK(mw_runtime_kernel(rt, "fill", "", "fill_f32", &k));
    assert_non_null(k);
    return k;
}

/* ---- devices --------------------------------------------------------------------------- */

/* The last (up to) 6 characters of s with upper and lower case swapped. */
static void swapped_case_tail(const char *s, char *out, size_t cap) {
    size_t len = strlen(s), take = len > 6 ? 6 : len;
    assert_true(take + 1 <= cap);
    for (size_t i = 0; i < take; i++) {
        char c = s[len - take + i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
    }
    out[take] = '\0';
}

static void lower(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

/* What the selection rule promises for a name piece, computed independently. */
static int first_matching(const mw_device_info *devs, int count, const char *piece) {
    char want[64];
    snprintf(want, sizeof want, "%s", piece);
    lower(want);
    for (int i = 0; i < count; i++) {
        char full[300];
        snprintf(full, sizeof full, "%s %s", devs[i].platform_name, devs[i].name);
        lower(full);
        if (strstr(full, want)) return i;
    }
    return -1;
}

static void test_devices_list(void **state) {
    (void)state;
    mw_device_info *devs = NULL;
    int count = 0;
    list_devices(&devs, &count);
    for (int i = 0; i < count; i++) {
        const mw_device_info *d = &devs[i];
        print_message("[ device  ] %d:%d %s / %s (%s, %u CU, %.1f GiB, %s, fp16 %d, fp64 %d)\n",
                      d->platform_index, d->device_index, d->platform_name, d->name,
                      mw_device_type_name(d->type), (unsigned)d->compute_units,
                      d->global_mem_bytes / 1073741824.0, d->opencl_c_version, d->fp16, d->fp64);
        assert_non_null(d->platform);
        assert_non_null(d->device);
        assert_true(d->platform_index >= 0 && d->device_index >= 0);
        assert_true(strlen(d->name) > 0);
        assert_true(strlen(d->platform_name) > 0);
        assert_true(strlen(d->driver_version) > 0);
        assert_non_null(strstr(d->opencl_c_version, "OpenCL C"));
        assert_true(d->compute_units > 0);
        assert_true(d->global_mem_bytes > 0);
        assert_true(d->local_mem_bytes > 0);
        assert_true(d->max_alloc_bytes > 0 && d->max_alloc_bytes <= d->global_mem_bytes);
        assert_true(d->max_work_group_size > 0);
        /* at least a float4 of alignment, and a power of two */
        assert_true(d->mem_base_addr_align_bytes >= 16);
        assert_int_equal(d->mem_base_addr_align_bytes & (d->mem_base_addr_align_bytes - 1), 0);
        assert_true(d->type != 0);
        if (i > 0) { /* platform then device order */
            const mw_device_info *p = &devs[i - 1];
            assert_true(
                p->platform_index < d->platform_index ||
                (p->platform_index == d->platform_index && p->device_index + 1 == d->device_index));
        }
    }
    int def = mw_devices_default(devs, count);
    assert_true(def >= 0 && def < count);
    for (int i = 0; i < def; i++)
        assert_false(devs[i].type & CL_DEVICE_TYPE_GPU);
    if (!(devs[def].type & CL_DEVICE_TYPE_GPU)) assert_int_equal(def, 0);
    assert_int_equal(mw_devices_default(devs, 0), -1);
    free(devs);
}

static void test_devices_select(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_DEVICE");
    unsetenv("MEMWRAP_DEVICE");
    mw_device_info *devs = NULL;
    int count = 0, idx = -1;
    list_devices(&devs, &count);

    /* by indices */
    TEST_OK(mw_devices_select(devs, count, "0:0", &idx));
    assert_int_equal(devs[idx].platform_index, 0);
    assert_int_equal(devs[idx].device_index, 0);
    char spec[64];
    snprintf(spec, sizeof spec, "%d:%d", devs[count - 1].platform_index,
             devs[count - 1].device_index);
    TEST_OK(mw_devices_select(devs, count, spec, &idx));
    assert_int_equal(idx, count - 1);

    /* default, with surrounding blanks ignored */
    TEST_OK(mw_devices_select(devs, count, NULL, &idx));
    assert_int_equal(idx, mw_devices_default(devs, count));
    TEST_OK(mw_devices_select(devs, count, "", &idx));
    assert_int_equal(idx, mw_devices_default(devs, count));
    TEST_OK(mw_devices_select(devs, count, " 0:0 ", &idx));
    assert_int_equal(idx, 0);

    /* by type, case-insensitively */
    int first_cpu = -1;
    for (int i = 0; i < count && first_cpu < 0; i++)
        if (devs[i].type & CL_DEVICE_TYPE_CPU) first_cpu = i;
    if (first_cpu >= 0) {
        TEST_OK(mw_devices_select(devs, count, "cpu", &idx));
        assert_int_equal(idx, first_cpu);
        TEST_OK(mw_devices_select(devs, count, "CPU", &idx));
        assert_int_equal(idx, first_cpu);
    }

    /* by a case-changed piece of the last device's name, and of its platform's name: the
     * first device whose "platform device" string contains it wins */
    char piece[64];
    swapped_case_tail(devs[count - 1].name, piece, sizeof piece);
    TEST_OK(mw_devices_select(devs, count, piece, &idx));
    assert_int_equal(idx, first_matching(devs, count, piece));
    swapped_case_tail(devs[count - 1].platform_name, piece, sizeof piece);
    TEST_OK(mw_devices_select(devs, count, piece, &idx));
    assert_int_equal(idx, first_matching(devs, count, piece));
    free(devs);
    env_restore(&env);
}

/* The device of a process by its local rank (mw_devices_select_local), on a made-up machine:
 * two GPUs of one platform, a CPU, a third GPU of another platform. */
static void test_devices_select_local(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_DEVICE");
    unsetenv("MEMWRAP_DEVICE");
    mw_device_info devs[4];
    memset(devs, 0, sizeof devs);
    const cl_device_type types[4] = {CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_CPU,
                                     CL_DEVICE_TYPE_GPU};
    for (int i = 0; i < 4; i++) {
        devs[i].type = types[i];
        devs[i].platform_index = i < 3 ? 0 : 1;
        devs[i].device_index = i < 3 ? i : 0;
        snprintf(devs[i].platform_name, sizeof devs[i].platform_name, "%s",
                 i < 3 ? "First" : "Second");
        snprintf(devs[i].name, sizeof devs[i].name, "%s %d", i == 2 ? "Cpu" : "Gpu", i);
    }
    /* no spec: the default's kind (GPUs), one each, round robin past the last */
    const int gpus[6] = {0, 1, 3, 0, 1, 3};
    int idx = -1;
    for (int rank = 0; rank < 6; rank++) {
        TEST_OK(mw_devices_select_local(devs, 4, NULL, rank, &idx));
        assert_int_equal(idx, gpus[rank]);
        TEST_OK(mw_devices_select_local(devs, 4, " gpu ", rank, &idx));
        assert_int_equal(idx, gpus[rank]);
        /* a kind with one device, and a named device: the same for every rank */
        TEST_OK(mw_devices_select_local(devs, 4, "cpu", rank, &idx));
        assert_int_equal(idx, 2);
        TEST_OK(mw_devices_select_local(devs, 4, "1:0", rank, &idx));
        assert_int_equal(idx, 3);
        TEST_OK(mw_devices_select_local(devs, 4, "Gpu 1", rank, &idx));
        assert_int_equal(idx, 1);
    }
    /* MEMWRAP_DEVICE takes the place of a missing spec */
    setenv("MEMWRAP_DEVICE", "cpu", 1);
    TEST_OK(mw_devices_select_local(devs, 4, NULL, 1, &idx));
    assert_int_equal(idx, 2);
    setenv("MEMWRAP_DEVICE", "gpu", 1);
    TEST_OK(mw_devices_select_local(devs, 4, NULL, 2, &idx));
    assert_int_equal(idx, 3);
    /* and a spec that matches nothing is the same error as mw_devices_select's */
    assert_int_equal(mw_devices_select_local(devs, 4, "accelerator", 1, &idx), MW_ERR_NOT_FOUND);
    env_restore(&env);
}

static void test_devices_env(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_DEVICE");
    mw_device_info *devs = NULL;
    int count = 0, idx = -1;
    list_devices(&devs, &count);
    char spec[64];
    snprintf(spec, sizeof spec, "%d:%d", devs[count - 1].platform_index,
             devs[count - 1].device_index);

    setenv("MEMWRAP_DEVICE", spec, 1);
    TEST_OK(mw_devices_select(devs, count, NULL, &idx));
    assert_int_equal(idx, count - 1);
    TEST_OK(mw_devices_select(devs, count, "", &idx));
    assert_int_equal(idx, count - 1);
    /* an explicit spec wins over the environment */
    TEST_OK(mw_devices_select(devs, count, "0:0", &idx));
    assert_int_equal(idx, 0);
    /* and mw_runtime_create follows the environment too */
    mw_runtime *rt = make_runtime(NULL);
    assert_ptr_equal(mw_runtime_device(rt)->device, devs[count - 1].device);
    mw_runtime_free(rt);

    setenv("MEMWRAP_DEVICE", "nosuchdevice", 1);
    assert_int_equal(mw_devices_select(devs, count, NULL, &idx), MW_ERR_NOT_FOUND);
    assert_non_null(strstr(mw_error_message(), "MEMWRAP_DEVICE"));
    assert_non_null(strstr(mw_error_message(), "nosuchdevice"));
    assert_non_null(strstr(mw_error_message(), devs[0].name));
    free(devs);
    env_restore(&env);
}

/* MEMWRAP_BLOCK_ROWS forces gemm_nn's register block (runtime.c, choose_block_rows): 1 to 8
 * rows; anything else fails the runtime's creation naming the variable. */
static void test_block_rows_env(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_BLOCK_ROWS");
    mw_runtime_options opt = {.skip_blas_selftest = true};
    const char *bad[] = {"9", "0", "x", "-2", "3x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("MEMWRAP_BLOCK_ROWS", bad[i], 1);
        mw_runtime *rt = NULL;
        assert_int_equal(mw_runtime_create(&opt, &rt), MW_ERR_INVALID_ARG);
        assert_null(rt);
        assert_non_null(strstr(mw_error_message(), "MEMWRAP_BLOCK_ROWS"));
    }
    setenv("MEMWRAP_BLOCK_ROWS", "3", 1);
    mw_runtime *rt = NULL;
    TEST_OK(mw_runtime_create(&opt, &rt));
    mw_runtime_free(rt);
    env_restore(&env);
}

static void test_devices_bad_specs(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_DEVICE");
    unsetenv("MEMWRAP_DEVICE");
    mw_device_info *devs = NULL;
    int count = 0;
    list_devices(&devs, &count);
    const char *bad[] = {"9:9", "nosuchdevice", "x:y", "0:", ":0", "-1:0", "0:0:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int idx = 123;
        mw_error_clear();
        assert_int_equal(mw_devices_select(devs, count, bad[i], &idx), MW_ERR_NOT_FOUND);
        assert_int_equal(idx, -1);
        const char *msg = mw_error_message();
        assert_non_null(strstr(msg, bad[i]));
        assert_non_null(strstr(msg, "available devices"));
        assert_non_null(strstr(msg, "0:0"));
        assert_non_null(strstr(msg, devs[0].name));
    }
    /* the runtime refuses too, and leaves nothing behind */
    mw_runtime_options opt = {.device_spec = "9:9", .skip_blas_selftest = true};
    mw_runtime *rt = (mw_runtime *)&opt; /* must be reset to NULL */
    assert_int_equal(mw_runtime_create(&opt, &rt), MW_ERR_NOT_FOUND);
    assert_null(rt);
    free(devs);
    env_restore(&env);
}

/* ---- runtime --------------------------------------------------------------------------- */

static cl_command_queue_properties queue_props(cl_command_queue q) {
    cl_command_queue_properties p = 0;
    assert_int_equal(clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof p, &p, NULL), CL_SUCCESS);
    return p;
}

static void test_runtime_lifecycle(void **state) {
    (void)state;
    for (int profiling = 0; profiling <= 1; profiling++) {
        mw_runtime_options opt = {
            .device_spec = "0:0", .profiling = profiling, .skip_blas_selftest = true};
        mw_runtime *rt = NULL;
        TEST_OK(mw_runtime_create(&opt, &rt));
        const mw_device_info *d = mw_runtime_device(rt);
        assert_int_equal(d->platform_index, 0);
        assert_int_equal(d->device_index, 0);
        assert_non_null(mw_runtime_context(rt));
        cl_command_queue q0 = mw_runtime_queue(rt, 0), q1 = mw_runtime_queue(rt, MW_MAX_QUEUES - 1);
        assert_non_null(q0);
        assert_non_null(q1);
        assert_true(MW_MAX_QUEUES < 2 || q0 != q1);
        assert_null(mw_runtime_queue(rt, -1));
        assert_null(mw_runtime_queue(rt, MW_MAX_QUEUES));
        for (int i = 0; i < MW_MAX_QUEUES; i++) {
            cl_command_queue_properties p = queue_props(mw_runtime_queue(rt, i));
            assert_int_equal((p & CL_QUEUE_PROFILING_ENABLE) != 0, profiling);
            assert_int_equal(p & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, 0);
        }
        const mw_runtime_stats *s = mw_runtime_get_stats(rt);
        assert_int_equal(s->program_builds + s->program_cache_hits + s->buffers_created +
                             s->kernels_enqueued,
                         0);
        mw_runtime_count_enqueue(rt);
        assert_int_equal(s->kernels_enqueued, 1);
        TEST_OK(mw_runtime_finish(rt));
        mw_runtime_free(rt);
    }
    mw_runtime_free(NULL);
}

static void test_blas_selftest(void **state) {
    (void)state;
    mw_runtime_options opt = {0}; /* self-test on */
    mw_runtime *rt = NULL;
    TEST_OK(mw_runtime_create(&opt, &rt));
    assert_non_null(rt);
    mw_runtime_free(rt);
}

static void test_buffers(void **state) {
    (void)state;
    mw_runtime *rt = make_runtime(NULL);
    const mw_device_info *d = mw_runtime_device(rt);
    cl_mem m = NULL;
    TEST_OK(mw_runtime_buffer(rt, 4096, "small", &m));
    assert_non_null(m);
    assert_int_equal(mw_runtime_get_stats(rt)->buffers_created, 1);
    clReleaseMemObject(m);

    m = (cl_mem)rt;
    assert_int_equal(mw_runtime_buffer(rt, (size_t)d->max_alloc_bytes + 1, "activation pool", &m),
                     MW_ERR_OUT_OF_MEMORY);
    assert_null(m);
    const char *msg = mw_error_message();
    assert_non_null(strstr(msg, "activation pool"));
    assert_non_null(strstr(msg, "try a smaller batch"));
    assert_non_null(strstr(msg, d->name));
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%zu", (size_t)d->max_alloc_bytes + 1);
    assert_non_null(strstr(msg, bytes));
    assert_int_equal(mw_runtime_buffer(rt, 0, "nothing", &m), MW_ERR_INVALID_ARG);
    assert_int_equal(mw_runtime_get_stats(rt)->buffers_created, 1);
    mw_runtime_free(rt);
}

/* ---- program cache --------------------------------------------------------------------- */

typedef struct cache_env {
    saved_env dir;
    char *tmp;
} cache_env;

static cache_env cache_begin(void) {
    cache_env c = {env_save("MEMWRAP_CACHE_DIR"), make_temp_dir()};
    setenv("MEMWRAP_CACHE_DIR", c.tmp, 1);
    return c;
}

static void cache_end(cache_env *c) {
    env_restore(&c->dir);
    remove_dir(c->tmp);
}

static void assert_stats(mw_runtime *rt, uint64_t builds, uint64_t hits, uint64_t rejects) {
    const mw_runtime_stats *s = mw_runtime_get_stats(rt);
    print_message("[ cache   ] builds %llu hits %llu rejects %llu\n",
                  (unsigned long long)s->program_builds, (unsigned long long)s->program_cache_hits,
                  (unsigned long long)s->program_cache_rejects);
    assert_int_equal(s->program_builds, builds);
    assert_int_equal(s->program_cache_hits, hits);
    assert_int_equal(s->program_cache_rejects, rejects);
}

static void count_dir_entries(const char *dir, int *total) {
    *total = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) (*total)++;
    closedir(d);
}

static void test_cache_hit(void **state) {
    (void)state;
    cache_env c = cache_begin();
    /* a nested directory that does not exist yet: the runtime creates it (mkdir -p) */
    char nested[4096];
    snprintf(nested, sizeof nested, "%s/a/b", c.tmp);
    setenv("MEMWRAP_CACHE_DIR", nested, 1);

    mw_runtime *rt = make_runtime(NULL);
    assert_string_equal(mw_runtime_cache_dir(rt), nested);
    cl_kernel k = get_fill(rt);
    assert_stats(rt, 1, 0, 0);
    assert_ptr_equal(get_fill(rt), k); /* kept in memory: no second build */
    assert_stats(rt, 1, 0, 0);
    check_fill_kernel(rt, k);
    mw_runtime_free(rt);
    int total = 0;
    count_dir_entries(nested, &total);
    assert_int_equal(total, 1); /* one entry, no temporary file left behind */
    assert_int_equal(cache_files(nested, NULL, 0), 1);

    rt = make_runtime(NULL);
    k = get_fill(rt);
    assert_stats(rt, 0, 1, 0);
    check_fill_kernel(rt, k);
    /* other options are another program and another entry */
    cl_kernel k2 = NULL;
    TEST_OK(mw_runtime_kernel(rt, "fill", "-DMEMWRAP_TEST_OPTION=1", "fill_f32", &k2));
    assert_true(k2 != k);
    assert_stats(rt, 1, 1, 0);
    mw_runtime_free(rt);
    assert_int_equal(cache_files(nested, NULL, 0), 2);

    char sub[4096];
    snprintf(sub, sizeof sub, "%s/a", c.tmp);
    char *owned = strdup(nested);
    remove_dir(owned);
    rmdir(sub);
    cache_end(&c);
}

typedef enum { DAMAGE_TRUNCATE, DAMAGE_PAYLOAD, DAMAGE_MAGIC, DAMAGE_EMPTY } damage;

static void damage_file(const char *path, damage how) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 64);
    if (how == DAMAGE_TRUNCATE || how == DAMAGE_EMPTY) {
        assert_int_equal(truncate(path, how == DAMAGE_EMPTY ? 0 : st.st_size / 2), 0);
        return;
    }
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    long at = how == DAMAGE_MAGIC ? 1 : 32 + (st.st_size - 32) / 2; /* header is 32 bytes */
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    int byte = fgetc(f);
    assert_true(byte != EOF);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    assert_int_equal(fputc(byte ^ 0x5a, f), byte ^ 0x5a);
    assert_int_equal(fclose(f), 0);
}

static void check_damaged_cache_rebuilds(damage how) {
    cache_env c = cache_begin();
    mw_runtime *rt = make_runtime(NULL);
    (void)get_fill(rt);
    assert_stats(rt, 1, 0, 0);
    mw_runtime_free(rt);
    char path[4096];
    assert_int_equal(cache_files(c.tmp, path, sizeof path), 1);
    struct stat good;
    assert_int_equal(stat(path, &good), 0);
    damage_file(path, how);

    rt = make_runtime(NULL);
    check_fill_kernel(rt, get_fill(rt)); /* rebuilt from source, and it works */
    assert_stats(rt, 1, 0, 1);
    mw_runtime_free(rt);
    struct stat rewritten;
    assert_int_equal(stat(path, &rewritten), 0);
    assert_int_equal(rewritten.st_size, good.st_size); /* the entry was overwritten */

    rt = make_runtime(NULL);
    check_fill_kernel(rt, get_fill(rt));
    assert_stats(rt, 0, 1, 0);
    mw_runtime_free(rt);
    cache_end(&c);
}

static void test_cache_truncated(void **state) {
    (void)state;
    check_damaged_cache_rebuilds(DAMAGE_TRUNCATE);
    check_damaged_cache_rebuilds(DAMAGE_EMPTY);
}

static void test_cache_corrupt(void **state) {
    (void)state;
    check_damaged_cache_rebuilds(DAMAGE_PAYLOAD);
    check_damaged_cache_rebuilds(DAMAGE_MAGIC);
}

static void test_cache_disabled(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_CACHE_DIR");
    const char *off[] = {"off", ""};
    for (int i = 0; i < 2; i++) {
        setenv("MEMWRAP_CACHE_DIR", off[i], 1);
        for (int run = 0; run < 2; run++) {
            mw_runtime *rt = make_runtime(NULL);
            assert_null(mw_runtime_cache_dir(rt));
            check_fill_kernel(rt, get_fill(rt));
            assert_stats(rt, 1, 0, 0); /* built from source every time */
            mw_runtime_free(rt);
        }
    }
    env_restore(&env);
}

/* A cache that cannot be written costs compile time, never a failure. */
static void test_cache_unwritable(void **state) {
    (void)state;
    cache_env c = cache_begin();
    char file[4096];
    snprintf(file, sizeof file, "%s/not-a-directory", c.tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    setenv("MEMWRAP_CACHE_DIR", file, 1);
    for (int run = 0; run < 2; run++) {
        mw_runtime *rt = make_runtime(NULL);
        check_fill_kernel(rt, get_fill(rt));
        assert_stats(rt, 1, 0, 0);
        mw_runtime_free(rt);
    }
    cache_end(&c);
}

static void test_cache_dir_rules(void **state) {
    (void)state;
    saved_env dir = env_save("MEMWRAP_CACHE_DIR"), xdg = env_save("XDG_CACHE_HOME"),
              home = env_save("HOME");
    char *p;
    setenv("MEMWRAP_CACHE_DIR", "/tmp/memwrap-explicit", 1);
    p = mw_cache_dir_from_env();
    assert_string_equal(p, "/tmp/memwrap-explicit");
    free(p);
    unsetenv("MEMWRAP_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/tmp/memwrap-xdg", 1);
    setenv("HOME", "/tmp/memwrap-home", 1);
    p = mw_cache_dir_from_env();
    assert_string_equal(p, "/tmp/memwrap-xdg/memwrap");
    free(p);
    unsetenv("XDG_CACHE_HOME");
    p = mw_cache_dir_from_env();
    assert_string_equal(p, "/tmp/memwrap-home/.cache/memwrap");
    free(p);
    setenv("MEMWRAP_CACHE_DIR", "off", 1);
    assert_null(mw_cache_dir_from_env());
    env_restore(&dir);
    env_restore(&xdg);
    env_restore(&home);
}

/* ---- build errors ---------------------------------------------------------------------- */

static void test_build_errors(void **state) {
    (void)state;
    cache_env c = cache_begin();
    mw_runtime *rt = make_runtime(NULL);
    const char *broken = "__kernel void broken(__global float *x) {\n"
                         "    x[get_global_id(0)] = memwrap_undeclared_identifier_42;\n"
                         "}\n";
    cl_program prog = (cl_program)rt;
    assert_int_equal(mw_runtime_build_source(rt, "broken-test", broken, "-DFOO=1", &prog),
                     MW_ERR_BUILD);
    assert_null(prog);
    const char *msg = mw_error_message();
    print_message("[ message ] %.300s...\n", msg);
    assert_non_null(strstr(msg, "memwrap_undeclared_identifier_42")); /* the build log */
    assert_non_null(strstr(msg, "broken-test"));
    assert_non_null(strstr(msg, "-DFOO=1"));
    assert_non_null(strstr(msg, "-cl-std=CL1.2"));
    assert_non_null(strstr(msg, mw_runtime_device(rt)->name));
    assert_int_equal(cache_files(c.tmp, NULL, 0), 0); /* failures are not cached */

    /* a good arbitrary source: the caller owns the program */
    TEST_OK(mw_runtime_build_source(
        rt, "good", "__kernel void ok(__global float *x) { x[0] = 1.0f; }", NULL, &prog));
    assert_non_null(prog);
    clReleaseProgram(prog);

    cl_kernel k = (cl_kernel)rt;
    assert_int_equal(mw_runtime_kernel(rt, "no_such_family", "", "fill_f32", &k), MW_ERR_NOT_FOUND);
    assert_null(k);
    assert_non_null(strstr(mw_error_message(), "no_such_family"));
    assert_non_null(strstr(mw_error_message(), "fill")); /* lists what exists */
    assert_int_equal(mw_runtime_kernel(rt, "fill", "", "no_such_kernel", &k), MW_ERR_NOT_FOUND);
    assert_non_null(strstr(mw_error_message(), "no_such_kernel"));
    assert_int_equal(mw_runtime_kernel(rt, "fill", "-cl-std=CL2.0", "fill_f32", &k),
                     MW_ERR_INVALID_ARG);
    mw_runtime_free(rt);
    cache_end(&c);
}

/* ---- the kernel launcher --------------------------------------------------------------- */

/* Local sizes larger than a kernel or the device allows are halved, last dimension first. */
static void test_launch_fit_local(void **state) {
    (void)state;
    const size_t roomy[3] = {1024, 1024, 64};
    size_t out[3];
    mw_launch_fit_local(1, (const size_t[]){64}, 48, roomy, out);
    assert_int_equal(out[0], 32);
    mw_launch_fit_local(1, (const size_t[]){256}, 256, roomy, out);
    assert_int_equal(out[0], 256); /* fits: unchanged */
    mw_launch_fit_local(2, (const size_t[]){16, 16}, 64, roomy, out);
    assert_int_equal(out[0], 16);
    assert_int_equal(out[1], 4);
    mw_launch_fit_local(3, (const size_t[]){4, 4, 128}, 4096, roomy, out);
    assert_int_equal(out[2], 64); /* the device's limit for that dimension */
    assert_int_equal(out[0] * out[1], 16);
    mw_launch_fit_local(2, (const size_t[]){8, 3}, 1, roomy, out);
    assert_int_equal(out[0] * out[1], 1);
}

/* Launches larger than the device allows run with a smaller local size, ranges of work-groups
 * keep their number of groups, every program gets the shared defines, and a bad launch is an
 * error naming the kernel. */
static void test_launch(void **state) {
    (void)state;
    cache_env c = cache_begin();
    mw_runtime *rt = make_runtime(NULL);
    cl_command_queue q = mw_runtime_queue(rt, 0);
    enum { N = 3000 };
    cl_mem buf = NULL;
    TEST_OK(mw_runtime_buffer(rt, N * sizeof(float), "launch test buffer", &buf));
    size_t too_big = mw_runtime_device(rt)->max_work_group_size * 4;
    mw_launch_spec spec = {.family = "fill",
                           .kernel = "fill_f32",
                           .kind = MW_RANGE_ITEMS,
                           .dims = 1,
                           .global = {N},
                           .local = {too_big}};
    TEST_OK(mw_runtime_launch(rt, q, &spec, "mfu", buf, 1.5, (unsigned)N));
    assert_int_equal(count_equal(rt, buf, N, 1.5f), N);

    /* 3 groups of (at most) too_big items: the kernel fills what the range covers */
    spec.kind = MW_RANGE_GROUPS;
    spec.global[0] = 3;
    TEST_OK(mw_runtime_launch(rt, q, &spec, "mfu", buf, 2.5, (unsigned)N));
    mw_kernel_entry fill;
    TEST_OK(mw_runtime_kernel_entry(rt, "fill", NULL, "fill_f32", &fill));
    size_t group = 0;
    mw_launch_fit_local(1, &too_big, fill.max_group, rt->max_item_sizes, &group);
    size_t covered = 3 * group < N ? 3 * group : N;
    assert_int_equal(count_equal(rt, buf, covered, 2.5f), covered);

    /* two dimensions, the driver choosing the local size */
    mw_launch_spec two = {.family = "fill",
                          .kernel = "fill_f32",
                          .kind = MW_RANGE_ITEMS,
                          .dims = 2,
                          .global = {N, 1}};
    TEST_OK(mw_runtime_launch(rt, q, &two, "mfu", buf, 4.0, (unsigned)N));
    assert_int_equal(count_equal(rt, buf, N, 4.0f), N);

    /* the shared defines, from the host's own constants */
    char define[64];
    snprintf(define, sizeof define, "-DMW_ROW_MAX_GROUP=%d", (int)MW_ROW_MAX_GROUP);
    assert_non_null(strstr(rt->kernel_defines, define));
    snprintf(define, sizeof define, "-DMW_ACT_SWISH=%d", (int)MW_ACT_SWISH);
    assert_non_null(strstr(rt->kernel_defines, define));

    uint64_t before = mw_runtime_get_stats(rt)->kernels_enqueued;
    spec.dims = 0;
    assert_int_equal(mw_runtime_launch(rt, q, &spec, "mfu", buf, 1.0, (unsigned)N),
                     MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "fill_f32"));
    spec.dims = 1;
    spec.local[0] = 0; /* work-groups need a size */
    assert_int_equal(mw_runtime_launch(rt, q, &spec, "mfu", buf, 1.0, (unsigned)N),
                     MW_ERR_INVALID_ARG);
    spec.kind = MW_RANGE_ITEMS;
    spec.local[0] = 64;
    assert_int_equal(mw_runtime_launch(rt, q, &spec, "mxu", buf, 1.0, (unsigned)N),
                     MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "fill_f32"));
    assert_non_null(strstr(mw_error_message(), "'x'"));
    spec.kernel = "no_such_kernel";
    assert_int_equal(mw_runtime_launch(rt, q, &spec, "mfu", buf, 1.0, (unsigned)N),
                     MW_ERR_NOT_FOUND);
    assert_int_equal(mw_runtime_get_stats(rt)->kernels_enqueued, before); /* none counted */
    clReleaseMemObject(buf);
    mw_runtime_free(rt);
    cache_end(&c);
}

/* ---- error names ----------------------------------------------------------------------- */

static void test_error_names(void **state) {
    (void)state;
    assert_string_equal(mw_cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    assert_string_equal(mw_cl_error_name(CL_SUCCESS), "CL_SUCCESS");
    assert_string_equal(mw_cl_error_name(CL_INVALID_KERNEL_NAME), "CL_INVALID_KERNEL_NAME");
    assert_string_equal(mw_cl_error_name(CL_INVALID_DEVICE_PARTITION_COUNT),
                        "CL_INVALID_DEVICE_PARTITION_COUNT");
    assert_string_equal(mw_cl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    assert_non_null(strstr(mw_cl_error_name(-12345), "-12345"));
    for (int code = -68; code <= -1; code++) {
        if (code >= -29 && code <= -20) continue; /* unassigned range */
        assert_null(strstr(mw_cl_error_name(code), "UNKNOWN"));
    }
    assert_string_equal(mw_blas_error_name(CLBlastInvalidMatrixA), "CLBlastInvalidMatrixA");
    assert_string_equal(mw_blas_error_name(CLBlastNoHalfPrecision), "CLBlastNoHalfPrecision");
    assert_string_equal(mw_blas_error_name(CLBlastOpenCLOutOfResources), "CL_OUT_OF_RESOURCES");
    assert_non_null(strstr(mw_blas_error_name((CLBlastStatusCode)-3000), "-3000"));
}

/* ---- the CLI --------------------------------------------------------------------------- */

static void test_cli_devices(void **state) {
    (void)state;
    saved_env env = env_save("MEMWRAP_DEVICE");
    unsetenv("MEMWRAP_DEVICE");
    mw_device_info *devs = NULL;
    int count = 0;
    list_devices(&devs, &count);
    int def = mw_devices_default(devs, count);

    char *out = NULL;
    assert_int_equal(test_cli_output("devices", &out), 0);
    print_message("%s", out);
    for (int i = 0; i < count; i++)
        assert_non_null(strstr(out, devs[i].name));
    char marked[64];
    snprintf(marked, sizeof marked, "* %d:%d", devs[def].platform_index, devs[def].device_index);
    assert_non_null(strstr(out, marked));
    free(out);

    /* JSON: one object per device, exactly the default marked */
    for (int pass = 0; pass < 2; pass++) {
        int want = def;
        if (pass == 1) { /* MEMWRAP_DEVICE moves the mark */
            char spec[32];
            want = count - 1;
            snprintf(spec, sizeof spec, "%d:%d", devs[want].platform_index,
                     devs[want].device_index);
            setenv("MEMWRAP_DEVICE", spec, 1);
        }
        assert_int_equal(test_cli_output("devices --json", &out), 0);
        cJSON *arr = cJSON_Parse(out);
        assert_non_null(arr);
        assert_true(cJSON_IsArray(arr));
        assert_int_equal(cJSON_GetArraySize(arr), count);
        for (int i = 0; i < count; i++) {
            cJSON *o = cJSON_GetArrayItem(arr, i);
            char index[32];
            snprintf(index, sizeof index, "%d:%d", devs[i].platform_index, devs[i].device_index);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "index")), index);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")), devs[i].name);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "platform")),
                                devs[i].platform_name);
            assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(o, "vendor")));
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "type")),
                                mw_device_type_name(devs[i].type));
            assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(o, "opencl_c_version")));
            assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "compute_units")) ==
                        devs[i].compute_units);
            assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "global_mem_bytes")) ==
                        (double)devs[i].global_mem_bytes);
            assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "fp16")));
            assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "fp64")));
            assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(o, "default")), i == want);
        }
        cJSON_Delete(arr);
        free(out);
    }
    setenv("MEMWRAP_DEVICE", "nosuchdevice", 1);
    assert_int_equal(test_cli_output("devices", NULL),
                     1); /* still lists, but reports the bad spec */
    unsetenv("MEMWRAP_DEVICE");
    assert_int_equal(test_cli_output("devices --device nosuchdevice --json", NULL), 1);
    free(devs);
    env_restore(&env);
}

static void test_cli_usage(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(test_cli_output("frobnicate", NULL), 2);
    assert_int_equal(test_cli_output("", NULL), 2);
    assert_int_equal(test_cli_output("devices --bogus", NULL), 2);
    assert_int_equal(test_cli_output("--help", &out), 0);
    assert_non_null(strstr(out, "devices"));
    free(out);
    assert_int_equal(test_cli_output("devices --help", NULL), 0);
    assert_int_equal(test_cli_output("--version", &out), 0);
    assert_non_null(strstr(out, "memwrap "));
    assert_non_null(strstr(out, mw_version()));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_names),      cmocka_unit_test(test_devices_list),
        cmocka_unit_test(test_devices_select),   cmocka_unit_test(test_devices_select_local),
        cmocka_unit_test(test_devices_env),      cmocka_unit_test(test_devices_bad_specs),
        cmocka_unit_test(test_block_rows_env),   cmocka_unit_test(test_runtime_lifecycle),
        cmocka_unit_test(test_blas_selftest),    cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_cache_hit),        cmocka_unit_test(test_cache_truncated),
        cmocka_unit_test(test_cache_corrupt),    cmocka_unit_test(test_cache_disabled),
        cmocka_unit_test(test_cache_unwritable), cmocka_unit_test(test_cache_dir_rules),
        cmocka_unit_test(test_build_errors),     cmocka_unit_test(test_cli_devices),
        cmocka_unit_test(test_cli_usage),        cmocka_unit_test(test_launch_fit_local),
        cmocka_unit_test(test_launch),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
