/* CLBlast tuning data for devices whose built-in defaults are far from what they can do. */
#ifndef MEMWRAP_RUNTIME_GEMM_TUNING_H
#define MEMWRAP_RUNTIME_GEMM_TUNING_H

#include "memwrap/runtime.h"

/* Applies memwrap's CLBlast parameter overrides for the runtime's device, once per device
 * and process (CLBlast keeps them process-wide). A no-op on devices without an entry.
 * mw_runtime_create calls it before the CLBlast self-test (which then checks the tuned
 * kernels) and before any GEMM's temporary buffer is sized (the size depends on them). */
mw_status mw_gemm_tuning_apply(mw_runtime *rt);

#endif
