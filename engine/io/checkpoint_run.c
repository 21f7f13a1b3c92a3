/* See memwrap/checkpoint_run.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/checkpoint_run.h"
#include "memwrap/safetensors.h"

static const char *meta_string(const cJSON *meta, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

mw_status mw_checkpoint_read_run(const char *path, const char *data_root, mw_config *cfg,
                                 mw_run_spec *spec) {
    mw_safetensors *st = NULL;
    MW_TRY(mw_safetensors_load(path, &st));
    cJSON *meta = st->metadata_json ? cJSON_Parse(st->metadata_json) : NULL;
    const char *config = meta_string(meta, "config"), *model = meta_string(meta, "model");
    const char *variant = meta_string(meta, "variant"), *size = meta_string(meta, "train_examples");
    const char *run = meta_string(meta, "run");
    mw_status s = MW_OK;
    if (!config || !model || !variant || !size || !run)
        s = mw_error_set(MW_ERR_FORMAT,
                         "%s: no run description in its metadata (was it written "
                         "by memwrap train?)",
                         path);
    mw_run_spec sp = {0};
    if (s == MW_OK) s = mw_variant_from_name(variant, &sp.variant);
    if (s == MW_OK) {
        sp.train_examples = strtol(size, NULL, 10);
        sp.run = (int)strtol(run, NULL, 10);
        char origin[600], set[1100];
        snprintf(origin, sizeof origin, "%.560s (its config)", path);
        snprintf(set, sizeof set, "dataset.root=%s", data_root ? data_root : "");
        const char *sets[1] = {set};
        s = mw_config_load_text(origin, config, sets, data_root ? 1 : 0, cfg);
        /* the encoder may be one the config defines: resolved through it */
        if (s == MW_OK && (s = mw_config_encoder(cfg, model, &sp.model)) != MW_OK)
            mw_error_wrap(s, "%s: ", path);
    }
    if (s == MW_OK) *spec = sp;
    cJSON_Delete(meta);
    mw_safetensors_free(st);
    return s;
}

void mw_checkpoint_stem(const char *checkpoint, char *out, size_t cap) {
    const char *slash = strrchr(checkpoint, '/');
    snprintf(out, cap, "%s", slash ? slash + 1 : checkpoint);
    size_t n = strlen(out), ext = strlen(".safetensors");
    if (n > ext && strcmp(out + n - ext, ".safetensors") == 0) out[n - ext] = '\0';
}
