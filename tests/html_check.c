/* A small checker for the HTML pages memwrap writes (report.html, explanation pages): tags
 * balanced, attribute quotes paired, no script, every local link and image on disk. Not an
 * HTML parser: it knows what the writers emit (see support.h). */
#define _XOPEN_SOURCE 700 /* strcasecmp */
#include "support.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int count_between(const char *from, const char *to, const char *needle) {
    int n = 0;
    for (const char *p = from; (p = strstr(p, needle)) != NULL && p < to; p++)
        n++;
    return n;
}

static bool void_element(const char *name) {
    return strcmp(name, "meta") == 0 || strcmp(name, "img") == 0 || strcmp(name, "br") == 0;
}

/* Decodes %XX and &amp; in place. */
static void decode_url(char *s) {
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 3;
        } else if (strncmp(r, "&amp;", 5) == 0) {
            *w++ = '&';
            r += 5;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* Every src= and href= of one tag: a fragment names an id of the page, anything else is a
 * relative path to a file under dir (no network, no absolute paths, no schemes). */
static void check_links(const char *html, const char *tag, size_t len, const char *dir) {
    static const char *const attrs[] = {" src=\"", " href=\""};
    for (int a = 0; a < 2; a++)
        for (const char *p = tag; (p = strstr(p, attrs[a])) != NULL && p < tag + len; p++) {
            const char *v = p + strlen(attrs[a]), *end = strchr(v, '"');
            assert_non_null(end);
            char value[1024];
            snprintf(value, sizeof value, "%.*s", (int)(end - v), v);
            if (value[0] == '#') {
                char id[1100];
                snprintf(id, sizeof id, "id=\"%s\"", value + 1);
                if (!strstr(html, id)) fail_msg("link %s: no element with that id", value);
                continue;
            }
            decode_url(value);
            if (value[0] == '/' || strchr(value, ':') || strstr(value, ".."))
                fail_msg("link '%s' is not a relative path inside the page's folder", value);
            char path[2200];
            snprintf(path, sizeof path, "%s/%s", dir, value);
            if (access(path, F_OK) != 0) fail_msg("link '%s': %s does not exist", value, path);
        }
}

void test_check_html(const char *html, const char *dir) {
    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    char stack[256][16];
    int depth = 0;
    for (const char *p = html; (p = strchr(p, '<')) != NULL;) {
        const char *end = strchr(p, '>');
        if (!end) fail_msg("unterminated tag at byte %ld", (long)(p - html));
        if (p[1] == '!') { /* the doctype */
            p = end + 1;
            continue;
        }
        bool closing = p[1] == '/';
        const char *n = p + 1 + closing;
        char name[16] = {0};
        for (int i = 0; i < 15 && (isalnum((unsigned char)n[i])); i++)
            name[i] = (char)n[i];
        if (!name[0]) fail_msg("a '<' that starts no tag at byte %ld", (long)(p - html));
        if (strcasecmp(name, "script") == 0) fail_msg("the page has a script element");
        if (count_between(p, end, "\"") % 2)
            fail_msg("unpaired quote in <%s> at byte %ld", name, (long)(p - html));
        check_links(html, p, (size_t)(end - p), dir);
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                fail_msg("</%s> at byte %ld closes <%s>", name, (long)(p - html),
                         depth ? stack[depth - 1] : "nothing");
            depth--;
        } else if (!void_element(name) && end[-1] != '/') {
            assert_true(depth < 256);
            snprintf(stack[depth++], sizeof stack[0], "%s", name);
            if (strcmp(name, "style") == 0) { /* CSS is not markup: jump to its end */
                end = strstr(end, "</style>");
                assert_non_null(end);
                end--;
            }
        }
        p = end + 1;
    }
    if (depth) fail_msg("<%s> is never closed", stack[depth - 1]);
}
