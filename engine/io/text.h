/* A growing text buffer for generated files (HTML pages, reports): printf-style appends and
 * HTML escaping, with out-of-memory remembered and reported once at the end. */
#ifndef MEMWRAP_IO_TEXT_H
#define MEMWRAP_IO_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "memwrap/status.h"

typedef struct mw_text {
    char *data; /* NUL-terminated once anything was appended */
    size_t len, cap;
    bool failed; /* an allocation failed: the content is incomplete */
} mw_text;

void mw_text_printf(mw_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Appends s with &, <, >, " and ' escaped for HTML text and attribute values. */
void mw_text_html(mw_text *t, const char *s);

/* MW_OK, or MW_ERR_OUT_OF_MEMORY naming `what` when an append failed. */
mw_status mw_text_status(const mw_text *t, const char *what);

void mw_text_free(mw_text *t);

#endif
