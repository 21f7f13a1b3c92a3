/* LSTM kernels (see engine/ops/lstm.c): gates in PyTorch's order i, f, g, o, one unit j of a
 * row per work-item. The cell (lstm_cell_*) takes gates [N, 4H] and writes [h | c] [N, 2H];
 * the sequence (lstm_seq_*) runs one step per launch. Both go through the two unit functions
 * below. */
#include "activation_fn.clh"

/* The unit's new cell state from its gates' pre-activations (in row g4 of 4H, unit j) and
 * the previous cell state: (h, c). */
float2 lstm_unit(__global const float *g4, uint h, uint j, float cp) {
    float i = act1(g4[j], MW_ACT_SIGMOID), f = act1(g4[h + j], MW_ACT_SIGMOID);
    float g = tanh(g4[2 * h + j]), o = act1(g4[3 * h + j], MW_ACT_SIGMOID);
    float c = f * cp + i * g;
    return (float2)(o * tanh(c), c);
}

/* Its backward from the gradients of h and c: the gates' pre-activation gradients into row q
 * (4H), and the previous cell state's gradient returned. */
float lstm_unit_bwd(__global const float *g4, uint h, uint j, float cp, float dh, float dc_in,
                    __global float *q) {
    float i = act1(g4[j], MW_ACT_SIGMOID), f = act1(g4[h + j], MW_ACT_SIGMOID);
    float g = tanh(g4[2 * h + j]), o = act1(g4[3 * h + j], MW_ACT_SIGMOID);
    float tc = tanh(f * cp + i * g);
    float dc = dc_in + dh * o * (1.0f - tc * tc);
    q[j] = dc * g * i * (1.0f - i);
    q[h + j] = dc * cp * f * (1.0f - f);
    q[2 * h + j] = dc * i * (1.0f - g * g);
    q[3 * h + j] = dh * tc * o * (1.0f - o);
    return dc * f;
}

__kernel void lstm_cell_f32(__global const float *gates, __global const float *c_prev,
                            __global float *out, const uint rows, const uint h,
                            const uint has_c) {
    uint idx = get_global_id(0);
    if (idx >= rows * h) return;
    uint r = idx / h, j = idx % h;
    float2 hc = lstm_unit(gates + r * 4 * h, h, j, has_c ? c_prev[idx] : 0.0f);
    out[r * 2 * h + j] = hc.x;
    out[r * 2 * h + h + j] = hc.y;
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
    float gc = lstm_unit_bwd(gates + r * 4 * h, h, j, has_c ? c_prev[idx] : 0.0f,
                             gout[r * 2 * h + j], gout[r * 2 * h + h + j], ggates + r * 4 * h);
    if (has_c) gc_prev[idx] = gc;
}

/* One step of an LSTM over a sequence (mw_lstm_sequence): row r of the gates becomes
 * p_r + b_hh (+ W_hh h_prev, already in it when has_prev), then the cell with the previous
 * row's cell state. */
__kernel void lstm_seq_step_f32(__global const float *p, __global const float *b_hh,
                                __global float *gates, __global float *y, const uint h,
                                const uint r, const uint prev, const uint has_prev) {
    uint j = get_global_id(0);
    if (j >= h) return;
    __global float *g4 = gates + r * 4 * h;
    for (uint part = 0; part < 4; part++) {
        uint q = part * h + j;
        g4[q] = p[r * 4 * h + q] + b_hh[q] + (has_prev ? g4[q] : 0.0f);
    }
    float2 hc = lstm_unit(g4, h, j, has_prev ? y[prev * 2 * h + h + j] : 0.0f);
    y[r * 2 * h + j] = hc.x;
    y[r * 2 * h + h + j] = hc.y;
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
    float dh = gy[r * 2 * h + j] + (has_next ? carry[j] : 0.0f);
    float dc = gy[r * 2 * h + h + j] + (has_next ? carry[h + j] : 0.0f);
    carry[h + j] = lstm_unit_bwd(gates + r * 4 * h, h, j,
                                 has_prev ? y[prev * 2 * h + h + j] : 0.0f, dh, dc,
                                 gp + r * 4 * h);
}
