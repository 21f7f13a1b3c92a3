/* Every kernel program is strict OpenCL C 1.2: clang compiles each embedded cl/ family with
 * -cl-std=CL1.2 -pedantic -Werror and the runtime's shared defines, once as the test device
 * builds it and once as a device without FMA or double would (the #ifdef MW_FMA / MW_FP64
 * branches). PoCL accepts clang's OpenCL extensions; other vendors' compilers do not: the
 * first GPU run failed on every program that used a variadic macro (NVIDIA's compiler:
 * "variadic macros not supported in OpenCL"), which this test reports on the CPU. Skipped
 * when the build found no clang (CI installs it). */
#define _POSIX_C_SOURCE 200809L /* popen */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

struct mw_kernel_source { /* cl/embed.cmake's table, as engine/runtime/program.c reads it */
    const char *family;
    const char *source;
    size_t length;
};
extern const struct mw_kernel_source mw_kernel_sources[];
extern const int mw_kernel_source_count;

/* `defines` without the words that start with `drop` (e.g. "-DMW_FP64"). */
static void without(char *out, size_t cap, const char *defines, const char *const *drop,
                    int n_drop) {
    out[0] = '\0';
    char *copy = strdup(defines);
    assert_non_null(copy);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        bool keep = true;
        for (int i = 0; i < n_drop; i++)
            keep &= strcmp(w, drop[i]) != 0;
        if (!keep) continue;
        assert_true(strlen(out) + strlen(w) + 2 < cap);
        if (out[0]) strcat(out, " ");
        strcat(out, w);
    }
    free(copy);
}

/* clang's verdict on one source with one set of defines: true when it compiles cleanly;
 * its diagnostics are printed otherwise. */
static bool compiles_strictly(const char *family, const char *source, size_t length,
                              const char *defines) {
    char path[512];
    snprintf(path, sizeof path, "%s/strict_%s.cl", MEMWRAP_TEST_SCRATCH_DIR, family);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(source, 1, length, f), length);
    fclose(f);
    size_t cap = strlen(MEMWRAP_CLANG) + strlen(defines) + strlen(path) + 256;
    char *cmd = malloc(cap);
    assert_non_null(cmd);
    snprintf(cmd, cap,
             "'%s' -x cl -cl-std=CL1.2 -fsyntax-only -pedantic -Werror -Xclang "
             "-finclude-default-header %s '%s' 2>&1",
             MEMWRAP_CLANG, defines, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    bool any = false;
    while (fgets(line, sizeof line, p)) {
        if (!any) print_error("cl/%s.cl with '%s':\n", family, defines);
        any = true;
        print_error("  %s", line);
    }
    int rc = pclose(p);
    free(cmd);
    remove(path);
    return rc == 0 && !any;
}

static void test_every_program_is_strict_opencl_c_1_2(void **state) {
    if (!MEMWRAP_CLANG[0]) {
        print_message("[ skip    ] no clang found when the build was configured\n");
        skip();
    }
    const char *defines = test_runtime()->kernel_defines;
    char plain[4096];
    const char *const optional[] = {"-DMW_FMA", "-DMW_FP64"};
    without(plain, sizeof plain, defines, optional, 2);
    assert_true(mw_kernel_source_count > 10);
    int failed = 0;
    for (int i = 0; i < mw_kernel_source_count; i++) {
        const struct mw_kernel_source *k = &mw_kernel_sources[i];
        failed += !compiles_strictly(k->family, k->source, k->length, defines);
        if (strcmp(plain, defines) != 0)
            failed += !compiles_strictly(k->family, k->source, k->length, plain);
    }
    assert_int_equal(failed, 0);
}

/* The check itself catches what it is for: a variadic macro, which PoCL builds. */
static void test_a_variadic_macro_is_caught(void **state) {
    if (!MEMWRAP_CLANG[0]) skip();
    static const char bad[] = "#define TWICE(...) __VA_ARGS__ __VA_ARGS__\n"
                              "__kernel void k(__global float *x) { TWICE(x[0] += 1.0f;) }\n";
    assert_false(compiles_strictly("variadic_probe", bad, sizeof bad - 1, ""));
    static const char good[] = "__kernel void k(__global float *x) { x[0] += 1.0f; }\n";
    assert_true(compiles_strictly("plain_probe", good, sizeof good - 1, ""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_variadic_macro_is_caught),
        cmocka_unit_test(test_every_program_is_strict_opencl_c_1_2),
    };
    return cmocka_run_group_tests(tests, NULL, test_free_runtime);
}
