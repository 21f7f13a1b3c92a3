/* The kernel launcher: every launch of memwrap's own kernels goes through mw_runtime_launch
 * (CLBlast enqueues its own). The per-launch work is a cache lookup, the arguments and one
 * clEnqueueNDRangeKernel: the kernel's work-group limit was queried when the kernel was
 * created, the device's when the runtime was, so nothing is queried or allocated here. */
#include <stdio.h>

#include "runtime/cl_check.h"
#include "runtime/internal.h"

void mw_launch_fit_local(cl_uint dims, const size_t *local, size_t group_limit,
                         const size_t *item_limits, size_t *out) {
    size_t total = 1;
    for (cl_uint d = 0; d < dims; d++) {
        out[d] = local[d];
        while (out[d] > item_limits[d])
            out[d] = (out[d] + 1) / 2;
        total *= out[d];
    }
    for (cl_uint d = dims; total > group_limit && d-- > 0;)
        while (out[d] > 1 && total > group_limit) {
            total /= out[d];
            out[d] = (out[d] + 1) / 2;
            total *= out[d];
        }
}

/* "a x b x c" of the first `dims` sizes, for messages. */
static const char *sizes_text(char *buf, size_t cap, cl_uint dims, const size_t *v) {
    int used = snprintf(buf, cap, "%zu", v[0]);
    for (cl_uint d = 1; d < dims && used > 0 && (size_t)used < cap; d++)
        used += snprintf(buf + used, cap - (size_t)used, " x %zu", v[d]);
    return buf;
}

/* The error of a launch that failed at `what`, naming the kernel and the device. */
static mw_status launch_error(const mw_runtime *rt, const mw_launch_spec *s, cl_int err,
                              const char *what) {
    return mw_error_set(mw_cl_status(err),
                        "%s of kernel %s (cl/%s.cl%s%s) failed with %s on device '%s'%s", what,
                        s->kernel, s->family, s->options && *s->options ? ", options " : "",
                        s->options ? s->options : "", mw_cl_error_name(err), rt->device.name,
                        mw_cl_status(err) == MW_ERR_OUT_OF_MEMORY
                            ? " (the device ran out of memory or resources: try a smaller batch)"
                            : "");
}

static mw_status set_args(const mw_runtime *rt, const mw_launch_spec *s, cl_kernel k,
                          const char *fmt, va_list ap) {
    for (cl_uint i = 0; fmt[i]; i++) {
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
        case 'l': { /* a __local buffer of this many bytes */
            size_t bytes = va_arg(ap, size_t);
            err = clSetKernelArg(k, i, bytes, NULL);
            break;
        }
        default:
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "launching kernel %s (cl/%s.cl): bad argument format '%c' in "
                                "\"%s\"",
                                s->kernel, s->family, fmt[i], fmt);
        }
        if (err != CL_SUCCESS) {
            char what[48];
            snprintf(what, sizeof what, "clSetKernelArg(%u)", i);
            return launch_error(rt, s, err, what);
        }
    }
    return MW_OK;
}

mw_status mw_runtime_launch_v(mw_runtime *rt, cl_command_queue queue, const mw_launch_spec *s,
                              const char *fmt, va_list ap) {
    if (!rt || !queue || !s || !s->family || !s->kernel || !fmt)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_runtime_launch: NULL argument");
    bool any_local = false, all_local = true;
    for (cl_uint d = 0; d < s->dims && d < 3; d++) {
        any_local = any_local || s->local[d] != 0;
        all_local = all_local && s->local[d] != 0;
    }
    bool driver_local = !any_local;
    if (s->dims < 1 || s->dims > 3 || any_local != all_local ||
        (driver_local && s->kind == MW_RANGE_GROUPS))
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "launching kernel %s (cl/%s.cl): %u dimensions (1 to 3), a local "
                            "size given for every dimension or for none, and one for work-groups",
                            s->kernel, s->family, s->dims);
    mw_kernel_entry k;
    MW_TRY(mw_runtime_kernel_entry(rt, s->family, s->options, s->kernel, &k));
    MW_TRY(set_args(rt, s, k.kernel, fmt, ap));

    size_t local[3] = {1, 1, 1}, global[3] = {1, 1, 1};
    bool forced_divisor = false; /* a driver-chosen size replaced by a forced one */
    if (rt->forced_group && s->kind == MW_RANGE_ITEMS) {
        /* Tests (MEMWRAP_WORK_GROUP_SIZE): items kernels check their index, so any local size
         * is valid; along dimension 0 the forced one, or where the driver would choose, the
         * largest divisor of the range within it, as a driver could pick. */
        size_t cap = rt->forced_group;
        if (cap > k.max_group) cap = k.max_group;
        if (cap > rt->max_item_sizes[0]) cap = rt->max_item_sizes[0];
        if (driver_local) {
            while (s->global[0] % cap != 0)
                cap--;
            forced_divisor = true;
        }
        local[0] = cap;
    } else if (!driver_local) {
        mw_launch_fit_local(s->dims, s->local, k.max_group, rt->max_item_sizes, local);
    }
    if (forced_divisor) driver_local = false;
    for (cl_uint d = 0; d < s->dims; d++) {
        if (driver_local || forced_divisor)
            global[d] = s->global[d];
        else if (s->kind == MW_RANGE_GROUPS)
            global[d] = s->global[d] * local[d];
        else
            global[d] = (s->global[d] + local[d] - 1) / local[d] * local[d];
    }
    cl_int err = clEnqueueNDRangeKernel(queue, k.kernel, s->dims, NULL, global,
                                        driver_local ? NULL : local, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        char g[64], l[64], what[192];
        snprintf(what, sizeof what, "clEnqueueNDRangeKernel(global %s, local %s)",
                 sizes_text(g, sizeof g, s->dims, global),
                 driver_local ? "chosen by the driver" : sizes_text(l, sizeof l, s->dims, local));
        return launch_error(rt, s, err, what);
    }
    rt->stats.kernels_enqueued++;
    return MW_OK;
}

mw_status mw_runtime_launch(mw_runtime *rt, cl_command_queue queue, const mw_launch_spec *spec,
                            const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mw_status s = mw_runtime_launch_v(rt, queue, spec, fmt, ap);
    va_end(ap);
    return s;
}
