/* The OpenCL runtime: context and queues on the selected device and the limits launches
 * respect, buffers, counters, and the CLBlast start-up self-test that turns a miscomputing
 * driver into a clear error. Programs and kernels: program.c; launching them: launch.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cl_check.h"
#include "runtime/gemm_tuning.h"
#include "runtime/internal.h"

#ifndef MEMWRAP_VERSION
#define MEMWRAP_VERSION "unknown"
#endif

/* CLBlast keeps compiled programs (which retain our context) in a process-wide cache; it is
 * cleared when the last runtime goes away so that freeing a runtime frees its context. */
static atomic_int live_runtimes;

const char *mw_version(void) {
    return MEMWRAP_VERSION;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *join_path(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *mw_cache_dir_from_env(void) {
    const char *dir = getenv("MEMWRAP_CACHE_DIR");
    if (dir) {
        if (!*dir || strcmp(dir, "off") == 0 || strcmp(dir, "OFF") == 0) return NULL;
        return dup_string(dir);
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && xdg[0] == '/') return join_path(xdg, "memwrap"); /* XDG: relative paths ignored */
    const char *home = getenv("HOME");
    if (home && *home) return join_path(home, ".cache/memwrap");
    return NULL;
}

/* ---- CLBlast self-test ---------------------------------------------------------------- */

enum { SELFTEST_M = 33, SELFTEST_N = 17, SELFTEST_K = 29 }; /* odd sizes hit edge tiles */

static float selftest_value(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f; /* [-1, 1) */
}

/* The device part, with buffers owned by the caller so MW_*_CHECK may return early. */
static mw_status selftest_run(mw_runtime *rt, cl_mem bufs[3], const float *a, const float *b,
                              float *c, float alpha, float beta) {
    const size_t sa = sizeof(float) * SELFTEST_M * SELFTEST_K;
    const size_t sb = sizeof(float) * SELFTEST_K * SELFTEST_N;
    const size_t sc = sizeof(float) * SELFTEST_M * SELFTEST_N;
    const size_t sizes[3] = {sa, sb, sc};
    const float *init[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        cl_int err = CL_SUCCESS;
        bufs[i] = clCreateBuffer(rt->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizes[i],
                                 (void *)init[i], &err);
        MW_CL_CHECK(err);
    }
    cl_command_queue q = rt->queues[0];
    MW_BLAS_CHECK(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo,
                               SELFTEST_M, SELFTEST_N, SELFTEST_K, alpha, bufs[0], 0, SELFTEST_K,
                               bufs[1], 0, SELFTEST_N, beta, bufs[2], 0, SELFTEST_N, &q, NULL));
    MW_CL_CHECK(clEnqueueReadBuffer(q, bufs[2], CL_TRUE, 0, sc, c, 0, NULL, NULL));
    return MW_OK;
}

static mw_status blas_selftest(mw_runtime *rt) {
    enum { M = SELFTEST_M, N = SELFTEST_N, K = SELFTEST_K };
    float ha[M * K], hb[K * N], c[M * N], want[M * N];
    /* alpha and beta other than 1 and 0, with a non-zero C, exercise the whole update. */
    const float alpha = 0.75f, beta = 0.5f;
    uint32_t state = 20240601u;
    for (int i = 0; i < M * K; i++)
        ha[i] = selftest_value(&state);
    for (int i = 0; i < K * N; i++)
        hb[i] = selftest_value(&state);
    for (int i = 0; i < M * N; i++)
        c[i] = selftest_value(&state);
    double scale = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)ha[i * K + k] * hb[k * N + j];
            want[i * N + j] = (float)(alpha * s + beta * c[i * N + j]);
            if (fabs(want[i * N + j]) > scale) scale = fabs(want[i * N + j]);
        }

    cl_mem bufs[3] = {NULL, NULL, NULL};
    mw_status st = selftest_run(rt, bufs, ha, hb, c, alpha, beta);
    for (int i = 0; i < 3; i++)
        if (bufs[i]) clReleaseMemObject(bufs[i]);
    if (st != MW_OK)
        return mw_error_wrap(st,
                             "CLBlast self-test (a %dx%dx%d SGEMM) failed on device %d:%d '%s' "
                             "(%s, driver %s); choose another device with --device or "
                             "MEMWRAP_DEVICE (see `memwrap devices`): ",
                             M, N, K, rt->device.platform_index, rt->device.device_index,
                             rt->device.name, rt->device.platform_name, rt->device.driver_version);

    /* Error relative to the largest entry: robust against entries that happen to be ~0. */
    double worst = 0.0;
    int at = 0;
    for (int i = 0; i < M * N; i++) {
        double e = fabs((double)c[i] - want[i]) / (scale > 0 ? scale : 1.0);
        if (!(e <= worst)) { /* also catches NaN */
            worst = isnan(e) ? INFINITY : e;
            at = i;
        }
    }
    if (!(worst <= 1e-4))
        return mw_error_set(MW_ERR_BLAS,
                            "CLBlast self-test failed on device %d:%d '%s' (%s, driver %s): a "
                            "%dx%dx%d SGEMM differs from the CPU by %.3g relative (C[%d,%d] = %g, "
                            "expected %g), so this driver/CLBlast pair computes wrong results; "
                            "choose another device with --device or MEMWRAP_DEVICE (see "
                            "`memwrap devices`)",
                            rt->device.platform_index, rt->device.device_index, rt->device.name,
                            rt->device.platform_name, rt->device.driver_version, M, N, K, worst,
                            at / N, at % N, (double)c[at], (double)want[at]);
    return MW_OK;
}

/* ---- create / free -------------------------------------------------------------------- */

static mw_status create_context_and_queues(mw_runtime *rt, bool profiling) {
    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)rt->device.platform, 0};
    rt->context = clCreateContext(props, 1, &rt->device.device, NULL, NULL, &err);
    MW_CL_CHECK(err);
    cl_command_queue_properties qprops = profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    for (int i = 0; i < MW_MAX_QUEUES; i++) {
        rt->queues[i] = clCreateCommandQueue(rt->context, rt->device.device, qprops, &err);
        MW_CL_CHECK(err);
    }
    return MW_OK;
}

/* The local size a launch may use per dimension (mw_runtime_launch fits requests to it). */
static mw_status query_item_sizes(mw_runtime *rt) {
    cl_uint dims = 0;
    MW_CL_CHECK(clGetDeviceInfo(rt->device.device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof dims,
                                &dims, NULL));
    if (dims < 3) /* OpenCL 1.2 guarantees 3 */
        return mw_error_set(MW_ERR_OPENCL, "device '%s' reports %u work-item dimensions (< 3)",
                            rt->device.name, dims);
    size_t *sizes = malloc(dims * sizeof *sizes);
    if (!sizes)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory creating the runtime");
    cl_int err = clGetDeviceInfo(rt->device.device, CL_DEVICE_MAX_WORK_ITEM_SIZES,
                                 dims * sizeof *sizes, sizes, NULL);
    for (int d = 0; d < 3 && err == CL_SUCCESS; d++)
        rt->max_item_sizes[d] = sizes[d] ? sizes[d] : 1;
    free(sizes);
    if (err != CL_SUCCESS)
        return mw_error_set(mw_cl_status(err),
                            "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES) failed with %s on "
                            "device '%s'",
                            mw_cl_error_name(err), rt->device.name);
    return MW_OK;
}

/* A positive integer from the environment, or 0 when unset; anything else is an error. */
static mw_status env_count(const char *name, size_t *out) {
    *out = 0;
    const char *v = getenv(name);
    if (!v || !*v) return MW_OK;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end != '\0' || n == 0 || v[0] == '-')
        return mw_error_set(MW_ERR_INVALID_ARG, "%s='%s': expected a positive integer", name, v);
    *out = (size_t)n;
    return MW_OK;
}

/* Test-only knobs (README, "Simulated device and device limits"): cap the limits the engine
 * plans with, so that a test run meets the smallest device OpenCL 1.2 allows on any device,
 * and force a work-group size where a driver could pick any. */
static mw_status apply_test_limits(mw_runtime *rt) {
    size_t group = 0, local_mem = 0, global_mem = 0;
    MW_TRY(env_count("MEMWRAP_MAX_WORK_GROUP_SIZE", &group));
    MW_TRY(env_count("MEMWRAP_LOCAL_MEM_SIZE", &local_mem));
    MW_TRY(env_count("MEMWRAP_GLOBAL_MEM_SIZE", &global_mem)); /* a small device's memory */
    MW_TRY(env_count("MEMWRAP_WORK_GROUP_SIZE", &rt->forced_group));
    if (group) {
        if (rt->device.max_work_group_size > group) rt->device.max_work_group_size = group;
        for (int d = 0; d < 3; d++)
            if (rt->max_item_sizes[d] > group) rt->max_item_sizes[d] = group;
    }
    if (local_mem && rt->device.local_mem_bytes > local_mem) rt->device.local_mem_bytes = local_mem;
    if (global_mem && rt->device.global_mem_bytes > global_mem) {
        rt->device.global_mem_bytes = global_mem;
        /* OpenCL 1.2 lets one buffer be as small as a quarter of global memory */
        if (rt->device.max_alloc_bytes > global_mem / 4) rt->device.max_alloc_bytes = global_mem / 4;
    }
    return MW_OK;
}

/* The register block of gemm_nn (cl/gemm.cl), winograd_fused's products and
 * conv3x3_forward (the padded-row direct kernel): MW_BLOCK_ROWS rows of two float16 sums,
 * which must stay in vector registers. PoCL lowers a float16 to the device's native vectors:
 * 8 rows take 16 of AVX-512's 32 registers of 16 lanes, but 32 of AVX2's 16 of 8 lanes, and
 * spill. On a Zen 3 host (AVX2, native float width 8), two alternating rounds: the NN and TN
 * products (tests/probe_gemm) at 2 rows 1.3-2.4x the GFLOP/s of 8, 4, 3 and 1 in between;
 * conv3x3_forward at 2 channels (tests/probe_conv_paths narrow_32x32 128 2 direct) 0.4-0.7x
 * the time of 8 in the forward and input gradient. So 8 where the native float vector has 16
 * lanes or more, or on GPUs (where these kernels run only when forced), 2 on CPUs with
 * narrower vectors; MEMWRAP_BLOCK_ROWS (1-8) forces a value, for tests. */
static mw_status choose_block_rows(mw_runtime *rt) {
    size_t forced = 0;
    MW_TRY(env_count("MEMWRAP_BLOCK_ROWS", &forced));
    if (forced > 8)
        return mw_error_set(MW_ERR_INVALID_ARG, "MEMWRAP_BLOCK_ROWS=%zu: expected 1 to 8", forced);
    cl_uint lanes = 0;
    MW_CL_CHECK(clGetDeviceInfo(rt->device.device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT,
                                sizeof lanes, &lanes, NULL));
    bool narrow_cpu = (rt->device.type & CL_DEVICE_TYPE_CPU) && lanes < 16;
    rt->block_rows = forced ? (unsigned)forced : narrow_cpu ? 2u : 8u;
    return MW_OK;
}

mw_status mw_runtime_create(const mw_runtime_options *opt, mw_runtime **out) {
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_runtime_create: NULL output");
    *out = NULL;
    mw_runtime_options defaults = {0};
    if (!opt) opt = &defaults;

    mw_device_info *devs = NULL;
    int count = 0, index = -1;
    MW_TRY(mw_devices_list(&devs, &count));
    mw_status st = mw_devices_select_local(devs, count, opt->device_spec, opt->local_rank, &index);
    if (st != MW_OK) {
        free(devs);
        return st;
    }
    mw_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        free(devs);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory creating the runtime");
    }
    atomic_fetch_add(&live_runtimes, 1); /* mw_runtime_free undoes it, on every path */
    rt->device = devs[index];
    free(devs);
    rt->profiling = opt->profiling;
    rt->cache_dir = mw_cache_dir_from_env();

    st = create_context_and_queues(rt, opt->profiling);
    if (st == MW_OK) st = query_item_sizes(rt);
    if (st == MW_OK) st = apply_test_limits(rt);
    if (st == MW_OK) st = choose_block_rows(rt);
    if (st == MW_OK) st = mw_runtime_kernel_defines_init(rt);
    if (st != MW_OK) {
        st = mw_error_wrap(st, "creating the OpenCL context on device %d:%d '%s': ",
                           rt->device.platform_index, rt->device.device_index, rt->device.name);
        mw_runtime_free(rt);
        return st;
    }
    st = mw_gemm_tuning_apply(rt);
    if (st == MW_OK && !opt->skip_blas_selftest) st = blas_selftest(rt);
    if (st != MW_OK) {
        mw_runtime_free(rt);
        return st;
    }
    *out = rt;
    return MW_OK;
}

void mw_runtime_free(mw_runtime *rt) {
    if (!rt) return;
    for (int i = 0; i < MW_MAX_QUEUES; i++)
        if (rt->queues[i]) clFinish(rt->queues[i]); /* nothing may run on what we release */
    mw_runtime_programs_free(rt);
    for (int i = 0; i < MW_MAX_QUEUES; i++)
        if (rt->queues[i]) clReleaseCommandQueue(rt->queues[i]);
    if (rt->context) clReleaseContext(rt->context);
    free(rt->cache_dir);
    free(rt);
    if (atomic_fetch_sub(&live_runtimes, 1) == 1) CLBlastClearCache();
}

/* ---- accessors ------------------------------------------------------------------------ */

const mw_device_info *mw_runtime_device(const mw_runtime *rt) {
    return rt ? &rt->device : NULL;
}

cl_context mw_runtime_context(const mw_runtime *rt) {
    return rt ? rt->context : NULL;
}

cl_command_queue mw_runtime_queue(const mw_runtime *rt, int index) {
    if (!rt || index < 0 || index >= MW_MAX_QUEUES) return NULL;
    return rt->queues[index];
}

bool mw_runtime_get_profiling(const mw_runtime *rt) {
    return rt->profiling;
}

const mw_runtime_stats *mw_runtime_get_stats(const mw_runtime *rt) {
    return rt ? &rt->stats : NULL;
}

const char *mw_runtime_cache_dir(const mw_runtime *rt) {
    return rt ? rt->cache_dir : NULL;
}

mw_status mw_runtime_finish(mw_runtime *rt) {
    if (!rt) return mw_error_set(MW_ERR_INVALID_ARG, "mw_runtime_finish: NULL runtime");
    for (int i = 0; i < MW_MAX_QUEUES; i++) {
        cl_int err = clFinish(rt->queues[i]);
        if (err != CL_SUCCESS)
            return mw_error_set(mw_cl_status(err),
                                "clFinish(queue %d) failed with %s on device '%s'", i,
                                mw_cl_error_name(err), rt->device.name);
    }
    return MW_OK;
}

void mw_runtime_count_enqueue(mw_runtime *rt) {
    if (rt) rt->stats.kernels_enqueued++;
}

/* ---- buffers -------------------------------------------------------------------------- */

static mw_status out_of_memory(const mw_runtime *rt, size_t bytes, const char *what,
                               const char *why) {
    return mw_error_set(MW_ERR_OUT_OF_MEMORY,
                        "cannot allocate %s: %zu bytes (%.1f MiB) on device '%s' (%s; largest "
                        "single buffer %.1f MiB, global memory %.1f MiB): try a smaller batch",
                        what, bytes, bytes / 1048576.0, rt->device.name, why,
                        rt->device.max_alloc_bytes / 1048576.0,
                        rt->device.global_mem_bytes / 1048576.0);
}

mw_status mw_runtime_buffer(mw_runtime *rt, size_t bytes, const char *what, cl_mem *out) {
    if (!rt || !out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_runtime_buffer: NULL argument");
    *out = NULL;
    if (!what) what = "a buffer";
    if (bytes == 0)
        return mw_error_set(MW_ERR_INVALID_ARG, "cannot create an empty device buffer for %s",
                            what);
    /* Checked here because drivers answer an oversized request with CL_INVALID_BUFFER_SIZE. */
    if (bytes > rt->device.max_alloc_bytes)
        return out_of_memory(rt, bytes, what, "larger than the device allows in one buffer");
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        if (mem) clReleaseMemObject(mem);
        if (mw_cl_status(err) == MW_ERR_OUT_OF_MEMORY)
            return out_of_memory(rt, bytes, what, mw_cl_error_name(err));
        return mw_error_set(MW_ERR_OPENCL,
                            "clCreateBuffer for %s (%zu bytes) failed with %s on "
                            "device '%s'",
                            what, bytes, mw_cl_error_name(err), rt->device.name);
    }
    rt->stats.buffers_created++;
    *out = mem;
    if (getenv("MEMWRAP_POISON_BUFFERS")) {
        /* A debugging aid: every new buffer starts as NaN (all bits set), so that a kernel
         * reading memory nothing wrote shows up instead of silently reading zeros or what
         * an earlier buffer left there. */
        const cl_uint nan_bits = 0xFFFFFFFFu;
        size_t whole = bytes / sizeof nan_bits * sizeof nan_bits;
        if (whole) err = clEnqueueFillBuffer(rt->queues[0], mem, &nan_bits, sizeof nan_bits, 0,
                                             whole, 0, NULL, NULL);
        if (err == CL_SUCCESS) err = clFinish(rt->queues[0]);
        if (err != CL_SUCCESS)
            return mw_error_set(MW_ERR_OPENCL, "poisoning %s failed with %s", what,
                                mw_cl_error_name(err));
    }
    return MW_OK;
}
