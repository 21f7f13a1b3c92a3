/* Experiment configs: one JSON file describes a grid (datasets x models x variants x
 * training-set sizes x runs) with every setting of the reference's train.yaml. Unknown keys,
 * wrong types and impossible values are errors naming the key and the file. */
#ifndef MEMWRAP_CONFIG_H
#define MEMWRAP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "memwrap/layers.h"
#include "memwrap/models.h"
#include "memwrap/trainer.h"
#include "memwrap/schedule.h"
#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_CONFIG_MAX_LIST = 8, MW_CONFIG_MAX_ENCODERS = 4 };

/* A grid: datasets x models x variants x training-set sizes x runs, and the settings every
 * run of it shares (`run`, memwrap/trainer.h's mw_run_options, which is what the trainer
 * takes: the grid expands into runs, mw_config_for_run goes back). */
typedef struct mw_config {
    char path[512];
    char name[128];
    char data_root[512]; /* dataset.root */
    int n_models;
    char models[MW_CONFIG_MAX_LIST][MW_LAYER_NAME_MAX]; /* built-in (canonical) or
                                                           config-defined encoder names */
    int n_encoders; /* encoders the config defines ("encoders"), checked on its dataset */
    mw_layer_list encoders[MW_CONFIG_MAX_ENCODERS];
    int n_variants;
    mw_variant variants[MW_CONFIG_MAX_LIST];
    int n_sizes;
    long train_examples[MW_CONFIG_MAX_LIST]; /* -1 for "full" */
    int runs;                                /* run indices 0 .. runs-1 (the seed of run r is r) */
    mw_run_options run; /* dataset.name, epochs, schedule, optimizer, batches, memory, ... */
    char device[128];   /* "" = MEMWRAP_DEVICE or the default device */
    /* `memwrap train` explains each memory-variant run after it finishes (pictures of
     * `images` test inputs, the explanation metrics over `repeats` passes when `metrics`),
     * into <out>/explain/<run>/; nothing when images is 0 and metrics and counterfactuals
     * are false (the default). The counterfactual settings are mw_explain_options'. */
    struct {
        int images;
        bool metrics;
        int repeats;
        bool counterfactuals;
        int cf_inputs, cf_proto_inputs, cf_iterations, ae_epochs, ae_images;
    } explain;
    /* Settings that load but do not do what they seem to say, as one message for the user
     * (empty when none): a batch_size above a training-set size trains that size with
     * batches of train_examples, as the reference's min(batch_size, train_examples). */
    char warning[512];
} mw_config;

/* The encoder named `name` (an entry of models, or any): a built-in one, or one the config
 * defines. *out refers into c (a config-defined encoder's layers): keep c alive and in
 * place while using it. An unknown name is MW_ERR_INVALID_ARG listing the valid ones. */
mw_status mw_config_encoder(const mw_config *c, const char *name, mw_encoder *out);

/* Per-dataset defaults (reference-spec 3): epochs, schedule, validation split. */
mw_status mw_config_defaults(const char *dataset, mw_config *out);

/* The paper's settings of one run on `dataset` (mw_config_defaults' run): what a C user
 * starts from before changing a field or two. */
mw_status mw_run_options_defaults(const char *dataset, mw_run_options *out);

/* A grid of the one run `spec` with settings `run`: the config a checkpoint records, so that
 * `memwrap eval` and `explain` can rebuild the run. Its models list names spec's encoder when
 * a config can (a built-in one, or a layer list, which it then defines); an encoder compiled
 * into a program is named by the checkpoint's metadata alone. */
mw_status mw_config_for_run(const mw_run_options *run, const mw_run_spec *spec, mw_config *out);

/* Reads `path`, applies the dataset's defaults under the file's keys, then each override of
 * `sets` ("KEY=VALUE", KEY a dotted path such as optimizer.lr, VALUE JSON: runs=3,
 * train_examples=[1000], dataset.root="/data"; text that is not JSON is a string, so
 * dataset.root=/data works), and validates. Overrides are merged into the file's tree before
 * the defaults are chosen, so dataset.name=svhn starts from SVHN's defaults. An empty
 * dataset.root is accepted (see mw_config_check_root). *out is untouched on failure. */
mw_status mw_config_load(const char *path, const char *const *sets, int n_sets, mw_config *out);

/* Same, for config text held in memory (a checkpoint's metadata); `origin` names it in
 * messages and stands for the file name (its stem is the default grid name). */
mw_status mw_config_load_text(const char *origin, const char *text, const char *const *sets,
                              int n_sets, mw_config *out);

/* The effective config as JSON (malloc'd, free with free()), for results and checkpoint
 * metadata; mw_config_load on this text gives back the same struct (path aside). NULL when
 * out of memory. */
char *mw_config_to_json(const mw_config *c);

/* Where the files of `dataset` (any accepted spelling) come from, in one sentence, for
 * messages and documentation; "" for an unknown name. */
const char *mw_config_dataset_source(const char *dataset);

/* MW_OK when dataset.root is set; otherwise MW_ERR_INVALID_ARG whose message names the
 * config file, says where to get the dataset and how to point dataset.root at it. The
 * parser accepts an empty root (the paper configs ship without one); the trainer calls
 * this before it loads data. */
mw_status mw_config_check_root(const mw_config *c);

#ifdef __cplusplus
}
#endif
#endif
