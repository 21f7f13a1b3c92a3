/* Pieces of the linear family that are not GEMMs (those go to CLBlast). */

/* y[r, c] = b[c]: the bias, broadcast before SGEMM adds x wᵀ with beta = 1. */
__kernel void bias_rows_f32(__global const float *b, __global float *y, const uint rows,
                            const uint cols) {
    uint i = get_global_id(0);
    if (i < rows * cols) y[i] = b[i % cols];
}

/* y[c] = Σ_r x[r, c]: one work-item per column, rows summed in order. */
__kernel void sum_rows_f32(__global const float *x, __global float *y, const uint rows,
                           const uint cols) {
    uint c = get_global_id(0);
    if (c >= cols) return;
    float s = 0.0f;
    for (uint r = 0; r < rows; r++) s += x[r * cols + c];
    y[c] = s;
}
