/* mw_launch: argument binding and 1-D enqueue for memwrap's kernels. */
#include <stdarg.h>
#include <stdio.h>

#include "ops/launch.h"
#include "runtime/cl_check.h"
#include "runtime/internal.h"

/* Work-group size for elementwise-style kernels: 64 fits every device we target and PoCL
 * compiles one specialisation per local size, so keeping it fixed keeps compiles few. */
enum { MW_LOCAL_SIZE = 64 };

/* Sets the arguments from `fmt` and enqueues `global` items (rounded up to `local`). */
static mw_status launch_range(mw_cl_ctx *c, const char *family, const char *kernel, size_t global,
                              size_t local, const char *fmt, va_list ap) {
    cl_kernel k;
    MW_TRY(mw_runtime_kernel(c->rt, family, "", kernel, &k));
    mw_status s = MW_OK;
    for (cl_uint i = 0; fmt[i] && s == MW_OK; i++) {
        cl_int err = CL_SUCCESS;
        switch (fmt[i]) {
        case 'm': {
            cl_mem m = va_arg(ap, cl_mem);
            err = clSetKernelArg(k, i, sizeof m, &m);
            break;
        }
        case 'i': {
            cl_int v = va_arg(ap, int);
            err = clSetKernelArg(k, i, sizeof v, &v);
            break;
        }
        case 'u': {
            cl_uint v = va_arg(ap, unsigned);
            err = clSetKernelArg(k, i, sizeof v, &v);
            break;
        }
        case 'f': {
            cl_float v = (cl_float)va_arg(ap, double);
            err = clSetKernelArg(k, i, sizeof v, &v);
            break;
        }
        default:
            s = mw_error_set(MW_ERR_INVALID_ARG, "mw_launch %s: bad argument format '%c'", kernel,
                             fmt[i]);
        }
        if (err != CL_SUCCESS)
            s = mw_error_set(mw_cl_status(err), "clSetKernelArg(%s, %u) failed with %s", kernel, i,
                             mw_cl_error_name(err));
    }
    MW_TRY(s);
    size_t padded = (global + local - 1) / local * local;
    cl_int err = clEnqueueNDRangeKernel(c->queue, k, 1, NULL, &padded, &local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return mw_error_set(mw_cl_status(err),
                            "clEnqueueNDRangeKernel(%s, %zu items) failed with %s", kernel, global,
                            mw_cl_error_name(err));
    mw_runtime_count_enqueue(c->rt);
    return MW_OK;
}

mw_status mw_launch(mw_cl_ctx *c, const char *family, const char *kernel, size_t global,
                    const char *fmt, ...) {
    size_t max_local = mw_runtime_device(c->rt)->max_work_group_size;
    size_t local = max_local < MW_LOCAL_SIZE ? max_local : MW_LOCAL_SIZE;
    va_list ap;
    va_start(ap, fmt);
    mw_status s = launch_range(c, family, kernel, global, local, fmt, ap);
    va_end(ap);
    return s;
}

mw_status mw_launch_group(mw_cl_ctx *c, const char *family, const char *kernel, size_t group,
                          const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mw_status s = launch_range(c, family, kernel, group, group, fmt, ap);
    va_end(ap);
    return s;
}

mw_status mw_launch_groups(mw_cl_ctx *c, const char *family, const char *kernel, size_t groups,
                           size_t group, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mw_status s = launch_range(c, family, kernel, groups * group, group, fmt, ap);
    va_end(ap);
    return s;
}

size_t mw_group_size_override = 0;

mw_status mw_group_size(mw_cl_ctx *c, const char *family, const char *kernel, size_t cap,
                        size_t *out) {
    const mw_device_info *d = mw_runtime_device(c->rt);
    if (mw_group_size_override)
        cap = mw_group_size_override < cap ? mw_group_size_override : cap;
    else if (d->type & CL_DEVICE_TYPE_CPU)
        cap = 1;
    cl_kernel k;
    MW_TRY(mw_runtime_kernel(c->rt, family, "", kernel, &k));
    size_t limit = 0;
    MW_CL_CHECK(clGetKernelWorkGroupInfo(k, d->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof limit,
                                         &limit, NULL));
    if (limit > d->max_work_group_size) limit = d->max_work_group_size;
    if (limit > cap) limit = cap;
    size_t group = 1;
    while (group * 2 <= limit)
        group *= 2;
    *out = group;
    return MW_OK;
}

int mw_new_output(mw_graph *g, mw_op op, const char *suffix, int ndim, const int64_t *shape) {
    if (g->status != MW_OK) return -1;
    char name[MW_NAME_MAX];
    if (suffix)
        snprintf(name, sizeof name, "%s:%d:%s", mw_op_name(op), g->n_nodes, suffix);
    else
        snprintf(name, sizeof name, "%s:%d", mw_op_name(op), g->n_nodes);
    return mw_graph_new_tensor(g, name, MW_F32, ndim, shape);
}
