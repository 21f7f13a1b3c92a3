/* Matching Networks with full-context embeddings (Vinyals et al. 2016), the paper's second
 * memory-based baseline, as memory-wrap's paper/scripts/run_matching.py builds it
 * (reference-spec 6.7):
 *   g = BiLSTM(support) + support: one LSTM layer each way over the support encodings as a
 *       sequence of one (nn.LSTM(d, d, bidirectional=True), zero initial states), the two
 *       directions' hidden states added to the input (the paper's skip connection);
 *   f = AttentionLSTM(inputs, g): an nn.LSTMCell(d, d) unrolled twice from zero states,
 *       h = ĥ + q, a = softmax(h gᵀ), r = a g, (ĥ, c) = cell(q, (h + r, c)); f = ĥ + q;
 *   ŷ = softmax(−cosine_distance(f, g)) · onehot(support labels), logits log(clamp(ŷ)).
 * The reference's loss, CrossEntropyLoss on those logits, is the trainer's. Parameters are
 * named as the reference's state_dict (g.lstm.weight_ih_l0[_reverse], f.lstm_cell.*); the
 * encoder's keep their own names, without the reference's "encoder." prefix. */
#include <stdio.h>

#include "graph/graph_internal.h"
#include "memwrap/ops.h"
#include "models/encoders.h"

/* run_matching.py: predictions clamped to [EPS, 1 - EPS] before the log */
static const float matching_eps = 1e-6f;
enum { UNROLLING_STEPS = 2 }; /* run_matching.py: AttentionLSTM(unrolling_steps=2) */

typedef struct lstm_weights {
    int w_ih, w_hh, b_ih, b_hh;
} lstm_weights;

/* One LSTM's four tensors, <prefix>weight_ih<suffix> [4d, d], ...: every one U(±1/√d), as
 * PyTorch's LSTM reset_parameters. */
static lstm_weights lstm_params(mw_graph *g, const char *prefix, const char *suffix, int64_t d) {
    static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    int t[4];
    for (int k = 0; k < 4; k++) {
        char name[MW_NAME_MAX];
        snprintf(name, sizeof name, "%s%s%s", prefix, kinds[k], suffix);
        int64_t shape[2] = {4 * d, d};
        t[k] = mw_graph_param(g, name, k < 2 ? 2 : 1, shape);
        if (t[k] >= 0) mw_graph_param_init_uniform_fan_in(g, t[k], d);
    }
    return (lstm_weights){t[0], t[1], t[2], t[3]};
}

/* One step of the attention LSTM: gates = proj + h W_hhᵀ + b_hh (proj = x W_ihᵀ + b_ih,
 * computed once), the cell; the new hidden state returned, the new cell state in *c. */
static int lstm_step(mw_graph *g, const lstm_weights *w, int proj, int h, int *c) {
    int gates = mw_add(g, proj, mw_linear(g, h, w->w_hh, w->b_hh));
    int out = mw_lstm_cell(g, gates, *c);
    int64_t d = mw_tensor_dim(g, proj, 1) / 4;
    *c = mw_slice_cols(g, out, (int)d, (int)d);
    return mw_slice_cols(g, out, 0, (int)d);
}

/* One direction of the support's LSTM: hidden states [M, d] in sequence order. */
static int lstm_direction(mw_graph *g, int support, const lstm_weights *w, bool reverse) {
    int64_t d = mw_tensor_dim(g, support, 1);
    int proj = mw_linear(g, support, w->w_ih, w->b_ih); /* every step's x W_ihᵀ + b_ih at once */
    return mw_slice_cols(g, mw_lstm_sequence(g, proj, w->w_hh, w->b_hh, reverse), 0, (int)d);
}

int mw_matching_head(mw_graph *g, int e, int m, int support_onehot, const char *distance,
                     int dim) {
    int in[3] = {e, m, support_onehot};
    if (!mw_graph_check_inputs(g, "matching", in, 3)) return -1;
    int64_t d = dim;
    /* g: the support's full-context embedding */
    lstm_weights fwd = lstm_params(g, "g.lstm.", "_l0", d);
    lstm_weights bwd = lstm_params(g, "g.lstm.", "_l0_reverse", d);
    int forward = lstm_direction(g, m, &fwd, false);
    int backward = lstm_direction(g, m, &bwd, true);
    int support = mw_add(g, mw_add(g, forward, backward), m);
    /* f: the inputs' embedding, attending over g */
    lstm_weights cell = lstm_params(g, "f.lstm_cell.", "", d);
    int proj = mw_linear(g, e, cell.w_ih, cell.b_ih); /* the cell's input is always q = e */
    int h_hat = -1, c = -1;
    for (int k = 0; k < UNROLLING_STEPS; k++) {
        int h = h_hat < 0 ? e : mw_add(g, h_hat, e);
        int attention = mw_softmax(g, mw_matmul(g, h, support, false, true));
        int readout = mw_matmul(g, attention, support, false, false);
        h_hat = lstm_step(g, &cell, proj, mw_add(g, h, readout), &c);
    }
    int queries = mw_add(g, h_hat, e);
    /* ŷ = softmax(−distance) · onehot(labels); the logits its clamped log */
    int scores = mw_affine(g, mw_distance(g, queries, support, distance ? distance : "cosine"),
                           -1.0f, 0.0f);
    int predictions = mw_matmul(g, mw_softmax(g, scores), support_onehot, false, false);
    return mw_clamp_log(g, predictions, matching_eps, 1.0f - matching_eps);
}
