/* `memwrap`: the command line. Dispatches to one subcommand per apps/cmd_<name>.c; adding a
 * subcommand is one declaration in commands.h and one row in the table below. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "memwrap/memwrap.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help; /* one line for `memwrap --help` */
} command;

static const command commands[] = {
    {"devices", mw_cmd_devices, "list OpenCL platforms and devices, mark the default"},
    {"demo", mw_cmd_demo, "train a Memory Wrap head on synthetic encodings (no dataset needed)"},
    {"train", mw_cmd_train, "run an experiment grid from a JSON config (resumable)"},
    {"eval", mw_cmd_eval, "re-evaluate a checkpoint written by train with the same protocol"},
    {"explain", mw_cmd_explain, "explain a Memory Wrap checkpoint: memory images, heatmaps, metrics"},
    {"report", mw_cmd_report, "write RUN_DIR/report.html: results table, plots, training curves"},
    {"infer", mw_cmd_infer, "run a trained model (memwrap or PyTorch weights) on input images"},
    {"bench", mw_cmd_bench, "training and inference throughput with the time share per op"},
};
enum { COMMAND_COUNT = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
    fprintf(out, "usage: memwrap <command> [options]\n"
                 "       memwrap --help | --version\n"
                 "\n"
                 "Memory Wrap image classifiers on any OpenCL device.\n"
                 "\n"
                 "commands:\n");
    for (int i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out,
            "\n"
            "Run `memwrap <command> --help` for a command's options.\n"
            "Device choice: --device SPEC or MEMWRAP_DEVICE (P:D, cpu, gpu, or part of a name).\n"
            "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return MW_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("memwrap %s\n", mw_version());
        return MW_EXIT_OK;
    }
    for (int i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "memwrap: unknown command '%s'\n\n", name);
    usage(stderr);
    return MW_EXIT_USAGE;
}
