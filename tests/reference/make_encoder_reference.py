#!/usr/bin/env python3
"""Regenerates the encoder reference vectors (tests/reference/data/encoder_*) from the
reference architectures in encoders.py (MobileNetV2, ResNet18, EfficientNet-B0, GoogLeNet,
DenseNet-cifar, ShuffleNetV2 0.5x, WRN-28-10, CIFAR variants; std / memory / encoder_memory
with memorywrap 1.1.7's BaselineMemory and MemoryWrapLayer).

No weights are stored: every state_dict entry (parameters and BatchNorm buffers) and the model
inputs are set by a deterministic "hashed" rule that tests/hashed_init.c reproduces bit for bit
(see hashed_values / hashed_range below and tests/hashed_init.h). The files hold outputs
(float64) and fingerprints of the parameters after one SGD step.

Files (B = 4 inputs, M = 6 memory images, 10 classes, float64 computation):
  encoder_<encoder>_<variant>.safetensors   3x32x32 inputs, eval + one train step
  encoder_<encoder>_encoder_memory_1x28.safetensors     1x28x28 inputs, eval only (encoders
                                            of ONE_CHANNEL: all but ResNet18, EfficientNet-B0)
  encoder_hash_check.safetensors            hashed-init values for the C unit test
  encoder_keys.txt                          state_dict "name [shape]" per model x variant

Usage: /usr/bin/python3 tests/reference/make_encoder_reference.py [--out DIR] [--verbose]
           [--only ENC,ENC,...]   (regenerates those encoders' files; encoder_keys.txt and
                                   encoder_hash_check.safetensors are always rewritten)
"""
import argparse
import copy
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import encoders  # noqa: E402
from make_reference import describe, save_safetensors, versions  # noqa: E402  (shared helpers)

B, M, CLASSES = 4, 6, 10
LABELS = [3, 1, 4, 1]
SGD = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, dampening=0)
N_SAMPLE = 8
# encoders with a 1x28x28 (Fashion-MNIST shape) eval file, encoder_memory variant
ONE_CHANNEL = ("mobilenetv2", "googlenet", "densenet_cifar", "shufflenetv2", "wrn28_10")
# encoders whose dropout p is set to 0 for the train step (masks cannot be matched)
DROPOUT_ZEROED = ("efficientnet_b0", "wrn28_10")
# the reference's final pooling and its window, for the metadata of the newer encoders
# (encoders._final_pool: the reference's op when the final map is window x window, else
# global average pooling)
FINAL_POOL = {"googlenet": ("AvgPool2d(8, stride=1)", 8), "densenet_cifar": ("avg_pool2d(4)", 4),
              "shufflenetv2": ("avg_pool2d(4)", 4), "wrn28_10": ("AvgPool2d(8)", 8)}

HASHED_INIT_DOC = (
    "hashed init (tests/hashed_init.h): state=FNV-1a64(name); per element k: "
    "state+=0x9E3779B97F4A7C15; splitmix64 finaliser z; u=(z>>40)/2^24; "
    "value=float32(a+b*u). (a,b): conv/linear weight and bias -s,2s with "
    "s=1/sqrt(prod(weight.shape[1:])); BN weight 0.75,0.5; BN bias -0.1,0.2; running_mean "
    "-0.1,0.2; running_var 0.5,1.0; num_batches_tracked 0; inputs 'input','memory' -1,2. "
    "Encoder files override (a,b) of running_mean/running_var with init.<key>.ab")

# ---------------------------------------------------------------------------------------
# hashed initialisation (mirror of tests/hashed_init.c)

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def fnv1a64(name):
    h = 0xcbf29ce484222325
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001b3) & _MASK
    return h


def hashed_u(name, n):
    """u_k in [0,1) for k = 0..n-1 (numpy uint64 arithmetic wraps mod 2^64)."""
    k = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = k * np.uint64(_GOLDEN) + np.uint64(fnv1a64(name))  # state after k additions
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0


def hashed_u_slow(name, n):
    """Pure-Python sequential version (used to check hashed_u)."""
    state, out = fnv1a64(name), []
    for _ in range(n):
        state = (state + _GOLDEN) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * _MIX1) & _MASK
        z = ((z ^ (z >> 27)) * _MIX2) & _MASK
        z ^= z >> 31
        out.append((z >> 40) / 16777216.0)
    return out


def hashed_values(name, n, a, b):
    """float32 values: a + b*u in float64 (product rounded, then sum rounded), then rounded
    to float32 (nearest even)."""
    u = hashed_u(name, n)
    prod = np.float64(b) * u
    return (np.float64(a) + prod).astype(np.float32)


def hashed_range(name, shapes):
    """(a, b) for tensor `name`; shapes maps every state_dict key to its shape (the rule looks
    at the shape of '<prefix>.weight')."""
    if "." not in name:
        return -1.0, 2.0  # "input", "memory"
    prefix, last = name.rsplit(".", 1)
    if last == "running_mean":
        return -0.1, 0.2
    if last == "running_var":
        return 0.5, 1.0
    if last == "num_batches_tracked":
        return 0.0, 0.0
    if last in ("weight", "bias"):
        w = list(shapes[prefix + ".weight"])
        if len(w) >= 2:
            s = 1.0 / math.sqrt(float(math.prod(w[1:])))
            return -s, 2.0 * s
        if len(w) == 1:
            return (0.75, 0.5) if last == "weight" else (-0.1, 0.2)
    raise ValueError(f"hashed init: no rule for {name}")


def hashed_tensor(name, shape, shapes, dtype=torch.float64):
    a, b = hashed_range(name, shapes)
    n = int(math.prod(shape))
    v = hashed_values(name, n, a, b)
    return torch.from_numpy(v.astype(np.float64)).reshape(shape).to(dtype)


def hashed_init_(model):
    """Sets EVERY state_dict entry of `model` by the hashed rule (in place)."""
    sd = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    new = {}
    for k, v in sd.items():
        if k.endswith(".num_batches_tracked"):
            new[k] = torch.zeros_like(v)
        else:
            new[k] = hashed_tensor(k, v.shape, shapes, v.dtype)
    model.load_state_dict(new)


def calibrate_running_stats(model, batch):
    """Re-initialises every BatchNorm's running_mean / running_var with the hashed rule but a
    per-tensor (a, b) scaled to the statistics that BN actually sees, so that eval mode is
    not degenerate: with the fixed default ranges, activations shrink layer after layer and
    the encodings of different inputs become equal to ~1e-5 (MobileNetV2) or ~1e-11
    (EfficientNet-B0). BN layers are calibrated in forward order on `batch` in eval mode
    (each sees the already calibrated layers before it). For the input of a BN with
    per-channel mean mu_c and (biased) variance var_c: mu = mean_c mu_c,
    v = mean_c var_c + mean_c (mu_c - mu)^2, sd = sqrt(v);
      running_mean: (a, b) = (mu - 0.1 sd, 0.2 sd)   running_var: (a, b) = (0.5 v, 1.0 v).
    A BN that forward never calls (EfficientNet's layers.0.bn1) keeps the default ranges.
    Returns {key: (a, b)} for every running_mean / running_var of the state_dict."""
    names = {mod: name for name, mod in model.named_modules()}
    sd = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    ranges = {k: hashed_range(k, shapes) for k in sd if is_running_stat(k)}

    def pre_hook(mod, inputs):
        h = inputs[0]
        mu_c = h.mean((0, 2, 3))
        var_c = h.var((0, 2, 3), unbiased=False)
        mu = float(mu_c.mean())
        v = float(var_c.mean() + ((mu_c - mu) ** 2).mean())
        sdev = math.sqrt(v)
        prefix = names[mod]
        for buf, ab in ((mod.running_mean, (mu - 0.1 * sdev, 0.2 * sdev)),
                        (mod.running_var, (0.5 * v, 1.0 * v))):
            key = prefix + (".running_mean" if buf is mod.running_mean else ".running_var")
            ranges[key] = ab
            vals = hashed_values(key, buf.numel(), *ab).astype(np.float64)
            buf.copy_(torch.from_numpy(vals).to(buf.dtype))

    hooks = [mod.register_forward_pre_hook(pre_hook) for mod in model.modules()
             if isinstance(mod, torch.nn.BatchNorm2d)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.forward_encoder(batch)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return ranges


def hashed_input(name, shape):
    """A model input: float32 values (what C regenerates), as float64 for the computation."""
    return hashed_tensor(name, shape, {}, torch.float32).double()


# ---------------------------------------------------------------------------------------



def sample_index(n):
    """N_SAMPLE evenly spaced flat indices, first and last included (repeats when n < 8)."""
    return [(i * (n - 1)) // (N_SAMPLE - 1) for i in range(N_SAMPLE)]


def fingerprint(out, prefix, t):
    flat = t.detach().reshape(-1).double()
    idx = torch.tensor(sample_index(flat.numel()), dtype=torch.int64)
    out[prefix + ".sum"] = flat.sum().reshape(1)
    out[prefix + ".sumsq"] = (flat * flat).sum().reshape(1)
    out[prefix + ".sample"] = flat[idx].clone()
    out[prefix + ".index"] = idx


def is_running_stat(key):
    return key.endswith(".running_mean") or key.endswith(".running_var")


def run_model(model, x, mem, with_memory):
    """Encoder outputs and logits (and weights) exactly as model.forward computes them."""
    e = model.forward_encoder(x)
    if not with_memory:
        return e, None, model.linear(e), None
    m = model.forward_encoder(mem)
    logits, w = model.mw(e, m, True)
    return e, m, logits, w


def train_step(model, x, mem, with_memory, y):
    """One SGD step in train mode; returns loss, logits, weights, encodings, state_dict."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), **SGD)
    opt.zero_grad()
    e, m, logits, w = run_model(model, x, mem, with_memory)
    loss = torch.nn.CrossEntropyLoss()(logits, y)
    loss.backward()
    opt.step()
    return loss, logits, w, e, m, {k: v.detach().double() for k, v in model.state_dict().items()}


def relative_deviation(got, ref):
    """max |got - ref| / max |ref| as a float64 [1] tensor."""
    got, ref = got.detach().double(), ref.detach().double()
    scale = ref.abs().max().clamp_min(1e-300)
    return ((got - ref).abs().max() / scale).reshape(1)


def keys_listing(model, title):
    sd = model.state_dict()
    lines = [f"# {title}: {len(sd)} tensors, {encoders.count_params(model)} parameters"]
    for k, v in sd.items():
        lines.append(f"{k} [{','.join(str(s) for s in v.shape)}]")
    return lines


def case(outdir, enc, variant, in_channels, size, train, summary, keys):
    with_memory = variant != "std"
    torch.manual_seed(0)  # irrelevant to the results (everything is hashed); for tidiness
    model = encoders.build(enc, variant, CLASSES, in_channels).double()
    n_params = encoders.count_params(model)
    if in_channels == 3:
        want = encoders.SPEC_PARAMS[(enc, variant)]
        assert n_params == want, f"{enc} {variant}: {n_params} parameters, spec {want}"
    keys.extend(keys_listing(model, f"{enc} {variant} ({in_channels}x{size}x{size}, "
                                    f"{CLASSES} classes)"))
    hashed_init_(model)
    x = hashed_input("input", (B, in_channels, size, size))
    mem = hashed_input("memory", (M, in_channels, size, size)) if with_memory else None
    fmap = encoders.final_map_size(model, size, in_channels)

    t = {}
    ranges = calibrate_running_stats(model, torch.cat([x, mem]) if with_memory else x)
    for k, ab in ranges.items():
        t["init." + k + ".ab"] = torch.tensor(ab, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        e, m, logits, w = run_model(model, x, mem, with_memory)
        direct = model(x, mem, True) if with_memory else model(x)
        direct = direct[0] if with_memory else direct
        assert torch.equal(direct, logits)
    t["eval.logits"] = logits
    fingerprint(t, "eval.encoding", e)
    if with_memory:
        t["eval.weights"] = w
        fingerprint(t, "eval.memory_encoding", m)
    spread = float((e - e.mean(0)).abs().max() / e.abs().max())
    line = (f"{enc:15s} {variant:14s} {in_channels}x{size}x{size}: {n_params:>10,d} params, "
            f"final map {fmap[0]}x{fmap[1]}, eval argmax {logits.argmax(1).tolist()}, "
            f"input spread {spread:.2g}")
    if with_memory:
        line += f", support {[int(s) for s in (w != 0).sum(1).tolist()]}"

    meta = {"generator": "tests/reference/make_encoder_reference.py", "encoder": enc,
            "variant": variant, "in_channels": in_channels, "size": size, "B": B,
            "M": M if with_memory else 0, "classes": CLASSES, "parameters": n_params,
            "final_map": f"{fmap[0]}x{fmap[1]}", "dtype": "float64",
            "hashed_init": HASHED_INIT_DOC,
            "running_stats": "initial running_mean / running_var: hashed with the per-tensor "
                             "(a,b) stored as init.<key>.ab (calibrated, see "
                             "calibrate_running_stats); every other entry by the default rule",
            "inputs": "x = hashed 'input' [B,C,H,W]" + (
                ", memory = hashed 'memory' [M,C,H,W]" if with_memory else ""),
            "fingerprint": "sum, sumsq (float64) and sample at index = floor(i*(n-1)/7), "
                           "i=0..7, of the flattened tensor"}
    if enc == "efficientnet_b0":
        meta["dropout"] = ("eval: off (eval mode). train step: encoder dropout p set to 0 "
                           "(reference p=0.2 masks cannot be matched); drop_connect never "
                           "fires in the reference (rate 0)")
    if enc == "wrn28_10":
        meta["dropout"] = ("eval: off (eval mode). train step: every Dropout p set to 0 "
                           "(reference p=0.3 masks cannot be matched): residual.3 of each of "
                           "the 12 blocks and, for std and memory, classifier.4")
        meta["bn_momentum"] = ("classifier.0: BatchNorm2d(640, momentum=0.9), running = "
                               "0.1 old + 0.9 batch; every other BN momentum 0.1")
        meta["reference_init"] = ("the reference's init loop (kaiming_normal_ fan_out convs, "
                                  "BN 1/0, zero Linear biases incl. the memory head's) is "
                                  "overridden by the hashed init, like every default init")
    if enc in FINAL_POOL:
        op, window = FINAL_POOL[enc]
        meta["final_pool"] = (f"reference {op} on the {window}x{window} map"
                              if fmap == (window, window) else
                              f"global average pooling (adaptive_avg_pool2d(1)) on the "
                              f"{fmap[0]}x{fmap[1]} map: the reference's {op} needs "
                              f"{window}x{window}")

    if train:
        if enc in DROPOUT_ZEROED:
            model.dropout_rate = 0.0
        y = torch.tensor(LABELS, dtype=torch.int64)
        # The same step in float32 PyTorch measures how far float32 arithmetic itself lands
        # from this float64 oracle (`noise.*`): the C tests hold memwrap to a small multiple
        # of it, since a one-step update through train-mode batch norm on 4 images is a
        # small residual that no float32 implementation reproduces to 1e-4.
        f32 = train_step(copy.deepcopy(model).float(), x.float(),
                         mem.float() if with_memory else None, with_memory, y)
        loss, logits, w, e, m, _ = train_step(model, x, mem, with_memory, y)
        for name, ref, got in (("train.loss", loss, f32[0]), ("train.logits", logits, f32[1])) + (
                (("train.weights", w, f32[2]),) if with_memory else ()):
            t["noise." + name] = relative_deviation(got, ref)
        after32 = f32[5]
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                t["noise.after." + k] = relative_deviation(after32[k], v)
        t["train.labels"] = y
        t["train.loss"] = loss.detach().reshape(1)
        t["train.logits"] = logits.detach()
        fingerprint(t, "train.encoding", e)
        if with_memory:
            t["train.weights"] = w.detach()
            fingerprint(t, "train.memory_encoding", m)
        skipped = [k for k, p in model.named_parameters() if p.grad is None]
        for k, v in model.state_dict().items():
            if k.endswith(".num_batches_tracked"):
                t["after." + k] = v.detach().reshape(1).to(torch.int64)
            else:
                fingerprint(t, "after." + k, v)
        meta.update({"labels": str(LABELS), "loss": "CrossEntropyLoss (mean)",
                     "optimizer": "SGD lr 0.1 momentum 0.9 nesterov wd 5e-4, one step",
                     "train_mode": "model.train(): BN batch statistics; running stats "
                                   "updated once per encoder call (2 per step with memory)",
                     "no_grad_params": " ".join(skipped) or "none"})
        line += f", train loss {loss.item():.6f}"
        if skipped:
            line += f", params without grad (skipped by SGD): {len(skipped)}"
    meta.update({k + "_version": v for k, v in versions().items()})

    for k, v in t.items():
        assert v.dtype in (torch.float64, torch.int64), (k, v.dtype)
    suffix = f"_{in_channels}x{size}" if (in_channels, size) != (3, 32) else ""
    path = os.path.join(outdir, f"encoder_{enc}_{variant}{suffix}.safetensors")
    save_safetensors(path, t, meta)
    summary.append(line)
    return path


HASH_CHECKS = [  # (name, shape, shape of '<prefix>.weight' or None)
    ("input", (4, 3, 32, 32), None),
    ("memory", (6, 3, 32, 32), None),
    ("conv1.weight", (32, 3, 3, 3), (32, 3, 3, 3)),
    ("layers.0.conv2.weight", (32, 1, 3, 3), (32, 1, 3, 3)),
    ("layers.0.bn1.weight", (32,), (32,)),
    ("layers.0.bn1.bias", (32,), (32,)),
    ("layers.0.bn1.running_mean", (32,), None),
    ("layers.0.bn1.running_var", (32,), None),
    ("layers.0.bn1.num_batches_tracked", (), None),
    ("layers.1.se.se1.weight", (4, 96, 1, 1), (4, 96, 1, 1)),
    ("layers.1.se.se1.bias", (4,), (4, 96, 1, 1)),
    ("linear.weight", (10, 1280), (10, 1280)),
    ("linear.bias", (10,), (10, 1280)),
    ("mw.classifier.fc1.bias", (5120,), (5120, 2560)),
    ("layer4.1.conv2.weight", (512, 512, 3, 3), (512, 512, 3, 3)),
]


def hash_check(outdir):
    """Values the C unit test (tests/test_hashed_init.c) must reproduce bit for bit."""
    for name in ("input", "layer4.1.conv2.weight"):  # numpy == sequential Python
        fast = hashed_u(name, 1000)
        assert fast.tolist() == hashed_u_slow(name, 1000), name
    t = {}
    for name, shape, wshape in HASH_CHECKS:
        shapes = {name.rsplit(".", 1)[0] + ".weight": wshape} if wshape else {}
        a, b = hashed_range(name, shapes)
        n = int(math.prod(shape))
        v = hashed_values(name, n, a, b)
        idx = sample_index(n) if n > 1 else [0] * N_SAMPLE
        t[name + ".first"] = torch.from_numpy(v[:64].copy())
        t[name + ".index"] = torch.tensor(idx, dtype=torch.int64)
        t[name + ".sample"] = torch.from_numpy(v[idx].copy())
        t[name + ".sum"] = torch.tensor([math.fsum(v.astype(np.float64).tolist())],
                                        dtype=torch.float64)
        t[name + ".ab"] = torch.tensor([a, b], dtype=torch.float64)
        t[name + ".shape"] = torch.tensor(list(shape), dtype=torch.int64)
        t[name + ".fnv"] = torch.tensor([fnv1a64(name) - (1 << 64) if fnv1a64(name) >= 1 << 63
                                         else fnv1a64(name)], dtype=torch.int64)
    path = os.path.join(outdir, "encoder_hash_check.safetensors")
    save_safetensors(path, t, {"generator": "tests/reference/make_encoder_reference.py",
                               "hashed_init": HASHED_INIT_DOC,
                               "layout": "<name>.first = first min(n,64) values (F32); "
                                         ".index/.sample = 8 evenly spaced values; .sum = "
                                         "exact sum (math.fsum) of all n values; .ab = (a,b); "
                                         ".shape; .fnv = FNV-1a64(name) as I64 bit pattern",
                               **{k + "_version": v for k, v in versions().items()}})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--verbose", action="store_true", help="list every tensor")
    ap.add_argument("--only", help="comma-separated encoders to regenerate (default all)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)  # fixed reduction order, run after run

    only = args.only.split(",") if args.only else list(encoders.ENCODERS)
    unknown = [e for e in only if e not in encoders.ENCODERS]
    if unknown:
        ap.error(f"unknown encoder(s) {unknown}; choose from {list(encoders.ENCODERS)}")
    summary, keys, paths = [], [], [hash_check(args.out)]
    for enc in encoders.ENCODERS:
        for variant in encoders.VARIANTS:
            if enc in only:
                paths.append(case(args.out, enc, variant, 3, 32, True, summary, keys))
            else:  # keys listing still complete
                keys.extend(keys_listing(encoders.build(enc, variant, CLASSES, 3),
                                         f"{enc} {variant} (3x32x32, {CLASSES} classes)"))
    for enc in ONE_CHANNEL:
        if enc in only:
            paths.append(case(args.out, enc, "encoder_memory", 1, 28, False, summary, keys))
        else:
            keys.extend(keys_listing(encoders.build(enc, "encoder_memory", CLASSES, 1),
                                     f"{enc} encoder_memory (1x28x28, {CLASSES} classes)"))
    keys_path = os.path.join(args.out, "encoder_keys.txt")
    with open(keys_path, "w") as f:
        f.write("# state_dict keys in order, 'name [shape]', per encoder x variant; generated "
                "by tests/reference/make_encoder_reference.py\n")
        f.write("\n".join(keys) + "\n")

    for line in summary:
        print(line)
    for p in paths:
        header = describe(p)
        size = os.path.getsize(p)
        print(f"{os.path.relpath(p, os.getcwd())}: {len(header)} tensors, {size / 1024:.1f} KiB")
        if args.verbose:
            for name in sorted(header):
                print(f"    {name:48s} {header[name]['dtype']} {header[name]['shape']}")
    print(f"{os.path.relpath(keys_path, os.getcwd())}: {len(keys)} lines, "
          f"{os.path.getsize(keys_path) / 1024:.1f} KiB")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))


if __name__ == "__main__":
    main()
