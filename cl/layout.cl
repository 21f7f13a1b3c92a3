/* Layout changes between PyTorch's image-major tensors and memwrap's channel-major maps. All
 * four ops swap the two leading dimensions of [A, B, P] (P contiguous elements per (a, b)):
 * images [N, C, H·W] <-> maps [C, N, H·W], and pooled maps [C, N, 1] <-> rows [N, C]. */

/* out[b, a, p] = in[a, b, p]; one work-item per output element, so writes are contiguous. */
__kernel void swap_leading_f32(__global const float *in, __global float *out, const uint a_dim,
                               const uint b_dim, const uint plane) {
    uint i = get_global_id(0);
    if (i >= a_dim * b_dim * plane) return;
    uint p = i % plane, ba = i / plane;
    uint a = ba % a_dim, b = ba / a_dim;
    out[i] = in[(a * b_dim + b) * plane + p];
}
