/* Column concatenation, slice and pad (a slice's gradient), on matrices [rows, cols] and on
 * channel-major maps read as one row: DenseNet's and GoogLeNet's concatenations,
 * ShuffleNet's split, Memory Wrap's [e, W·m].
 *
 * Each work-item copies a run of MW_COPY_RUN consecutive values (of the output, or of the
 * input it places): one division to find where the run starts, and where the run lies in
 * one row (nearly always on maps, whose rows are whole tensors), one vector load and
 * store. One work-item per value, each dividing its index, ran these copies at about a
 * quarter of the memory bandwidth (ShuffleNet's step spent 36% of its time in them). */

/* y [rows, width][:, start : start + count] = x [rows, count]: one input of a concat, the
 * other columns left as they are (the other inputs write them). */
__kernel void place_cols_f32(__global const float *x, __global float *y, const uint rows,
                             const uint width, const uint start, const uint count) {
    uint i = get_global_id(0) * MW_COPY_RUN, total = rows * count;
    if (i >= total) return;
    uint r = i / count, c = i % count;
    if (c + MW_COPY_RUN <= count) {
        vstore16(vload16(0, x + i), 0, y + (size_t)r * width + start + c);
        return;
    }
    for (uint k = 0; k < MW_COPY_RUN && i + k < total; k++) {
        y[(size_t)r * width + start + c] = x[i + k];
        if (++c == count) c = 0, r++;
    }
}

/* y [rows, count] = x [rows, cols][:, start : start + count] */
__kernel void slice_cols_f32(__global const float *x, __global float *y, const uint rows,
                             const uint cols, const uint start, const uint count) {
    uint i = get_global_id(0) * MW_COPY_RUN, total = rows * count;
    if (i >= total) return;
    uint r = i / count, c = i % count;
    if (c + MW_COPY_RUN <= count) {
        vstore16(vload16(0, x + (size_t)r * cols + start + c), 0, y + i);
        return;
    }
    for (uint k = 0; k < MW_COPY_RUN && i + k < total; k++) {
        y[i + k] = x[(size_t)r * cols + start + c];
        if (++c == count) c = 0, r++;
    }
}

/* y [rows, width] = 0 except y[:, start : start + count] = x: the gradient of a slice. */
__kernel void pad_cols_f32(__global const float *x, __global float *y, const uint rows,
                           const uint width, const uint start, const uint count) {
    uint i = get_global_id(0) * MW_COPY_RUN, total = rows * width, end = start + count;
    if (i >= total) return;
    uint r = i / width, c = i % width;
    if (c + MW_COPY_RUN <= width) {
        if (c >= start && c + MW_COPY_RUN <= end) {
            vstore16(vload16(0, x + (size_t)r * count + (c - start)), 0, y + i);
            return;
        }
        if (c + MW_COPY_RUN <= start || c >= end) {
            vstore16((float16)0.0f, 0, y + i);
            return;
        }
    }
    for (uint k = 0; k < MW_COPY_RUN && i + k < total; k++) {
        y[i + k] = c >= start && c < end ? x[(size_t)r * count + (c - start)] : 0.0f;
        if (++c == width) c = 0, r++;
    }
}
