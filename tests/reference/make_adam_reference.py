#!/usr/bin/env python3
"""Regenerates tests/reference/data/adam.safetensors: torch.optim.Adam (amsgrad off) stepped
several times on one parameter of 37 values, for the fused Adam step (tests/test_sgd.c).

Per case <prefix>: `p0` [37] the initial values, `g` [steps, 37] the gradient given to each
step, `lr` [steps] each step's learning rate, and `p` [steps, 37] the values after each step.
Rules (as make_reference.py): each case draws from its own seeded torch.Generator; p0 and g
are float32 and stored F32; Adam runs in float64 from exactly those values and `p` is stored
F64; the learning rates are F64 constants. The betas, eps and weight decay of each case are
in the metadata (`<prefix>_betas`, ...).

make_reference.py's writer and optimizer loop are imported (so its imports must resolve).
Usage: /usr/bin/python3 tests/reference/make_adam_reference.py [--out DIR] [--verbose]
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import (describe, gen, optimizer_steps, randn, save_safetensors,  # noqa: E402
                            versions)

N = 37

# prefix: (seed, Adam's options, the learning rate of each step, gradient scale per value)
CASES = {
    # torch's defaults (betas (0.9, 0.999), eps 1e-8, no weight decay), 1e-3 among the LRs
    "adam": (160, dict(), [1e-2, 3e-3, 2e-2, 1e-3, 5e-3, 1e-2], "unit"),
    # other betas, an eps that matters (gradients of 1e-3 to 1 in size) and weight decay
    "adam_wd": (161, dict(betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
                [5e-2, 2e-2, 1e-1, 1e-2, 3e-2, 5e-3, 4e-2], "spread"),
    # the edges the options allow: beta1 = 0 (no momentum), a small beta2
    "adam_beta0": (162, dict(betas=(0.0, 0.5)), [3e-2, 1e-2, 2e-2, 5e-3], "unit"),
}


def case(out, meta, prefix, seed, options, lrs, scale):
    g = gen(seed)
    steps = len(lrs)
    p0, grads = randn(g, N, scale=0.5), randn(g, steps, N)
    if scale == "spread":  # each value's gradients 10^[-3, 0] in size, fixed over the steps
        grads *= torch.pow(10.0, -3.0 * torch.rand(N, generator=g, dtype=torch.float32))
    if bool((p0 == 0).any()) or bool((grads == 0).any()):
        raise ValueError(f"{prefix}: a zero input")
    lr = torch.tensor(lrs, dtype=torch.float64)
    opt = optimizer_steps(out, prefix,
                          lambda ps: torch.optim.Adam(ps, lr=lrs[0], amsgrad=False, **options),
                          p0, grads, lr)
    group = opt.param_groups[0]
    for key in ("betas", "eps", "weight_decay", "amsgrad"):
        meta[f"{prefix}_{key}"] = group[key]
    meta[f"{prefix}_steps"] = steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--verbose", action="store_true", help="list every tensor")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out, meta = {}, {"generator": "tests/reference/make_adam_reference.py"}
    for prefix, (seed, options, lrs, scale) in CASES.items():
        case(out, meta, prefix, seed, options, lrs, scale)
    meta.update({k + "_version": v for k, v in versions().items()
                 if k in ("torch", "numpy", "python")})
    path = os.path.join(args.out, "adam.safetensors")
    save_safetensors(path, out, meta)
    header = describe(path)
    print(f"{os.path.relpath(path, os.getcwd())}: {len(header)} tensors, "
          f"{os.path.getsize(path) / 1024:.1f} KiB")
    for prefix in CASES:
        moved = (out[prefix + ".p"][-1] - out[prefix + ".p0"].double()).abs()
        print(f"  {prefix}: {meta[prefix + '_steps']} steps, |p - p0| after the last "
              f"{float(moved.min()):.3g} to {float(moved.max()):.3g}")
    if args.verbose:
        for name in sorted(header):
            print(f"    {name:16s} {header[name]['dtype']} {header[name]['shape']}")


if __name__ == "__main__":
    main()
