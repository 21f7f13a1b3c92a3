/* `memwrap report RUN_DIR`: writes RUN_DIR/report.html from RUN_DIR/results.json (the
 * Table-1 results, accuracy against training-set size, each run's training curve, links to
 * the explanation pages of `memwrap explain`; see memwrap/report.h) and prints its path.
 * `memwrap train` writes the same page at the end of every grid. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "memwrap/report.h"

static void usage(FILE *to) {
    fprintf(to, "usage: memwrap report RUN_DIR\n"
                "Writes RUN_DIR/report.html from RUN_DIR/results.json (the output of\n"
                "`memwrap train CONFIG --out RUN_DIR`): the results table in the paper's\n"
                "Table-1 layout, accuracy against training-set size, each run's training\n"
                "curve and links to its explanations (RUN_DIR/explain/<checkpoint>/).\n"
                "One self-contained HTML file: open it in a browser or print it.\n");
}

int mw_cmd_report(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "memwrap report: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return MW_EXIT_USAGE;
        }
    }
    if (!dir) {
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    mw_status s = mw_report_write(dir);
    if (s != MW_OK) {
        fprintf(stderr, "memwrap report: %s\n", mw_error_message());
        return mw_exit_code(s);
    }
    printf("%s/report.html\n", dir);
    return MW_EXIT_OK;
}
