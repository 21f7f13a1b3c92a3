/* fill: sets every element of a float buffer to one value (zeroing gradients, tests). */

__kernel void fill_f32(__global float *x, const float value, const uint n) {
    const size_t i = get_global_id(0);
    if (i < n) x[i] = value; /* the global size is rounded up past n */
}
