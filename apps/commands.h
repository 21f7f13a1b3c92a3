/* Subcommands of the `memwrap` CLI. Each lives in its own apps/cmd_<name>.c and gets the
 * arguments after the program name (argv[0] is the subcommand's name). Exit codes:
 * 0 ok, 1 runtime failure, 2 bad usage or bad input. */
#ifndef MEMWRAP_APPS_COMMANDS_H
#define MEMWRAP_APPS_COMMANDS_H

enum { MW_EXIT_OK = 0, MW_EXIT_FAILURE = 1, MW_EXIT_USAGE = 2 };

int mw_cmd_devices(int argc, char **argv);
int mw_cmd_demo(int argc, char **argv);

#endif
