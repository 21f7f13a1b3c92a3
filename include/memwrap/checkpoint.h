/* Checkpoints: every parameter and state tensor of a model under the reference's PyTorch
 * state_dict names, in a safetensors file, so that memwrap and PyTorch read each other's
 * weights (load_state_dict(strict=True) on the PyTorch side). */
#ifndef MEMWRAP_CHECKPOINT_H
#define MEMWRAP_CHECKPOINT_H

#include "memwrap/graph.h"
#include "memwrap/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes float32 parameters and statistics, and int32 counters as int64 (PyTorch's
 * num_batches_tracked), atomically; `metadata_json` (a JSON object of strings) or NULL. */
mw_status mw_checkpoint_save(mw_exec *ex, const char *path, const char *metadata_json);

/* Same, with extra tensors for resuming training (optimizer and generator state), whose
 * names must start with "resume."; loading a checkpoint ignores those. */
mw_status mw_checkpoint_save_with(mw_exec *ex, const char *path, const char *metadata_json,
                                  const mw_st_write_item *extra, int n_extra);

/* Reads every parameter and state tensor of the model from `path` (float32 or float64;
 * counters int64 or int32). Strict: a tensor the model needs that is missing, one of another
 * shape, and a tensor in the file that the model does not have are errors naming the file
 * and the tensor; nothing is written to the model unless every check passes. */
mw_status mw_checkpoint_load(mw_exec *ex, const char *path);

/* Same checks for the model's own tensors, but tensors of the file that the model does not
 * have are ignored: loads one part of a model (its encoder or its head, see
 * mw_model_options.part) from the whole model's checkpoint. */
mw_status mw_checkpoint_load_part(mw_exec *ex, const char *path);

#ifdef __cplusplus
}
#endif
#endif
