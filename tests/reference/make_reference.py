#!/usr/bin/env python3
"""Regenerates the committed reference vectors in tests/reference/data/ from the reference
PyTorch code: memorywrap 1.1.7 (MemoryWrapLayer, BaselineMemory, memory._distance), entmax 1.3
(sparsemax) and torch (Linear, relu, cat, CrossEntropyLoss, SGD, MultiStepLR,
CosineAnnealingLR).

Rules, so that the C tests can compare tightly:
  * every case draws from its own torch.Generator with a fixed seed (deterministic);
  * inputs (including upstream gradients) are drawn as float32 and stored as F32;
  * every output and gradient is computed in float64 from exactly those float32 values
    (.double() on inputs and modules) and stored as F64; labels are I64;
  * gradients come from autograd with the stored upstream gradient (out.backward(g)).

No dependency on the `safetensors` package: the small writer below follows the format
(8-byte little-endian header length, JSON header with tensors sorted by name and contiguous
offsets, padded with spaces to a multiple of 8, optional "__metadata__" of strings).

Usage: /usr/bin/python3 tests/reference/make_reference.py [--out DIR]
"""
import argparse
import importlib.metadata
import json
import math
import os
import sys
import tempfile
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from entmax import sparsemax
import memorywrap
from memorywrap.memory import _distance

# The scheduler warns about calling step() before optimizer.step() in some paths; the order
# here is the reference's (optimizer step, then scheduler step once per epoch).
warnings.filterwarnings("ignore", category=UserWarning)

HERE = os.path.dirname(os.path.abspath(__file__))

_DTYPES = {np.dtype("float32"): ("F32", "<f4"), np.dtype("float64"): ("F64", "<f8"),
           np.dtype("int64"): ("I64", "<i8")}


# --------------------------------------------------------------------------------------
# safetensors writer

def save_safetensors(path, tensors, metadata=None):
    """Writes {name: torch.Tensor} atomically (temporary file in the same directory, fsync,
    rename)."""
    names = sorted(tensors)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in names:
        t = tensors[name]
        arr = t.detach().cpu().contiguous().numpy() if torch.is_tensor(t) else np.asarray(t)
        if arr.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        code, le = _DTYPES[arr.dtype]
        raw = np.ascontiguousarray(arr, dtype=le).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for raw in blobs:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def script_args(doc):
    """The command line of the case scripts (--out DIR, default data/ here; --verbose), and
    one thread, so that their outputs are the same bytes on every run."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--verbose", action="store_true")
    torch.set_num_threads(1)
    return ap.parse_args()


def write_reference(args, filename, tensors, meta):
    """Writes args.out/filename (listing every tensor with --verbose); returns its path."""
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, filename)
    save_safetensors(path, tensors, meta)
    if args.verbose:
        for name in sorted(tensors):
            print(f"{name:40s} {list(tensors[name].shape)} {tensors[name].dtype}")
    return path


def load_safetensors(path):
    """Reads a safetensors file into {name: torch.Tensor} (F32, F64, I32, I64)."""
    codes = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8"}
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=codes[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


# --------------------------------------------------------------------------------------
# helpers

def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(g, *shape, scale=1.0):
    """A float32 input: what is stored is exactly what the float64 computation uses."""
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale).float()


def leaf(x):
    """float64 copy of a stored float32 input, as an autograd leaf."""
    return x.double().clone().requires_grad_(True)


def versions():
    return {
        "torch": torch.__version__,
        "memorywrap": importlib.metadata.version("memorywrap"),
        "entmax": importlib.metadata.version("entmax"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


def support_sizes(p):
    return [int(n) for n in (p != 0).sum(dim=1).tolist()]


# --------------------------------------------------------------------------------------
# single ops -> ops.safetensors

def case_matmul(out):
    g = gen(101)
    a, b = randn(g, 5, 9), randn(g, 9, 6)
    gc = randn(g, 5, 6)
    A, B = leaf(a), leaf(b)
    c = A @ B
    c.backward(gc.double())
    out.update({"matmul.a": a, "matmul.b": b, "matmul.c": c, "matmul.gc": gc,
                "matmul.ga": A.grad, "matmul.gb": B.grad})


def case_linear(out):
    g = gen(102)
    x = randn(g, 7, 13)
    w = randn(g, 11, 13, scale=0.3)
    b = randn(g, 11, scale=0.3)
    gy = randn(g, 7, 11)
    lin = torch.nn.Linear(13, 11).double()
    with torch.no_grad():
        lin.weight.copy_(w.double())
        lin.bias.copy_(b.double())
    X = leaf(x)
    y = lin(X)
    y.backward(gy.double())
    out.update({"linear.x": x, "linear.w": w, "linear.b": b, "linear.y": y, "linear.gy": gy,
                "linear.gx": X.grad, "linear.gw": lin.weight.grad, "linear.gb": lin.bias.grad})


def case_relu(out):
    g = gen(103)
    x, gy = randn(g, 6, 10), randn(g, 6, 10)
    X = leaf(x)
    y = F.relu(X)
    y.backward(gy.double())
    out.update({"relu.x": x, "relu.y": y, "relu.gy": gy, "relu.gx": X.grad})


def case_add_relu(out):
    g = gen(113)
    a, b, gy = randn(g, 5, 12), randn(g, 5, 12), randn(g, 5, 12)
    A, B = leaf(a), leaf(b)
    y = F.relu(A + B)
    y.backward(gy.double())
    out.update({"add_relu.a": a, "add_relu.b": b, "add_relu.y": y, "add_relu.gy": gy,
                "add_relu.ga": A.grad, "add_relu.gb": B.grad})


def case_concat(out):
    g = gen(104)
    a, b, gy = randn(g, 4, 5), randn(g, 4, 3), randn(g, 4, 8)
    A, B = leaf(a), leaf(b)
    y = torch.cat([A, B], 1)
    y.backward(gy.double())
    out.update({"concat.a": a, "concat.b": b, "concat.y": y, "concat.gy": gy,
                "concat.ga": A.grad, "concat.gb": B.grad})


def case_distance(out):
    for i, kind in enumerate(("cosine", "l2", "dot")):
        g = gen(110 + i)
        scale = 0.3 if kind == "l2" else 1.0  # keeps squared distances moderate
        e, m = randn(g, 6, 16, scale=scale), randn(g, 9, 16, scale=scale)
        gd = randn(g, 6, 9)
        E, M = leaf(e), leaf(m)
        d = _distance(E, M, kind)
        d.backward(gd.double())
        p = f"distance.{kind}."
        out.update({p + "e": e, p + "m": m, p + "d": d, p + "gd": gd, p + "ge": E.grad,
                    p + "gm": M.grad})


def sparsemax_case(out, prefix, z, g):
    gp = randn(g, *z.shape)
    Z = leaf(z)
    p = sparsemax(Z, dim=1)
    p.backward(gp.double())
    out.update({prefix + ".z": z, prefix + ".p": p, prefix + ".gp": gp, prefix + ".gz": Z.grad})
    return support_sizes(p.detach())


def case_sparsemax(out, summary):
    g = gen(120)
    z = randn(g, 8, 12, scale=2.0)
    summary.append(f"sparsemax support sizes per row: {sparsemax_case(out, 'sparsemax', z, g)}")

    g = gen(121)
    z = torch.empty(4, 6, dtype=torch.float32)
    z[0] = 0.3                                   # all equal: uniform 1/6
    z[1] = randn(g, 6)
    z[1, 2] = 1e4                                # one dominant entry: one-hot
    z[2] = torch.tensor([2.0, 2.0, 0.5, -1.0, 0.1, -3.0])  # tied maxima
    z[3] = randn(g, 6) + 100.0                   # large common offset (shift invariance)
    sizes = sparsemax_case(out, "sparsemax_ties", z, g)
    summary.append(f"sparsemax_ties support sizes per row: {sizes}")


def case_read(out):
    g = gen(130)
    w = sparsemax(randn(g, 6, 9, scale=2.0), dim=1).float()  # a realistic sparse W, stored F32
    m, gv = randn(g, 9, 16), randn(g, 6, 16)
    W, M = leaf(w), leaf(m)
    v = W @ M
    v.backward(gv.double())
    out.update({"read.w": w, "read.m": m, "read.v": v, "read.gv": gv, "read.gw": W.grad,
                "read.gm": M.grad})


def case_ce(out):
    g = gen(140)
    logits = randn(g, 8, 10, scale=2.0)
    labels = torch.randint(0, 10, (8,), generator=g, dtype=torch.int64)
    L = leaf(logits)
    loss = torch.nn.CrossEntropyLoss()(L, labels)
    loss.backward()
    out.update({"ce.logits": logits, "ce.labels": labels, "ce.loss": loss.detach().reshape(1),
                "ce.glogits": L.grad})


def optimizer_steps(out, prefix, make_optimizer, p0, grads, lrs):
    """Steps make_optimizer([p]) once per row of grads on p = p0 in float64, step k with
    learning rate lrs[k] and gradient grads[k]; stores <prefix>.{p0,g,lr} and <prefix>.p, the
    values after each step. Returns the optimizer."""
    p = torch.nn.Parameter(p0.double().clone())
    opt = make_optimizer([p])
    after = []
    for k in range(len(lrs)):
        opt.param_groups[0]["lr"] = float(lrs[k])
        p.grad = grads[k].double().clone()
        opt.step()
        after.append(p.detach().clone())
    out.update({prefix + ".p0": p0, prefix + ".g": grads, prefix + ".lr": lrs,
                prefix + ".p": torch.stack(after)})
    return opt


def sgd_case(out, prefix, seed, **kw):
    g = gen(seed)
    p0, grads = randn(g, 37), randn(g, 3, 37)
    lrs = torch.tensor([0.1, 0.05, 0.01], dtype=torch.float64)
    optimizer_steps(out, prefix, lambda ps: torch.optim.SGD(ps, lr=0.1, dampening=0, **kw),
                    p0, grads, lrs)


def schedule_lrs(make_scheduler, epochs):
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])  # the LR in effect during this epoch
        opt.step()
        sched.step()
    return torch.tensor(lrs, dtype=torch.float64)


def case_schedules(out):
    out["schedule.multistep.lr"] = schedule_lrs(
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[20, 30], gamma=0.1), 41)
    out["schedule.cosine.lr"] = schedule_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=300, eta_min=0), 301)


# --------------------------------------------------------------------------------------
# Memory Wrap heads trained end to end -> head_<variant>_<distance>.safetensors

HEAD = dict(d=32, classes=10, batch=16, memory=20, steps=20, lr=0.1, momentum=0.9,
            weight_decay=5e-4, nesterov=True, feature_seed=2024, init_seed=0)


def head_features():
    """Synthetic encoder outputs: noisy, ReLU'd class centres (non-negative like the
    MobileNetV2/ResNet18 encoders' outputs). The same for every head case."""
    h = HEAD
    g = gen(h["feature_seed"])
    centers = torch.randn(h["classes"], h["d"], generator=g)
    es, ms, ys = [], [], []
    for _ in range(h["steps"]):
        y = torch.randint(0, h["classes"], (h["batch"],), generator=g, dtype=torch.int64)
        e = F.relu(centers[y] + 0.7 * torch.randn(h["batch"], h["d"], generator=g))
        ml = torch.randint(0, h["classes"], (h["memory"],), generator=g, dtype=torch.int64)
        m = F.relu(centers[ml] + 0.7 * torch.randn(h["memory"], h["d"], generator=g))
        es.append(e.float())
        ms.append(m.float())
        ys.append(y)
    return torch.stack(es), torch.stack(ms), torch.stack(ys)


def case_head(outdir, variant, distance, feats, summary):
    h = HEAD
    e_all, m_all, y_all = feats
    torch.manual_seed(h["init_seed"])
    cls = memorywrap.MemoryWrapLayer if variant == "encoder_memory" else memorywrap.BaselineMemory
    layer = cls(h["d"], h["classes"], distance=distance)  # PyTorch default init, float32
    tensors = {"e": e_all, "m": m_all, "y": y_all}
    for k, v in layer.state_dict().items():
        tensors["init." + k] = v.detach().clone().float()
    layer = layer.double()
    opt = torch.optim.SGD(layer.parameters(), lr=h["lr"], momentum=h["momentum"],
                          nesterov=h["nesterov"], weight_decay=h["weight_decay"])
    ce = torch.nn.CrossEntropyLoss()
    losses = []
    for s in range(h["steps"]):
        e, m = leaf(e_all[s]), leaf(m_all[s])
        out, w = layer(e, m, return_weights=True)
        loss = ce(out, y_all[s])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if s == 0:
            tensors["weights0"] = w.detach().clone()
            tensors["logits0"] = out.detach().clone()
            tensors["ge0"] = e.grad.detach().clone()
            tensors["gm0"] = m.grad.detach().clone()
            sizes0 = support_sizes(w.detach())
    tensors["losses"] = torch.tensor(losses, dtype=torch.float64)
    for k, v in layer.state_dict().items():
        tensors["final." + k] = v.detach().clone()
    meta = {"variant": variant, "distance": distance, "lr": h["lr"], "momentum": h["momentum"],
            "weight_decay": h["weight_decay"], "nesterov": str(h["nesterov"]).lower(),
            "steps": h["steps"], "batch": h["batch"], "memory": h["memory"], "dim": h["d"],
            "classes": h["classes"], "init_seed": h["init_seed"],
            "feature_seed": h["feature_seed"]}
    meta.update({k + "_version": v for k, v in versions().items()})
    path = os.path.join(outdir, f"head_{variant}_{distance}.safetensors")
    save_safetensors(path, tensors, meta)
    summary.append(
        f"head {variant:14s} {distance:6s}: loss {losses[0]:.6f} -> {losses[-1]:.6f}, "
        f"step-0 support sizes {sizes0}, |ge0|max {tensors['ge0'].abs().max().item():.3g}, "
        f"|gm0|max {tensors['gm0'].abs().max().item():.3g}")
    return path


# --------------------------------------------------------------------------------------

def describe(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--verbose", action="store_true", help="list every tensor")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # One thread: reductions then run in one fixed order, run after run.
    torch.set_num_threads(1)

    summary = []
    ops = {}
    case_matmul(ops)
    case_linear(ops)
    case_relu(ops)
    case_add_relu(ops)
    case_concat(ops)
    case_distance(ops)
    case_sparsemax(ops, summary)
    case_read(ops)
    case_ce(ops)
    sgd_case(ops, "sgd", 150, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sgd_case(ops, "sgd_plain", 151, momentum=0.9, nesterov=False, weight_decay=0)
    case_schedules(ops)
    for k, v in ops.items():  # the documented dtype rule, enforced
        if v.dtype not in (torch.float32, torch.float64, torch.int64):
            raise TypeError(f"{k}: {v.dtype}")
    ops_path = os.path.join(args.out, "ops.safetensors")
    save_safetensors(ops_path, ops, {"generator": "tests/reference/make_reference.py",
                                     **{k + "_version": v for k, v in versions().items()}})
    paths = [ops_path]

    feats = head_features()
    for variant in ("encoder_memory", "memory"):
        for distance in ("cosine", "l2", "dot"):
            paths.append(case_head(args.out, variant, distance, feats, summary))

    for line in summary:
        print(line)
    for p in paths:
        header = describe(p)
        print(f"{os.path.relpath(p, os.getcwd())}: {len(header)} tensors, "
              f"{os.path.getsize(p) / 1024:.1f} KiB")
        if args.verbose:
            for name in sorted(header):
                print(f"    {name:28s} {header[name]['dtype']} {header[name]['shape']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))


if __name__ == "__main__":
    main()
