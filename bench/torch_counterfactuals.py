#!/usr/bin/env python3
"""The memory counterfactuals' quality of a memwrap checkpoint, computed in PyTorch.

Loads a Fashion-MNIST checkpoint written by `memwrap train` into the reference model (as
bench/torch_explain_metrics.py does) and the autoencoders that `memwrap explain
--counterfactuals` wrote (autoencoders.safetensors: class_<k>.<state_dict name> and
all.<state_dict name>) into the reference's AutoEncoder (as written again in
tests/reference/make_autoencoder_reference.py), then scores the memory counterfactuals of the
first --inputs test images with the definitions memwrap uses (engine/explain/counterfactual.c,
reference-spec 6.6): per test batch of 64, a fresh memory set of 100 and an auxiliary one from
every training image outside a random validation split of 6000 (memwrap's --memory-source
full); each input's counterfactual is the highest-weight memory sample (weight > 0, ties to
the lower index) whose predicted class (with the auxiliary set) differs from the input's;
IM1 = |cf - AE_cf(cf)| / (|cf - AE_in(cf)| + 1e-8), IIM1 its inverse ratio,
IM2 = |AE_cf(cf) - AE_all(cf)| / (|cf| + 1e-8), Euclidean norms per image.

    /usr/bin/python3 bench/torch_counterfactuals.py CHECKPOINT AUTOENCODERS.safetensors
        [--inputs 640] [--seed 0] [--data /usr/share/datasets/fashion-mnist]

Needs Debian's python3-torch and python3-numpy, and memorywrap installed without
dependencies (tests/reference/README.md).
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from make_autoencoder_reference import AutoEncoder  # noqa: E402
from make_reference import load_safetensors  # noqa: E402
from torch_explain_metrics import MEMORY, VALIDATION, images, load_model, read_idx  # noqa: E402

BATCH, EPS = 64, 1e-8


def load_autoencoders(path, classes, channels):
    state = load_safetensors(path)
    out = []
    for prefix in [f"class_{k}." for k in range(classes)] + ["all."]:
        ae = AutoEncoder(channels)
        ae.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)},
                           strict=True)
        out.append(ae.eval())
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("autoencoders")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--inputs", type=int, default=640)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(2)
    model, _ = load_model(a.checkpoint)
    aes = load_autoencoders(a.autoencoders, 10, 1)
    train = images(read_idx(a.data, "train-images-idx3-ubyte"))
    test = images(read_idx(a.data, "t10k-images-idx3-ubyte"))[:a.inputs]
    g = torch.Generator().manual_seed(a.seed)
    pool = torch.randperm(len(train), generator=g)[:len(train) - VALIDATION]

    def draw():
        return train[pool[torch.randperm(len(pool), generator=g)[:MEMORY]]]

    def norm(t):
        return float(t.double().flatten().norm())

    scores, inputs = [], 0
    with torch.no_grad():
        for start in range(0, len(test), BATCH):
            x = test[start:start + BATCH]
            memory, aux = draw(), draw()
            out, w = model(x, memory, return_weights=True)
            pred = out.argmax(1)
            mem_pred = model(memory, aux).argmax(1)
            for i in range(len(x)):
                # the highest weight among the positive ones predicted otherwise (stable sort:
                # ties keep the lower index)
                order = torch.sort(-w[i], stable=True).indices
                cands = [int(j) for j in order if w[i, j] > 0 and mem_pred[j] != pred[i]]
                if not cands:
                    continue
                inputs += 1
                cf = memory[cands[0]:cands[0] + 1]
                r_cf = aes[int(mem_pred[cands[0]])](cf)
                r_in = aes[int(pred[i])](cf)
                r_all = aes[10](cf)
                to_cf, to_in = norm(cf - r_cf), norm(cf - r_in)
                scores.append((to_cf / (to_in + EPS), to_in / (to_cf + EPS),
                               norm(r_cf - r_all) / (norm(cf) + EPS)))
            print(f"batch {start // BATCH + 1}: {inputs} counterfactuals so far", file=sys.stderr)
    s = np.array(scores)
    print(f"memory counterfactuals of the first {len(test)} test images: {inputs}")
    for k, name in enumerate(["IM1", "IIM1", "IM2"]):
        print(f"  {name:5s} {s[:, k].mean():.3f} +- {s[:, k].std():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
