#!/usr/bin/env python3
"""The paper's training and evaluation protocol in PyTorch, to compare accuracies with
`memwrap train` (reference-spec sections 3 and 4, fp32, no AMP).

Per run r: seeds r (torch, numpy, random), model built after seeding (tests/reference/
encoders.py); training subset = rest[randperm(N-val)[:size]] with rest = randperm(N)[:N-val]
(both from torch.Generator().manual_seed(r)); ToTensor + Normalize, no augmentation for
(Fashion-)MNIST; shuffled batches of min(128, size), drop_last; every step a fresh memory set
of M distinct images of the subset; SGD 0.1 / momentum 0.9 / Nesterov / weight decay 5e-4,
MultiStepLR (gamma 0.1) stepped per epoch. After the last epoch: eval mode, test batches of
500 in order, one fresh memory set per batch, the whole pass repeated --eval-repeats times and
averaged (std variant: one pass). Mean and population std over runs, as the paper's code.
In eval mode an image's features depend neither on its batch nor on the memory, so the test
set is encoded once per run (in chunks of 50, faster here) and each pass only encodes its
memory sets: the same predictions as the reference loop, ~3x less work with 5 passes.

Run next to memwrap on the same machine, e.g. (the real comparison, Fashion-MNIST 1000):
    OMP_WAIT_POLICY=PASSIVE OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 \
        bench/torch_protocol.py --variants std encoder_memory --sizes 1000 --runs 3 \
        --epochs 10 --milestones 5 8 --out bench/torch_fmnist.json
/usr/bin/python3 is Debian's python3-torch (1.13, CPU). It needs Debian's libopenblas0-pthread
installed, otherwise it falls back to the slow reference BLAS; Debian's OpenBLAS 0.3.21
misdetects this CPU unless OPENBLAS_CORETYPE=SkylakeX is set (see bench/RESULTS.md).
OMP_WAIT_POLICY=PASSIVE matters when another process (memwrap) shares the 2 cores: with
OpenMP's default spinning, 2 threads trained 3x slower than 1 (11.6 vs 35 images/s); passive,
34. --out is appended to and resumed: (variant, size, run) already there are skipped (a file
of another protocol is refused); it is rewritten atomically after every run. Progress goes to
stderr, the final table to stdout. Quick check: --sizes 64 --runs 1 --epochs 1 --milestones 1
--memory 8 --eval-repeats 1 --test-examples 500 --out /tmp/t.json
"""
import argparse
import gzip
import json
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import encoders  # noqa: E402  (the reference architectures)


def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array of uint8."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_idx_dataset(root):
    def part(name):
        for suffix in (".gz", ""):
            if os.path.exists(os.path.join(root, name + suffix)):
                return read_idx(os.path.join(root, name + suffix))
        raise FileNotFoundError(f"{name}[.gz] not found in {root}")
    xs = [torch.from_numpy(part(f"{s}-images-idx3-ubyte").copy()).unsqueeze(1)
          for s in ("train", "t10k")]
    ys = [torch.from_numpy(part(f"{s}-labels-idx1-ubyte").astype(np.int64))
          for s in ("train", "t10k")]
    return xs[0], ys[0], xs[1], ys[1]  # uint8 N x C x H x W, int64 labels


# name: (loader(root) -> train_x, train_y, test_x, test_y, mean, std, validation, flip)
# New datasets (CIFAR-10: flip=True, val 6000) only need a loader of uint8 NCHW tensors.
DATASETS = {
    "fashion-mnist": (load_idx_dataset, [0.2860], [0.3530], 6000, False),
    "mnist": (load_idx_dataset, [0.1307], [0.3081], 6000, False),
}


def normalise(x_uint8, mean, std):
    """ToTensor then Normalize, in the same order and precision as torchvision."""
    x = x_uint8.float().div(255)
    return x.sub_(torch.tensor(mean).view(1, -1, 1, 1)).div_(torch.tensor(std).view(1, -1, 1, 1))


def split(n, val, size, seed):
    """reference-spec 3.3: indices of the training subset of run `seed`."""
    rest = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:n - val]
    perm2 = torch.randperm(n - val, generator=torch.Generator().manual_seed(seed))
    return rest[perm2[:min(size, n - val)]]


def fmt_time(s):
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def one_run(a, data, variant, size, run):
    train_x, train_y, test_x, test_y, mean, std, val, flip = data
    torch.manual_seed(run)
    np.random.seed(run)
    random.seed(run)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = encoders.build(a.model, variant, 10, train_x.shape[1]).to(memory_format=fmt)
    idx = split(len(train_x), val, len(train_x) if size == "full" else int(size), run)
    sub_x, sub_y = normalise(train_x[idx], mean, std), train_y[idx]
    n, batch, memory_variant = len(idx), min(128, len(idx)), variant != "std"

    def prep(x):  # RandomHorizontalFlip (CIFAR-10, CINIC-10) applies to memory images too
        if flip:
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(3), x)
        return x.contiguous(memory_format=fmt)

    def draw_memory():  # a new shuffled DataLoader iterator: M distinct images of the subset
        return prep(sub_x[torch.randperm(n)[:a.memory]])

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=a.milestones, gamma=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps, t_start, epoch_s = n // batch, time.perf_counter(), []
    for epoch in range(a.epochs):
        model.train()
        t0, total = time.perf_counter(), 0.0
        order = torch.randperm(n)
        for s in range(steps):
            b = order[s * batch:(s + 1) * batch]
            x, y = prep(sub_x[b]), sub_y[b]
            out = model(x, draw_memory()) if memory_variant else model(x)
            loss = loss_fn(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        sched.step()
        epoch_s.append(time.perf_counter() - t0)
        eta = fmt_time(np.mean(epoch_s) * (a.epochs - epoch - 1))
        print(f"[{variant} {size} run {run}] epoch {epoch + 1}/{a.epochs} "
              f"loss {total / steps:.4f} {steps * batch / epoch_s[-1]:.1f} img/s "
              f"({epoch_s[-1]:.1f} s) ETA train {eta}",
              file=sys.stderr, flush=True)
    train_s = time.perf_counter() - t_start

    model.eval()  # BN on running statistics: features of an image do not depend on its batch

    def encode(x):  # in chunks of 50: same features, 2-3x faster here than 500 at once
        return torch.cat([model.forward_encoder(x[i:i + 50].contiguous(memory_format=fmt))
                          for i in range(0, len(x), 50)])

    accs, pass_s = [], []
    with torch.no_grad():
        t0 = time.perf_counter()
        feats = encode(test_x)  # once: they do not depend on the memory set either
        encode_s = time.perf_counter() - t0
        for rep in range(a.eval_repeats if memory_variant else 1):
            t0, correct = time.perf_counter(), 0
            for i in range(0, len(test_x), 500):  # test batch of 500: one memory set each
                f = feats[i:i + 500]
                out = model.mw(f, encode(draw_memory())) if memory_variant else model.linear(f)
                correct += (out.argmax(1) == test_y[i:i + 500]).sum().item()
            accs.append(100.0 * correct / len(test_x))
            pass_s.append(time.perf_counter() - t0)
            print(f"[{variant} {size} run {run}] eval pass {rep + 1}: {accs[-1]:.2f}% "
                  f"({encode_s:.1f} s test features once, {pass_s[-1]:.1f} s memory + head)",
                  file=sys.stderr, flush=True)
    return {"variant": variant, "size": size, "run": run, "train_examples": n,
            "accuracy": float(np.mean(accs)), "eval_accuracies": accs,
            "train_seconds": train_s, "epoch_seconds": epoch_s,
            "test_encode_seconds": encode_s, "eval_pass_seconds": pass_s}


def table(results, variants, sizes):
    lines = ["| variant | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for v in variants:
        cells = []
        for s in sizes:
            acc = [r["accuracy"] for r in results if r["variant"] == v and r["size"] == s]
            cells.append(f"{np.mean(acc):.2f} ± {np.std(acc):.2f} ({len(acc)})" if acc else "-")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(DATASETS))
    p.add_argument("--root", default=None, help="default /usr/share/datasets/<dataset>")
    p.add_argument("--model", default="mobilenetv2", choices=sorted(encoders.ENCODERS))
    p.add_argument("--variants", nargs="+", default=["std", "encoder_memory"],
                   choices=encoders.VARIANTS)
    p.add_argument("--sizes", nargs="+", default=["1000"], help='integers or "full"')
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--milestones", type=int, nargs="*", default=[5, 8])
    p.add_argument("--memory", type=int, default=100)
    p.add_argument("--eval-repeats", type=int, default=5)
    p.add_argument("--test-examples", type=int, default=None, help="only the first N (checks)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--out", default="results.json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    loader, mean, std, val, flip = DATASETS[a.dataset]
    train_x, train_y, test_x, test_y = loader(a.root or f"/usr/share/datasets/{a.dataset}")
    if a.test_examples:
        test_x, test_y = test_x[:a.test_examples], test_y[:a.test_examples]
    data = (train_x, train_y, normalise(test_x, mean, std), test_y, mean, std, val, flip)

    protocol = {"dataset": a.dataset, "model": a.model, "epochs": a.epochs,
                "milestones": a.milestones, "memory": a.memory, "eval_repeats": a.eval_repeats,
                "test_examples": len(test_x), "validation": val, "optimizer":
                "SGD lr 0.1 momentum 0.9 nesterov wd 5e-4", "batch": 128, "test_batch": 500,
                "framework": f"pytorch {torch.__version__}"}
    state = {"protocol": protocol, "results": []}
    if os.path.exists(a.out):
        with open(a.out) as f:
            state = json.load(f)
        if state["protocol"] != protocol:
            sys.exit(f"{a.out} holds another protocol:\n{state['protocol']}\nnot\n{protocol}")
    done = {(r["variant"], r["size"], r["run"]) for r in state["results"]}
    todo = [(v, s, r) for s in a.sizes for v in a.variants for r in range(a.runs)
            if (v, s, r) not in done]
    print(f"{len(todo)} runs to do, {len(done)} already in {a.out}", file=sys.stderr)
    for k, (v, s, r) in enumerate(todo):
        t0 = time.perf_counter()
        state["results"].append(one_run(a, data, v, s, r))
        with open(a.out + ".tmp", "w") as f:
            json.dump(state, f, indent=1)
        os.replace(a.out + ".tmp", a.out)
        print(f"run {k + 1}/{len(todo)} done: {state['results'][-1]['accuracy']:.2f}% in "
              f"{fmt_time(time.perf_counter() - t0)}", file=sys.stderr, flush=True)
    print(f"{a.dataset}, {a.model}, {a.epochs} epochs, milestones {a.milestones}, memory "
          f"{a.memory}, {a.eval_repeats} eval repeats; mean ± population std (runs)\n")
    print(table(state["results"], a.variants, a.sizes))


if __name__ == "__main__":
    main()
