/* See commands.h: what `eval` and `explain` open from a checkpoint. */
#include <string.h>

#include "commands.h"
#include "memwrap/checkpoint_run.h"

mw_status mw_open_run(const char *checkpoint, const char *data, const char *device,
                      bool memory_only, mw_opened_run *r) {
    memset(r, 0, sizeof *r);
    mw_status s = mw_checkpoint_read_run(checkpoint, data, &r->cfg, &r->spec);
    if (s == MW_OK && memory_only && !mw_variant_has_attention(r->spec.variant))
        s = mw_error_set(MW_ERR_INVALID_ARG,
                         "%s: a %s model has no content weights to explain its predictions "
                         "with; explain the memory or encoder_memory run of the grid",
                         checkpoint, mw_variant_name(r->spec.variant));
    if (s == MW_OK) s = mw_config_check_root(&r->cfg);
    const char *ds = r->cfg.run.dataset, *root = r->cfg.data_root;
    if (s == MW_OK) s = mw_dataset_load(ds, root, MW_SPLIT_TRAIN, &r->train);
    if (s == MW_OK) s = mw_dataset_load(ds, root, MW_SPLIT_TEST, &r->test);
    /* --device, else the config's, else MEMWRAP_DEVICE or the default */
    mw_runtime_options ro = {.device_spec =
                                 device ? device : (r->cfg.device[0] ? r->cfg.device : NULL)};
    if (s == MW_OK) s = mw_runtime_create(&ro, &r->rt);
    if (s != MW_OK) mw_close_run(r); /* freeing keeps the error message */
    return s;
}

void mw_close_run(mw_opened_run *r) {
    mw_runtime_free(r->rt);
    mw_dataset_free(r->train);
    mw_dataset_free(r->test);
    r->rt = NULL;
    r->train = r->test = NULL;
}
