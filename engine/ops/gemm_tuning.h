/* CLBlast tuning data for devices whose built-in defaults are far from what they can do. */
#ifndef MEMWRAP_OPS_GEMM_TUNING_H
#define MEMWRAP_OPS_GEMM_TUNING_H

#include "memwrap/runtime.h"

/* Applies memwrap's CLBlast parameter overrides for the runtime's device, once per device
 * and process (CLBlast keeps them process-wide). A no-op on devices without an entry. Call
 * it before sizing any GEMM's temporary buffer: the size depends on the parameters. */
mw_status mw_gemm_tuning_apply(mw_runtime *rt);

#endif
