/* Runtime internals shared inside libmemwrap (ops, graph, train): the runtime struct, the
 * one kernel launcher, and the counters it keeps honest. Not part of the public API. */
#ifndef MEMWRAP_RUNTIME_INTERNAL_H
#define MEMWRAP_RUNTIME_INTERNAL_H

#include <stdarg.h>

#include "memwrap/runtime.h"

/* A program built from one (family, options) pair, kept for the runtime's life. */
typedef struct mw_program_entry {
    char *family;
    char *options; /* the caller's (variant) options, without the shared defines and -cl-std */
    cl_program program;
} mw_program_entry;

/* A kernel object created from a cached program, kept for the runtime's life, with the
 * work-group limit it was created with (queried once: launches never ask again). */
typedef struct mw_kernel_entry {
    cl_program program;
    char *name;
    cl_kernel kernel;
    size_t max_group; /* CL_KERNEL_WORK_GROUP_SIZE, capped by the device's limit */
} mw_kernel_entry;

/* One runtime drives one device from one host thread: the caches below are not locked, and
 * a cl_kernel's arguments are per object anyway (set them and enqueue without interleaving
 * another thread). */
struct mw_runtime {
    mw_device_info device;
    size_t max_item_sizes[3]; /* CL_DEVICE_MAX_WORK_ITEM_SIZES: local size per dimension */
    /* Tests only (MEMWRAP_WORK_GROUP_SIZE; 0: off): the work-items per group every launch
     * uses where the kernel allows any size, so that sizes a driver could pick (odd ones
     * included) run on any device (launch.c, ops/launch.c's mw_group_size). */
    size_t forced_group;
    cl_context context;
    cl_command_queue queues[MW_MAX_QUEUES];
    bool profiling;
    mw_runtime_stats stats;
    char *kernel_defines; /* -D options every cl/ program gets (runtime/kernel_defines.h) */
    unsigned block_rows;  /* MW_BLOCK_ROWS: register block rows (runtime.c, choose_block_rows) */
    mw_program_entry *programs;
    int program_count, program_capacity;
    mw_kernel_entry *kernels;
    int kernel_count, kernel_capacity;
    char *cache_dir; /* NULL: on-disk program cache disabled */
};

/* The on-disk program cache (runtime/program.c): reads the entry at `path` and validates it
 * (magic, format version, `key`, payload length against the file size, checksum). On
 * CACHE_GOOD *binary is the malloc'd payload; a missing file is CACHE_MISS, anything else
 * CACHE_BAD (rebuilt and overwritten). Exposed for the fuzz harness, which reaches the file
 * format without an OpenCL device. */
typedef enum { CACHE_MISS, CACHE_BAD, CACHE_GOOD } mw_cache_lookup;
mw_cache_lookup mw_program_cache_read(const char *path, uint64_t key, unsigned char **binary,
                                      size_t *length);

/* Counts one CLBlast call (stats.kernels_enqueued counts those too); memwrap's own kernels
 * are counted by mw_runtime_launch. */
void mw_runtime_count_enqueue(mw_runtime *rt);

/* ---- the kernel launcher ---------------------------------------------------------------- */

/* What a launch's global size counts. */
typedef enum mw_range_kind {
    /* global[d] work-items, each checking its index against the problem's size: the range
     * is rounded up to whole work-groups. */
    MW_RANGE_ITEMS,
    /* global[d] work-groups of local[d] work-items (kernels that reduce within a group, in
     * loops striding by the group's size): a local size reduced to fit the kernel keeps the
     * number of groups. */
    MW_RANGE_GROUPS,
} mw_range_kind;

/* One launch of one of memwrap's kernels. */
typedef struct mw_launch_spec {
    const char *family;  /* cl/<family>.cl */
    const char *options; /* the program variant's -D defines, or NULL for the plain program */
    const char *kernel;
    mw_range_kind kind;
    cl_uint dims;     /* 1 to 3 */
    size_t global[3]; /* per dimension, as `kind` says; unused dimensions ignored */
    /* Work-items per group per dimension; all 0 lets the driver choose (MW_RANGE_ITEMS
     * only). A request larger than the kernel or the device allows is halved, last
     * dimension first, until it fits (powers of two stay powers of two). */
    size_t local[3];
} mw_launch_spec;

/* The one way memwrap enqueues its kernels: finds (building at most once) the kernel of
 * spec->family built with spec->options and memwrap's shared defines, sets its arguments from
 * `fmt` (one letter per argument: 'm' cl_mem, 'i' int as cl_int, 'u' unsigned as cl_uint, 'f'
 * double passed as cl_float), fits the local size to the kernel and device limits, and
 * enqueues on `queue`, counted in stats.kernels_enqueued. Errors name the kernel, its
 * family and options, the sizes and the device. */
mw_status mw_runtime_launch(mw_runtime *rt, cl_command_queue queue, const mw_launch_spec *spec,
                            const char *fmt, ...);
mw_status mw_runtime_launch_v(mw_runtime *rt, cl_command_queue queue, const mw_launch_spec *spec,
                              const char *fmt, va_list ap);

/* The local size a launch runs with: `local` (dims entries, each >= 1) halved, last
 * dimension first, until every entry is within `item_limits` and their product within
 * `group_limit`. Exposed for tests (launch.c). */
void mw_launch_fit_local(cl_uint dims, const size_t *local, size_t group_limit,
                         const size_t *item_limits, size_t *out);

/* The cached kernel `name` of (family, options) and its work-group limit (program.c). */
mw_status mw_runtime_kernel_entry(mw_runtime *rt, const char *family, const char *options,
                                  const char *name, mw_kernel_entry *out);

/* Composes rt->kernel_defines for rt->device (program.c; called by mw_runtime_create). */
mw_status mw_runtime_kernel_defines_init(mw_runtime *rt);

/* Releases every cached program and kernel and the shared defines (program.c; called by
 * mw_runtime_free). */
void mw_runtime_programs_free(mw_runtime *rt);

/* The cache directory rule of mw_runtime_cache_dir, resolved from the environment now;
 * returns a malloc'd path or NULL when disabled (or when no home directory is known). */
char *mw_cache_dir_from_env(void);

#endif
