/* Pieces of Memory Wrap's distances (memorywrap.memory._distance): row normalisation with
 * eps inside the root, the cosine distance in its cancellation-free form (see
 * engine/ops/distance.c), squared euclidean distances (l2). The product e mᵀ (dot) and the
 * gradients' products are GEMMs. */

#include "row_group.clh"

/* Σ_k x_k² and Σ_k x_k g_k over a row (g NULL: 0), summed over the group (one work-group
 * per row, cl/row_group.clh). */
float2 row_sqnorm_dot(__global const float *x, __global const float *g, uint cols,
                      __local float2 *scratch) {
    float16 ss = 0.0f, dot = 0.0f;
    ROW_LOOP(cols, {
        float16 xv = data_lanes(load_lanes(x, at, lanes), lanes);
        ss += xv * xv;
        if (g) dot += xv * load_lanes(g, at, lanes);
    })
    return group_sum_lanes(ss, dot, scratch);
}

/* y_r = x_r / sqrt(Σ_k x_rk² + eps). */
__kernel void row_normalize_f32(__global const float *x, __global float *y, const uint rows,
                                const uint cols, const float eps) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    size_t base = (size_t)get_group_id(0) * cols;
    float n = sqrt(row_sqnorm_dot(x + base, 0, cols, scratch).x + eps);
    ROW_LOOP(cols, { store_lanes(load_lanes(x + base, at, lanes) / n, y + base, at, lanes); })
}

/* gx = (gy − x̂ (x̂ · gy)) / n, the Jacobian of x / n(x) applied to gy. */
__kernel void row_normalize_bwd_f32(__global const float *gy, __global const float *x,
                                    __global float *gx, const uint rows, const uint cols,
                                    const float eps) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    size_t base = (size_t)get_group_id(0) * cols;
    float2 sd = row_sqnorm_dot(x + base, gy + base, cols, scratch);
    float n = sqrt(sd.x + eps), dot = sd.y / n; /* x̂ · gy */
    ROW_LOOP(cols, {
        float16 xh = load_lanes(x + base, at, lanes) / n;
        store_lanes((load_lanes(gy + base, at, lanes) - xh * dot) / n, gx + base, at, lanes);
    })
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

/* c_r = eps / (Σ_k x_rk² + eps) = 1 − ‖x̂_r‖², without cancellation. */
__kernel void norm_deficit_f32(__global const float *x, __global float *c, const uint rows,
                               const uint cols, const float eps) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    uint r = get_group_id(0);
    float ss = row_sqnorm_dot(x + (size_t)r * cols, 0, cols, scratch).x;
    if (get_local_id(0) == 0) c[r] = eps / (ss + eps);
}

/* D_ij = ½ Σ_k (â_ik − b̂_jk)² + ½ (c_i + c_j), which is 1 − â_i·b̂_j computed from the
 * differences. One work-item per row i and four memory rows j..j+3: each â_ik loaded once
 * serves four differences (a quarter of the loads of one pair per item). */
__kernel void cosine_distance_f32(__global const float *ah, __global const float *bh,
                                  __global const float *ca, __global const float *cb,
                                  __global float *d, const uint n, const uint m,
                                  const uint dim) {
    uint quads = (m + 3) / 4, idx = get_global_id(0);
    if (idx >= n * quads) return;
    uint i = idx / quads, j0 = (idx % quads) * 4;
    __global const float *a = ah + i * dim;
    /* rows past m repeat row m − 1; their sums are not stored */
    __global const float *b0 = bh + min(j0, m - 1) * dim, *b1 = bh + min(j0 + 1, m - 1) * dim;
    __global const float *b2 = bh + min(j0 + 2, m - 1) * dim, *b3 = bh + min(j0 + 3, m - 1) * dim;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (uint k = 0; k < dim; k++) {
        float x = a[k], t0 = x - b0[k], t1 = x - b1[k], t2 = x - b2[k], t3 = x - b3[k];
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
    }
    float s[4] = {s0, s1, s2, s3};
    for (uint q = 0; q < 4 && j0 + q < m; q++)
        d[i * m + j0 + q] = 0.5f * s[q] + 0.5f * (ca[i] + cb[j0 + q]);
}
