/* See memwrap/report.h. The page is written straight into the atomic file: a header, the
 * Table-1 results (mw_results_table, shared with results.md), one accuracy-against-size
 * figure per (dataset, model), one card per run with its training curve and explanation
 * links, and the configuration recorded in results.json. Every string that comes from a
 * file goes through mw_html_text() (text and attributes) or mw_html_url() (links). */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/atomic_file.h"
#include "io/html.h"
#include "memwrap/checkpoint_run.h"
#include "memwrap/report.h"
#include "memwrap/results.h"
#include "memwrap/runtime.h"

enum { PATH_CAP = 2048 };

/* ---- text ------------------------------------------------------------------------------ */

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/rel/name as a regular file's path; false when it is not one (or too long to check). */
static bool file_in(char *out, size_t cap, const char *dir, const char *rel, const char *name) {
    int n = snprintf(out, cap, "%s/%s/%s", dir, rel, name);
    return n > 0 && (size_t)n < cap && is_file(out);
}

/* A path that stays inside its folder: relative, no "..", no scheme, no backslash. */
static bool safe_relative(const char *p) {
    if (!*p || *p == '/' || strchr(p, ':') || strchr(p, '\\')) return false;
    for (const char *c = p; (c = strstr(c, "..")) != NULL; c += 2)
        if ((c == p || c[-1] == '/') && (c[2] == '\0' || c[2] == '/')) return false;
    return true;
}

static void print_size(FILE *f, long size) {
    if (size < 0)
        fputs("full", f);
    else
        fprintf(f, "%ld", size);
}

static void print_duration(FILE *f, double s) {
    if (s < 60)
        fprintf(f, "%.1f s", s);
    else if (s < 3600)
        fprintf(f, "%d min %02d s", (int)(s / 60), (int)s % 60);
    else
        fprintf(f, "%d h %02d min", (int)(s / 3600), (int)(s / 60) % 60);
}

/* ---- ordering: Table 1 groups lines by (dataset, model), variants in the paper's order -- */

static int variant_rank(const char *variant) {
    static const char *const order[] = {"std", "memory", "encoder_memory", "protonet",
                                        "matching"};
    enum { N = sizeof order / sizeof order[0] };
    for (int i = 0; i < N; i++)
        if (strcmp(variant, order[i]) == 0) return i;
    return N;
}

static bool same_group(const mw_result_row *a, const mw_result_row *b) {
    return strcmp(a->dataset, b->dataset) == 0 && strcmp(a->model, b->model) == 0;
}

/* Sort key of a line or run: its (dataset, model) group in first-seen order, then the rest. */
typedef struct order_key {
    int group, size_rank, variant, run, first_seen, index;
} order_key;

static int compare_keys(const void *pa, const void *pb) {
    const order_key *a = pa, *b = pb;
    int d[] = {a->group - b->group, a->size_rank - b->size_rank, a->variant - b->variant,
               a->first_seen - b->first_seen, a->run - b->run};
    for (int i = 0; i < 5; i++)
        if (d[i]) return d[i];
    return a->index - b->index;
}

static int group_of(const mw_results_table *t, const mw_result_row *w) {
    for (int l = 0; l < t->n_lines; l++)
        if (same_group(t->lines[l], w)) return l; /* the group's first line */
    return t->n_lines;
}

static int size_index(const mw_results_table *t, long size) {
    for (int k = 0; k < t->n_sizes; k++)
        if (t->sizes[k] == size) return k;
    return t->n_sizes;
}

/* Table lines in display order (out: n_lines indices). */
static mw_status order_lines(const mw_results_table *t, int *out) {
    order_key *keys = malloc((size_t)(t->n_lines ? t->n_lines : 1) * sizeof *keys);
    if (!keys) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    for (int l = 0; l < t->n_lines; l++)
        keys[l] =
            (order_key){group_of(t, t->lines[l]), 0, variant_rank(t->lines[l]->variant), 0, l, l};
    qsort(keys, (size_t)t->n_lines, sizeof *keys, compare_keys);
    for (int l = 0; l < t->n_lines; l++)
        out[l] = keys[l].index;
    free(keys);
    return MW_OK;
}

/* ---- the page ---------------------------------------------------------------------------- */

static const char css[] =
    "body{font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;color:#1a1a1a;"
    "max-width:1180px;margin:2em auto;padding:0 1.5em;line-height:1.45;font-size:15px}"
    "h1{font-size:1.7em;margin:0 0 .2em}h2{font-size:1.3em;margin:2em 0 .6em;"
    "border-bottom:1px solid #bbb;padding-bottom:.2em}h3{font-size:1.05em;margin:1.4em 0 .5em}"
    "p.meta{color:#555;margin:.2em 0 1.2em}code{font-size:.92em}"
    ".note{color:#666;font-size:.9em}"
    "table.t1{border-collapse:collapse;margin:.5em 0 1em;font-variant-numeric:tabular-nums}"
    "table.t1 caption{caption-side:top;text-align:left;color:#333;padding-bottom:.5em;"
    "font-size:.95em}"
    "table.t1 th,table.t1 td{padding:.3em .8em;text-align:left;vertical-align:top;"
    "white-space:nowrap}"
    "table.t1 thead th{vertical-align:bottom}"
    "table.t1 th.span{text-align:center;border-bottom:1px solid #888}"
    "table.t1 td.num,table.t1 th.num{text-align:right;white-space:nowrap}"
    "table.t1 thead tr:first-child th{border-top:2px solid #222}"
    "table.t1 thead tr:last-child th{border-bottom:1px solid #222}"
    "table.t1 tbody tr.grp td{border-top:1px solid #ccc}"
    "table.t1 tbody:last-of-type tr:last-child td{border-bottom:2px solid #222}"
    "table.t1 td .n{color:#777;font-size:.85em}"
    "table.t1 td.best{font-weight:bold}"
    "table.cfg{border-collapse:collapse;font-size:.9em}"
    "table.cfg td{padding:.15em .8em .15em 0;vertical-align:top}"
    "table.cfg td:first-child{color:#555;white-space:nowrap}"
    ".plots{display:flex;flex-wrap:wrap;gap:0 2em}"
    "figure{margin:1em 0 1.5em;flex:0 1 540px;break-inside:avoid}"
    "figure svg{max-width:100%;height:auto}"
    "figcaption{color:#333;font-size:.92em}"
    "svg text{font-family:'Helvetica Neue',Helvetica,Arial,sans-serif}"
    ".runs{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px}"
    "article.run{border:1px solid #ccc;border-radius:4px;padding:.6em .8em;break-inside:avoid}"
    "article.run h4{margin:0;font-size:1em}"
    "article.run .acc{font-size:1.25em;font-weight:bold;font-variant-numeric:tabular-nums}"
    "article.run dl{display:grid;grid-template-columns:auto 1fr;gap:.05em .8em;"
    "margin:.4em 0;font-size:.85em}"
    "article.run dt{color:#666}article.run dd{margin:0;overflow-wrap:anywhere}"
    ".explain{border-top:1px dashed #ccc;margin-top:.4em;padding-top:.4em;font-size:.88em}"
    ".explain img{display:block;max-width:100%;max-height:240px;margin:.2em 0 .4em;"
    "image-rendering:pixelated;border:1px solid #ccc}"
    ".explain table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin-top:.2em}"
    ".explain td{padding:0 1em 0 0;white-space:nowrap}.explain td.num{text-align:right}"
    "a{color:#0b57a0}"
    "@media print{body{max-width:none;margin:0;font-size:11px}h2{break-after:avoid}"
    "a{color:inherit;text-decoration:none}.runs{grid-template-columns:repeat(2,1fr)}}";

typedef struct page {
    FILE *f;
    const char *dir; /* RUN_DIR */
    const mw_results *r;
    const mw_results_table *t;
} page;

static void write_header(page *p, const char *name, cJSON *config) {
    FILE *f = p->f;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    else
        snprintf(date, sizeof date, "an unknown date");
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    mw_html_text(f, name);
    fprintf(f, " — memwrap report</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n<h1>",
            css);
    mw_html_text(f, name);
    fputs("</h1>\n<p class=\"meta\">Memory Wrap experiment grid · ", f);
    /* the distinct datasets of the runs; the config's when there are no runs yet */
    int n_datasets = 0;
    for (int pass = 0; pass < 2; pass++) /* count, then print */
        for (int i = 0, shown = 0; i < p->r->count; i++) {
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = strcmp(p->r->rows[j].dataset, p->r->rows[i].dataset) == 0;
            if (seen) continue;
            if (pass == 0) {
                n_datasets++;
                continue;
            }
            fputs(shown++ ? ", " : n_datasets > 1 ? "datasets " : "dataset ", f);
            mw_html_text(f, p->r->rows[i].dataset);
        }
    if (n_datasets == 0) {
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(config, "dataset");
        const cJSON *ds_name = cJSON_GetObjectItemCaseSensitive(ds, "name");
        fputs("dataset ", f);
        mw_html_text(f, cJSON_IsString(ds_name) ? ds_name->valuestring : "not recorded");
    }
    fprintf(f,
            " · %d finished run%s · generated %s by memwrap %s from <code>results.json</code>"
            "</p>\n</header>\n",
            p->r->count, p->r->count == 1 ? "" : "s", date, mw_version());
}

/* Table 1: one line per (dataset, model, variant), sizes as columns. */
static void write_table(page *p, const int *order) {
    FILE *f = p->f;
    const mw_results_table *t = p->t;
    fputs("<section id=\"results\">\n<h2>Results</h2>\n<table class=\"t1\">\n<caption>Test "
          "accuracy (%) by training-set size: mean ± population standard deviation over runs, "
          "the number of runs in brackets; the best mean of each model and size in bold."
          "</caption>\n<thead>\n<tr><th rowspan=\"2\">Dataset</th><th rowspan=\"2\">Model</th>"
          "<th rowspan=\"2\">Variant</th>",
          f);
    fprintf(f, "<th class=\"span\" colspan=\"%d\">Training-set size (images)</th></tr>\n<tr>",
            t->n_sizes);
    for (int k = 0; k < t->n_sizes; k++) {
        fputs("<th class=\"num\">", f);
        print_size(f, t->sizes[k]);
        fputs("</th>", f);
    }
    fputs("</tr>\n</thead>\n<tbody>\n", f);
    for (int i = 0; i < t->n_lines; i++) {
        int l = order[i];
        const mw_result_row *w = t->lines[l];
        bool new_group = i == 0 || !same_group(t->lines[order[i - 1]], w);
        int span = 1; /* lines of this (dataset, model) group: one Dataset/Model cell */
        while (new_group && i + span < t->n_lines && same_group(t->lines[order[i + span]], w))
            span++;
        fputs(new_group && i > 0 ? "<tr class=\"grp\">" : "<tr>", f);
        if (new_group) {
            fprintf(f, "<td rowspan=\"%d\">", span);
            mw_html_text(f, w->dataset);
            fprintf(f, "</td><td rowspan=\"%d\">", span);
            mw_html_text(f, w->model);
            fputs("</td>", f);
        }
        fputs("<td>", f);
        mw_html_text(f, mw_variant_paper_name(w->variant));
        fputs("</td>", f);
        for (int k = 0; k < t->n_sizes; k++) {
            const mw_result_cell *c = mw_results_table_cell(t, l, k);
            if (c->n == 0) {
                fputs("<td class=\"num\">–</td>", f);
                continue;
            }
            /* bold the best mean among this group's lines (when there is a choice) */
            bool best = true;
            int rivals = 0;
            for (int m = 0; m < t->n_lines; m++) {
                const mw_result_cell *o = mw_results_table_cell(t, m, k);
                if (m == l || !same_group(t->lines[m], w) || o->n == 0) continue;
                rivals++;
                best &= o->mean <= c->mean;
            }
            fprintf(f, "<td class=\"num%s\">%.2f ± %.2f <span class=\"n\">(%d)</span></td>",
                    best && rivals ? " best" : "", c->mean, c->std, c->n);
        }
        fputs("</tr>\n", f);
    }
    if (t->n_lines == 0)
        fprintf(f, "<tr><td colspan=\"%d\">No finished runs yet.</td></tr>\n", 3 + t->n_sizes);
    fputs("</tbody>\n</table>\n</section>\n", f);
}

/* ---- SVG helpers ----------------------------------------------------------------------- */

/* Maps data values to pixels, linearly or on log10. */
typedef struct axis {
    double lo, hi; /* data (log10 of it when log) */
    double p0, p1; /* pixels */
    bool log;
} axis;

static double map(const axis *a, double v) {
    if (a->log) v = log10(v);
    if (a->hi == a->lo) return (a->p0 + a->p1) / 2;
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* 1, 2 or 5 times a power of ten, near span / target. */
static double nice_step(double span, int target) {
    if (!(span > 0)) return 1;
    double raw = span / target, mag = pow(10, floor(log10(raw))), q = raw / mag;
    return (q < 1.5 ? 1 : q < 3 ? 2 : q < 7 ? 5 : 10) * mag;
}

static int decimals_for(double step) {
    int d = (int)-floor(log10(step) + 1e-9);
    return d > 0 ? d : 0;
}

/* Horizontal grid lines and left-hand labels at the multiples of step in [a.lo, a.hi]. */
static void y_ticks(FILE *f, const axis *a, double step, double x0, double x1, bool right) {
    int dec = decimals_for(step);
    for (double v = a->lo; v <= a->hi + step * 1e-6; v += step) {
        double y = map(a, v);
        if (!right)
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>",
                    x0, y, x1, y);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" dominant-baseline=\"middle\">"
                "%.*f</text>\n",
                right ? x1 + 5 : x0 - 6, y, right ? "start" : "end", dec, v);
    }
}

typedef struct style {
    const char *color, *dash;
    int marker; /* 0 circle, 1 square, 2 diamond, 3 triangle */
} style;

/* Colour-blind-safe colours (Okabe and Ito) and dashes that survive grey-scale print. */
static style variant_style(const char *variant, int index) {
    static const style known[] = {{"#0072B2", "6 3", 0}, {"#E69F00", "2 2", 1}, {"#D55E00", "", 2}};
    static const style other[] = {{"#009E73", "8 2 2 2", 3},
                                  {"#CC79A7", "4 2", 0},
                                  {"#56B4E9", "1 2", 1},
                                  {"#000000", "", 3}};
    int rank = variant_rank(variant);
    return rank < 3 ? known[rank] : other[index % 4];
}

static void marker(FILE *f, const style *s, double x, double y) {
    switch (s->marker) {
    case 0:
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", x, y, s->color);
        break;
    case 1:
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7.5\" height=\"7.5\" fill=\"%s\"/>",
                x - 3.75, y - 3.75, s->color);
        break;
    case 2:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>", x,
                y - 5.5, x + 5.5, y, x, y + 5.5, x - 5.5, y, s->color);
        break;
    default:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>", x, y - 5.5,
                x + 5, y + 3.5, x - 5, y + 3.5, s->color);
    }
}

/* ---- accuracy against training-set size ------------------------------------------------ */

enum { PW = 560, PH = 360, PL = 62, PR = 420, PT = 18, PB = 300, FULL_SLOT = 60 };

/* The figure of one (dataset, model) group; `order` lists its lines in display order. */
static mw_status write_size_plot(page *p, const int *lines, int n_lines) {
    FILE *f = p->f;
    const mw_results_table *t = p->t;
    const mw_result_row *g = t->lines[lines[0]];
    /* the sizes with a result in this group */
    int *used = malloc((size_t)t->n_sizes * sizeof *used), n_used = 0, full = -1;
    if (!used) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    double ylo = INFINITY, yhi = -INFINITY;
    long smin = LONG_MAX, smax = 0;
    int full_count = 0; /* images in a "full" run, when recorded */
    for (int k = 0; k < t->n_sizes; k++) {
        bool any = false;
        for (int i = 0; i < n_lines; i++) {
            const mw_result_cell *c = mw_results_table_cell(t, lines[i], k);
            if (!c->n) continue;
            any = true;
            ylo = fmin(ylo, c->mean - c->std);
            yhi = fmax(yhi, c->mean + c->std);
        }
        if (!any) continue;
        used[n_used++] = k;
        if (t->sizes[k] < 0) {
            full = k;
        } else {
            smin = t->sizes[k] < smin ? t->sizes[k] : smin;
            smax = t->sizes[k] > smax ? t->sizes[k] : smax;
        }
    }
    for (int i = 0; i < p->r->count && full >= 0; i++)
        if (same_group(&p->r->rows[i], g) && p->r->rows[i].train_examples < 0)
            full_count = p->r->rows[i].train_count;
    int n_numeric = n_used - (full >= 0);

    /* y: the error bars' range padded, on round ticks, inside [0, 100] */
    double pad = fmax((yhi - ylo) * 0.08, 0.5);
    double step = nice_step(yhi - ylo + 2 * pad, 5);
    axis ay = {floor((ylo - pad) / step) * step, ceil((yhi + pad) / step) * step, PB, PT, false};
    ay.lo = fmax(ay.lo, 0), ay.hi = fmin(ay.hi, 100);
    /* x: the sizes (log10 when they span more than a factor 4), "full" in its own slot */
    bool logx = n_numeric > 1 && smax > 4 * smin;
    double x_end = full >= 0 && n_numeric ? PR - FULL_SLOT : PR;
    axis ax = {logx ? log10((double)smin) : (double)smin, logx ? log10((double)smax) : (double)smax,
               PL + 36, x_end - 24, logx};
    if (n_numeric <= 1) ax.p0 = ax.p1 = (PL + x_end) / 2;
    double full_x = n_numeric ? PR - FULL_SLOT / 2 + 8 : (PL + PR) / 2.0;

    fputs("<figure>\n", f);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-size=\"12\" role=\"img\" aria-label=\"test accuracy "
            "against training-set size\">\n",
            PW, PH, PW, PH);
    fputs("<g class=\"yaxis\">", f);
    y_ticks(f, &ay, step, PL, PR, false);
    fputs("</g>\n", f);
    /* axes: the x axis broken before "full" */
    double brk = x_end - 6;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\"/>", PL, PT, PL, PB);
    if (full >= 0 && n_numeric) {
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>"
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\"/>",
                PL, PB, brk - 4, PB, brk + 4, PB, PR, PB);
        for (int s = -1; s <= 1; s += 2)
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>",
                    brk + 4 * s - 3, PB + 5, brk + 4 * s + 3, PB - 5);
    } else {
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\"/>", PL, PB, PR,
                PB);
    }
    fputs("\n<g class=\"xaxis\" text-anchor=\"middle\">", f);
    for (int u = 0; u < n_used; u++) {
        long size = t->sizes[used[u]];
        double x = size < 0 ? full_x : map(&ax, (double)size);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>", x, PB, x,
                PB + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">", x, PB + 19);
        print_size(f, size);
        fputs("</text>", f);
        if (size < 0 && full_count > 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#666\" font-size=\"10\">(%d)</text>", x,
                    PB + 32, full_count);
    }
    fputs("</g>\n", f);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">Training-set size (images%s)"
            "</text>\n",
            (PL + PR) / 2, PH - 10, logx ? ", log scale" : "");
    fprintf(f,
            "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">"
            "Test accuracy (%%)</text>\n",
            (PT + PB) / 2);

    /* one line per variant, nudged sideways so that error bars do not hide each other */
    for (int i = 0; i < n_lines; i++) {
        const mw_result_row *w = t->lines[lines[i]];
        style st = variant_style(w->variant, i);
        double dx = n_lines > 1 ? (i - (n_lines - 1) / 2.0) * 5 : 0;
        fprintf(f,
                "<g class=\"variant\"><path class=\"series\" fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"2\"%s%s%s d=\"",
                st.color, *st.dash ? " stroke-dasharray=\"" : "", st.dash, *st.dash ? "\"" : "");
        int drawn = 0;
        for (int u = 0; u < n_used; u++) {
            const mw_result_cell *c = mw_results_table_cell(t, lines[i], used[u]);
            if (!c->n) continue;
            long size = t->sizes[used[u]];
            double x = (size < 0 ? full_x : map(&ax, (double)size)) + dx;
            fprintf(f, "%s%.1f %.1f", drawn++ ? " L" : "M", x, map(&ay, c->mean));
        }
        fputs("\"/>", f);
        for (int u = 0; u < n_used; u++) {
            const mw_result_cell *c = mw_results_table_cell(t, lines[i], used[u]);
            if (!c->n) continue;
            long size = t->sizes[used[u]];
            double x = (size < 0 ? full_x : map(&ax, (double)size)) + dx;
            if (c->n > 1 && c->std > 0) {
                double y0 = map(&ay, fmax(c->mean - c->std, ay.lo));
                double y1 = map(&ay, fmin(c->mean + c->std, ay.hi));
                fprintf(f,
                        "<g class=\"errbar\" stroke=\"%s\"><line x1=\"%.1f\" y1=\"%.1f\" "
                        "x2=\"%.1f\" y2=\"%.1f\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                        "y2=\"%.1f\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>",
                        st.color, x, y0, x, y1, x - 4, y0, x + 4, y0, x - 4, y1, x + 4, y1);
            }
            marker(f, &st, x, map(&ay, c->mean));
        }
        /* legend entry */
        double ly = PT + 14 + 22 * i;
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"%s%s%s/>",
                PR + 14, ly, PR + 40, ly, st.color, *st.dash ? " stroke-dasharray=\"" : "", st.dash,
                *st.dash ? "\"" : "");
        marker(f, &st, PR + 27, ly);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" dominant-baseline=\"middle\">", PR + 46, ly);
        mw_html_text(f, mw_variant_paper_name(w->variant));
        fputs("</text></g>\n", f);
    }
    fputs("</svg>\n<figcaption>", f);
    mw_html_text(f, g->dataset);
    fputs(", ", f);
    mw_html_text(f, g->model);
    fputs(": test accuracy against training-set size, mean over runs", f);
    bool bars = false;
    for (int i = 0; i < n_lines; i++)
        for (int u = 0; u < n_used; u++) {
            const mw_result_cell *c = mw_results_table_cell(t, lines[i], used[u]);
            bars |= c->n > 1 && c->std > 0;
        }
    fputs(bars ? " with ± one population standard deviation as error bars"
               : " (one run per point: "
                 "no error bars)",
          f);
    if (full >= 0 && n_numeric)
        fputs("; “full” is the whole training set, after the axis break", f);
    fputs(".</figcaption>\n</figure>\n", f);
    free(used);
    return MW_OK;
}

static mw_status write_size_plots(page *p, const int *order) {
    const mw_results_table *t = p->t;
    if (t->n_lines == 0) return MW_OK;
    fputs("<section id=\"plots\">\n<h2>Accuracy against training-set size</h2>\n"
          "<div class=\"plots\">\n",
          p->f);
    for (int i = 0; i < t->n_lines;) {
        int n = 1;
        while (i + n < t->n_lines && same_group(t->lines[order[i + n]], t->lines[order[i]]))
            n++;
        MW_TRY(write_size_plot(p, order + i, n));
        i += n;
    }
    fputs("</div>\n</section>\n", p->f);
    return MW_OK;
}

/* ---- one run --------------------------------------------------------------------------- */

enum { LW = 340, LH = 150, LL = 44, LR = 290, LT = 10, LB = 118 };

/* Mean training loss per epoch (left axis) and the learning rate as a step line (right). */
static void write_loss_curve(FILE *f, const mw_result_row *w) {
    int last = 0;
    double lmax = 0, rmin = INFINITY, rmax = 0;
    int distinct = 0;
    for (int e = 0; e < w->n_epochs; e++) {
        const mw_epoch_stat *s = &w->epochs[e];
        last = s->epoch > last ? s->epoch : last;
        lmax = fmax(lmax, s->loss);
        rmin = fmin(rmin, s->lr), rmax = fmax(rmax, s->lr);
        distinct += e == 0 || s->lr != w->epochs[e - 1].lr;
    }
    axis ax = {0.5, last + 0.5, LL, LR, false};
    double lstep = nice_step(lmax, 4);
    axis ay = {0, fmax(ceil(lmax / lstep), 1) * lstep, LB, LT, false};
    /* Step schedules fall by factors of ten: a log axis shows every step. Smooth schedules
     * (cosine) read better on a linear one. */
    bool rlog = rmin > 0 && rmax > 10 * rmin && distinct <= 8;
    double rstep = nice_step(rmax, 2);
    axis ar = {0, fmax(ceil(rmax / rstep), 1) * rstep, LB, LT, false};
    if (rlog) ar = (axis){floor(log10(rmin)), ceil(log10(rmax)), LB, LT, true};

    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-size=\"10\" role=\"img\" aria-label=\"training loss "
            "and learning rate per epoch\">\n",
            LW, LH, LW, LH);
    y_ticks(f, &ay, lstep, LL, LR, false);
    if (rlog)
        for (double d = ar.lo; d <= ar.hi + 1e-9; d++)
            fprintf(f,
                    "<text x=\"%d\" y=\"%.1f\" dominant-baseline=\"middle\" fill=\"#B05A00\">"
                    "%g</text>\n",
                    LR + 5, map(&ar, pow(10, d)), pow(10, d));
    else
        for (double v = 0; v <= ar.hi + rstep * 1e-6; v += rstep)
            fprintf(f,
                    "<text x=\"%d\" y=\"%.1f\" dominant-baseline=\"middle\" fill=\"#B05A00\">"
                    "%g</text>\n",
                    LR + 5, map(&ar, v), v);
    fprintf(f,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#B05A00\"/>\n",
            LL, LT, LL, LB, LL, LB, LR, LB, LR, LT, LR, LB);
    /* epoch ticks: whole epochs, about five of them */
    double estep = fmax(1, nice_step(last, 5));
    for (double e = estep > 1 ? estep : 1; e <= last + 1e-9; e += estep)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>",
                map(&ax, e), LB, map(&ax, e), LB + 4, map(&ax, e), LB + 14, e);
    fprintf(f,
            "\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>"
            "<text transform=\"translate(11 %d) rotate(-90)\" text-anchor=\"middle\" "
            "fill=\"#0072B2\">mean loss</text>"
            "<text transform=\"translate(%d %d) rotate(90)\" text-anchor=\"middle\" "
            "fill=\"#B05A00\">learning rate%s</text>\n",
            (LL + LR) / 2, LH - 4, (LT + LB) / 2, LW - 6, (LT + LB) / 2, rlog ? " (log)" : "");
    /* the learning rate: constant over each epoch */
    fputs(
        "<path fill=\"none\" stroke=\"#E69F00\" stroke-width=\"1.2\" stroke-opacity=\"0.85\" d=\"",
        f);
    for (int e = 0; e < w->n_epochs; e++) {
        double x0 = map(&ax, w->epochs[e].epoch - 0.5), x1 = map(&ax, w->epochs[e].epoch + 0.5);
        double y = map(&ar, w->epochs[e].lr);
        fprintf(f, "%s%.1f %.1f L%.1f %.1f", e == 0 ? "M" : " L", x0, y, x1, y);
    }
    fputs("\"/>\n<path fill=\"none\" stroke=\"#0072B2\" stroke-width=\"1.8\" d=\"", f);
    for (int e = 0; e < w->n_epochs; e++)
        fprintf(f, "%s%.1f %.1f", e == 0 ? "M" : " L", map(&ax, w->epochs[e].epoch),
                map(&ay, w->epochs[e].loss));
    fputs("\"/>\n", f);
    if (w->n_epochs <= 40) /* dots while they stay apart */
        for (int e = 0; e < w->n_epochs; e++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"#0072B2\"/>",
                    map(&ax, w->epochs[e].epoch), map(&ay, w->epochs[e].loss));
    fputs("</svg>\n", f);
}

/* Reads explain/<base>/explanations.json; false with `why` set when it is unusable. */
static bool read_explanations(const char *path, cJSON **out, char *why, size_t cap) {
    *out = NULL;
    FILE *in = fopen(path, "rb");
    if (!in) {
        snprintf(why, cap, "cannot be read (%s)", strerror(errno));
        return false;
    }
    char *text = NULL;
    size_t len = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0) {
        char *grown = realloc(text, len + got + 1);
        if (!grown) break;
        text = grown;
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(in);
    if (!text) {
        snprintf(why, cap, "is empty");
        return false;
    }
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        snprintf(why, cap, root ? "is not a JSON object" : "is not valid JSON");
        cJSON_Delete(root);
        return false;
    }
    *out = root;
    return true;
}

static const char *const metric_keys[] = {"explanation_accuracy", "counterfactual_accuracy",
                                          "example_accuracy",     "accuracy",
                                          "mvo_accuracy",         "mvy_accuracy"};
static const char *const metric_names[] = {"explanation accuracy", "counterfactual accuracy",
                                           "example accuracy",     "accuracy",
                                           "majority vote (MVO)",  "majority vote (MVY)"};
enum { REPORT_METRICS = sizeof metric_keys / sizeof metric_keys[0] };

/* The run's explanation box: metrics, thumbnail and link, or notes on what is missing. */
static void write_explanations(page *p, const mw_result_row *w) {
    FILE *f = p->f;
    mw_variant variant;
    /* std and protonet runs have no content weights to explain with */
    if (!w->checkpoint[0] || mw_variant_from_name(w->variant, &variant) != MW_OK ||
        !mw_variant_has_attention(variant))
        return;
    char base[300], rel[320], index[PATH_CAP], json[PATH_CAP];
    mw_checkpoint_stem(w->checkpoint, base, sizeof base);
    snprintf(rel, sizeof rel, "explain/%s", base);
    bool has_index = file_in(index, sizeof index, p->dir, rel, "index.html");
    bool has_json = file_in(json, sizeof json, p->dir, rel, "explanations.json");
    fputs("<div class=\"explain\">", f);
    if (!has_index && !has_json) {
        fputs("<span class=\"note\">No explanations yet (<code>memwrap explain</code> on this "
              "checkpoint).</span></div>\n",
              f);
        return;
    }
    char why[256] = "";
    cJSON *root = NULL;
    if (has_json) read_explanations(json, &root, why, sizeof why);
    /* thumbnail: the first panel's memory images */
    const cJSON *panels = cJSON_GetObjectItemCaseSensitive(root, "panels");
    const cJSON *first = cJSON_IsArray(panels) ? cJSON_GetArrayItem(panels, 0) : NULL;
    const cJSON *memory = cJSON_GetObjectItemCaseSensitive(first, "memory");
    char thumb_note[512] = "";
    if (cJSON_IsString(memory)) {
        char png[PATH_CAP];
        if (!safe_relative(memory->valuestring))
            snprintf(thumb_note, sizeof thumb_note,
                     "its memory panel path is not a relative "
                     "path inside the folder");
        else if (!file_in(png, sizeof png, p->dir, rel, memory->valuestring))
            snprintf(thumb_note, sizeof thumb_note, "its memory panel is missing");
        else {
            if (has_index) {
                fputs("<a href=\"", f);
                mw_html_url(f, rel);
                fputs("/index.html\">", f);
            }
            fputs("<img src=\"", f);
            mw_html_url(f, rel);
            fputc('/', f);
            mw_html_url(f, memory->valuestring);
            fputs("\" alt=\"memory images of the first explained test image\">", f);
            if (has_index) fputs("</a>", f);
        }
    }
    fputs("<div>", f);
    if (has_index) {
        fputs("<a href=\"", f);
        mw_html_url(f, rel);
        fputs("/index.html\">Explanations</a>", f);
    } else {
        fputs("Explanations <span class=\"note\">(no index.html)</span>", f);
    }
    if (root) {
        int shown = 0;
        bool bad = false;
        for (int m = 0; m < REPORT_METRICS; m++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, metric_keys[m]);
            if (!v) continue;
            if (cJSON_IsNull(v)) { /* explain writes null for an accuracy over no input */
                fprintf(f,
                        "%s<tr><td>%s</td><td class=\"num\">&ndash; <span "
                        "class=\"note\">(no such input)</span></td></tr>",
                        shown++ ? "" : "<table>", metric_names[m]);
                continue;
            }
            if (!cJSON_IsNumber(v)) {
                bad = true;
                continue;
            }
            fprintf(f, "%s<tr><td>%s</td><td class=\"num\">%.2f %%</td></tr>",
                    shown++ ? "" : "<table>", metric_names[m], v->valuedouble);
        }
        if (shown) fputs("</table>", f);
        if (bad)
            fputs("<br><span class=\"note\">explanations.json: a metric that is not a number was "
                  "skipped.</span>",
                  f);
        else if (!shown)
            fputs("<br><span class=\"note\">No metrics (<code>memwrap explain --metrics</code>)."
                  "</span>",
                  f);
    } else if (has_json) {
        fputs("<br><span class=\"note\">explanations.json ", f);
        mw_html_text(f, why);
        fputs(": skipped.</span>", f);
    } else {
        fputs("<br><span class=\"note\">No explanations.json: no metrics.</span>", f);
    }
    if (thumb_note[0]) {
        fputs("<br><span class=\"note\">No thumbnail: ", f);
        mw_html_text(f, thumb_note);
        fputs(".</span>", f);
    }
    fputs("</div></div>\n", f);
    cJSON_Delete(root);
}

static void write_run(page *p, const mw_result_row *w) {
    FILE *f = p->f;
    fputs("<article class=\"run\">\n<h4>", f);
    mw_html_text(f, mw_variant_paper_name(w->variant));
    fprintf(f, " · run %d</h4>\n<div class=\"acc\">%.2f %%</div>\n", w->run, w->accuracy);
    if (w->n_epochs > 0)
        write_loss_curve(f, w);
    else
        fputs("<p class=\"note\">No per-epoch training log (results.json from an older "
              "memwrap).</p>\n",
              f);
    fputs("<dl><dt>run</dt><dd>", f);
    mw_html_text(f, w->dataset);
    fputs(" · ", f);
    mw_html_text(f, w->model);
    fputs(" · ", f);
    mw_html_text(f, w->variant);
    fputs(" · ", f);
    if (w->train_examples >= 0)
        fprintf(f, "%ld images", w->train_examples);
    else if (w->train_count > 0)
        fprintf(f, "full (%d images)", w->train_count);
    else
        fputs("full", f);
    fprintf(f, " · seed %d</dd><dt>per pass</dt><dd>", w->run);
    for (int k = 0; k < w->repeats; k++)
        fprintf(f, "%s%.2f", k ? ", " : "", w->repeat_accuracy[k]);
    if (w->repeats == 0) fputs("not recorded", f);
    fputs(w->repeats ? " %</dd>" : "</dd>", f);
    if (w->has_majority) /* the paper's majority-vote baselines of the same evaluation */
        fprintf(f, "<dt>majority votes</dt><dd>MVO %.2f %%, MVY %.2f %%</dd>", w->mvo_accuracy,
                w->mvy_accuracy);
    fputs("<dt>time</dt><dd>", f);
    print_duration(f, w->seconds);
    if (w->device[0]) {
        fputs(" on ", f);
        mw_html_text(f, w->device);
    }
    fputs("</dd><dt>commit</dt><dd><code>", f);
    mw_html_text(f, w->commit[0] ? w->commit : "–");
    fputs("</code></dd><dt>checkpoint</dt><dd><code>", f);
    mw_html_text(f, w->checkpoint[0] ? w->checkpoint : "–");
    fputs("</code></dd></dl>\n", f);
    write_explanations(p, w);
    fputs("</article>\n", f);
}

/* Cards grouped by (dataset, model, size), variants in the paper's order, then runs. */
static mw_status write_runs(page *p) {
    const mw_results *r = p->r;
    if (r->count == 0) return MW_OK;
    order_key *keys = malloc((size_t)r->count * sizeof *keys);
    if (!keys) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    for (int i = 0; i < r->count; i++) {
        const mw_result_row *w = &r->rows[i];
        int first = 0; /* unknown variants keep their first-seen order */
        while (strcmp(r->rows[first].variant, w->variant) != 0)
            first++;
        keys[i] = (order_key){group_of(p->t, w),
                              size_index(p->t, w->train_examples),
                              variant_rank(w->variant),
                              w->run,
                              first,
                              i};
    }
    qsort(keys, (size_t)r->count, sizeof *keys, compare_keys);
    FILE *f = p->f;
    fputs("<section id=\"runs\">\n<h2>Runs</h2>\n<p class=\"note\">Each run's curve: the mean "
          "training loss of each epoch (blue, left axis) and the learning rate used in it "
          "(orange step line, right axis).</p>\n",
          f);
    for (int i = 0; i < r->count; i++) {
        const mw_result_row *w = &r->rows[keys[i].index];
        if (i == 0 || keys[i].group != keys[i - 1].group ||
            keys[i].size_rank != keys[i - 1].size_rank) {
            if (i) fputs("</div>\n", f);
            fputs("<h3>", f);
            mw_html_text(f, w->dataset);
            fputs(" · ", f);
            mw_html_text(f, w->model);
            fputs(" · ", f);
            print_size(f, w->train_examples);
            fputs(w->train_examples < 0 ? " training set" : " training images", f);
            fputs("</h3>\n<div class=\"runs\">\n", f);
        }
        write_run(p, w);
    }
    fputs("</div>\n</section>\n", f);
    free(keys);
    return MW_OK;
}

/* The config recorded in results.json, one line per top-level key. */
static void write_config(page *p, const cJSON *config) {
    FILE *f = p->f;
    fputs("<section id=\"config\">\n<h2>Configuration</h2>\n", f);
    if (!cJSON_IsObject(config)) {
        fputs("<p class=\"note\">results.json records no configuration.</p>\n</section>\n", f);
        return;
    }
    fputs("<table class=\"cfg\">\n", f);
    const cJSON *it;
    cJSON_ArrayForEach(it, config) {
        char *value = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
        fputs("<tr><td>", f);
        mw_html_text(f, it->string ? it->string : "");
        fputs("</td><td><code>", f);
        mw_html_text(f, cJSON_IsString(it) ? it->valuestring : value ? value : "");
        fputs("</code></td></tr>\n", f);
        free(value);
    }
    fputs("</table>\n</section>\n", f);
}

mw_status mw_report_write(const char *run_dir) {
    char path[PATH_CAP], out[PATH_CAP];
    snprintf(path, sizeof path, "%s/results.json", run_dir);
    snprintf(out, sizeof out, "%s/report.html", run_dir);
    if (!is_file(path))
        return mw_error_set(MW_ERR_NOT_FOUND,
                            "%s: no such file (a grid written by `memwrap "
                            "train CONFIG --out %s` has one)",
                            path, run_dir);
    mw_results r;
    MW_TRY(mw_results_load(run_dir, &r));
    mw_results_table t;
    mw_status s = mw_results_table_make(&r, &t);
    if (s != MW_OK) {
        mw_results_free(&r);
        return s;
    }
    int *order = malloc((size_t)(t.n_lines ? t.n_lines : 1) * sizeof *order);
    cJSON *config = r.config_json ? cJSON_Parse(r.config_json) : NULL;
    /* the title: the config's name, else the folder's */
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(config, "name");
    const char *slash = strrchr(run_dir, '/');
    const char *title = cJSON_IsString(name) && name->valuestring[0] ? name->valuestring
                        : slash && slash[1]                          ? slash + 1
                                                                     : run_dir;
    mw_atomic_file af = {0};
    if (!order) s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    if (s == MW_OK) s = mw_atomic_begin(out, &af);
    if (s == MW_OK) {
        page p = {af.f, run_dir, &r, &t};
        s = order_lines(&t, order);
        if (s == MW_OK) {
            write_header(&p, title, config);
            write_table(&p, order);
            s = write_size_plots(&p, order);
        }
        if (s == MW_OK) s = write_runs(&p);
        if (s == MW_OK) write_config(&p, config);
        fputs("</body>\n</html>\n", af.f);
        if (s == MW_OK && ferror(af.f))
            s = mw_error_set(MW_ERR_IO, "%s: writing failed: %s", out, strerror(errno));
        if (s == MW_OK)
            s = mw_atomic_commit(&af);
        else
            mw_atomic_abort(&af);
    }
    cJSON_Delete(config);
    free(order);
    mw_results_table_free(&t);
    mw_results_free(&r);
    return s;
}
