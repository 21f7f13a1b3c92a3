/* OpenCL runtime: device discovery and selection, context and queues, kernel programs
 * (embedded sources, on-disk binary cache) and the CLBlast start-up self-test. */
#ifndef MEMWRAP_RUNTIME_H
#define MEMWRAP_RUNTIME_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdbool.h>
#include <stdint.h>

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_MAX_QUEUES = 2 };

typedef struct mw_device_info {
    int platform_index, device_index; /* the "P:D" of --device */
    cl_platform_id platform;
    cl_device_id device;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char driver_version[64];
    char opencl_c_version[64];
    cl_device_type type;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    uint32_t mem_base_addr_align_bytes; /* sub-buffer offsets must be multiples of this */
    bool fp16, fp64;
} mw_device_info;

/* Every device of every platform, in platform then device order. *out is malloc'd. */
mw_status mw_devices_list(mw_device_info **out, int *count);

/* Index into `devs` of the default device: the first GPU, else the first device. */
int mw_devices_default(const mw_device_info *devs, int count);

/* Resolves a device spec: NULL or "" means MEMWRAP_DEVICE if set, else the default;
 * "P:D" indices; "cpu" / "gpu" (first of that type); otherwise a case-insensitive
 * substring of "platform name + device name". Unknown specs give MW_ERR_NOT_FOUND with a
 * message that lists the devices. */
mw_status mw_devices_select(const mw_device_info *devs, int count, const char *spec, int *index);

/* The device of the process with index `local_rank` among a group's processes on one
 * machine: a spec naming a kind ("gpu", "cpu", "accelerator"), or no spec (the default
 * device's kind), picks that kind's (local_rank mod n)-th device, so processes spread over a
 * machine's GPUs; any other spec names one device for every process. */
mw_status mw_devices_select_local(const mw_device_info *devs, int count, const char *spec,
                                  int local_rank, int *index);

/* "GPU", "CPU", "ACCELERATOR", "CUSTOM" or "OTHER". */
const char *mw_device_type_name(cl_device_type type);

/* Counters a test can read to prove a behaviour (cache hits, no steady-state allocation). */
typedef struct mw_runtime_stats {
    uint64_t program_builds;        /* programs compiled from source */
    uint64_t program_cache_hits;    /* programs loaded from the on-disk binary cache */
    uint64_t program_cache_rejects; /* cache files found corrupt or stale, then rebuilt */
    uint64_t buffers_created;       /* clCreateBuffer calls made through mw_runtime_buffer */
    uint64_t kernels_enqueued;
} mw_runtime_stats;

typedef struct mw_runtime mw_runtime;

typedef struct mw_runtime_options {
    const char *device_spec; /* see mw_devices_select */
    int local_rank; /* of a group's processes on one machine: mw_devices_select_local; 0 alone */
    bool profiling;          /* queues created with CL_QUEUE_PROFILING_ENABLE */
    bool skip_blas_selftest;
} mw_runtime_options;

/* Creates the context and MW_MAX_QUEUES in-order queues on the selected device and runs
 * the CLBlast self-test (one small SGEMM compared with the CPU). */
mw_status mw_runtime_create(const mw_runtime_options *opt, mw_runtime **out);
void mw_runtime_free(mw_runtime *rt);

const mw_device_info *mw_runtime_device(const mw_runtime *rt);
cl_context mw_runtime_context(const mw_runtime *rt);
cl_command_queue mw_runtime_queue(const mw_runtime *rt, int index);
const mw_runtime_stats *mw_runtime_get_stats(const mw_runtime *rt);
bool mw_runtime_get_profiling(const mw_runtime *rt);
mw_status mw_runtime_finish(mw_runtime *rt);

/* Returns the kernel `kernel_name` from the program built from embedded source
 * `cl/<family>.cl` with `options` (e.g. "-DTILE=8") after the constants every memwrap
 * program gets as -D defines (work-group sizes, activation codes, block shapes; -DMW_FMA on
 * devices with fused multiply-add). Programs and kernels are kept for the runtime's
 * lifetime; binaries are cached on disk (see mw_runtime_cache_dir). The kernel belongs to
 * the runtime: do not release it. Options must not contain -cl-std (the runtime always
 * builds OpenCL C 1.2). */
mw_status mw_runtime_kernel(mw_runtime *rt, const char *family, const char *options,
                            const char *kernel_name, cl_kernel *out);

/* Builds an arbitrary source (tests use it to provoke build failures) with the same rules
 * and disk cache as mw_runtime_kernel; `label` names it in errors. The caller owns *out
 * (clReleaseProgram). Build failures give MW_ERR_BUILD with the build log. */
mw_status mw_runtime_build_source(mw_runtime *rt, const char *label, const char *source,
                                  const char *options, cl_program *out);

/* Creates a device buffer (counted in stats; OOM reported as MW_ERR_OUT_OF_MEMORY). */
mw_status mw_runtime_buffer(mw_runtime *rt, size_t bytes, const char *what, cl_mem *out);

/* The on-disk program cache directory: $MEMWRAP_CACHE_DIR if set ("off" or "" disables the
 * cache, returning NULL), else $XDG_CACHE_HOME/memwrap, else $HOME/.cache/memwrap. */
const char *mw_runtime_cache_dir(const mw_runtime *rt);

/* The library version ("0.1.0"). */
const char *mw_version(void);

/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *mw_cl_error_name(cl_int err);

#ifdef __cplusplus
}
#endif
#endif
