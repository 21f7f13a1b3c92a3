/* Inverted dropout with a counter-based mask: element i of a node is kept when the top 32
 * bits of mix64(key + (i + 1) · golden) reach `drop_below` (= p · 2^32), key being derived on
 * the host from the run counter and the node index. No generator state, so any device and
 * the CPU reference draw the same mask for the same run (engine/ops/dropout.c). */

/* splitmix64's output function (Steele, Lea, Flood 2014). */
ulong mix64(ulong z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

/* mask = the factor each element is multiplied by: 0 or 1/(1−p) in train mode, 1 in eval. */
__kernel void dropout_f32(__global const float *x, __global float *y, __global float *mask,
                          const uint n, const uint key_lo, const uint key_hi,
                          const uint drop_below, const float scale, const int training) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float m = 1.0f;
    if (training) {
        ulong key = upsample(key_hi, key_lo);
        uint r = (uint)(mix64(key + ((ulong)i + 1) * 0x9E3779B97F4A7C15UL) >> 32);
        m = r >= drop_below ? scale : 0.0f;
    }
    mask[i] = m;
    y[i] = x[i] * m;
}

__kernel void dropout_bwd_f32(__global const float *gy, __global const float *mask,
                              __global float *gx, const uint n) {
    uint i = get_global_id(0);
    if (i < n) gx[i] = gy[i] * mask[i];
}
