/* Layout changes between PyTorch's image-major tensors and memwrap's channel-major maps, and
 * ShuffleNet's channel shuffle. Four ops swap the two leading dimensions of [A, B, P] (P
 * contiguous elements per (a, b)): images [N, C, H·W] <-> maps [C, N, H·W], and pooled maps
 * [C, N, 1] <-> rows [N, C]. */

/* out[b, a, :] = in[a, b, :]: one work-item per output plane, so that the integer division
 * (slow on CPUs) happens once per plane; planes of 16·k elements are copied as float16. */
__kernel void swap_leading_f32(__global const float *in, __global float *out, const uint a_dim,
                               const uint b_dim, const uint plane) {
    uint o = get_global_id(0);
    if (o >= a_dim * b_dim) return;
    uint a = o % a_dim, b = o / a_dim;
    __global const float *src = in + (size_t)(a * b_dim + b) * plane;
    __global float *dst = out + (size_t)o * plane;
    if (plane % 16 == 0) {
        for (uint v = 0; v < plane / 16; v++) vstore16(vload16(v, src), v, dst);
    } else {
        for (uint p = 0; p < plane; p++) dst[p] = src[p];
    }
}

/* Output channels [start, start + count) of the channel shuffle of [in0; in1] (in0 holds
 * channels [0, c0)) in `groups` groups of per_group: output channel j is input channel
 * (j % groups)·per_group + j / groups, `block` (N·H·W) values each. Each work-item copies a
 * run of MW_COPY_RUN values of the output, as concat.cl's copies (one vector where the run
 * lies in one channel). */
__kernel void shuffle_channels_f32(__global const float *in0, __global const float *in1,
                                   const uint c0, __global float *out, const uint start,
                                   const uint count, const uint groups, const uint per_group,
                                   const uint block) {
    uint i = get_global_id(0) * MW_COPY_RUN, total = count * block;
    if (i >= total) return;
    uint o = i / block, p = i % block;
    for (uint k = 0; k < MW_COPY_RUN && i + k < total; k++) {
        uint j = start + o, src = (j % groups) * per_group + j / groups;
        __global const float *from = src < c0 ? in0 + (size_t)src * block
                                              : in1 + (size_t)(src - c0) * block;
        if (k == 0 && p + MW_COPY_RUN <= block) {
            vstore16(vload16(0, from + p), 0, out + i);
            return;
        }
        out[i + k] = from[p];
        if (++p == block) p = 0, o++;
    }
}
