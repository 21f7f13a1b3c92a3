/* The LSTM cell's elementwise part (see engine/ops/lstm.c): gates [N, 4H] in PyTorch's order
 * i, f, g, o; output [N, 2H] = [h | c]. One work-item per (row, unit). */

static float sigmoid_f(float x) {
    return 1.0f / (1.0f + exp(-x));
}

__kernel void lstm_cell_f32(__global const float *gates, __global const float *c_prev,
                            __global float *out, const uint rows, const uint h,
                            const uint has_c) {
    uint idx = get_global_id(0);
    if (idx >= rows * h) return;
    uint r = idx / h, j = idx % h;
    __global const float *p = gates + r * 4 * h;
    float i = sigmoid_f(p[j]), f = sigmoid_f(p[h + j]), g = tanh(p[2 * h + j]);
    float o = sigmoid_f(p[3 * h + j]), cp = has_c ? c_prev[idx] : 0.0f;
    float c = f * cp + i * g;
    out[r * 2 * h + j] = o * tanh(c);
    out[r * 2 * h + h + j] = c;
}

/* From the output's gradient [N, 2H] = [dh | dc]: the gates' pre-activation gradient and,
 * with a cell state, the previous cell state's (dc ⊙ f). */
__kernel void lstm_cell_bwd_f32(__global const float *gout, __global const float *gates,
                                __global const float *c_prev, __global float *ggates,
                                __global float *gc_prev, const uint rows, const uint h,
                                const uint has_c) {
    uint idx = get_global_id(0);
    if (idx >= rows * h) return;
    uint r = idx / h, j = idx % h;
    __global const float *p = gates + r * 4 * h;
    float i = sigmoid_f(p[j]), f = sigmoid_f(p[h + j]), g = tanh(p[2 * h + j]);
    float o = sigmoid_f(p[3 * h + j]), cp = has_c ? c_prev[idx] : 0.0f;
    float c = f * cp + i * g, tc = tanh(c);
    float dh = gout[r * 2 * h + j];
    float dc = gout[r * 2 * h + h + j] + dh * o * (1.0f - tc * tc);
    __global float *q = ggates + r * 4 * h;
    q[j] = dc * g * i * (1.0f - i);
    q[h + j] = dc * cp * f * (1.0f - f);
    q[2 * h + j] = dc * i * (1.0f - g * g);
    q[3 * h + j] = dh * tc * o * (1.0f - o);
    if (has_c) gc_prev[idx] = dc * f;
}
