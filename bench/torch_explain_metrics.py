#!/usr/bin/env python3
"""The explanation metrics of a memwrap checkpoint computed by the reference PyTorch model.

Loads a Fashion-MNIST checkpoint written by `memwrap train` into the reference model
(tests/reference/encoders.py, memorywrap's MemoryWrapLayer, load_state_dict(strict=True)) and
computes explanation accuracy, counterfactual accuracy and example accuracy with the
definitions of the reference's paper/explanation_accuracy.py (reference-spec 6.4): per test
batch of 500 a fresh random memory set of 100 training images and a second (auxiliary) one;
a memory sample's predicted class is the model's prediction for it with the auxiliary set;
`top` is the memory sample with the highest content weight; the input is explained when its
prediction equals top's predicted class; counterfactual and example accuracy are the model's
accuracy on the inputs where it does not and where it does. The memory comes from every
training image outside a random validation split of 6000 (what the reference's script did,
and what `memwrap explain --memory-source full` does). Repeated --repeats times, averaged.

    /usr/bin/python3 bench/torch_explain_metrics.py CHECKPOINT [--repeats 5] [--seed 0]
        [--data /usr/share/datasets/fashion-mnist] [--json OUT.json]

Needs Debian's python3-torch and python3-numpy, and memorywrap installed without
dependencies (tests/reference/README.md).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import encoders  # noqa: E402
from make_reference import load_safetensors  # noqa: E402

# Fashion-MNIST's normalisation in memwrap (engine/train/protocol.c)
MEAN, STD = 0.2860, 0.3530
VALIDATION, BATCH, MEMORY = 6000, 500, 100


def read_idx(root, name):
    for path in (os.path.join(root, name), os.path.join(root, name + ".gz")):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(f"{name}[.gz] not in {root}")


def images(raw):
    x = torch.from_numpy(raw.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN) / STD


def metadata(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)).get("__metadata__", {})


def load_model(checkpoint):
    """The checkpoint in the reference model (strict), in eval mode, and its metadata."""
    meta = metadata(checkpoint)
    model = encoders.build(meta["model"], meta["variant"], 10, 1)
    state = load_safetensors(checkpoint)
    ref = model.state_dict()
    for k, v in state.items():  # memwrap's [1] counters, PyTorch's 0-d ones
        if k in ref and v.numel() == 1 and ref[k].dim() == 0:
            state[k] = v.reshape(())
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, meta


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    a = p.parse_args()
    torch.set_num_threads(2)
    model, _ = load_model(a.checkpoint)

    train = images(read_idx(a.data, "train-images-idx3-ubyte"))
    test = images(read_idx(a.data, "t10k-images-idx3-ubyte"))
    labels = torch.from_numpy(read_idx(a.data, "t10k-labels-idx1-ubyte").astype(np.int64))
    g = torch.Generator().manual_seed(a.seed)
    pool = torch.randperm(len(train), generator=g)[:len(train) - VALIDATION]

    def draw():
        return train[pool[torch.randperm(len(pool), generator=g)[:MEMORY]]]

    names = ["explanation_accuracy", "counterfactual_accuracy", "example_accuracy", "accuracy"]
    per = {k: [] for k in names}
    t0 = time.time()
    with torch.no_grad():
        for r in range(a.repeats):
            explained = cf_n = cf_ok = ex_n = ex_ok = correct = 0
            for start in range(0, len(test), BATCH):
                x, y = test[start:start + BATCH], labels[start:start + BATCH]
                memory, aux = draw(), draw()
                out, w = model(x, memory, return_weights=True)
                pred = out.argmax(1)
                mem_pred = model(memory, aux).argmax(1)
                top_pred = mem_pred[w.argmax(1)]
                agree, right = top_pred == pred, pred == y
                explained += int(agree.sum())
                correct += int(right.sum())
                ex_n += int(agree.sum())
                ex_ok += int((agree & right).sum())
                cf_n += int((~agree).sum())
                cf_ok += int((~agree & right).sum())
            n = len(test)
            vals = [100 * explained / n, 100 * cf_ok / cf_n if cf_n else float("nan"),
                    100 * ex_ok / ex_n if ex_n else float("nan"), 100 * correct / n]
            for k, v in zip(names, vals):
                per[k].append(v)
            print(f"pass {r + 1}/{a.repeats}: " +
                  ", ".join(f"{k} {v:.2f}" for k, v in zip(names, vals)) +
                  f" ({time.time() - t0:.0f} s)", file=sys.stderr)
    result = {k: float(np.nanmean(v)) for k, v in per.items()}
    result["per_repeat"] = per
    result.update(checkpoint=os.path.basename(a.checkpoint), engine=f"pytorch {torch.__version__}",
                  repeats=a.repeats, memory_source="full (every non-validation training image)")
    for k in names:
        print(f"{k:24s} {result[k]:6.2f}  (per pass: {', '.join(f'{v:.2f}' for v in per[k])})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
