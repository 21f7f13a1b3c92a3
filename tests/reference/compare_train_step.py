#!/usr/bin/env python3
"""One training step of a trained memwrap checkpoint, in memwrap and in PyTorch, on a real
step's shape: a batch of 128 images of the run's own training subset and a memory of 100
more (Fashion-MNIST). Prints how far memwrap's loss, logits, content weights and every
parameter's gradient land from PyTorch's float64 step on the same weights and inputs, and
PyTorch's own float32 step beside it as the yardstick. Also prints the train-mode loss of
the checkpoint over its whole subset in PyTorch, for comparison with the last epoch's loss
in memwrap's results.json. Not a test: the evidence for bench/RESULTS.md's accuracy section.

    /usr/bin/python3 tests/reference/compare_train_step.py CHECKPOINT --run 3 \\
        [--model mobilenetv2 --variant encoder_memory --size 1000 --steps 3]
"""
import argparse
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
from torch_protocol import DATASETS, normalise  # noqa: E402


def load_model(path, model, variant, in_channels, dtype):
    net = encoders.build(model, variant, 10, in_channels)
    state = load_safetensors(path)
    ref = net.state_dict()
    for k, v in state.items():
        if k in ref and v.numel() == 1 and ref[k].dim() == 0:
            state[k] = v.reshape(())
    net.load_state_dict(state, strict=True)
    return net.to(dtype)


def add_data_and_probe_arguments(p):
    """--root (the Fashion-MNIST files) and --probe (memwrap's side), shared with
    compare_trajectory.py; returns the parsed arguments."""
    p.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--probe", default=os.path.join(ROOT, "build", "tests", "probe_train_step"))
    return p.parse_args()


def torch_step(net, x, mem, y, variant):
    net.train()
    net.zero_grad()
    # the gradient at each convolution's input, first call (the images' pass) only, as memwrap
    # lays maps out: channel-major [C, N, H, W]
    input_grads, handles = {}, []
    for name, mod in net.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            def hook(m, gin, gout, name=name):
                if gin[0] is not None and gin[0].shape[0] == len(x):  # not the memory's pass
                    input_grads[name + ".weight"] = gin[0].detach().transpose(0, 1).clone()
                    input_grads["out:" + name + ".weight"] = \
                        gout[0].detach().transpose(0, 1).clone()
            handles.append(mod.register_full_backward_hook(hook))

            def forward_hook(m, inputs, output, name=name):
                if output.shape[0] == len(x) and "fwd:" + name not in input_grads:
                    input_grads["fwd:" + name + ".weight"] = \
                        output.detach().transpose(0, 1).clone()
            handles.append(mod.register_forward_hook(forward_hook))
    out = net(x, mem) if variant != "std" else net(x)
    weights = None
    if variant != "std":  # the content weights, from the forward again
        with torch.no_grad():
            weights = net(x, mem, return_weights=True)[1] if _returns_weights(net) else None
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}
    for h in handles:
        h.remove()
    prefix = {"out:": "output_grad:", "fwd:": "output:"}
    grads.update({(prefix[k[:4]] + k[4:] if k[:4] in prefix else "input_grad:" + k): v
                  for k, v in input_grads.items()})
    return loss.detach(), out.detach(), weights, grads


def _returns_weights(net):
    import inspect
    return "return_weights" in inspect.signature(net.forward).parameters


def deviation(got, ref):
    ref = ref.double()
    scale = ref.abs().max().item()
    return (got.double() - ref).abs().max().item() / (scale if scale > 0 else 1.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--variant", default="encoder_memory")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--memory", type=int, default=100)
    p.add_argument("--steps", type=int, default=3, help="batches compared")
    p.add_argument("--show", type=int, default=25, help="rows printed, worst first")
    p.add_argument("--reference-backend", action="store_true",
                   help="memwrap's plain-C reference backend instead of the OpenCL device")
    p.add_argument("--layers", action="store_true",
                   help="every convolution's output deviation, in forward order")
    p.add_argument("--dump", nargs="*", default=[],
                   help="rows saved to /tmp/train-step-dump-STEP.pt as (memwrap, float64)")
    a = add_data_and_probe_arguments(p)
    loader, mean, std, val, _ = DATASETS["fashion-mnist"]
    train_x, train_y, _, _ = loader(a.root)
    tmp = tempfile.mkdtemp(prefix="train-step-")
    sub_path = os.path.join(tmp, "subset.safetensors")
    subprocess.run([a.probe, "subset", str(len(train_x)), str(val), str(a.size), str(a.run),
                    sub_path], check=True)
    subset = load_safetensors(sub_path)["subset"].long()
    sub_x, sub_y = normalise(train_x[subset], mean, std), train_y[subset]
    n = len(subset)
    memory = a.variant != "std"
    f64 = load_model(a.checkpoint, a.model, a.variant, sub_x.shape[1], torch.float64)
    f32 = load_model(a.checkpoint, a.model, a.variant, sub_x.shape[1], torch.float32)
    state0 = {k: v.clone() for k, v in f64.state_dict().items()}

    gen = torch.Generator().manual_seed(1000 + a.run)
    worst = {}
    for step in range(a.steps):
        b = torch.randperm(n, generator=gen)[:128]
        mi = torch.randperm(n, generator=gen)[:a.memory]
        x, y, mem = sub_x[b], sub_y[b], sub_x[mi]
        inputs = os.path.join(tmp, "inputs.safetensors")
        outputs = os.path.join(tmp, "outputs.safetensors")
        tensors = {"images": x.float(), "labels": y.long()}
        if memory:
            tensors["memory"] = mem.float()
        save_safetensors(inputs, tensors)
        env = dict(os.environ)
        if a.reference_backend:
            env["PROBE_REFERENCE"] = "1"
        subprocess.run([a.probe, a.model, a.variant, a.checkpoint, inputs, outputs], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        got = load_safetensors(outputs)
        f64.load_state_dict(state0)  # BN running statistics move in train mode
        loss, logits, weights, grads = torch_step(f64, x.double(), mem.double(), y, a.variant)
        loss32, logits32, weights32, grads32 = torch_step(f32, x, mem, y, a.variant)
        rows = [("loss", got["loss"].reshape(()), loss, loss32),
                ("logits", got["logits"], logits, logits32)]
        if memory and weights is not None:
            rows.append(("content_weights", got["content_weights"], weights, weights32))
            support = (weights > 0).sum(1).double()
            print(f"step {step}: content weights per row: support mean {support.mean():.2f}, "
                  f"max weight mean {weights.max(1).values.mean():.3f}")
        for name, g in grads.items():
            key = name.replace(":", ".") if ":" in name else "grad." + name
            if key in got:
                rows.append((key, got[key], g, grads32[name]))
        print(f"step {step}: loss memwrap {got['loss'].item():.6f} torch64 {loss.item():.6f}")
        if a.dump:  # the named rows, memwrap's and PyTorch float64's, for a closer look
            torch.save({name: (g, ref) for name, g, ref, _ in rows if name in a.dump},
                       f"/tmp/train-step-dump-{step}.pt")
        for name, g, ref, r32 in rows:
            dm, dt = deviation(g, ref), deviation(r32, ref)
            w = worst.get(name)
            if w is None or dm > w[0]:
                worst[name] = (dm, dt)
    if a.layers:  # how the forward's error grows, convolution by convolution
        print("\nconvolution outputs in forward order, deviation from float64 "
              "(memwrap | PyTorch float32):")
        for name, (dm, dt) in worst.items():
            if name.startswith("output."):
                print(f"  {name[7:]:52s} {dm:.2e} | {dt:.2e}  ({dm / max(dt, 1e-12):.1f}x)")
    print("\nlargest deviation from PyTorch float64 over the steps (memwrap | PyTorch float32):")
    ordered = sorted(worst.items(), key=lambda kv: -kv[1][0] / max(kv[1][1], 1e-12))
    for name, (dm, dt) in ordered[:a.show]:
        print(f"  {name:60s} {dm:.2e} | {dt:.2e}  ({dm / max(dt, 1e-12):.1f}x)")

    # the checkpoint's train-mode loss over its subset, batches of 128 with fresh memories
    f32.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in
                         state0.items()})
    f32.train()
    total, batches = 0.0, 0
    with torch.no_grad():
        order = torch.randperm(n, generator=gen)
        for s in range(n // 128):
            b = order[s * 128:(s + 1) * 128]
            mem = sub_x[torch.randperm(n, generator=gen)[:a.memory]]
            out = f32(sub_x[b], mem) if memory else f32(sub_x[b])
            total += torch.nn.functional.cross_entropy(out, sub_y[b]).item()
            batches += 1
    print(f"\nPyTorch train-mode loss of the checkpoint over its subset: {total / batches:.4f}")


if __name__ == "__main__":
    main()
