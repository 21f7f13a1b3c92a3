/* Column concatenation and its inverse: Memory Wrap feeds [e, W·m] to its classifier. */

__kernel void concat_cols_f32(__global const float *a, __global const float *b,
                              __global float *y, const uint rows, const uint ca, const uint cb) {
    uint i = get_global_id(0), width = ca + cb;
    if (i >= rows * width) return;
    uint r = i / width, c = i % width;
    y[i] = c < ca ? a[r * ca + c] : b[r * cb + (c - ca)];
}

/* y [rows, count] = x [rows, cols][:, start : start + count] */
__kernel void slice_cols_f32(__global const float *x, __global float *y, const uint rows,
                             const uint cols, const uint start, const uint count) {
    uint i = get_global_id(0);
    if (i >= rows * count) return;
    uint r = i / count, c = i % count;
    y[i] = x[r * cols + start + c];
}

/* y [rows, width] = 0 except y[:, start : start + count] = x: the gradient of a slice. */
__kernel void pad_cols_f32(__global const float *x, __global float *y, const uint rows,
                           const uint width, const uint start, const uint count) {
    uint i = get_global_id(0);
    if (i >= rows * width) return;
    uint r = i / width, c = i % width;
    y[i] = (c >= start && c < start + count) ? x[r * count + (c - start)] : 0.0f;
}
