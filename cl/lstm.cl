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

/* One step of an LSTM over a sequence (engine/ops/lstm.c, mw_lstm_sequence): row r of the
 * gates becomes p_r + b_hh (+ W_hh h_prev, already in it when has_prev), then the cell with
 * the previous row's cell state. One work-item per unit. */
__kernel void lstm_seq_step_f32(__global const float *p, __global const float *b_hh,
                                __global float *gates, __global float *y, const uint h,
                                const uint r, const uint prev, const uint has_prev) {
    uint j = get_global_id(0);
    if (j >= h) return;
    __global float *g4 = gates + r * 4 * h;
    __global const float *p4 = p + r * 4 * h;
    float pre[4];
    for (uint part = 0; part < 4; part++) {
        uint q = part * h + j;
        pre[part] = p4[q] + b_hh[q] + (has_prev ? g4[q] : 0.0f);
        g4[q] = pre[part];
    }
    float i = sigmoid_f(pre[0]), f = sigmoid_f(pre[1]), g = tanh(pre[2]), o = sigmoid_f(pre[3]);
    float cp = has_prev ? y[prev * 2 * h + h + j] : 0.0f;
    float c = f * cp + i * g;
    y[r * 2 * h + j] = o * tanh(c);
    y[r * 2 * h + h + j] = c;
}

/* One step of the backpropagation through time, from the last step of the run to the first:
 * carry[0..H) holds W_hhᵀ dgates of the step after (has_next), carry[H..2H) its dc ⊙ f, which
 * this step replaces with its own. */
__kernel void lstm_seq_bwd_step_f32(__global const float *gy, __global const float *gates,
                                    __global const float *y, __global float *carry,
                                    __global float *gp, const uint h, const uint r,
                                    const uint prev, const uint has_prev, const uint has_next) {
    uint j = get_global_id(0);
    if (j >= h) return;
    __global const float *g4 = gates + r * 4 * h;
    float i = sigmoid_f(g4[j]), f = sigmoid_f(g4[h + j]), g = tanh(g4[2 * h + j]);
    float o = sigmoid_f(g4[3 * h + j]), cp = has_prev ? y[prev * 2 * h + h + j] : 0.0f;
    float c = f * cp + i * g, tc = tanh(c);
    float dh = gy[r * 2 * h + j] + (has_next ? carry[j] : 0.0f);
    float dc = gy[r * 2 * h + h + j] + (has_next ? carry[h + j] : 0.0f) + dh * o * (1.0f - tc * tc);
    __global float *q = gp + r * 4 * h;
    q[j] = dc * g * i * (1.0f - i);
    q[h + j] = dc * cp * f * (1.0f - f);
    q[2 * h + j] = dc * i * (1.0f - g * g);
    q[3 * h + j] = dh * tc * o * (1.0f - o);
    carry[h + j] = dc * f;
}
