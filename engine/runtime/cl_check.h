/* Checking OpenCL and CLBlast calls: every call goes through one of these macros, which
 * record the call text, the OpenCL error name and the source location, and return. */
#ifndef MEMWRAP_CL_CHECK_H
#define MEMWRAP_CL_CHECK_H

#include <clblast_c.h>

#include "memwrap/runtime.h"
#include "memwrap/status.h"

static inline mw_status mw_cl_status(cl_int err) {
    switch (err) {
    case CL_OUT_OF_RESOURCES:
    case CL_OUT_OF_HOST_MEMORY:
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_INVALID_BUFFER_SIZE:
        return MW_ERR_OUT_OF_MEMORY;
    default:
        return MW_ERR_OPENCL;
    }
}

#define MW_CL_CHECK(call)                                                                          \
    do {                                                                                           \
        cl_int mw_cl_err_ = (call);                                                                \
        if (mw_cl_err_ != CL_SUCCESS)                                                              \
            return mw_error_set(mw_cl_status(mw_cl_err_), "%s failed with %s (%s:%d)", #call,      \
                                mw_cl_error_name(mw_cl_err_), __FILE__, __LINE__);                 \
    } while (0)

/* CLBlast codes >= -1000 are OpenCL codes; below that they are CLBlast's own. */
#define MW_BLAS_CHECK(call)                                                                        \
    do {                                                                                           \
        CLBlastStatusCode mw_blas_err_ = (call);                                                   \
        if (mw_blas_err_ != CLBlastSuccess)                                                        \
            return mw_error_set(mw_blas_err_ >= -1000 ? mw_cl_status((cl_int)mw_blas_err_)         \
                                                      : MW_ERR_BLAS,                               \
                                "%s failed with %s (%d) (%s:%d)", #call,                           \
                                mw_blas_error_name(mw_blas_err_), (int)mw_blas_err_, __FILE__,     \
                                __LINE__);                                                         \
    } while (0)

/* Name of a CLBlast status (OpenCL names for OpenCL codes). */
const char *mw_blas_error_name(CLBlastStatusCode code);

#endif
