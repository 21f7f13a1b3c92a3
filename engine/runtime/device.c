/* OpenCL platform/device discovery and the --device / MEMWRAP_DEVICE selection rules. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cl_check.h"
#include "runtime/internal.h"

/* Reads a string property into a fixed field, truncating: clGetDeviceInfo refuses (with
 * CL_INVALID_VALUE) a buffer smaller than the value, so ask for the size first. Trailing
 * blanks are trimmed because some drivers pad their names. */
static cl_int read_info_string(cl_int (*query)(void *, cl_uint, size_t, void *, size_t *),
                               void *obj, cl_uint param, char *dst, size_t cap) {
    size_t size = 0;
    cl_int err = query(obj, param, 0, NULL, &size);
    if (err != CL_SUCCESS) return err;
    char *tmp = malloc(size + 1);
    if (!tmp) return CL_OUT_OF_HOST_MEMORY;
    err = query(obj, param, size, tmp, NULL);
    if (err == CL_SUCCESS) {
        tmp[size] = '\0';
        size_t len = strlen(tmp);
        while (len > 0 && isspace((unsigned char)tmp[len - 1]))
            tmp[--len] = '\0';
        const char *start = tmp;
        while (isspace((unsigned char)*start))
            start++;
        snprintf(dst, cap, "%s", start);
    }
    free(tmp);
    return err;
}

/* Adapters so one reader serves platforms and devices. */
static cl_int query_platform(void *obj, cl_uint param, size_t size, void *value, size_t *ret) {
    return clGetPlatformInfo((cl_platform_id)obj, param, size, value, ret);
}
static cl_int query_device(void *obj, cl_uint param, size_t size, void *value, size_t *ret) {
    return clGetDeviceInfo((cl_device_id)obj, param, size, value, ret);
}

/* True when the space-separated list `exts` contains the whole word `name`. */
static bool has_extension(const char *exts, const char *name) {
    size_t n = strlen(name);
    for (const char *p = exts; (p = strstr(p, name)) != NULL; p += n) {
        bool starts = p == exts || isspace((unsigned char)p[-1]);
        bool ends = p[n] == '\0' || isspace((unsigned char)p[n]);
        if (starts && ends) return true;
    }
    return false;
}

static mw_status fill_device(mw_device_info *d, cl_platform_id platform, cl_device_id device,
                             int pi, int di) {
    memset(d, 0, sizeof *d);
    d->platform_index = pi;
    d->device_index = di;
    d->platform = platform;
    d->device = device;
    MW_CL_CHECK(read_info_string(query_platform, platform, CL_PLATFORM_NAME, d->platform_name,
                                 sizeof d->platform_name));
    MW_CL_CHECK(read_info_string(query_platform, platform, CL_PLATFORM_VERSION, d->platform_version,
                                 sizeof d->platform_version));
    MW_CL_CHECK(read_info_string(query_device, device, CL_DEVICE_NAME, d->name, sizeof d->name));
    MW_CL_CHECK(
        read_info_string(query_device, device, CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor));
    MW_CL_CHECK(read_info_string(query_device, device, CL_DRIVER_VERSION, d->driver_version,
                                 sizeof d->driver_version));
    MW_CL_CHECK(read_info_string(query_device, device, CL_DEVICE_OPENCL_C_VERSION,
                                 d->opencl_c_version, sizeof d->opencl_c_version));

    cl_uint units = 0, align_bits = 0;
    cl_ulong global = 0, local = 0, max_alloc = 0;
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL));
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL));
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL));
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL));
    MW_CL_CHECK(
        clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL));
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE,
                                sizeof d->max_work_group_size, &d->max_work_group_size, NULL));
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                &align_bits, NULL));
    d->compute_units = units;
    d->global_mem_bytes = global;
    d->local_mem_bytes = local;
    d->max_alloc_bytes = max_alloc;
    d->mem_base_addr_align_bytes = align_bits / 8; /* the query answers in bits */

    /* Extensions are probed at run time: Debian's PoCL has no cl_khr_fp16, for example. */
    size_t size = 0;
    MW_CL_CHECK(clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size));
    char *exts = malloc(size + 1);
    if (!exts) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, exts, NULL);
    if (err != CL_SUCCESS) {
        free(exts);
        return mw_error_set(mw_cl_status(err),
                            "clGetDeviceInfo(CL_DEVICE_EXTENSIONS) failed with %s",
                            mw_cl_error_name(err));
    }
    exts[size] = '\0';
    d->fp16 = has_extension(exts, "cl_khr_fp16");
    d->fp64 = has_extension(exts, "cl_khr_fp64");
    free(exts);
    return MW_OK;
}

static mw_status no_platforms(cl_int err) {
    return mw_error_set(MW_ERR_NOT_FOUND,
                        "no OpenCL platform found (clGetPlatformIDs: %s): install an OpenCL "
                        "driver (ICD), e.g. `apt install pocl-opencl-icd` for the CPU, or your "
                        "GPU vendor's OpenCL runtime; `clinfo -l` should then list a device",
                        mw_cl_error_name(err));
}

/* Collects one platform's devices into *list (grown as needed). */
static mw_status list_platform(cl_platform_id platform, int pi, mw_device_info **list, int *count) {
    cl_uint ndev = 0;
    cl_int err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
    if (err == CL_DEVICE_NOT_FOUND || ndev == 0) return MW_OK; /* an empty platform is fine */
    if (err != CL_SUCCESS)
        return mw_error_set(mw_cl_status(err), "clGetDeviceIDs on platform %d failed with %s", pi,
                            mw_cl_error_name(err));
    cl_device_id *ids = malloc(ndev * sizeof *ids);
    mw_device_info *grown = realloc(*list, ((size_t)*count + ndev) * sizeof **list);
    if (!ids || !grown) {
        free(ids);
        if (grown) *list = grown;
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    }
    *list = grown;
    err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, ndev, ids, NULL);
    if (err != CL_SUCCESS) {
        free(ids);
        return mw_error_set(mw_cl_status(err), "clGetDeviceIDs on platform %d failed with %s", pi,
                            mw_cl_error_name(err));
    }
    for (cl_uint di = 0; di < ndev; di++) {
        mw_status st = fill_device(&(*list)[*count], platform, ids[di], pi, (int)di);
        if (st != MW_OK) {
            free(ids);
            return mw_error_wrap(st, "querying device %d:%u: ", pi, di);
        }
        (*count)++;
    }
    free(ids);
    return MW_OK;
}

mw_status mw_devices_list(mw_device_info **out, int *count) {
    if (!out || !count) return mw_error_set(MW_ERR_INVALID_ARG, "mw_devices_list: NULL output");
    *out = NULL;
    *count = 0;
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplat);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && nplat == 0))
        return no_platforms(err);
    if (err != CL_SUCCESS)
        return mw_error_set(mw_cl_status(err), "clGetPlatformIDs failed with %s",
                            mw_cl_error_name(err));
    cl_platform_id *plats = malloc(nplat * sizeof *plats);
    if (!plats) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    err = clGetPlatformIDs(nplat, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return mw_error_set(mw_cl_status(err), "clGetPlatformIDs failed with %s",
                            mw_cl_error_name(err));
    }
    mw_device_info *list = NULL;
    int n = 0;
    for (cl_uint pi = 0; pi < nplat; pi++) {
        mw_status st = list_platform(plats[pi], (int)pi, &list, &n);
        if (st != MW_OK) {
            free(plats);
            free(list);
            return st;
        }
    }
    free(plats);
    if (n == 0) {
        free(list);
        return mw_error_set(MW_ERR_NOT_FOUND,
                            "%u OpenCL platform(s) found but no device: check the driver "
                            "installation (`clinfo -l`), or install pocl-opencl-icd for the CPU",
                            nplat);
    }
    *out = list;
    *count = n;
    return MW_OK;
}

int mw_devices_default(const mw_device_info *devs, int count) {
    if (!devs || count <= 0) return -1;
    for (int i = 0; i < count; i++)
        if (devs[i].type & CL_DEVICE_TYPE_GPU) return i;
    return 0;
}

const char *mw_device_type_name(cl_device_type type) {
    if (type & CL_DEVICE_TYPE_GPU) return "GPU";
    if (type & CL_DEVICE_TYPE_CPU) return "CPU";
    if (type & CL_DEVICE_TYPE_ACCELERATOR) return "ACCELERATOR";
    if (type & CL_DEVICE_TYPE_CUSTOM) return "CUSTOM";
    return "OTHER";
}

/* Case-insensitive strstr. */
static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return false;
}

static bool equals_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

/* Parses "P:D" (two non-negative decimal integers). */
static bool parse_index_pair(const char *s, int *p, int *d) {
    if (!isdigit((unsigned char)s[0])) return false;
    char *end = NULL;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || *end != ':' || !isdigit((unsigned char)end[1])) return false;
    long b = strtol(end + 1, &end, 10);
    if (errno || *end != '\0' || a > 1000000 || b > 1000000) return false;
    *p = (int)a;
    *d = (int)b;
    return true;
}

static mw_status not_found(const mw_device_info *devs, int count, const char *spec,
                           const char *origin) {
    char list[4096];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < count && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "\n  %d:%d  %s / %s (%s)",
                         devs[i].platform_index, devs[i].device_index, devs[i].platform_name,
                         devs[i].name, mw_device_type_name(devs[i].type));
        if (w < 0) break;
        used += (size_t)w;
    }
    return mw_error_set(MW_ERR_NOT_FOUND,
                        "no OpenCL device matches %s '%s' (use P:D indices, cpu, gpu, or part of "
                        "the platform/device name); available devices:%s",
                        origin, spec, count > 0 ? list : " none");
}

mw_status mw_devices_select(const mw_device_info *devs, int count, const char *spec, int *index) {
    if (!index) return mw_error_set(MW_ERR_INVALID_ARG, "mw_devices_select: NULL index");
    *index = -1;
    const char *origin = "device spec";
    if (!spec || !*spec) {
        spec = getenv("MEMWRAP_DEVICE");
        origin = "MEMWRAP_DEVICE";
    }
    if (!devs || count <= 0) {
        if (spec && *spec) return not_found(devs, 0, spec, origin);
        return mw_error_set(MW_ERR_NOT_FOUND, "no OpenCL device available");
    }
    if (!spec || !*spec) {
        *index = mw_devices_default(devs, count);
        return MW_OK;
    }

    /* Surrounding blanks (from shell quoting or env files) are not part of the spec. */
    char buf[256];
    while (isspace((unsigned char)*spec))
        spec++;
    snprintf(buf, sizeof buf, "%s", spec);
    size_t len = strlen(buf);
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    if (len == 0) {
        *index = mw_devices_default(devs, count);
        return MW_OK;
    }

    int p, d;
    if (parse_index_pair(buf, &p, &d)) {
        for (int i = 0; i < count; i++)
            if (devs[i].platform_index == p && devs[i].device_index == d) {
                *index = i;
                return MW_OK;
            }
        return not_found(devs, count, buf, origin);
    }
    cl_device_type want = 0;
    if (equals_nocase(buf, "cpu"))
        want = CL_DEVICE_TYPE_CPU;
    else if (equals_nocase(buf, "gpu"))
        want = CL_DEVICE_TYPE_GPU;
    else if (equals_nocase(buf, "accelerator"))
        want = CL_DEVICE_TYPE_ACCELERATOR;
    if (want) {
        for (int i = 0; i < count; i++)
            if (devs[i].type & want) {
                *index = i;
                return MW_OK;
            }
        return not_found(devs, count, buf, origin);
    }
    for (int i = 0; i < count; i++) {
        char full[sizeof devs[i].platform_name + sizeof devs[i].name + 2];
        snprintf(full, sizeof full, "%s %s", devs[i].platform_name, devs[i].name);
        if (contains_nocase(full, buf)) {
            *index = i;
            return MW_OK;
        }
    }
    return not_found(devs, count, buf, origin);
}

/* The device type a spec names ("cpu", "gpu", "accelerator", blanks around allowed); 0 for
 * any other spec. */
static cl_device_type spec_type(const char *spec) {
    char buf[32];
    while (spec && isspace((unsigned char)*spec))
        spec++;
    if (!spec || strlen(spec) >= sizeof buf) return 0;
    snprintf(buf, sizeof buf, "%s", spec);
    size_t len = strlen(buf);
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    if (equals_nocase(buf, "cpu")) return CL_DEVICE_TYPE_CPU;
    if (equals_nocase(buf, "gpu")) return CL_DEVICE_TYPE_GPU;
    if (equals_nocase(buf, "accelerator")) return CL_DEVICE_TYPE_ACCELERATOR;
    return 0;
}

mw_status mw_devices_select_local(const mw_device_info *devs, int count, const char *spec,
                                  int local_rank, int *index) {
    MW_TRY(mw_devices_select(devs, count, spec, index));
    const char *given = spec && *spec ? spec : getenv("MEMWRAP_DEVICE");
    bool blank = true;
    for (const char *c = given; c && *c; c++)
        blank = blank && isspace((unsigned char)*c);
    /* no spec: the default device's kind (the GPUs when there are any) */
    cl_device_type want = blank ? devs[*index].type : spec_type(given);
    if (!want || local_rank <= 0) return MW_OK; /* a named device is every process's */
    int n = 0;
    for (int i = 0; i < count; i++)
        n += (devs[i].type & want) != 0;
    int pick = local_rank % n; /* n >= 1: the first match is one */
    for (int i = 0; i < count; i++)
        if ((devs[i].type & want) && pick-- == 0) {
            *index = i;
            break;
        }
    return MW_OK;
}
