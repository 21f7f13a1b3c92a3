/* sparsemax over each row (Martins & Astudillo 2016), as entmax's SparsemaxFunction.
 *
 * entmax sorts each row; here the support is found without sorting: z_j is in the support
 * iff 1 + k_j z_j > s_j, where k_j counts and s_j sums the entries >= z_j. For the j at
 * sorted position k that is exactly entmax's test k·zs_k > cumsum_k − 1, and tied entries
 * share the same verdict (the test at the first and last of a tie is algebraically equal),
 * so the support, its size K and τ = (Σ_support z − 1) / K are entmax's. O(M²) per row is
 * cheap for memory sizes in the hundreds and needs no scratch. One work-group per row
 * (cl/row_group.clh): its work-items test the entries j = lid, lid + size, ... each against
 * the whole row (O(M²) / size apiece on a GPU's wide groups), then sum the support's size
 * and total over the group. */

#include "row_group.clh"

__kernel void sparsemax_f32(__global const float *z, __global float *p, const uint rows,
                            const uint cols) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    __global const float *zr = z + (size_t)get_group_id(0) * cols;
    __global float *pr = p + (size_t)get_group_id(0) * cols;
    float zmax = row_max(zr, cols, scratch); /* entmax shifts by the max first; so do we */
    float2 support = 0.0f; /* (size, Σ z) over this item's entries in the support */
    for (uint j = get_local_id(0); j < cols; j += get_local_size(0)) {
        float zj = zr[j] - zmax;
        float16 k16 = 0.0f, s16 = 0.0f; /* count and sum of the entries >= zj */
        uint i = 0;
        for (; i + 16 <= cols; i += 16) {
            float16 zi = vload16(0, zr + i) - zmax;
            int16 ge = isgreaterequal(zi, (float16)zj);
            k16 += select((float16)0.0f, (float16)1.0f, ge);
            s16 += select((float16)0.0f, zi, ge);
        }
        float k = hsum16(k16), s = hsum16(s16);
        for (; i < cols; i++) {
            float zi = zr[i] - zmax;
            if (zi >= zj) k += 1.0f, s += zi;
        }
        if (1.0f + k * zj > s) support += (float2)(1.0f, zj);
    }
    support = group_sum2(support, scratch);
    float tau = (support.y - 1.0f) / support.x;
    ROW_LOOP(cols, {
        store_lanes(fmax(load_lanes(zr, at, lanes) - zmax - tau, 0.0f), pr, at, lanes);
    })
}

/* gz_j = gp_j − mean_{i: p_i ≠ 0} gp_i on the support, 0 elsewhere. */
__kernel void sparsemax_bwd_f32(__global const float *gp, __global const float *p,
                                __global float *gz, const uint rows, const uint cols) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    size_t base = (size_t)get_group_id(0) * cols;
    float16 k16 = 0.0f, s16 = 0.0f;
    ROW_LOOP(cols, {
        int16 on = isnotequal(load_lanes(p + base, at, lanes), 0.0f);
        k16 += data_lanes(select((float16)0.0f, (float16)1.0f, on), lanes);
        s16 += data_lanes(select((float16)0.0f, load_lanes(gp + base, at, lanes), on), lanes);
    })
    float2 ks = group_sum_lanes(k16, s16, scratch);
    float mean = ks.y / ks.x;
    ROW_LOOP(cols, {
        float16 pv = load_lanes(p + base, at, lanes);
        store_lanes(select((float16)0.0f, load_lanes(gp + base, at, lanes) - mean,
                           isnotequal(pv, 0.0f)),
                    gz + base, at, lanes);
    })
}
