/* Layout changes between PyTorch's image-major tensors and memwrap's channel-major maps. All
 * four ops swap the two leading dimensions of [A, B, P] (P contiguous elements per (a, b)):
 * images [N, C, H·W] <-> maps [C, N, H·W], and pooled maps [C, N, 1] <-> rows [N, C]. */

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
