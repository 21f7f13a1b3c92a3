/* See io/text.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/text.h"

static bool reserve(mw_text *t, size_t more) {
    if (t->failed) return false;
    if (t->len + more + 1 <= t->cap) return true;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *bigger = realloc(t->data, cap);
    if (!bigger) {
        t->failed = true;
        return false;
    }
    t->data = bigger;
    t->cap = cap;
    return true;
}

void mw_text_printf(mw_text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(t, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void mw_text_html(mw_text *t, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            mw_text_printf(t, "&amp;");
            break;
        case '<':
            mw_text_printf(t, "&lt;");
            break;
        case '>':
            mw_text_printf(t, "&gt;");
            break;
        case '"':
            mw_text_printf(t, "&quot;");
            break;
        case '\'':
            mw_text_printf(t, "&#39;");
            break;
        default:
            if (reserve(t, 1)) {
                t->data[t->len++] = *s;
                t->data[t->len] = '\0';
            }
        }
    }
}

mw_status mw_text_status(const mw_text *t, const char *what) {
    return t->failed ? mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory writing %s", what)
                     : MW_OK;
}

void mw_text_free(mw_text *t) {
    free(t->data);
    memset(t, 0, sizeof *t);
}
