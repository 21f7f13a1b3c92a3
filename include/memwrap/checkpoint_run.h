/* The run a checkpoint written by `memwrap train` belongs to, read back from its metadata, so
 * that `eval` and `explain` need nothing but the checkpoint. */
#ifndef MEMWRAP_CHECKPOINT_RUN_H
#define MEMWRAP_CHECKPOINT_RUN_H

#include "memwrap/config.h"
#include "memwrap/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the grid's config (validated like any config file) and the run's model, variant,
 * training-set size and index from the checkpoint's __metadata__. `data_root`, when not
 * NULL, replaces the dataset directory recorded there. spec->model refers into *cfg (an
 * encoder the config defines). A checkpoint without that metadata is MW_ERR_FORMAT naming
 * the file. */
mw_status mw_checkpoint_read_run(const char *path, const char *data_root, mw_config *cfg,
                                 mw_run_spec *spec);

/* The checkpoint's file name without its folder and ".safetensors" (the run's name, as
 * mw_run_basename makes it): names the run's explanation folder explain/<stem>/. */
void mw_checkpoint_stem(const char *checkpoint, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
