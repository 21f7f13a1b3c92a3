/* Helpers shared by the libFuzzer harnesses in tests/fuzz/. The parsers read files (that is
 * how the CLI reaches them), so each harness writes its input into a scratch directory that
 * belongs to its process and calls the real entry point on it. */
#ifndef MEMWRAP_FUZZ_COMMON_H
#define MEMWRAP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "memwrap/status.h"

/* This process's scratch directory (created on first use, removed at exit). */
const char *fuzz_dir(void);

/* Writes `size` bytes to fuzz_dir()/rel, creating the directories in `rel`, and returns the
 * full path (valid until the next call). Aborts when the file cannot be written: that is a
 * broken harness, not a finding. */
const char *fuzz_write(const char *rel, const void *data, size_t size);

/* Empties the scratch directory, so one input never sees the files of another. */
void fuzz_clear(void);

/* The parsers promise that every failure says which file is wrong: aborts (a finding) when
 * `s` is an error whose message is empty or does not mention `name`. With the environment
 * variable MEMWRAP_FUZZ_VERBOSE set, prints every status and message. */
void fuzz_check_error(mw_status s, const char *name);

/* The harness of a dataset held in one file: writes the input as fuzz_dir()/file, loads the
 * test split of `dataset` from there as the CLI does, checks the error names the file, and
 * aborts (a finding) on a loaded label outside [0, classes). */
void fuzz_dataset_file(const char *dataset, const char *file, const uint8_t *data, size_t size);

/* Splits data at NUL bytes into at most `max` NUL-terminated pieces, copied into a buffer
 * the caller frees with free(); returns the number of pieces (at least 1). */
int fuzz_split(const uint8_t *data, size_t size, char **pieces, int max, char **buffer);

#endif
