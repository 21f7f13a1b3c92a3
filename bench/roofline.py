#!/usr/bin/env python3
"""The roofline of a training step and of inference (bench/RESULTS.md, "Roofline"): for each
encoder and variant, the work per input image counted on the reference architectures of
tests/reference/encoders.py, the machine's limits, and, from a table of bench/compare.py,
the fraction of the FMA peak that memwrap and PyTorch reach.

Counted per input image, for a batch of B inputs and M memory images (memory variants):
  * FLOP: 2 x the multiply-adds of every convolution and linear layer, over the B inputs
    and the M memory images of a step (the memory branch shared by the batch), plus the
    head's attention (M·d for the cosines, M·d for W·m, per input). Training counts the
    backward pass as twice the forward (the gradients of the inputs and of the weights),
    inference the test batch with one memory set. Batch norm, activations and pooling are
    not counted (a few % of the FLOP, but a large part of the traffic).
  * bytes: the smallest DRAM traffic of a step that streams every layer's input and output
    once in each direction (float32): forward reads each module's input and writes its
    output; backward reads both again and writes the input's gradient (so 3x in training,
    1x in inference), plus the parameters read, and in training their gradients written,
    then read with the parameters and momentum by SGD. Caches can only beat this where a
    whole layer fits in them, so it is an estimate of the intensity, not a bound.

Usage:
    /usr/bin/python3 bench/roofline.py [--batch 128] [--memory 100] [--test-batch 500]
        [--peak-gflops 475] [--bandwidth-gbs 73] [--measured TABLE.md] [--models a,b]
The defaults for the peak and the bandwidth are this machine's as bench/peak.c measured them
on 2026-12-02 (its FMA loop on both cores with AVX-512, and a triad on both; the triad
varied from 45 to 73 GB/s between two runs).
"""
import argparse
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import encoders  # noqa: E402


def forward_counts(model, x):
    """Multiply-adds and activation bytes (inputs + outputs of every leaf module) of one
    forward_encoder call."""
    macs = [0]
    traffic = [0]

    def hook(mod, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(mod, torch.nn.Conv2d):
            cin_per_group = mod.in_channels // mod.groups
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs[0] += out.numel() * cin_per_group * k
        elif isinstance(mod, torch.nn.Linear):
            macs[0] += out.numel() * mod.in_features
        if len(list(mod.children())) == 0 and torch.is_tensor(out):
            traffic[0] += 4 * (sum(i.numel() for i in inputs if torch.is_tensor(i)) + out.numel())

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        model.forward_encoder(x)
    for h in hooks:
        h.remove()
    return macs[0], traffic[0]


def head_macs(model, variant, d, memory):
    """Per input: the head's MLP (or linear) multiply-adds and the attention's."""
    head = model.linear if variant == "std" else model.mw
    mlp = sum(m.in_features * m.out_features for m in head.modules()
              if isinstance(m, torch.nn.Linear))
    return mlp + (0 if variant == "std" else 2 * memory * d)


def count(name, variant, batch, memory, test_batch):
    model = encoders.build(name, variant, 10, 3)
    x = torch.zeros(1, 3, 32, 32)
    enc_macs, enc_bytes = forward_counts(model, x)
    d = model.feature_dim
    params = sum(p.numel() for p in model.parameters())
    head = head_macs(model, variant, d, memory)
    mem = memory if variant != "std" else 0
    # training: B inputs and M memory images through the encoder, B inputs through the head
    train_macs = (batch + mem) * enc_macs + batch * head
    train_flop = 3 * 2 * train_macs / batch
    train_bytes = (3 * (batch + mem) * enc_bytes + 4 * params * (1 + 1 + 3)) / batch
    # inference: the test batch and one memory set
    tmem = mem
    infer_flop = 2 * ((test_batch + tmem) * enc_macs + test_batch * head) / test_batch
    infer_bytes = ((test_batch + tmem) * enc_bytes + 4 * params) / test_batch
    return {"train_flop": train_flop, "train_bytes": train_bytes, "infer_flop": infer_flop,
            "infer_bytes": infer_bytes}


def read_measured(path):
    """{(model, variant): (memwrap train, torch train, memwrap infer, torch infer)} images/s
    from bench/compare.py's markdown table."""
    rows = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 8 and re.match(r"^[\d.]+$", cells[2]):
                rows[(cells[0], cells[1])] = (float(cells[2]), float(cells[3]), float(cells[5]),
                                              float(cells[6]))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(encoders.ENCODERS))
    p.add_argument("--variants", default="std,encoder_memory")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--memory", type=int, default=100)
    p.add_argument("--test-batch", type=int, default=500)
    p.add_argument("--peak-gflops", type=float, default=475.0)
    p.add_argument("--bandwidth-gbs", type=float, default=73.0)
    p.add_argument("--measured", help="a markdown table written by bench/compare.py")
    a = p.parse_args()
    measured = read_measured(a.measured) if a.measured else {}
    peak, bw = a.peak_gflops * 1e9, a.bandwidth_gbs * 1e9
    print(f"batch {a.batch}, memory {a.memory}, test batch {a.test_batch}; peak "
          f"{a.peak_gflops:.0f} GFLOP/s, bandwidth {a.bandwidth_gbs:.0f} GB/s\n")
    head = ("| model | variant | pass | GFLOP/image | MB/image | FLOP/byte | roofline images/s |"
            + (" memwrap images/s | of peak | PyTorch images/s | of peak |" if measured else ""))
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    torch.set_num_threads(1)
    for name in a.models.split(","):
        for variant in a.variants.split(","):
            c = count(name, variant, a.batch, a.memory, a.test_batch)
            for k, (pas, flop, byt) in enumerate((("train", c["train_flop"], c["train_bytes"]),
                                                  ("infer", c["infer_flop"], c["infer_bytes"]))):
                bound = min(peak / flop, bw / byt)
                line = (f"| {name} | {variant} | {pas} | {flop / 1e9:.3f} | {byt / 1e6:.1f} | "
                        f"{flop / byt:.1f} | {bound:.0f} |")
                if measured:
                    m = measured.get((name, variant))
                    if m:
                        mw, pt = (m[0], m[1]) if pas == "train" else (m[2], m[3])
                        line += (f" {mw:.1f} | {100 * mw * flop / peak:.0f}% | {pt:.1f} | "
                                 f"{100 * pt * flop / peak:.0f}% |")
                    else:
                        line += " | | | |"
                print(line, flush=True)


if __name__ == "__main__":
    main()
