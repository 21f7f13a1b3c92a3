/* `memwrap report` and the results it reads: results.json with training logs and per-pass
 * accuracies round-trips (and older files without them load); the Table-1 cells, plots,
 * escaping and explanation links of report.html on hand-written grids; one size and one run;
 * errors naming results.json; the page's tags balanced and its local links present on disk;
 * the CLI's output and exit codes. */
#define _XOPEN_SOURCE 700 /* strncasecmp */
#include "support.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memwrap/report.h"

static char tmpdir[256];

static int setup(void **state) {
    return test_make_tmpdir(tmpdir, sizeof tmpdir, "memwrap-report-") ? 0 : -1;
}

static int teardown(void **state) {
    test_remove_tree(tmpdir);
    return 0;
}

/* tmpdir/name, created. */
static void make_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(out, 0777), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[2048];
    assert_true(snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path);
    test_write_file(path, text, strlen(text));
}

/* A whole file as a string (test_read_file leaves one spare byte for the NUL). */
static char *read_text(const char *path) {
    size_t n;
    char *text = (char *)test_read_file(path, &n);
    text[n] = '\0';
    return text;
}

static char *read_report(const char *dir) {
    char path[2048];
    snprintf(path, sizeof path, "%s/report.html", dir);
    return read_text(path);
}

static int count(const char *from, const char *to, const char *needle) {
    int n = 0;
    for (const char *p = from; (p = strstr(p, needle)) != NULL && (!to || p < to); p++)
        n++;
    return n;
}

/* The text of a table cell with its tags removed. */
static void cell_text(const char *from, const char *to, char *out, size_t cap) {
    size_t n = 0;
    bool in_tag = false;
    for (const char *p = from; p < to && n + 1 < cap; p++) {
        if (*p == '<')
            in_tag = true;
        else if (*p == '>')
            in_tag = false;
        else if (!in_tag)
            out[n++] = *p;
    }
    out[n] = '\0';
}

/* The Table-1 cell of (model, paper variant name, size column) as text, from the page. */
static void table_cell(const char *html, const char *model, const char *variant, int column,
                       char *out, size_t cap) {
    const char *table = strstr(html, "<table class=\"t1\">");
    assert_non_null(table);
    const char *body = strstr(table, "<tbody>"), *stop = strstr(table, "</table>");
    char current[128] = "";
    for (const char *row = body; (row = strstr(row, "<tr")) != NULL && row < stop; row++) {
        const char *row_end = strstr(row, "</tr>");
        char cells[16][128];
        int n = 0;
        for (const char *c = row; (c = strstr(c, "<td")) != NULL && c < row_end && n < 16; c++) {
            const char *open_end = strchr(c, '>'), *close = strstr(c, "</td>");
            cell_text(open_end + 1, close, cells[n++], sizeof cells[0]);
        }
        int first = 0;
        if (strstr(row, "rowspan") && strstr(row, "rowspan") < row_end) { /* a new group */
            snprintf(current, sizeof current, "%s", cells[1]);
            first = 2;
        }
        if (strcmp(current, model) == 0 && strcmp(cells[first], variant) == 0) {
            snprintf(out, cap, "%s", cells[first + 1 + column]);
            return;
        }
    }
    fail_msg("no Table-1 line %s / %s", model, variant);
}

/* The figure whose caption starts with `caption` (its start; *end set to its end). */
static const char *figure(const char *html, const char *caption, const char **end) {
    for (const char *f = html; (f = strstr(f, "<figure>")) != NULL; f++) {
        const char *cap = strstr(f, "<figcaption>"), *e = strstr(f, "</figure>");
        if (strncmp(cap + strlen("<figcaption>"), caption, strlen(caption)) == 0) {
            *end = e;
            return f;
        }
    }
    *end = NULL;
    fail_msg("no figure captioned '%s'", caption);
    return NULL;
}

/* "nan" or "inf" as a word: a plot coordinate or number went wrong. */
static bool has_non_number(const char *html) {
    static const char *const words[] = {"nan", "inf"};
    for (int w = 0; w < 2; w++)
        for (const char *p = html; (p = strstr(p, words[w])) != NULL; p++)
            if ((p == html || !isalpha((unsigned char)p[-1])) && !isalpha((unsigned char)p[3]))
                return true;
    return false;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static const char *const base = "fashion-mnist-mobilenetv2-";

/* One run of the hand-written grid, in results.json's shape. */
static void append_run(char *json, size_t cap, const char *model, const char *variant,
                       const char *size, int run, double accuracy, bool with_log) {
    char ck[256];
    snprintf(ck, sizeof ck, "fashion-mnist-%s-%s-%s-run%d.safetensors",
             strcmp(model, "mobilenetv2") == 0 ? model : "hostile", variant, size, run);
    size_t used = strlen(json);
    snprintf(json + used, cap - used,
             "%s{\"dataset\":\"fashion-mnist\",\"model\":\"%s\",\"variant\":\"%s\","
             "\"train_examples\":%s%s%s,\"train_count\":%s,\"run\":%d,\"seed\":%d,"
             "\"accuracy\":%.17g,\"seconds\":%d,\"device\":\"cpu \\\"><b>x</b>\","
             "\"commit\":\"abc123\",\"checkpoint\":\"%s\"%s}",
             json[used - 1] == '[' ? "" : ",", model, variant, size[0] == 'f' ? "\"" : "", size,
             size[0] == 'f' ? "\"" : "", size[0] == 'f' ? "54000" : size, run, run, accuracy,
             30 + run, ck,
             with_log ? ",\"repeat_accuracy\":[1.5,2.5],\"epochs\":[{\"epoch\":1,\"loss\":2.25,"
                        "\"lr\":0.1},{\"epoch\":2,\"loss\":1.5,\"lr\":0.1},{\"epoch\":3,"
                        "\"loss\":1.25,\"lr\":0.01}]"
                      : "");
}

/* Std 1000: 80 82 84 (82.00 ± 1.63); Only Memory 1000: 85 87 (86.00 ± 1.00); Memory Wrap
 * 1000: 88 89 90 (89.00 ± 0.82); Std 5000: 90 (90.00 ± 0.00); Memory Wrap 5000: 91 93
 * (92.00 ± 1.00), full: 94.5; Only Memory 5000 absent; plus a model named <script>. */
static void write_grid(const char *dir) {
    static char json[16384];
    snprintf(json, sizeof json,
             "{\"config\":{\"name\":\"grid <i>test</i>\",\"epochs\":3},"
             "\"runs\":[");
    const char *m = "mobilenetv2";
    double std1000[] = {80, 82, 84}, mem1000[] = {85, 87}, mw1000[] = {88, 89, 90};
    for (int r = 0; r < 3; r++)
        append_run(json, sizeof json, m, "std", "1000", r, std1000[r], r != 1);
    for (int r = 0; r < 2; r++)
        append_run(json, sizeof json, m, "memory", "1000", r, mem1000[r], true);
    for (int r = 0; r < 3; r++)
        append_run(json, sizeof json, m, "encoder_memory", "1000", r, mw1000[r], true);
    append_run(json, sizeof json, m, "std", "5000", 0, 90, true);
    append_run(json, sizeof json, m, "encoder_memory", "5000", 0, 91, true);
    append_run(json, sizeof json, m, "encoder_memory", "5000", 1, 93, true);
    append_run(json, sizeof json, m, "encoder_memory", "full", 0, 94.5, true);
    append_run(json, sizeof json, "<script>alert(1)</script>", "std", "1000", 0, 50, true);
    strcat(json, "]}");
    write_text(dir, "results.json", json);

    /* explanations: complete for Memory Wrap 1000 run 0; malformed JSON without a page for
     * run 1; a page whose panel path leaves the folder for run 2; nothing for the others */
    char ex[1024], path[1200];
    snprintf(ex, sizeof ex, "%s/explain", dir);
    assert_int_equal(mkdir(ex, 0777), 0);
    snprintf(path, sizeof path, "%s/%sencoder_memory-1000-run0", ex, base);
    assert_int_equal(mkdir(path, 0777), 0);
    write_text(path, "index.html", "<html></html>");
    write_text(path, "panel 0 memory.png", "not really a png");
    write_text(path, "explanations.json",
               "{\"explanation_accuracy\": 71.5, \"counterfactual_accuracy\": 64.25, "
               "\"example_accuracy\": 80, \"accuracy\": 89.0, \"panels\": [{\"memory\": "
               "\"panel 0 memory.png\", \"heatmap\": \"h.png\"}]}");
    snprintf(path, sizeof path, "%s/%sencoder_memory-1000-run1", ex, base);
    assert_int_equal(mkdir(path, 0777), 0);
    write_text(path, "explanations.json", "{\"explanation_accuracy\": 71.5,");
    snprintf(path, sizeof path, "%s/%sencoder_memory-1000-run2", ex, base);
    assert_int_equal(mkdir(path, 0777), 0);
    write_text(path, "index.html", "<html></html>");
    write_text(path, "explanations.json",
               "{\"counterfactual_accuracy\": null, \"panels\": [{\"memory\": "
               "\"../../../../etc/passwd\"}]}");
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_grid_report(void **state) {
    char dir[512];
    make_dir(dir, sizeof dir, "grid");
    write_grid(dir);
    TEST_OK(mw_report_write(dir));
    char *html = read_report(dir);
    test_check_html(html, dir);

    /* the table: sizes ascending then full; cells by hand (population std) */
    assert_non_null(strstr(html, "<th class=\"num\">1000</th><th class=\"num\">5000</th>"
                                 "<th class=\"num\">full</th>"));
    const struct {
        const char *variant;
        int column;
        const char *want;
    } cells[] = {{"Std", 0, "82.00 ± 1.63 (3)"},
                 {"Only Memory", 0, "86.00 ± 1.00 (2)"},
                 {"Memory Wrap", 0, "89.00 ± 0.82 (3)"},
                 {"Std", 1, "90.00 ± 0.00 (1)"},
                 {"Only Memory", 1, "–"},
                 {"Memory Wrap", 1, "92.00 ± 1.00 (2)"},
                 {"Memory Wrap", 2, "94.50 ± 0.00 (1)"},
                 {"Std", 2, "–"}};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        char got[128];
        table_cell(html, "mobilenetv2", cells[i].variant, cells[i].column, got, sizeof got);
        if (strcmp(got, cells[i].want) != 0)
            fail_msg("%s column %d: '%s', want '%s'", cells[i].variant, cells[i].column, got,
                     cells[i].want);
    }
    /* the paper's row order: Std, Only Memory, Memory Wrap */
    const char *t1 = strstr(html, "<table class=\"t1\">");
    const char *std_row = strstr(t1, ">Std<"), *mem_row = strstr(t1, ">Only Memory<");
    assert_true(std_row < mem_row && mem_row < strstr(t1, ">Memory Wrap<"));

    /* one accuracy plot per (dataset, model), one line per variant; sizes 1000..5000 span
     * more than a factor 4: log axis, "full" after a break */
    const char *end = NULL, *fig = figure(html, "fashion-mnist, mobilenetv2:", &end);
    assert_int_equal(count(fig, end, "<svg"), 1);
    assert_int_equal(count(fig, end, "<path"), 3);
    assert_int_equal(count(fig, end, "<path class=\"series\""), 3);
    assert_non_null(strstr(fig, "log scale"));
    assert_true(strstr(fig, ">full</text>") < end);
    assert_int_equal(count(fig, end, "class=\"errbar\""), 4); /* the cells of 2 or more runs */
    fig = figure(html, "fashion-mnist, &lt;script&gt;alert(1)&lt;/script&gt;:", &end);
    assert_int_equal(count(fig, end, "<path class=\"series\""), 1);

    /* hostile text is escaped everywhere */
    for (const char *p = html; *p; p++)
        assert_int_not_equal(strncasecmp(p, "<script", 7), 0);
    assert_null(strstr(html, "<b>x</b>"));
    assert_null(strstr(html, "<i>test</i>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "grid &lt;i&gt;test&lt;/i&gt;"));

    /* explanations: link, thumbnail and metrics for run 0 only; notes for the broken ones */
    assert_non_null(strstr(html, "href=\"explain/fashion-mnist-mobilenetv2-encoder_memory-1000-"
                                 "run0/index.html\""));
    assert_non_null(strstr(html, "src=\"explain/fashion-mnist-mobilenetv2-encoder_memory-1000-"
                                 "run0/panel%200%20memory.png\""));
    assert_non_null(strstr(html, "71.50 %"));
    assert_non_null(strstr(html, "64.25 %"));
    assert_null(strstr(html, "explain/fashion-mnist-mobilenetv2-encoder_memory-1000-run1/"));
    assert_non_null(strstr(html, "explanations.json is not valid JSON: skipped"));
    assert_non_null(strstr(html, "(no such input)")); /* null: an accuracy over no input */
    assert_non_null(strstr(html, "not a relative path inside the folder"));
    assert_null(strstr(html, "passwd\""));
    assert_null(strstr(html, "explain/fashion-mnist-mobilenetv2-std-"));

    /* each run's card; the curve where the log exists, a note where it does not */
    assert_int_equal(count(html, NULL, "<article class=\"run\">"), 13);
    assert_int_equal(count(html, NULL, "aria-label=\"training loss"), 12);
    assert_int_equal(count(html, NULL, "No per-epoch training log"), 1);
    assert_non_null(strstr(html, "<dt>per pass</dt><dd>1.50, 2.50 %</dd>"));
    assert_false(has_non_number(html));
    free(html);

    /* results.md is made by the same grouping */
    mw_results r;
    TEST_OK(mw_results_load(dir, &r));
    char *md = mw_results_markdown(&r);
    assert_non_null(strstr(md, "| fashion-mnist | mobilenetv2 | std | 82.00 ± 1.63 (3) | "
                               "90.00 ± 0.00 (1) | |\n"));
    assert_non_null(
        strstr(md, "| fashion-mnist | mobilenetv2 | memory | 86.00 ± 1.00 (2) | | |\n"));
    assert_null(strstr(md, "Majority-vote")); /* no run recorded the baselines */
    free(md);
    mw_results_free(&r);
}

/* One size and one run: a single point without error bars, nothing non-numeric; a grid of
 * "full" only; and a results.json without runs. */
static void test_single_run(void **state) {
    char dir[512];
    make_dir(dir, sizeof dir, "single");
    static char json[4096] = "{\"runs\":[";
    append_run(json, sizeof json, "resnet18", "encoder_memory", "1000", 0, 77.7, true);
    strcat(json, "]}");
    write_text(dir, "results.json", json);
    TEST_OK(mw_report_write(dir));
    char *html = read_report(dir);
    test_check_html(html, dir);
    const char *end = NULL, *fig = figure(html, "fashion-mnist, resnet18:", &end);
    assert_int_equal(count(fig, end, "<path class=\"series\""), 1);
    assert_int_equal(count(fig, end, "class=\"errbar\""), 0);
    assert_non_null(strstr(fig, "no error bars"));
    assert_null(strstr(fig, "log scale"));
    assert_non_null(strstr(html, "Memory Wrap"));
    char got[128];
    table_cell(html, "resnet18", "Memory Wrap", 0, got, sizeof got);
    assert_string_equal(got, "77.70 ± 0.00 (1)");
    assert_non_null(strstr(html, "records no configuration"));
    assert_false(has_non_number(html));
    free(html);

    make_dir(dir, sizeof dir, "full-only");
    snprintf(json, sizeof json, "{\"runs\":[");
    append_run(json, sizeof json, "resnet18", "std", "full", 0, 90, false);
    strcat(json, "]}");
    write_text(dir, "results.json", json);
    TEST_OK(mw_report_write(dir));
    html = read_report(dir);
    test_check_html(html, dir);
    assert_non_null(strstr(html, ">full</text>"));
    assert_non_null(strstr(html, "No per-epoch training log"));
    assert_false(has_non_number(html));
    free(html);

    make_dir(dir, sizeof dir, "empty");
    write_text(dir, "results.json", "{\"runs\":[]}");
    TEST_OK(mw_report_write(dir));
    html = read_report(dir);
    test_check_html(html, dir);
    assert_non_null(strstr(html, "No finished runs yet."));
    free(html);
}

static void expect_error(const char *dir, mw_status want) {
    assert_int_equal(mw_report_write(dir), want);
    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", dir);
    if (!strstr(mw_error_message(), path))
        fail_msg("message '%s' does not name %s", mw_error_message(), path);
    snprintf(path, sizeof path, "%s/report.html", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_bad_results(void **state) {
    char dir[512];
    make_dir(dir, sizeof dir, "missing");
    expect_error(dir, MW_ERR_NOT_FOUND);
    make_dir(dir, sizeof dir, "not-json");
    write_text(dir, "results.json", "{\"runs\": [");
    expect_error(dir, MW_ERR_FORMAT);
    make_dir(dir, sizeof dir, "no-runs");
    write_text(dir, "results.json", "{\"config\": {}}");
    expect_error(dir, MW_ERR_FORMAT);
    make_dir(dir, sizeof dir, "bad-log");
    write_text(dir, "results.json",
               "{\"runs\":[{\"run\":0,\"accuracy\":50,\"epochs\":"
               "[{\"epoch\":1,\"loss\":\"low\",\"lr\":0.1}]}]}");
    expect_error(dir, MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "\"epochs\""));
}

/* Training logs and per-pass accuracies survive write and load; a replaced run's log is
 * replaced; files from before the logs existed still load. */
static void test_results_round_trip(void **state) {
    char dir[512];
    make_dir(dir, sizeof dir, "round-trip");
    mw_results r = {0};
    mw_epoch_stat log[3] = {{1, 2.302585092994046, 0.1}, {2, 1.0 / 3, 0.1}, {3, 0.1, 1e-3}};
    mw_result_row row = {.dataset = "fashion-mnist",
                         .model = "resnet18",
                         .variant = "memory",
                         .train_examples = 500,
                         .run = 2,
                         .accuracy = 81.25,
                         .repeats = 2,
                         .repeat_accuracy = {81.0, 81.5},
                         .n_epochs = 3,
                         .epochs = log};
    TEST_OK(mw_results_add(&r, &row));
    log[0].loss = -1; /* the results keep their own copy */
    row.run = 3, row.n_epochs = 1;
    TEST_OK(mw_results_add(&r, &row));
    row.n_epochs = 2; /* run 3 again: replaced */
    TEST_OK(mw_results_add(&r, &row));
    TEST_OK(mw_results_write(&r, dir, "{\"name\":\"rt\"}"));
    mw_results_free(&r);

    mw_results back;
    TEST_OK(mw_results_load(dir, &back));
    assert_int_equal(back.count, 2);
    assert_non_null(strstr(back.config_json, "\"rt\""));
    const mw_result_row *a = mw_results_find(&back, "fashion-mnist", "resnet18", "memory", 500, 2);
    const mw_result_row *b = mw_results_find(&back, "fashion-mnist", "resnet18", "memory", 500, 3);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->repeats, 2);
    assert_true(a->repeat_accuracy[0] == 81.0 && a->repeat_accuracy[1] == 81.5);
    assert_int_equal(a->n_epochs, 3);
    assert_true(a->epochs[0].epoch == 1 && a->epochs[0].loss == 2.302585092994046 &&
                a->epochs[0].lr == 0.1);
    assert_true(a->epochs[1].loss == 1.0 / 3 && a->epochs[2].epoch == 3 && a->epochs[2].lr == 1e-3);
    assert_int_equal(b->n_epochs, 2);
    assert_true(b->epochs[0].loss == -1);
    assert_false(a->has_majority); /* none recorded: none read */
    mw_results_free(&back);

    /* the majority-vote baselines travel with a memory run, and results.md gets their table
     * (the mean and spread of each, as the accuracies') */
    mw_result_row voted = row;
    voted.run = 4, voted.has_majority = true, voted.mvo_accuracy = 70.5, voted.mvy_accuracy = 64.0;
    TEST_OK(mw_results_load(dir, &r));
    TEST_OK(mw_results_add(&r, &voted));
    voted.run = 5, voted.mvo_accuracy = 72.5, voted.mvy_accuracy = 66.0;
    TEST_OK(mw_results_add(&r, &voted));
    TEST_OK(mw_results_write(&r, dir, NULL));
    mw_results_free(&r);
    TEST_OK(mw_results_load(dir, &back));
    const mw_result_row *v = mw_results_find(&back, "fashion-mnist", "resnet18", "memory", 500, 4);
    assert_non_null(v);
    assert_true(v->has_majority && v->mvo_accuracy == 70.5 && v->mvy_accuracy == 64.0);
    char *md = mw_results_markdown(&back);
    assert_non_null(strstr(md, "## Majority-vote baselines"));
    assert_non_null(strstr(md, "| fashion-mnist | resnet18 | memory MVO | 71.50 ± 1.00 (2) |\n"));
    assert_non_null(strstr(md, "| fashion-mnist | resnet18 | memory MVY | 65.00 ± 1.00 (2) |\n"));
    assert_non_null(strstr(md, "| fashion-mnist | resnet18 | memory | 81.25 ± 0.00 (4) |\n"));
    free(md);
    mw_results_free(&back);
    TEST_OK(mw_report_write(dir)); /* and the run's card in the report */
    char *html = read_report(dir);
    assert_non_null(strstr(html, "<dt>majority votes</dt><dd>MVO 70.50 %, MVY 64.00 %</dd>"));
    assert_int_equal(count(html, NULL, "<dt>majority votes</dt>"), 2);
    free(html);

    /* written before "epochs" and "repeat_accuracy" existed */
    write_text(dir, "results.json",
               "{\"runs\":[{\"dataset\":\"fashion-mnist\",\"model\":\"resnet18\",\"variant\":"
               "\"std\",\"train_examples\":\"full\",\"run\":0,\"accuracy\":91.5,\"seconds\":3}]}");
    TEST_OK(mw_results_load(dir, &back));
    assert_int_equal(back.count, 1);
    assert_int_equal(back.rows[0].n_epochs, 0);
    assert_null(back.rows[0].epochs);
    assert_int_equal(back.rows[0].repeats, 0);
    assert_int_equal(back.rows[0].train_examples, -1);
    mw_results_free(&back);
}

static int run_cli(const char *args, const char *out) {
    return test_cli(out, "report %s", args);
}

static void test_report_cli(void **state) {
    char dir[512], out[600], args[1200];
    make_dir(dir, sizeof dir, "cli");
    write_grid(dir);
    snprintf(out, sizeof out, "%s/stdout.txt", tmpdir);
    assert_int_equal(run_cli(dir, out), 0);
    char *printed = read_text(out), want[700];
    snprintf(want, sizeof want, "%s/report.html\n", dir);
    assert_string_equal(printed, want);
    free(printed);
    assert_int_equal(run_cli("--help", out), 0);
    assert_int_equal(run_cli("", out), 2);
    snprintf(args, sizeof args, "%s/nonexistent", tmpdir);
    assert_int_equal(run_cli(args, out), 2);
    snprintf(args, sizeof args, "%s --bogus", dir);
    assert_int_equal(run_cli(args, out), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_report), cmocka_unit_test(test_single_run),
        cmocka_unit_test(test_bad_results), cmocka_unit_test(test_results_round_trip),
        cmocka_unit_test(test_report_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
