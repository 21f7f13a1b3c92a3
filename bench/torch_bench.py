#!/usr/bin/env python3
"""PyTorch side of `memwrap bench`: the same training step (forward of the input batch and of
the memory batch through the encoder, Memory Wrap head, cross-entropy, backward, SGD with
Nesterov momentum and weight decay) and the same inference pass (test batch with one memory
set), on the CPU, with the reference architectures of tests/reference/encoders.py; for the
memory-based baselines (protonet, matching) the models of
tests/reference/make_baselines_reference.py, support labels j mod 10.

Run on the same machine as `memwrap bench`, in the same session, e.g.
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_bench.py --model mobilenetv2
(Debian's OpenBLAS misdetects this CPU without OPENBLAS_CORETYPE; see
../shared/platform-facts.md). Prints one JSON object like `memwrap bench --json`.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import encoders  # noqa: E402  (the reference architectures)
import make_baselines_reference as baselines  # noqa: E402  (ProtoNet, Matching Networks)

CLASSES = 10


def warn_reference_blas():
    """Debian's python3-torch hands its linear layers to whatever libblas.so.3 is: without
    libopenblas0-pthread that is the reference BLAS, several times slower, which made
    PyTorch's Memory Wrap heads 3x slower in one sitting (bench/RESULTS.md). Linux only:
    looks for the library in the process's mappings after one product."""
    torch.ones(64, 64).matmul(torch.ones(64, 64))
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return
    libblas = {line.split()[-1] for line in maps.splitlines()
               if os.path.basename(line.split()[-1]).startswith("libblas.so")}
    slow = sorted(b for b in libblas if "openblas" not in b and "mkl" not in b)
    if slow:
        print(f"torch_bench: warning: PyTorch's BLAS is {slow[0]}, not OpenBLAS or MKL; its "
              "linear layers will be slow (Debian: apt install libopenblas0-pthread)",
              file=sys.stderr)


def baseline_model(name, variant, channels):
    """The std network without its linear layer; for matching, wrapped with its LSTMs."""
    encoder = encoders.build(name, "std", CLASSES, channels)
    d = encoder.linear.in_features
    encoder.linear = torch.nn.Identity()
    return encoder if variant == "protonet" else baselines.Matching(encoder, d)


def baseline_logits(model, variant, x, mem, labels):
    if variant == "matching":
        return baselines.matching_logits(model, x, mem, labels)[0]
    e, s = model(x), model(mem)
    prototypes = torch.stack([s[labels == c].mean(0) for c in range(CLASSES)])
    return -baselines.cosine_distance(e, prototypes)


def timed_steps(step, warmup, steps, sync):
    first = None
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step()
        sync()  # a CUDA step has only been queued when the call returns
        dt = time.perf_counter() - t0
        if i == 0:
            first = dt
        if i >= warmup:
            times.append(dt * 1e3)
    return first, statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mobilenetv2",
                   choices=sorted(encoders.ENCODERS))
    p.add_argument("--variant", default="encoder_memory",
                   choices=["std", "memory", "encoder_memory", "protonet", "matching"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--memory", type=int, default=100)
    p.add_argument("--test-batch", type=int, default=500)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--channels-last", action="store_true",
                   help="use torch.channels_last (faster on some CPUs)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bench/gpu.sh)")
    a = p.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_bench: --device cuda, but this PyTorch sees no CUDA device")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.set_num_threads(a.threads)
    if dev.type == "cpu":
        warn_reference_blas()
    torch.manual_seed(0)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    baseline = a.variant in ("protonet", "matching")
    model = (baseline_model(a.model, a.variant, a.channels) if baseline else
             encoders.build(a.model, a.variant, CLASSES, a.channels)).to(dev, memory_format=fmt)
    memory_variant = a.variant != "std"
    support_labels = (torch.arange(a.memory) % CLASSES).to(dev)
    shape = (a.channels, a.image_size, a.image_size)
    x = torch.randn(a.batch, *shape).to(dev, memory_format=fmt)
    mem = torch.randn(a.memory, *shape).to(dev, memory_format=fmt)
    y = torch.randint(0, 10, (a.batch,)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def forward(inputs):
        if baseline:
            return baseline_logits(model, a.variant, inputs, mem, support_labels)
        return model(inputs, mem) if memory_variant else model(inputs)

    def train_step():
        model.train()
        out = forward(x)
        loss = loss_fn(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    xt = torch.randn(a.test_batch, *shape).to(dev, memory_format=fmt)

    def infer_step():
        model.eval()
        with torch.no_grad():
            forward(xt)

    t_first, t_ms = timed_steps(train_step, a.warmup, a.steps, sync)
    i_first, i_ms = timed_steps(infer_step, a.warmup, a.steps, sync)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "threads": a.threads,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "model": a.model, "variant": a.variant, "memory": a.memory,
        "channels_last": a.channels_last,
        "train": {"batch": a.batch, "images_per_s": a.batch / (t_ms * 1e-3),
                  "median_ms": t_ms, "first_step_s": t_first},
        "inference": {"batch": a.test_batch, "images_per_s": a.test_batch / (i_ms * 1e-3),
                      "median_ms": i_ms, "first_step_s": i_first},
    }, indent=2))


if __name__ == "__main__":
    main()
