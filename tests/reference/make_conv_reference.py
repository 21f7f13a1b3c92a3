#!/usr/bin/env python3
"""Regenerates tests/reference/data/conv.safetensors: torch.nn.functional.conv2d cases for the
conv family (tests/test_conv.c).

memwrap stores feature maps channel-major, [C, N, H, W]; PyTorch computes on [N, C, H, W].
Every map here (x, y, gy, gx) is computed in PyTorch's layout and stored transposed to
[C, N, H, W], so the C test reads them as they are. Weights keep PyTorch's [Cout, Cin/groups,
k, k], biases [Cout].

Rules (as make_reference.py): each case draws from its own seeded torch.Generator; inputs
(x, w, b and the upstream gradient gy) are float32 and stored F32; y and every gradient are
computed in float64 from exactly those values and stored F64; gradients come from
y.backward(gy).

Only torch and numpy are needed. Usage: /usr/bin/python3 tests/reference/make_conv_reference.py
[--out DIR] [--verbose]
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import script_args, write_reference  # noqa: E402  (the shared writer)

# name: (cin, cout, n, h, w, k, stride, padding, groups, bias)
CASES = {
    "c3s1": (3, 5, 2, 9, 9, 3, 1, 1, 1, True),      # 3x3, bias (first conv of the encoders)
    "c3s2": (4, 6, 3, 8, 8, 3, 2, 1, 1, False),     # strided 3x3 (ResNet18 downsampling)
    "pw": (7, 5, 2, 6, 6, 1, 1, 0, 1, True),        # pointwise, bias (squeeze-excitation convs)
    "pw_s2": (4, 6, 2, 9, 9, 1, 2, 0, 1, False),    # strided 1x1 shortcut
    "dw3s1": (6, 6, 2, 9, 9, 3, 1, 1, 6, True),     # depthwise 3x3, bias
    "dw3s2": (6, 6, 2, 8, 8, 3, 2, 1, 6, False),
    "dw5s1": (6, 6, 2, 9, 9, 5, 1, 2, 6, False),    # EfficientNet's 5x5 stages
    "dw5s2": (6, 6, 2, 9, 9, 5, 2, 2, 6, False),
    "grp2": (4, 6, 2, 7, 7, 3, 1, 1, 2, True),      # grouped, groups=2
    # planes of at most 16 pixels (the last stages' 4x4 and 2x2 maps): the small-plane kernels
    "dw3s1_4x4": (6, 6, 3, 4, 4, 3, 1, 1, 6, True),
    "dw5s1_2x2": (6, 6, 3, 2, 2, 5, 1, 2, 6, False),
    "dw5s2_4x4": (6, 6, 3, 4, 4, 5, 2, 2, 6, False),
}


def cnhw(t):
    """[N, C, H, W] -> memwrap's [C, N, H, W]."""
    return t.permute(1, 0, 2, 3).contiguous()


def case(out, seed, name, cin, cout, n, h, w, k, stride, padding, groups, bias):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=g, dtype=torch.float32)
    wt = torch.randn(cout, cin // groups, k, k, generator=g, dtype=torch.float32) * 0.3
    b = torch.randn(cout, generator=g, dtype=torch.float32) * 0.3 if bias else None
    ho = (h + 2 * padding - k) // stride + 1
    wo = (w + 2 * padding - k) // stride + 1
    gy = torch.randn(n, cout, ho, wo, generator=g, dtype=torch.float32)
    X = x.double().requires_grad_(True)
    W = wt.double().requires_grad_(True)
    B = b.double().requires_grad_(True) if bias else None
    y = F.conv2d(X, W, B, stride=stride, padding=padding, groups=groups)
    y.backward(gy.double())
    p = name + "."
    out.update({p + "x": cnhw(x), p + "w": wt, p + "gy": cnhw(gy), p + "y": cnhw(y.detach()),
                p + "gx": cnhw(X.grad), p + "gw": W.grad})
    if bias:
        out.update({p + "b": b, p + "gb": B.grad})


def main():
    args = script_args(__doc__)
    out = {}
    for i, (name, spec) in enumerate(CASES.items()):
        case(out, 300 + i, name, *spec)
    meta = {"torch": torch.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0], "layout": "maps [C,N,H,W], weights [Cout,Cin/g,k,k]",
            "cases": json.dumps(CASES)}
    path = write_reference(args, "conv.safetensors", out, meta)
    print(f"wrote {path}: {len(out)} tensors")


if __name__ == "__main__":
    main()
