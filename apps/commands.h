/* Subcommands of the `memwrap` CLI. Each lives in its own apps/cmd_<name>.c and gets the
 * arguments after the program name (argv[0] is the subcommand's name). Exit codes:
 * 0 ok, 1 runtime failure, 2 bad usage or bad input. */
#ifndef MEMWRAP_APPS_COMMANDS_H
#define MEMWRAP_APPS_COMMANDS_H

enum { MW_EXIT_OK = 0, MW_EXIT_FAILURE = 1, MW_EXIT_USAGE = 2 };

#include <stdbool.h>
#include <stdlib.h>

#include "memwrap/config.h"
#include "memwrap/status.h"

/* Bad input (arguments, files, names) exits 2; device and driver failures exit 1. */
static inline int mw_exit_code(mw_status s) {
    switch (s) {
    case MW_OK:
        return MW_EXIT_OK;
    case MW_ERR_INVALID_ARG:
    case MW_ERR_NOT_FOUND:
    case MW_ERR_FORMAT:
    case MW_ERR_IO:
        return MW_EXIT_USAGE;
    default:
        return MW_EXIT_FAILURE;
    }
}

int mw_cmd_devices(int argc, char **argv);
int mw_cmd_demo(int argc, char **argv);
int mw_cmd_infer(int argc, char **argv);
int mw_cmd_bench(int argc, char **argv);
int mw_cmd_train(int argc, char **argv);
int mw_cmd_eval(int argc, char **argv);
int mw_cmd_report(int argc, char **argv);
int mw_cmd_explain(int argc, char **argv);

/* Prints the progress of an explanation (phases "explain", "encode", "metrics") on stderr:
 * updated in place on a terminal, a line per image or pass otherwise (cmd_explain.c). */
struct mw_progress;
void mw_explain_progress(const struct mw_progress *p, bool tty);

/* What a command on a checkpoint of `memwrap train` opens: its run (the config and spec read
 * from the checkpoint; spec.model refers into cfg), both splits of its dataset, and the device
 * (`device`, else the config's, else MEMWRAP_DEVICE or the default). `memory_only` refuses a
 * std model. On failure nothing stays open. */
typedef struct mw_opened_run {
    mw_config cfg;
    mw_run_spec spec;
    mw_dataset *train, *test;
    mw_runtime *rt;
} mw_opened_run;
mw_status mw_open_run(const char *checkpoint, const char *data, const char *device,
                      bool memory_only, mw_opened_run *r);
void mw_close_run(mw_opened_run *r);

/* An integer option's value in [lo, hi]; false when it is missing or not such a number. */
static inline bool mw_arg_int(const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) return false;
    *out = x;
    return true;
}

#endif
