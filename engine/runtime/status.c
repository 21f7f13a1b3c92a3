/* Thread-local error messages behind mw_status. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "memwrap/status.h"

enum { MW_ERROR_CAPACITY = 8192 };
static _Thread_local char mw_error_buffer[MW_ERROR_CAPACITY];

static const char *const status_names[] = {
    "MW_OK",           "MW_ERR_INVALID_ARG", "MW_ERR_NOT_FOUND", "MW_ERR_OPENCL",
    "MW_ERR_BUILD",    "MW_ERR_BLAS",        "MW_ERR_OUT_OF_MEMORY",
    "MW_ERR_IO",       "MW_ERR_FORMAT",      "MW_ERR_NUMERIC",   "MW_ERR_GROUP",
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == MW_STATUS_COUNT,
               "every mw_status needs a name");

const char *mw_status_name(mw_status s) {
    return (unsigned)s < MW_STATUS_COUNT ? status_names[s] : "MW_STATUS_UNKNOWN";
}

const char *mw_error_message(void) {
    return mw_error_buffer;
}

void mw_error_clear(void) {
    mw_error_buffer[0] = '\0';
}

mw_status mw_error_set(mw_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mw_error_buffer, sizeof mw_error_buffer, fmt, ap);
    va_end(ap);
    return s;
}

mw_status mw_error_wrap(mw_status s, const char *fmt, ...) {
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), mlen = strlen(mw_error_buffer);
    if (plen + mlen + 1 > sizeof mw_error_buffer) mlen = sizeof mw_error_buffer - plen - 1;
    memmove(mw_error_buffer + plen, mw_error_buffer, mlen);
    memcpy(mw_error_buffer, prefix, plen);
    mw_error_buffer[plen + mlen] = '\0';
    return s;
}
