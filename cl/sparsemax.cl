/* sparsemax over each row (Martins & Astudillo 2016), as entmax's SparsemaxFunction.
 *
 * entmax sorts each row; here the support is found without sorting: z_j is in the support
 * iff 1 + k_j z_j > s_j, where k_j counts and s_j sums the entries >= z_j. For the j at
 * sorted position k that is exactly entmax's test k·zs_k > cumsum_k − 1, and tied entries
 * share the same verdict (the test at the first and last of a tie is algebraically equal),
 * so the support, its size K and τ = (Σ_support z − 1) / K are entmax's. O(M²) per row is
 * cheap for memory sizes in the hundreds and needs no scratch. */

__kernel void sparsemax_f32(__global const float *z, __global float *p, const uint rows,
                            const uint cols) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    __global const float *zr = z + r * cols;
    float zmax = zr[0];
    for (uint j = 1; j < cols; j++) zmax = fmax(zmax, zr[j]);
    uint support = 0;
    float support_sum = 0.0f;
    for (uint j = 0; j < cols; j++) {
        float zj = zr[j] - zmax; /* entmax shifts by the max first; so do we */
        uint k = 0;
        float s = 0.0f;
        for (uint i = 0; i < cols; i++) {
            float zi = zr[i] - zmax;
            if (zi >= zj) {
                k++;
                s += zi;
            }
        }
        if (1.0f + (float)k * zj > s) {
            support++;
            support_sum += zj;
        }
    }
    float tau = (support_sum - 1.0f) / (float)support;
    for (uint j = 0; j < cols; j++) p[r * cols + j] = fmax(zr[j] - zmax - tau, 0.0f);
}

/* gz_j = gp_j − mean_{i: p_i ≠ 0} gp_i on the support, 0 elsewhere. */
__kernel void sparsemax_bwd_f32(__global const float *gp, __global const float *p,
                                __global float *gz, const uint rows, const uint cols) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    uint base = r * cols, k = 0;
    float s = 0.0f;
    for (uint j = 0; j < cols; j++)
        if (p[base + j] != 0.0f) {
            k++;
            s += gp[base + j];
        }
    float mean = s / (float)k;
    for (uint j = 0; j < cols; j++)
        gz[base + j] = p[base + j] != 0.0f ? gp[base + j] - mean : 0.0f;
}
