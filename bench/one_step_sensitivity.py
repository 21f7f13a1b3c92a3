#!/usr/bin/env python3
"""How far test_models' one-step check moves when one layer's output is perturbed at
float32's scale: the evidence for engine/ops/winograd.c keeping GoogLeNet's 96 -> 128 layer
off the fused F(4x4) kernel (bench/RESULTS.md, "A fused F(4x4) kernel").

It rebuilds tests/reference/make_encoder_reference.py's train-step case for one encoder's
`std` variant (hashed weights and inputs, calibrated running statistics, one SGD step in
float64), once as is and then once per draw with Gaussian noise of EPS times the largest
entry added to the output of LAYER. For each draw it prints the parameters whose values
after the step moved most, measured as test_models.c measures them: the eight samples at
floor(i (n - 1) / 7), max |moved - unmoved| over the samples' largest magnitude (the check
allows 5e-4 on most parameters). A smooth check moves in proportion to EPS; one that turns
on near-ties (a ReLU input or a batch-norm output within EPS of zero) jumps.

Usage: /usr/bin/python3 bench/one_step_sensitivity.py [--encoder googlenet] [--layer a3.b2.3]
       [--eps 1e-8,3e-8,1e-7] [--draws 4]   (needs PyTorch; about 5 s a draw on 2 cores)
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import encoders  # noqa: E402
import make_encoder_reference as ref  # noqa: E402

SAMPLES = 8  # test_models.c compare_fingerprints: after.<name>.sample


def sampled_deviation(before, after):
    n = before.numel()
    index = torch.tensor([i * (n - 1) // (SAMPLES - 1) for i in range(SAMPLES)])
    a, b = before.flatten()[index], after.flatten()[index]
    return float((b - a).abs().max() / a.abs().max().clamp_min(1e-300))


def step(encoder, x, layer=None, eps=0.0, seed=0):
    """The state_dict after one train step, LAYER's output perturbed where eps > 0."""
    model = encoders.build(encoder, "std", ref.CLASSES, 3).double()
    ref.hashed_init_(model)
    ref.calibrate_running_stats(model, x)
    if eps > 0:
        gen = torch.Generator().manual_seed(seed)
        module = dict(model.named_modules())[layer]

        def perturb(mod, inputs, out):
            noise = torch.randn(out.shape, generator=gen, dtype=out.dtype)
            return out + eps * out.abs().max() * noise

        module.register_forward_hook(perturb)
    y = torch.tensor(ref.LABELS)
    return ref.train_step(model, x, None, False, y)[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", default="googlenet", choices=list(encoders.ENCODERS))
    ap.add_argument("--layer", default="a3.b2.3", help="module whose output is perturbed")
    ap.add_argument("--eps", default="1e-8,3e-8,1e-7")
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--top", type=int, default=3, help="parameters listed per draw")
    args = ap.parse_args()
    modules = dict(encoders.build(args.encoder, "std", ref.CLASSES, 3).named_modules())
    if args.layer not in modules:  # before the first step, which takes seconds
        ap.error(f"{args.encoder} has no module {args.layer}")
    try:
        eps_values = [float(e) for e in args.eps.split(",")]
    except ValueError:
        ap.error(f"--eps {args.eps}: give comma-separated numbers such as 1e-8,3e-8")
    torch.set_num_threads(1)  # the reference's fixed reduction order
    x = ref.hashed_input("input", (ref.B, 3, 32, 32))
    base = step(args.encoder, x)
    names = [k for k in base if not ref.is_running_stat(k) and base[k].is_floating_point()]
    print(f"{args.encoder} std, output of {args.layer} + eps * max|output| * N(0, 1); "
          "largest sampled deviations after one step:")
    for eps in eps_values:
        for seed in range(args.draws):
            after = step(args.encoder, x, args.layer, eps, seed)
            worst = sorted(((sampled_deviation(base[k], after[k]), k) for k in names),
                           reverse=True)[:args.top]
            print(f"eps {eps:.0e} draw {seed}: " +
                  ", ".join(f"{k} {d:.2e}" for d, k in worst), flush=True)


if __name__ == "__main__":
    main()
