#!/usr/bin/env python3
"""Regenerates tests/reference/data/matching_ops.safetensors: PyTorch reference vectors for
the ops Matching Networks (memory-wrap's paper/scripts/run_matching.py, reference-spec 6.7)
adds to memwrap: the LSTM cell (torch.nn.LSTMCell), one direction of an LSTM over a
sequence (torch.nn.LSTM, both directions), row-wise softmax and the log of a clamp (the
loss on clamped predictions).

Same rules as make_reference.py (whose writer and helpers this script reuses): inputs drawn
as float32 and stored F32, outputs and gradients computed in float64 from exactly those
values and stored F64, gradients from autograd with the stored upstream gradient.

The cell op takes the gates' pre-activations [N, 4H] and the previous cell state [N, H]:
nn.LSTMCell computes it with weight_ih = I (4H x 4H), weight_hh = 0 and zero biases, so the
input *is* the pre-activation and the reference is PyTorch's own cell (gate order i, f, g,
o). Its output is stored as memwrap's [h | c] [N, 2H].

Usage: /usr/bin/python3 tests/reference/make_matching_ops_reference.py [--out DIR]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import HERE, gen, leaf, randn, save_safetensors, versions  # noqa: E402

N, H = 3, 5
EPS = 1e-6  # run_matching.py's _EPSILON: predictions clamped to [EPS, 1 - EPS]


def case_lstm_cell(out, prefix, with_c, seed):
    g = gen(seed)
    gates = randn(g, N, 4 * H, scale=1.5)
    c_prev = randn(g, N, H) if with_c else torch.zeros(N, H)
    gout = randn(g, N, 2 * H)
    cell = torch.nn.LSTMCell(4 * H, H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.eye(4 * H, dtype=torch.float64))
        cell.weight_hh.zero_()
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    x, c = leaf(gates), leaf(c_prev)
    h_new, c_new = cell(x, (torch.zeros(N, H, dtype=torch.float64), c))
    y = torch.cat([h_new, c_new], dim=1)
    y.backward(gout.double())
    out.update({prefix + ".gates": gates, prefix + ".gout": gout, prefix + ".out": y.detach(),
                prefix + ".ggates": x.grad})
    if with_c:
        out.update({prefix + ".c": c_prev, prefix + ".gc": c.grad})


def case_lstm_sequence(out, prefix, reverse, seed, T=6):
    """nn.LSTM (one direction) with weight_ih = I and bias_ih = 0, so its input is memwrap's
    p = x W_ihᵀ + b_ih; the reverse direction runs on the flipped sequence. The cell state at
    each step (nn.LSTM returns only the last) comes from the run over the prefix up to it,
    so the upstream gradient reaches both halves of memwrap's [h | c]."""
    g = gen(seed)
    p = randn(g, T, 4 * H, scale=1.5)
    w = randn(g, 4 * H, H, scale=0.5)
    b = randn(g, 4 * H, scale=0.5)
    gy = randn(g, T, 2 * H)
    lstm = torch.nn.LSTM(4 * H, H).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.eye(4 * H, dtype=torch.float64))
        lstm.bias_ih_l0.zero_()
    lstm.weight_hh_l0 = torch.nn.Parameter(w.double().clone())
    lstm.bias_hh_l0 = torch.nn.Parameter(b.double().clone())
    P = leaf(p)
    seq = P.flip(0) if reverse else P
    hs, _ = lstm(seq.unsqueeze(1))
    hs = hs.squeeze(1)
    cs = torch.stack([lstm(seq[:k + 1].unsqueeze(1))[1][1].reshape(H) for k in range(T)])
    if reverse:
        hs, cs = hs.flip(0), cs.flip(0)
    y = torch.cat([hs, cs], dim=1)
    (y * gy.double()).sum().backward()
    out.update({prefix + ".p": p, prefix + ".w": w, prefix + ".b": b, prefix + ".gy": gy,
                prefix + ".y": y.detach(), prefix + ".gp": P.grad,
                prefix + ".gw": lstm.weight_hh_l0.grad, prefix + ".gb": lstm.bias_hh_l0.grad})


def case_softmax(out):
    g = gen(301)
    x, gy = randn(g, 5, 7, scale=2.0), randn(g, 5, 7)
    X = leaf(x)
    y = torch.softmax(X, dim=1)
    y.backward(gy.double())
    out.update({"softmax.x": x, "softmax.gy": gy, "softmax.y": y.detach(), "softmax.gx": X.grad})


def case_clamp_log(out):
    g = gen(302)
    # predictions of a softmax times a one-hot: in [0, 1], many exactly 0 (classes without a
    # support sample), some at 1; and values past both bounds
    x = torch.rand(6, 5, generator=g, dtype=torch.float32)
    x[0, :3] = 0.0
    x[1, 0] = 1.0
    x[2, 1] = 5e-7
    x[3, 2] = 1.0 - 5e-8
    gy = randn(g, 6, 5)
    X = leaf(x)
    y = X.clamp(EPS, 1 - EPS).log()
    y.backward(gy.double())
    out.update({"clamp_log.x": x, "clamp_log.gy": gy, "clamp_log.y": y.detach(),
                "clamp_log.gx": X.grad, "clamp_log.lo": torch.tensor([EPS], dtype=torch.float64),
                "clamp_log.hi": torch.tensor([1 - EPS], dtype=torch.float64)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {}
    case_lstm_cell(out, "lstm_cell", True, 300)
    case_lstm_cell(out, "lstm_cell_first", False, 303)
    case_lstm_sequence(out, "lstm_seq", False, 304)
    case_lstm_sequence(out, "lstm_seq_reverse", True, 305)
    case_softmax(out)
    case_clamp_log(out)
    path = os.path.join(args.out, "matching_ops.safetensors")
    save_safetensors(path, out, {"generator": "tests/reference/make_matching_ops_reference.py",
                                 "N": str(N), "H": str(H), **versions()})
    print(f"{os.path.relpath(path, os.getcwd())}: {len(out)} tensors")


if __name__ == "__main__":
    main()
