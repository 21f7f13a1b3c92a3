/* Runtime internals shared inside libmemwrap (ops, graph, train): the runtime struct and the
 * helpers that launch kernels and keep the counters honest. Not part of the public API. */
#ifndef MEMWRAP_RUNTIME_INTERNAL_H
#define MEMWRAP_RUNTIME_INTERNAL_H

#include "memwrap/runtime.h"

/* A program built from one (family or label, options) pair, kept for the runtime's life. */
typedef struct mw_program_entry {
    char *family;
    char *options; /* the caller's options, without the -cl-std the runtime appends */
    cl_program program;
} mw_program_entry;

/* A kernel object created from a cached program, kept for the runtime's life. */
typedef struct mw_kernel_entry {
    cl_program program;
    char *name;
    cl_kernel kernel;
} mw_kernel_entry;

/* One runtime drives one device from one host thread: the caches below are not locked, and
 * a cl_kernel's arguments are per object anyway (set them and enqueue without interleaving
 * another thread). */
struct mw_runtime {
    mw_device_info device;
    cl_context context;
    cl_command_queue queues[MW_MAX_QUEUES];
    bool profiling;
    mw_runtime_stats stats;
    mw_program_entry *programs;
    int program_count, program_capacity;
    mw_kernel_entry *kernels;
    int kernel_count, kernel_capacity;
    char *cache_dir; /* NULL: on-disk program cache disabled */
};

/* Counts one kernel launch (stats.kernels_enqueued). Call it after every successful
 * clEnqueueNDRangeKernel / CLBlast call made outside mw_runtime_enqueue. */
void mw_runtime_count_enqueue(mw_runtime *rt);

/* clEnqueueNDRangeKernel on queue `queue` (0..MW_MAX_QUEUES-1), checked and counted; on
 * failure the message names the kernel, the OpenCL error and the device. `local` may be
 * NULL; `event` may be NULL. */
mw_status mw_runtime_enqueue(mw_runtime *rt, int queue, cl_kernel kernel, cl_uint work_dim,
                             const size_t *global, const size_t *local, cl_uint num_wait,
                             const cl_event *wait, cl_event *event);

/* Releases every cached program and kernel (program.c; called by mw_runtime_free). */
void mw_runtime_programs_free(mw_runtime *rt);

/* The cache directory rule of mw_runtime_cache_dir, resolved from the environment now;
 * returns a malloc'd path or NULL when disabled (or when no home directory is known). */
char *mw_cache_dir_from_env(void);

#endif
