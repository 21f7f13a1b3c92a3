#!/usr/bin/env python3
"""Regenerates tests/reference/data/encoder_ops.safetensors: PyTorch reference vectors for the
encoder ops of memwrap (batch norm with fused activations, swish, sigmoid, average pooling,
the squeeze-excitation channel scaling, and for GoogLeNet / DenseNet / ShuffleNetV2 /
WRN-28-10: 3x3 max pooling at strides 1 and 2, channel concatenation (of two maps and of
four), split and shuffle,
batch norm with momentum 0.9, 2x2 average pooling of an odd-sized map).

Same rules as make_reference.py (whose writer and helpers this script reuses): inputs drawn
as float32 and stored F32, outputs and gradients computed in float64 from exactly those
values and stored F64, gradients from autograd with the stored upstream gradient.

PyTorch computes in [N, C, H, W]; memwrap's feature maps are channel-major [C, N, H, W], so
every feature map (inputs, outputs, upstream gradients) is stored transposed to CNHW. Per
channel vectors (gamma, beta, running statistics) are stored as they are.

Usage: /usr/bin/python3 tests/reference/make_encoder_ops_reference.py [--out DIR]
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import HERE, gen, leaf, randn, save_safetensors, versions  # noqa: E402

C, N, H, W = 5, 3, 6, 6
MOMENTUM, EPS = 0.1, 1e-5
MOMENTUM_WRN = 0.9  # WRN-28-10's final BatchNorm2d(640, momentum=0.9): the bn_momentum case


def cnhw(t):
    """[N, C, H, W] -> [C, N, H, W] (memwrap's map layout)."""
    return t.detach().permute(1, 0, 2, 3).contiguous()


def bn_module(gamma, beta, mean, var, momentum=MOMENTUM):
    """nn.BatchNorm2d in float64 holding the given float32 parameters and statistics."""
    bn = nn.BatchNorm2d(gamma.numel(), eps=EPS, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(gamma.double())
        bn.bias.copy_(beta.double())
        bn.running_mean.copy_(mean.double())
        bn.running_var.copy_(var.double())
    return bn


def bn_inputs(g, n=N):
    """x with a per-channel offset (so that the mean matters), γ, β and running statistics."""
    x = (randn(g, n, C, H, W, scale=1.5) + randn(g, 1, C, 1, 1)).float()
    gamma = (randn(g, C, scale=0.5) + 1.0).float()
    beta = randn(g, C, scale=0.3)
    mean = randn(g, C, scale=0.2)
    var = (torch.rand(C, generator=g, dtype=torch.float32) + 0.5).float()
    return x, gamma, beta, mean, var


def activate(z, act):
    if act == "none":
        return z
    if act == "relu":
        return F.relu(z)
    if act == "swish":
        return z * torch.sigmoid(z)
    raise ValueError(act)


def store_bn(out, prefix, x, gamma, beta, mean, var, gy, bn, y, xl):
    out.update({
        f"{prefix}.x": cnhw(x), f"{prefix}.gamma": gamma, f"{prefix}.beta": beta,
        f"{prefix}.running_mean0": mean, f"{prefix}.running_var0": var, f"{prefix}.gy": cnhw(gy),
        f"{prefix}.y": cnhw(y), f"{prefix}.gx": cnhw(xl.grad),
        f"{prefix}.ggamma": bn.weight.grad.detach().clone(),
        f"{prefix}.gbeta": bn.bias.grad.detach().clone(),
        f"{prefix}.running_mean": bn.running_mean.detach().clone(),
        f"{prefix}.running_var": bn.running_var.detach().clone(),
        f"{prefix}.batches_tracked": bn.num_batches_tracked.detach().clone().reshape(1),
    })


def case_bn(out, prefix, seed, act, train, momentum=MOMENTUM):
    """One BatchNorm2d (+ activation) in train or eval mode: forward, gradients, statistics."""
    g = gen(seed)
    x, gamma, beta, mean, var = bn_inputs(g)
    gy = randn(g, N, C, H, W)
    bn = bn_module(gamma, beta, mean, var, momentum)
    bn.train(train)
    xl = leaf(x)
    y = activate(bn(xl), act)
    y.backward(gy.double())
    store_bn(out, prefix, x, gamma, beta, mean, var, gy, bn, y, xl)


def case_bn_shared(out):
    """The encoder's pattern: one module applied to the input batch, then to the memory batch
    (separate batch statistics, running statistics updated twice, input batch first). The C
    graph sums the two outputs as y1 + 0.5 y2 (it has one output to seed), so the upstream
    gradients are gy and 0.5 gy."""
    g = gen(106)
    x1, gamma, beta, mean, var = bn_inputs(g)
    x2 = (randn(g, N, C, H, W, scale=0.8) - 0.4).float()
    gy = randn(g, N, C, H, W)
    bn = bn_module(gamma, beta, mean, var)
    bn.train()
    x1l, x2l = leaf(x1), leaf(x2)
    y1, y2 = bn(x1l), bn(x2l)
    (y1 + 0.5 * y2).backward(gy.double())
    store_bn(out, "bn_shared", x1, gamma, beta, mean, var, gy, bn, y1, x1l)
    for k in ("x", "y", "gx"):
        out[f"bn_shared.{k}1"] = out.pop(f"bn_shared.{k}")
    out.update({"bn_shared.x2": cnhw(x2), "bn_shared.y2": cnhw(y2),
                "bn_shared.gx2": cnhw(x2l.grad)})


def case_elementwise(out, name, fn, seed):
    """An activation on a 3-D tensor (activations take any shape)."""
    g = gen(seed)
    x = randn(g, 4, 7, 5, scale=2.5)
    gy = randn(g, 4, 7, 5)
    xl = leaf(x)
    y = fn(xl)
    y.backward(gy.double())
    out.update({f"{name}.x": x, f"{name}.y": y.detach(), f"{name}.gy": gy,
                f"{name}.gx": xl.grad})


def case_pool(out, name, seed, size, k, adaptive):
    g = gen(seed)
    x = randn(g, N, C, size, size)
    gy = randn(g, N, C, size // k, size // k)
    xl = leaf(x)
    y = F.adaptive_avg_pool2d(xl, 1) if adaptive else F.avg_pool2d(xl, k)
    assert torch.equal(y, F.avg_pool2d(xl, k))
    y.backward(gy.double())
    out.update({f"{name}.x": cnhw(x), f"{name}.y": cnhw(y), f"{name}.gy": cnhw(gy),
                f"{name}.gx": cnhw(xl.grad)})


def case_scale_channels(out):
    """Squeeze-excitation: x · s with s [N, C, 1, 1] broadcast over H and W."""
    g = gen(111)
    x = randn(g, N, C, H, W)
    s = torch.sigmoid(randn(g, N, C, 1, 1, scale=2.0)).float()
    gy = randn(g, N, C, H, W)
    xl, sl = leaf(x), leaf(s)
    y = xl * sl
    y.backward(gy.double())
    out.update({"scale.x": cnhw(x), "scale.s": cnhw(s), "scale.y": cnhw(y), "scale.gy": cnhw(gy),
                "scale.gx": cnhw(xl.grad), "scale.gs": cnhw(sl.grad)})


def case_maxpool(out, name, seed, c, n, size, stride):
    """F.max_pool2d(x, 3, stride, padding=1) (GoogLeNet: stride 1 inside the Inception
    branch 4, stride 2 between stages); x [c, n, size, size] channel-major, distinct random
    values (no ties, so the gradient routing is unambiguous)."""
    g = gen(seed)
    x = randn(g, n, c, size, size)
    assert x.unique().numel() == x.numel(), "ties in a max-pool input"
    osz = (size + 2 - 3) // stride + 1
    gy = randn(g, n, c, osz, osz)
    xl = leaf(x)
    y = F.max_pool2d(xl, 3, stride=stride, padding=1)
    assert tuple(y.shape) == (n, c, osz, osz)
    y.backward(gy.double())
    out.update({f"{name}.x": cnhw(x), f"{name}.y": cnhw(y), f"{name}.gy": cnhw(gy),
                f"{name}.gx": cnhw(xl.grad)})


def case_shuffle(out):
    """ShuffleNetV2's channel shuffle, groups 2: x.view(N, g, C/g, H, W).permute(0, 2, 1, 3, 4)
    .reshape(N, C, H, W), on x [C=6, N=2, 3, 3] (output channel order 0, 3, 1, 4, 2, 5)."""
    g = gen(114)
    n, c, hh, ww, groups = 2, 6, 3, 3, 2
    x = randn(g, n, c, hh, ww)
    gy = randn(g, n, c, hh, ww)
    xl = leaf(x)
    y = xl.view(n, groups, c // groups, hh, ww).permute(0, 2, 1, 3, 4).reshape(n, c, hh, ww)
    y.backward(gy.double())
    out.update({"shuffle2.x": cnhw(x), "shuffle2.y": cnhw(y), "shuffle2.gy": cnhw(gy),
                "shuffle2.gx": cnhw(xl.grad)})


def case_cat_channels(out):
    """torch.cat([a, b], 1) of NCHW maps (Inception, DenseNet, ShuffleNetV2), a with 3
    channels, b with 5, N 2, 4x4; stored channel-major (there: a stack along dim 0)."""
    g = gen(115)
    a = randn(g, 2, 3, 4, 4)
    b = randn(g, 2, 5, 4, 4)
    gy = randn(g, 2, 8, 4, 4)
    al, bl = leaf(a), leaf(b)
    y = torch.cat([al, bl], 1)
    y.backward(gy.double())
    out.update({"cat_channels.a": cnhw(a), "cat_channels.b": cnhw(b),
                "cat_channels.y": cnhw(y), "cat_channels.gy": cnhw(gy),
                "cat_channels.ga": cnhw(al.grad), "cat_channels.gb": cnhw(bl.grad)})


def case_cat_channels4(out):
    """torch.cat([a, b, c, d], 1): an inception module's four branches in one concatenation,
    channels 3, 1, 4 and 2, N 2, 3x5 maps (odd: no input is a whole number of copy runs)."""
    g = gen(119)
    parts = [randn(g, 2, ch, 3, 5) for ch in (3, 1, 4, 2)]
    gy = randn(g, 2, 10, 3, 5)
    leaves = [leaf(p) for p in parts]
    y = torch.cat(leaves, 1)
    y.backward(gy.double())
    for name, p, pl in zip("abcd", parts, leaves):
        out[f"cat4_channels.{name}"] = cnhw(p)
        out[f"cat4_channels.g{name}"] = cnhw(pl.grad)
    out.update({"cat4_channels.y": cnhw(y), "cat4_channels.gy": cnhw(gy)})


def case_split_channels(out):
    """ShuffleNetV2's split: y1 = x[:, :c], y2 = x[:, c:], c = C/2 = 4, both used (upstream
    gradients gy1, gy2; gx collects both)."""
    g = gen(116)
    n, c, hh, ww = 2, 8, 3, 3
    x = randn(g, n, c, hh, ww)
    gy1 = randn(g, n, c // 2, hh, ww)
    gy2 = randn(g, n, c - c // 2, hh, ww)
    xl = leaf(x)
    y1, y2 = xl[:, :c // 2], xl[:, c // 2:]
    torch.autograd.backward([y1, y2], [gy1.double(), gy2.double()])
    out.update({"split_channels.x": cnhw(x), "split_channels.y1": cnhw(y1),
                "split_channels.y2": cnhw(y2), "split_channels.gy1": cnhw(gy1),
                "split_channels.gy2": cnhw(gy2), "split_channels.gx": cnhw(xl.grad)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {}
    case_bn(out, "bn_train", 101, "none", True)
    case_bn(out, "bn_eval", 102, "none", False)
    case_bn(out, "bn_relu", 103, "relu", True)
    case_bn(out, "bn_swish", 104, "swish", True)
    case_bn(out, "bn_eval_swish", 105, "swish", False)
    case_bn_shared(out)
    case_elementwise(out, "swish", lambda t: t * torch.sigmoid(t), 107)
    case_elementwise(out, "sigmoid", torch.sigmoid, 108)
    case_pool(out, "pool2", 109, 6, 2, False)
    case_pool(out, "pool4", 110, 4, 4, True)
    case_scale_channels(out)
    # GoogLeNet / DenseNet-cifar / ShuffleNetV2 / WRN-28-10 (independent generators: the
    # tensors above are unchanged by these)
    case_maxpool(out, "maxpool3s1", 112, 5, 3, 8, 1)
    case_maxpool(out, "maxpool3s2", 113, 5, 3, 9, 2)
    case_shuffle(out)
    case_cat_channels(out)
    case_split_channels(out)
    case_bn(out, "bn_momentum", 117, "none", True, momentum=MOMENTUM_WRN)
    case_pool(out, "pool2_odd", 118, 7, 2, False)  # DenseNet transition at 28x28: 7 -> 3
    case_cat_channels4(out)
    for k, v in out.items():  # float64 results, float32 inputs, int64 counters
        assert v.dtype in (torch.float32, torch.float64, torch.int64), k
    meta = dict(versions(), shape_nchw=f"{N}x{C}x{H}x{W}", momentum=MOMENTUM, eps=EPS,
                bn_momentum_momentum=MOMENTUM_WRN, layout="feature maps stored [C, N, H, W]")
    path = os.path.join(args.out, "encoder_ops.safetensors")
    save_safetensors(path, out, meta)
    print(f"{path}: {len(out)} tensors; bn_shared running_var "
          f"{[round(v, 6) for v in out['bn_shared.running_var'].tolist()]}")


if __name__ == "__main__":
    main()
