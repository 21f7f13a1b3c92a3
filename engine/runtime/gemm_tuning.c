/* CLBlast tuning data (practices: "tuning is data"): one small table of parameter overrides
 * per device kind, applied at run time with CLBlastOverrideParameters. */
#include <string.h>

#include "runtime/gemm_tuning.h"
#include "runtime/cl_check.h"
#include "runtime/internal.h"

typedef struct tuning_entry {
    const char *kernel; /* CLBlast kernel family: "Xgemm", "XgemmDirect", "GemmRoutine" */
    size_t count;
    const char *names[16];
    size_t values[16];
} tuning_entry;

/* PoCL's CPU device. Xgemm: clblast_tuner_xgemm's best for 512x512x512 on the development
 * machine (shared/platform-facts.md). GemmRoutine: use that kernel (rather than the untuned
 * XgemmDirect) from 128^3 multiply-adds up. Measured there, row-major SGEMM in GFLOP/s,
 * default -> tuned: 128x5120x2560 (Memory Wrap MLP fc1) 24 -> 60, its weight gradient
 * 25 -> 102, 128x100x1280 (cosine) 13 -> 42, 512^3 16 -> 134. */
static const tuning_entry pocl_cpu[] = {
    {"Xgemm",
     16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
      "STRM", "STRN", "VWM", "VWN"},
     {0, 1, 16, 2, 16, 8, 128, 32, 16, 128, 0, 0, 1, 1, 8, 4}},
    {"GemmRoutine", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, {128}},
};

static bool is_pocl_cpu(const mw_device_info *d) {
    return (d->type & CL_DEVICE_TYPE_CPU) && strstr(d->platform_name, "Portable Computing");
}

mw_status mw_gemm_tuning_apply(mw_runtime *rt) {
    /* Devices already done in this process; CLBlast's own cache is process-wide too. */
    static cl_device_id done[8];
    static int n_done;
    const mw_device_info *d = mw_runtime_device(rt);
    for (int i = 0; i < n_done; i++)
        if (done[i] == d->device) return MW_OK;
    if (is_pocl_cpu(d))
        for (size_t i = 0; i < sizeof pocl_cpu / sizeof pocl_cpu[0]; i++) {
            const tuning_entry *e = &pocl_cpu[i];
            const char *names[16]; /* CLBlast's prototype takes non-const pointers */
            memcpy(names, e->names, sizeof names);
            MW_BLAS_CHECK(CLBlastOverrideParameters(d->device, e->kernel, CLBlastPrecisionSingle,
                                                    e->count, names, e->values));
        }
    if (n_done < (int)(sizeof done / sizeof done[0])) done[n_done++] = d->device;
    return MW_OK;
}
