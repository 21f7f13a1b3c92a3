#!/usr/bin/env python3
"""Regenerates tests/reference/data/autoencoder.safetensors: nearest upsampling, the mean
squared error and one forward and backward of the small convolutional autoencoder of
KRLGroup/memory-wrap (paper/architectures/autoencoder.py), for memwrap's upsample and MSE ops
(tests/test_pool.c, tests/test_loss.c) and the autoencoder built from them.

The autoencoder is written here again from that description (not copied):
  encoder: Conv2d(C,16,3,'same'), ReLU, Conv2d(16,16,3,'same'), ReLU, MaxPool2d(2,2),
           Conv2d(16,1,3,'same')
  decoder: Conv2d(1,16,3,'same'), ReLU, Conv2d(16,16,3,'same'), ReLU,
           Upsample(scale_factor=2) (nearest), Conv2d(16,C,3,'same')
trained with nn.MSELoss() (mean) of the reconstruction against the input.

Rules (as make_reference.py): each case draws from its own seeded torch.Generator; inputs
(maps, weights, upstream gradients) are float32 and stored F32; outputs and gradients are
computed in float64 from exactly those values and stored F64; gradients come from
autograd with the stored upstream gradient. The upsample cases store maps channel-major
[C, N, H, W] as memwrap keeps them (PyTorch computes on [N, C, H, W]); the autoencoder's
input, output and input gradients keep PyTorch's [N, C, H, W] and its parameters
PyTorch's state_dict names and layouts.

Only torch and numpy are needed. Usage:
  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 tests/reference/make_autoencoder_reference.py
  [--out DIR] [--verbose]
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import script_args, write_reference  # noqa: E402  (the shared writer)

# name: (C, N, H, W, k) of the maps x [C, N, H, W] upsampled by k
UPSAMPLE_CASES = {
    "up2": (3, 2, 4, 4, 2),
    "up2_odd": (2, 3, 3, 5, 2),   # odd, rectangular maps
    "up3": (2, 2, 3, 4, 3),
    "up1": (2, 2, 3, 5, 1),       # k = 1: a copy
}

# name: shape of a and b
MSE_CASES = {
    "mse": (3, 2, 5, 7),          # maps: 210 values, 13 float16 runs and a tail of 2
    "mse_flat": (37,),            # one dimension
}

# name: (num_channels, N, H, W)
AUTOENCODER_CASES = {
    "ae3": (3, 2, 32, 32),        # CIFAR-10 shape
    "ae1": (1, 2, 28, 28),        # Fashion-MNIST shape
}


def cnhw(t):
    """[N, C, H, W] <-> memwrap's [C, N, H, W] (the same swap both ways)."""
    return t.permute(1, 0, 2, 3).contiguous()


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def upsample_case(out, seed, name, c, n, h, w, k):
    g = torch.Generator().manual_seed(seed)
    x = randn(g, n, c, h, w)
    gy = randn(g, n, c, h * k, w * k)
    X = x.double().requires_grad_(True)
    y = nn.Upsample(scale_factor=k, mode="nearest")(X)
    y.backward(gy.double())
    p = name + "."
    out.update({p + "x": cnhw(x), p + "gy": cnhw(gy), p + "y": cnhw(y.detach()),
                p + "gx": cnhw(X.grad)})


def mse_case(out, seed, name, shape):
    g = torch.Generator().manual_seed(seed)
    a = randn(g, *shape)
    b = randn(g, *shape)
    gloss = randn(g, 1)
    A = a.double().requires_grad_(True)
    B = b.double().requires_grad_(True)
    loss = nn.MSELoss()(A, B)
    loss.backward(gloss.double()[0])
    p = name + "."
    out.update({p + "a": a, p + "b": b, p + "gloss": gloss, p + "loss": loss.detach().reshape(1),
                p + "ga": A.grad, p + "gb": B.grad})


def conv3(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding="same")


class Encoder(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.conv1 = conv3(num_channels, 16)
        self.conv2 = conv3(16, 16)
        self.conv3 = conv3(16, 1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x, probe=None):
        z1 = self.conv1(x)
        z2 = self.conv2(self.relu(z1))
        h = self.relu(z2)
        if probe is not None:
            probe.update({"encoder.conv1": z1, "encoder.conv2": z2, "pool": h})
        return self.conv3(self.pool(h))


class Decoder(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.conv1 = conv3(1, 16)
        self.conv2 = conv3(16, 16)
        self.conv3 = conv3(16, num_channels)
        self.relu = nn.ReLU()
        self.up = nn.Upsample(scale_factor=2)  # mode 'nearest'

    def forward(self, z, probe=None):
        z1 = self.conv1(z)
        z2 = self.conv2(self.relu(z1))
        if probe is not None:
            probe.update({"decoder.conv1": z1, "decoder.conv2": z2})
        return self.conv3(self.up(self.relu(z2)))


class AutoEncoder(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.encoder = Encoder(num_channels)
        self.decoder = Decoder(num_channels)

    def forward(self, x, probe=None):
        return self.decoder(self.encoder(x, probe), probe)


def seeded_state(model, g):
    """Every parameter drawn from g, uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)): the
    distribution of PyTorch's default conv init, as float32 values."""
    state = {}
    for key, t in model.state_dict().items():
        fan_in = model.get_submodule(key.rsplit(".", 1)[0]).weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        u = torch.rand(t.shape, generator=g, dtype=torch.float32)
        state[key] = (u * 2.0 - 1.0) * bound
    return state


def relu_margins(probe):
    """How close the float64 computation comes to the kinks that float32 could cross: the
    smallest |pre-activation| of each ReLU and the smallest gap between the two largest
    values of a max-pool window."""
    margins = {}
    for key, z in probe.items():
        if key == "pool":
            n, c, h, w = z.shape
            win = z.detach().reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5)
            top = win.reshape(n, c, h // 2, w // 2, 4).topk(2, dim=-1).values
            live = top[..., 0] > 0  # all-zero windows pass no gradient: their ties are moot
            margins["maxpool gap"] = float((top[..., 0] - top[..., 1])[live].min())
        else:
            margins[key + " |z|"] = float(z.detach().abs().min())
    return margins


def autoencoder_case(out, seed, name, c, n, h, w):
    g = torch.Generator().manual_seed(seed)
    model = AutoEncoder(c)
    state = seeded_state(model, g)
    x = torch.rand(n, c, h, w, generator=g, dtype=torch.float32)  # images in [0, 1)
    model.load_state_dict(state)
    model.double()
    params = dict(model.named_parameters())
    assert list(params) == list(state), "parameters and state_dict disagree"

    def loss_of(X, target):
        probe = {}
        y = model(X, probe)
        return y, nn.MSELoss()(y, target), probe

    # x both input and target: the whole gradient of the loss with respect to x
    X = x.double().requires_grad_(True)
    y, loss, probe = loss_of(X, X)
    loss.backward()
    p = name + "."
    out[p + "x"] = x
    out[p + "y"] = y.detach()
    out[p + "code"] = model.encoder(X).detach()
    out[p + "loss"] = loss.detach().reshape(1)
    out[p + "grad.x"] = X.grad
    for key, t in state.items():
        out[p + key] = t
        out[p + "grad." + key] = params[key].grad
    # the target held constant: the gradient through the network only
    model.zero_grad()
    X2 = x.double().requires_grad_(True)
    _, loss2, _ = loss_of(X2, x.double())
    loss2.backward()
    out[p + "grad.x_as_input"] = X2.grad
    return {"loss": float(loss), **relu_margins(probe)}


def main():
    args = script_args(__doc__)
    out = {}
    for i, (name, spec) in enumerate(UPSAMPLE_CASES.items()):
        upsample_case(out, 700 + i, name, *spec)
    for i, (name, shape) in enumerate(MSE_CASES.items()):
        mse_case(out, 720 + i, name, shape)
    summary = {}
    for i, (name, spec) in enumerate(AUTOENCODER_CASES.items()):
        summary[name] = autoencoder_case(out, 740 + i, name, *spec)
    meta = {"torch": torch.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0],
            "layout": "upsample maps [C,N,H,W]; autoencoder x, y, code, grad.x* [N,C,H,W], "
                      "parameters as the state_dict",
            "upsample_cases": json.dumps(UPSAMPLE_CASES), "mse_cases": json.dumps(MSE_CASES),
            "autoencoder_cases": json.dumps(AUTOENCODER_CASES)}
    path = write_reference(args, "autoencoder.safetensors", out, meta)
    for name, s in summary.items():
        print(name + ": " + ", ".join(f"{k} {v:.3g}" for k, v in s.items()))
    print(f"wrote {path}: {len(out)} tensors")


if __name__ == "__main__":
    main()
