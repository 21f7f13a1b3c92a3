/* Pieces of Memory Wrap's distances (memorywrap.memory._distance): row normalisation with
 * eps inside the root (cosine) and squared euclidean distances (l2). The products ê m̂ᵀ
 * and e mᵀ are GEMMs. */

/* y_r = x_r / sqrt(Σ_k x_rk² + eps): one work-item per row. */
__kernel void row_normalize_f32(__global const float *x, __global float *y, const uint rows,
                                const uint cols, const float eps) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    __global const float *xr = x + r * cols;
    float s = 0.0f;
    for (uint k = 0; k < cols; k++) s += xr[k] * xr[k];
    float n = sqrt(s + eps);
    for (uint k = 0; k < cols; k++) y[r * cols + k] = xr[k] / n;
}

/* gx = (gy − x̂ (x̂ · gy)) / n, the Jacobian of x / n(x) applied to gy. */
__kernel void row_normalize_bwd_f32(__global const float *gy, __global const float *x,
                                    __global float *gx, const uint rows, const uint cols,
                                    const float eps) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    __global const float *xr = x + r * cols;
    __global const float *gr = gy + r * cols;
    float s = 0.0f;
    for (uint k = 0; k < cols; k++) s += xr[k] * xr[k];
    float n = sqrt(s + eps);
    float dot = 0.0f;
    for (uint k = 0; k < cols; k++) dot += (xr[k] / n) * gr[k];
    for (uint k = 0; k < cols; k++) gx[r * cols + k] = (gr[k] - (xr[k] / n) * dot) / n;
}

/* d_ij = Σ_k (a_ik − b_jk)²: one work-item per pair, differences squared directly (not
 * |a|² + |b|² − 2ab, which cancels badly for near neighbours). */
__kernel void pairwise_sqdist_f32(__global const float *a, __global const float *b,
                                  __global float *d, const uint n, const uint m,
                                  const uint dim) {
    uint idx = get_global_id(0);
    if (idx >= n * m) return;
    uint i = idx / m, j = idx % m;
    float s = 0.0f;
    for (uint k = 0; k < dim; k++) {
        float t = a[i * dim + k] - b[j * dim + k];
        s += t * t;
    }
    d[idx] = s;
}

/* ga_ik = 2 Σ_j gd_ij (a_ik − b_jk) */
__kernel void pairwise_sqdist_bwd_a_f32(__global const float *gd, __global const float *a,
                                        __global const float *b, __global float *ga,
                                        const uint n, const uint m, const uint dim) {
    uint idx = get_global_id(0);
    if (idx >= n * dim) return;
    uint i = idx / dim, k = idx % dim;
    float s = 0.0f;
    for (uint j = 0; j < m; j++) s += gd[i * m + j] * (a[idx] - b[j * dim + k]);
    ga[idx] = 2.0f * s;
}

/* gb_jk = −2 Σ_i gd_ij (a_ik − b_jk) */
__kernel void pairwise_sqdist_bwd_b_f32(__global const float *gd, __global const float *a,
                                        __global const float *b, __global float *gb,
                                        const uint n, const uint m, const uint dim) {
    uint idx = get_global_id(0);
    if (idx >= m * dim) return;
    uint j = idx / dim, k = idx % dim;
    float s = 0.0f;
    for (uint i = 0; i < n; i++) s += gd[i * m + j] * (a[i * dim + k] - b[idx]);
    gb[idx] = -2.0f * s;
}
