/* Checkpoints as safetensors under PyTorch state_dict names (see memwrap/checkpoint.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/checkpoint.h"
#include "memwrap/safetensors.h"

/* The parameters, then the state tensors, of the model: everything a state_dict holds. */
static int saved_count(const mw_graph *g) {
    return mw_graph_param_count(g) + mw_graph_state_count(g);
}

static int saved_at(const mw_graph *g, int i) {
    int np = mw_graph_param_count(g);
    return i < np ? mw_graph_param_at(g, i) : mw_graph_state_at(g, i - np);
}

static bool is_counter(const mw_graph *g, int t) {
    return mw_tensor_get_role(g, t) == MW_ROLE_STATE && mw_tensor_dtype(g, t) == MW_I32;
}

static const char resume_prefix[] = "resume.";

mw_status mw_checkpoint_save(mw_exec *ex, const char *path, const char *metadata_json) {
    return mw_checkpoint_save_with(ex, path, metadata_json, NULL, 0);
}

mw_status mw_checkpoint_save_with(mw_exec *ex, const char *path, const char *metadata_json,
                                  const mw_st_write_item *extra, int n_extra) {
    const mw_graph *g = mw_exec_graph(ex);
    int n = saved_count(g);
    for (int i = 0; i < n_extra; i++)
        if (strncmp(extra[i].name, resume_prefix, sizeof resume_prefix - 1) != 0)
            return mw_error_set(MW_ERR_INVALID_ARG, "checkpoint extra tensor '%s' must be named "
                                                    "resume.*", extra[i].name);
    mw_st_write_item *items = calloc((size_t)(n + n_extra + 1), sizeof *items);
    void **data = calloc((size_t)(n ? n : 1), sizeof *data);
    int64_t(*shapes)[MW_MAX_DIMS] = calloc((size_t)(n ? n : 1), sizeof *shapes);
    mw_status s = (items && data && shapes) ? MW_OK
                                            : mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host "
                                                           "memory saving %s", path);
    for (int i = 0; i < n && s == MW_OK; i++) {
        int t = saved_at(g, i);
        size_t numel = mw_tensor_numel(g, t);
        for (int d = 0; d < mw_tensor_ndim(g, t); d++) shapes[i][d] = mw_tensor_dim(g, t, d);
        items[i] = (mw_st_write_item){mw_tensor_name(g, t), MW_ST_F32, mw_tensor_ndim(g, t),
                                      shapes[i], NULL};
        bool counter = is_counter(g, t);
        /* counters: int32 as read, then widened to int64 at the next 8-byte boundary */
        size_t wide_at = (numel * 4 + 7) / 8 * 8;
        data[i] = malloc(counter ? wide_at + numel * 8 : numel * 4);
        if (!data[i]) {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
            break;
        }
        s = mw_exec_read(ex, t, data[i], numel * 4);
        if (s == MW_OK && counter) {
            int32_t *narrow = data[i];
            int64_t *wide = (int64_t *)((char *)data[i] + wide_at);
            for (size_t k = 0; k < numel; k++) wide[k] = narrow[k];
            items[i].dtype = MW_ST_I64;
            items[i].data = wide;
        } else {
            items[i].data = data[i];
        }
    }
    for (int i = 0; i < n_extra && s == MW_OK; i++) items[n + i] = extra[i];
    if (s == MW_OK) s = mw_safetensors_write(path, items, n + n_extra, metadata_json);
    for (int i = 0; data && i < n; i++) free(data[i]);
    free(data);
    free(items);
    free(shapes);
    return s;
}

static mw_status check_entry(const mw_graph *g, const mw_safetensors *st, int t) {
    const char *name = mw_tensor_name(g, t);
    const mw_st_tensor *e = mw_safetensors_find(st, name);
    if (!e)
        return mw_error_set(MW_ERR_FORMAT, "%s: tensor %s is missing (the model needs it)",
                            st->path, name);
    bool shape_ok = e->ndim == mw_tensor_ndim(g, t);
    for (int d = 0; shape_ok && d < e->ndim; d++) shape_ok = e->shape[d] == mw_tensor_dim(g, t, d);
    /* PyTorch stores num_batches_tracked as a 0-d int64; memwrap's counter is [1]. */
    if (is_counter(g, t) && e->numel == 1) shape_ok = true;
    if (!shape_ok) {
        char want[96] = "", got[96] = "";
        for (int d = 0; d < mw_tensor_ndim(g, t); d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                     (long long)mw_tensor_dim(g, t, d));
        for (int d = 0; d < e->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)e->shape[d]);
        return mw_error_set(MW_ERR_FORMAT, "%s: tensor %s has shape [%s], the model needs [%s]",
                            st->path, name, got, want);
    }
    bool counter = is_counter(g, t);
    bool dtype_ok = counter ? (e->dtype == MW_ST_I64 || e->dtype == MW_ST_I32)
                            : (e->dtype == MW_ST_F32 || e->dtype == MW_ST_F64);
    if (!dtype_ok)
        return mw_error_set(MW_ERR_FORMAT, "%s: tensor %s has dtype %s, the model needs %s",
                            st->path, name, mw_st_dtype_name(e->dtype),
                            counter ? "I64" : "F32");
    return MW_OK;
}

/* Both loads: every tensor of the model must be in the file; `strict` also rejects tensors of
 * the file that the model lacks. */
static mw_status load(mw_exec *ex, const char *path, bool strict) {
    const mw_graph *g = mw_exec_graph(ex);
    mw_safetensors *st = NULL;
    MW_TRY(mw_safetensors_load(path, &st));
    int n = saved_count(g);
    mw_status s = MW_OK;
    for (int i = 0; i < n && s == MW_OK; i++) s = check_entry(g, st, saved_at(g, i));
    for (int i = 0; i < st->count && s == MW_OK && strict; i++) {
        if (strncmp(st->tensors[i].name, resume_prefix, sizeof resume_prefix - 1) == 0) continue;
        int t = mw_graph_find(g, st->tensors[i].name);
        mw_tensor_role role = t >= 0 ? mw_tensor_get_role(g, t) : MW_ROLE_ACTIVATION;
        if (role != MW_ROLE_PARAM && role != MW_ROLE_STATE)
            s = mw_error_set(MW_ERR_FORMAT, "%s: tensor %s is not part of this model", path,
                             st->tensors[i].name);
    }
    for (int i = 0; i < n && s == MW_OK; i++) {
        int t = saved_at(g, i);
        size_t numel = mw_tensor_numel(g, t);
        void *buf = malloc(numel * 4);
        if (!buf) {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory loading %s", path);
            break;
        }
        s = is_counter(g, t) ? mw_safetensors_read_i32(st, mw_tensor_name(g, t), -1, NULL, buf, numel)
                             : mw_safetensors_read_f32(st, mw_tensor_name(g, t), -1, NULL, buf, numel);
        if (s == MW_OK) s = mw_exec_write(ex, t, buf, numel * 4);
        free(buf);
    }
    mw_safetensors_free(st);
    return s;
}

mw_status mw_checkpoint_load(mw_exec *ex, const char *path) {
    return load(ex, path, true);
}

mw_status mw_checkpoint_load_part(mw_exec *ex, const char *path) {
    return load(ex, path, false);
}
