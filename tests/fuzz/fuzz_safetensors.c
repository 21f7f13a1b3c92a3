/* libFuzzer harness: safetensors files (checkpoints, `memwrap infer` inputs): the header
 * length, the JSON header, dtypes, shapes and data offsets (mw_safetensors_load), then every
 * tensor read back through the typed readers a checkpoint load uses. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "memwrap/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("fuzz.safetensors", data, size);
    mw_safetensors *st = NULL;
    mw_status s = mw_safetensors_load(path, &st);
    fuzz_check_error(s, path);
    if (s != MW_OK) return 0;
    for (int i = 0; i < st->count; i++) {
        const mw_st_tensor *t = &st->tensors[i];
        /* The loader promises the tensor lies inside the file: ASan checks the reads below. */
        if (mw_safetensors_find(st, t->name) != t) abort();
        if (t->data < st->blob || t->nbytes > st->blob_size ||
            (size_t)(t->data - st->blob) > st->blob_size - t->nbytes)
            abort();
        size_t n = t->numel ? t->numel : 1;
        double *f64 = malloc(n * sizeof *f64);
        float *f32 = malloc(n * sizeof *f32);
        int32_t *i32 = malloc(n * sizeof *i32);
        if (!f64 || !f32 || !i32) abort();
        /* Whichever reader fits the dtype succeeds; the others must fail cleanly. */
        s = mw_safetensors_read_f64(st, t->name, t->ndim, t->shape, f64, t->numel);
        fuzz_check_error(s, path);
        s = mw_safetensors_read_f32(st, t->name, t->ndim, t->shape, f32, t->numel);
        fuzz_check_error(s, path);
        s = mw_safetensors_read_i32(st, t->name, -1, NULL, i32, t->numel);
        fuzz_check_error(s, path);
        free(f64);
        free(f32);
        free(i32);
    }
    mw_safetensors_free(st);
    return 0;
}
