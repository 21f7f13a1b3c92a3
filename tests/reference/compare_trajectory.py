#!/usr/bin/env python3
"""The same training run in memwrap and in PyTorch, step by step: one initial model (PyTorch's,
seeded as bench/torch_protocol.py seeds run R), one stream of batches, memory sets and
learning rates (the protocol's, Fashion-MNIST), fed to both engines; prints each engine's
per-epoch mean loss and how far the losses drift apart. PyTorch float64 on the same stream
(--f64) measures how far float32 arithmetic alone moves a trajectory. Not a test: evidence
for bench/RESULTS.md's accuracy section (is memwrap's training the same process as
PyTorch's, beyond one step?).

    /usr/bin/python3 tests/reference/compare_trajectory.py --run 3 --epochs 10 [--f64]

With --stream memwrap the stream and the initial model are instead those `memwrap train`
draws for run R (its subset, epoch orders, memory draws and initialisation, written by
probe_train_step's `stream` and `init` modes): PyTorch trained on memwrap's run says whether a
run's outcome follows its stream or the engine that trains it. --engines picks who trains.
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import encoders  # noqa: E402
from make_reference import load_safetensors, save_safetensors  # noqa: E402
from torch_protocol import DATASETS, normalise, split  # noqa: E402
from compare_train_step import add_data_and_probe_arguments, load_model  # noqa: E402


def train(net, stream, memory, dtype):
    net = net.to(dtype).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    losses = []
    for i, (x, mem, y, lr) in enumerate(stream):
        for group in opt.param_groups:
            group["lr"] = lr
        out = net(x.to(dtype), mem.to(dtype)) if memory else net(x.to(dtype))
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        print(f"\r{dtype} step {i + 1}/{len(stream)} loss {losses[-1]:.4f}", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return torch.tensor(losses)


def evaluate(net, test_x, test_y, sub_x, a):
    """The protocol's evaluation (bench/torch_protocol.py): eval mode, test batches of 500,
    a fresh memory of the subset for each, 5 passes averaged."""
    net.eval()
    memory = a.variant != "std"
    gen = torch.Generator().manual_seed(a.run + 77)
    accs = []
    with torch.no_grad():
        feats = torch.cat([net.forward_encoder(test_x[i:i + 50]) if memory else
                           net(test_x[i:i + 50]) for i in range(0, len(test_x), 50)])
        for rep in range(5 if memory else 1):
            correct = 0
            for i in range(0, len(test_x), 500):
                if memory:
                    mem = sub_x[torch.randperm(len(sub_x), generator=gen)[:a.memory]]
                    out = net.mw(feats[i:i + 500], net.forward_encoder(mem))
                else:
                    out = feats[i:i + 500]
                correct += (out.argmax(1) == test_y[i:i + 500]).sum().item()
            accs.append(100.0 * correct / len(test_x))
    return sum(accs) / len(accs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=int, default=0)
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--variant", default="encoder_memory")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--memory", type=int, default=100)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--milestones", type=int, nargs="*", default=[20, 30])
    p.add_argument("--stream", choices=["torch", "memwrap"], default="torch",
                   help="whose run R to replay: bench/torch_protocol.py's or memwrap train's")
    p.add_argument("--engines", nargs="+", choices=["memwrap", "torch32"],
                   default=["memwrap", "torch32"])
    p.add_argument("--f64", action="store_true", help="also PyTorch in float64")
    p.add_argument("--evaluate", action="store_true",
                   help="evaluate both final models in PyTorch (the protocol's 5 passes)")
    a = add_data_and_probe_arguments(p)
    loader, mean, std, val, _ = DATASETS["fashion-mnist"]
    train_x, train_y, _, _ = loader(a.root)
    memory = a.variant != "std"

    tmp = tempfile.mkdtemp(prefix="trajectory-")
    lrs = [0.1 * 0.1 ** sum(epoch >= m for m in a.milestones) for epoch in range(a.epochs)]
    stream = []
    if a.stream == "torch":
        torch.manual_seed(a.run)
        net = encoders.build(a.model, a.variant, 10, train_x.shape[1])
        idx = split(len(train_x), val, a.size, a.run)
        sub_x, sub_y = normalise(train_x[idx], mean, std), train_y[idx]
        n, batch = len(idx), min(128, len(idx))
        for epoch in range(a.epochs):
            order = torch.randperm(n)
            for s in range(n // batch):
                b = order[s * batch:(s + 1) * batch]
                mem = sub_x[torch.randperm(n)[:a.memory]] if memory else sub_x[:1]
                stream.append((sub_x[b], mem, sub_y[b], lrs[epoch]))
    else:
        drawn = os.path.join(tmp, "stream.safetensors")
        subprocess.run([a.probe, "stream", str(len(train_x)), str(val), str(a.size), str(a.run),
                        str(a.epochs), str(a.memory if memory else 0), drawn], check=True)
        drawn = load_safetensors(drawn)
        mw_init = os.path.join(tmp, "memwrap-init.safetensors")
        subprocess.run([a.probe, "init", a.model, a.variant, str(int(drawn["init_seed"][0])),
                        mw_init], check=True)
        net = load_model(mw_init, a.model, a.variant, train_x.shape[1], torch.float32)
        idx = drawn["subset"].long()
        sub_x = normalise(train_x[idx], mean, std)
        n, per_epoch = len(idx), len(drawn["batches"]) // a.epochs
        for k, b in enumerate(drawn["batches"].long()):
            mem = normalise(train_x[drawn["memory"][k].long()], mean, std) if memory \
                else sub_x[:1]
            stream.append((normalise(train_x[b], mean, std), mem, train_y[b], lrs[k // per_epoch]))
        batch = len(drawn["batches"][0])

    init = os.path.join(tmp, "init.safetensors")
    save_safetensors(init, {k: v.detach().clone() for k, v in net.state_dict().items()})
    out = os.path.join(tmp, "memwrap.safetensors")
    if "memwrap" in a.engines:  # in the background while PyTorch trains on one thread
        steps = os.path.join(tmp, "steps.safetensors")
        tensors = {"images": torch.stack([s[0] for s in stream]),
                   "labels": torch.stack([s[2] for s in stream]),
                   "lr": torch.tensor([s[3] for s in stream], dtype=torch.float32)}
        if memory:
            tensors["memory"] = torch.stack([s[1] for s in stream])
        save_safetensors(steps, tensors)
        del tensors
        probe = subprocess.Popen([a.probe, "steps", a.model, a.variant, init, steps, out])
    torch.set_num_threads(1)
    runs, final = {}, {}
    if "torch32" in a.engines:
        final["torch32"] = copy.deepcopy(net)
        runs["torch32"] = train(final["torch32"], stream, memory, torch.float32).double()
        torch.save(final["torch32"].state_dict(), os.path.join(tmp, "torch32.pt"))
    if a.f64:
        runs["torch64"] = train(copy.deepcopy(net), stream, memory, torch.float64)
    if "memwrap" in a.engines:
        if probe.wait() != 0:
            sys.exit("probe_train_step failed")
        runs = {"memwrap": load_safetensors(out)["losses"].double(), **runs}
        final = {"memwrap": load_model(out + ".ckpt.safetensors", a.model, a.variant,
                                       train_x.shape[1], torch.float32), **final}
    print(f"final models in {tmp} (memwrap.safetensors.ckpt.safetensors, torch32.pt)")
    if a.evaluate:
        test_x, test_y = normalise(loader(a.root)[2], mean, std), loader(a.root)[3]
        for name, model in final.items():
            print(f"{name}: test accuracy "
                  f"{evaluate(model.float(), test_x, test_y, sub_x, a):.2f}%", flush=True)
    per = n // batch
    names = list(runs)
    print("epoch " + " ".join(f"{k:>9s}" for k in names))
    for e in range(a.epochs):
        print(f"{e + 1:5d} " + " ".join(f"{runs[k][e * per:(e + 1) * per].mean():9.4f}"
                                        for k in names))
    ref = runs.get("torch64" if a.f64 else "torch32")
    for k in names if ref is not None else []:
        d = (runs[k] - ref).abs() / ref.abs()
        first = [int((d > t).nonzero()[0]) + 1 if (d > t).any() else None
                 for t in (1e-4, 1e-2, 1e-1)]
        print(f"{k}: first step with relative loss difference > 1e-4, 1e-2, 1e-1: {first}")


if __name__ == "__main__":
    main()
