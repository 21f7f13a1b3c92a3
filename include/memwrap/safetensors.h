/* safetensors files (https://github.com/huggingface/safetensors format: 8-byte little-endian
 * header length, JSON header, raw little-endian tensor bytes). Used for checkpoints, for
 * `memwrap infer` inputs and outputs, and for the committed PyTorch reference vectors. */
#ifndef MEMWRAP_SAFETENSORS_H
#define MEMWRAP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_ST_MAX_DIMS = 8 };

typedef enum mw_st_dtype { MW_ST_F32 = 0, MW_ST_F64, MW_ST_I32, MW_ST_I64, MW_ST_U8 } mw_st_dtype;

/* "F32", "F64", "I32", "I64", "U8" as in the file header. */
const char *mw_st_dtype_name(mw_st_dtype d);

typedef struct mw_st_tensor {
    char *name;
    mw_st_dtype dtype;
    int ndim;
    int64_t shape[MW_ST_MAX_DIMS];
    size_t numel;
    const uint8_t *data; /* points into the file's data section */
    size_t nbytes;
} mw_st_tensor;

typedef struct mw_safetensors {
    char *path;
    mw_st_tensor *tensors; /* sorted by name */
    int count;
    char *metadata_json; /* the "__metadata__" object as JSON text, or NULL */
    uint8_t *blob;       /* whole file */
    size_t blob_size;
} mw_safetensors;

/* Reads and validates a whole file: header length within the file, valid JSON, known
 * dtypes, offsets inside the data section and consistent with shape x dtype size. Errors
 * (MW_ERR_IO, MW_ERR_FORMAT) name the file and, where it applies, the tensor. */
mw_status mw_safetensors_load(const char *path, mw_safetensors **out);
void mw_safetensors_free(mw_safetensors *st);

const mw_st_tensor *mw_safetensors_find(const mw_safetensors *st, const char *name);

/* Copies tensor `name` into `out` as float32 (F32 copied, F64 converted). When `ndim` >= 0
 * the shape must equal (ndim, shape); a missing tensor or wrong shape is an error naming
 * the file and tensor. `count` is the capacity of `out` in floats. */
mw_status mw_safetensors_read_f32(const mw_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, float *out, size_t count);
/* Same into float64 (F32 or F64 in the file), for comparisons against float64 references. */
mw_status mw_safetensors_read_f64(const mw_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, double *out, size_t count);
/* Same for integer tensors (I32 or I64 in the file) into int32. */
mw_status mw_safetensors_read_i32(const mw_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, int32_t *out, size_t count);

/* One tensor to write. */
typedef struct mw_st_write_item {
    const char *name;
    mw_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} mw_st_write_item;

/* Writes `items` (sorted by name in the header, as the Python library does) and optional
 * metadata (a JSON object of string values, or NULL) to `path` atomically: a temporary file
 * in the same directory, fsync, rename. */
mw_status mw_safetensors_write(const char *path, const mw_st_write_item *items, int count,
                               const char *metadata_json);

#ifdef __cplusplus
}
#endif
#endif
