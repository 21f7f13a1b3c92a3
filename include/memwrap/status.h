/* Status codes and error messages shared by every part of libmemwrap.
 * The library never exits or aborts on a user-reachable path: each call returns an
 * mw_status, and the failing call leaves a readable message in a thread-local buffer. */
#ifndef MEMWRAP_STATUS_H
#define MEMWRAP_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mw_status {
    MW_OK = 0,
    MW_ERR_INVALID_ARG, /* bad argument, shape mismatch, unknown name */
    MW_ERR_NOT_FOUND,   /* no such device, file or tensor */
    MW_ERR_OPENCL,      /* an OpenCL call failed */
    MW_ERR_BUILD,       /* a kernel program failed to build (message holds the log) */
    MW_ERR_BLAS,        /* a CLBlast call failed or its self-test disagreed with the CPU */
    MW_ERR_OUT_OF_MEMORY,
    MW_ERR_IO,     /* reading or writing a file failed */
    MW_ERR_FORMAT, /* a file exists but its content is malformed */
    MW_ERR_NUMERIC, /* NaN or infinity where a finite value is required */
    MW_ERR_GROUP,   /* another process of a group (data-parallel, a grid over MPI) failed */
    MW_STATUS_COUNT
} mw_status;

/* Short constant name of a status ("MW_ERR_OPENCL"). */
const char *mw_status_name(mw_status s);

/* The message recorded by the most recent failing call on this thread ("" if none). */
const char *mw_error_message(void);

/* Records a formatted message for this thread and returns `s`, so that error paths
 * read `return mw_error_set(MW_ERR_INVALID_ARG, "unknown distance '%s'", name);`. */
mw_status mw_error_set(mw_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prepends context ("while running node 12 (sparsemax): ") to the current message. */
mw_status mw_error_wrap(mw_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void mw_error_clear(void);

#define MW_TRY(expr)                                                                               \
    do {                                                                                           \
        mw_status mw_try_status_ = (expr);                                                         \
        if (mw_try_status_ != MW_OK) return mw_try_status_;                                        \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
