/* Escaping for the HTML pages memwrap writes (report.html, the explanation pages): every
 * string that comes from a file or a name goes through one of these. */
#ifndef MEMWRAP_IO_HTML_H
#define MEMWRAP_IO_HTML_H

#include <stdio.h>

/* HTML text and attribute values (both quote kinds, so any attribute quoting is safe). */
void mw_html_text(FILE *f, const char *s);

/* A relative path as a URL: bytes outside the unreserved set and '/' are percent-encoded,
 * so a name cannot end the attribute, start a query or fragment, or change the scheme. */
void mw_html_url(FILE *f, const char *s);

#endif
