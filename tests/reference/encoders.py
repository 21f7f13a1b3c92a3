"""The three reference encoders of Memory Wrap as PyTorch modules, written from
/work/shared/reference-spec.md section 5 (CIFAR variants of kuangliu/pytorch-cifar as used by
KRLGroup/memory-wrap paper/architectures/{mobilenet,resnet,efficientnet}.py).

Every model takes `variant`:
  * "std"            : encoder + `self.linear` (Linear(d, classes)); forward(x)
  * "memory"         : encoder + `self.mw = memorywrap.BaselineMemory(d, classes)`
                       ("Only Memory"); forward(x, ss, return_weights=False)
  * "encoder_memory" : encoder + `self.mw = memorywrap.MemoryWrapLayer(d, classes)`
                       ("Memory Wrap"); forward(x, ss, return_weights=False)
The memory variants call `forward_encoder` twice, once on the inputs and once on the memory
set (separate BatchNorm batch statistics, two running-stat updates per train step, no detach).

Submodules are created in the same order as in the reference code, so that state_dict keys,
their order and (under the same torch seed) PyTorch's default initialisation match.
`in_channels` (3 for CIFAR/SVHN, 1 for Fashion-MNIST) only changes conv1. The input size is
not a constructor argument: the layers do not depend on it. MobileNetV2 and ResNet18 end with
`avg_pool2d(4)`, which yields 1x1 (and the documented feature width d) only when the final
map is 4x4 -- true for 32x32 and 28x28 inputs (28 -> 14 -> 7 -> 4); see `final_map_size`.
EfficientNet-B0 ends with adaptive average pooling, so any size works.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import memorywrap

VARIANTS = ("std", "memory", "encoder_memory")


def _head(variant, d, classes):
    """The classifier that follows the encoder: returns (attribute name, module)."""
    if variant == "std":
        return "linear", nn.Linear(d, classes)
    if variant == "memory":
        return "mw", memorywrap.BaselineMemory(d, classes)
    if variant == "encoder_memory":
        return "mw", memorywrap.MemoryWrapLayer(d, classes)
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


class _Wrapped(nn.Module):
    """Common forward for the three variants; subclasses define forward_encoder."""

    def forward(self, x, ss=None, return_weights=False):
        if self.variant == "std":
            if ss is not None:
                raise ValueError("the std variant takes no memory set")
            return self.linear(self.forward_encoder(x))
        if ss is None:
            raise ValueError(f"the {self.variant} variant needs a memory set")
        out = self.forward_encoder(x)
        out_ss = self.forward_encoder(ss)
        return self.mw(out, out_ss, return_weights)


# ---------------------------------------------------------------------------------------
# MobileNetV2 (spec 5.1), d = 1280

class MobileNetV2Block(nn.Module):
    """1x1 expansion (always present, even for t = 1), 3x3 depthwise with the stride, 1x1
    linear projection; residual only when stride is 1 (identity, or 1x1 conv + BN when the
    channel count changes)."""

    def __init__(self, in_planes, out_planes, expansion, stride):
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, stride=1, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, groups=planes,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, stride=1, padding=0, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=1, padding=0, bias=False),
                nn.BatchNorm2d(out_planes))
        else:
            self.shortcut = nn.Sequential()  # identity (unused when stride is 2)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        if self.stride == 1:
            h = h + self.shortcut(x)
        return h


class MobileNetV2(_Wrapped):
    # (expansion t, out_planes, blocks n, stride of the first block s)
    cfg = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]
    feature_dim = 1280

    def __init__(self, num_classes=10, variant="std", in_channels=3):
        super().__init__()
        self.variant = variant
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        blocks, in_planes = [], 32
        for t, out_planes, n, s in self.cfg:
            for stride in [s] + [1] * (n - 1):
                blocks.append(MobileNetV2Block(in_planes, out_planes, t, stride))
                in_planes = out_planes
        self.layers = nn.Sequential(*blocks)
        self.conv2 = nn.Conv2d(320, 1280, 1, stride=1, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        name, head = _head(variant, self.feature_dim, num_classes)
        setattr(self, name, head)

    def feature_map(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layers(h)
        return F.relu(self.bn2(self.conv2(h)))  # ReLU, not ReLU6

    def forward_encoder(self, x):
        h = F.avg_pool2d(self.feature_map(x), 4)
        return h.view(h.size(0), -1)


# ---------------------------------------------------------------------------------------
# ResNet18 (spec 5.2), d = 512

class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class ResNet18(_Wrapped):
    feature_dim = 512

    def __init__(self, num_classes=10, variant="std", in_channels=3, initialize=True):
        super().__init__()
        self.variant = variant
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for i, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2))):
            layer = nn.Sequential(BasicBlock(in_planes, planes, stride),
                                  BasicBlock(planes, planes, 1))
            setattr(self, f"layer{i + 1}", layer)
            in_planes = planes
        name, head = _head(variant, self.feature_dim, num_classes)
        setattr(self, name, head)
        if initialize:  # after the head exists, in module order (as the reference does)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                    m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.data.fill_(1)
                    m.bias.data.zero_()

    def feature_map(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(h))))

    def forward_encoder(self, x):
        h = F.avg_pool2d(self.feature_map(x), 4)
        return h.view(h.size(0), -1)


# ---------------------------------------------------------------------------------------
# EfficientNet-B0 (spec 5.3), d = 320

def swish(x):
    return x * x.sigmoid()


class SqueezeExcite(nn.Module):
    def __init__(self, channels, se_channels):
        super().__init__()
        self.se1 = nn.Conv2d(channels, se_channels, 1, bias=True)
        self.se2 = nn.Conv2d(se_channels, channels, 1, bias=True)

    def forward(self, x):
        a = F.adaptive_avg_pool2d(x, (1, 1))
        a = swish(self.se1(a))
        return x * self.se2(a).sigmoid()


class EfficientNetBlock(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, expand_ratio,
                 se_ratio=0.25, drop_rate=0.0):
        super().__init__()
        self.stride = stride
        self.expand_ratio = expand_ratio
        self.drop_rate = drop_rate  # always 0 in B0 as built by the reference (spec 8.10)
        channels = expand_ratio * in_channels
        # Built even when expand_ratio == 1 (then unused: no gradient, skipped by SGD).
        self.conv1 = nn.Conv2d(in_channels, channels, 1, stride=1, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, stride=stride,
                               padding=1 if kernel_size == 3 else 2, groups=channels,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.se = SqueezeExcite(channels, int(in_channels * se_ratio))  # from BLOCK INPUT
        self.conv3 = nn.Conv2d(channels, out_channels, 1, stride=1, padding=0, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, x):
        h = x if self.expand_ratio == 1 else swish(self.bn1(self.conv1(x)))
        h = swish(self.bn2(self.conv2(h)))
        h = self.se(h)
        h = self.bn3(self.conv3(h))
        if self.has_skip:
            if self.training and self.drop_rate > 0:  # never true, kept for fidelity
                keep = 1.0 - self.drop_rate
                mask = torch.empty([h.shape[0], 1, 1, 1], dtype=h.dtype, device=h.device)
                mask.bernoulli_(keep)
                h = h / keep * mask
            h = h + x
        return h


class EfficientNetB0(_Wrapped):
    # (blocks n, expansion t, out channels, kernel k, stride of the first block s)
    cfg = [(1, 1, 16, 3, 1), (2, 6, 24, 3, 2), (2, 6, 40, 5, 2), (3, 6, 80, 3, 2),
           (3, 6, 112, 5, 1), (4, 6, 192, 5, 2), (1, 6, 320, 3, 1)]
    feature_dim = 320

    def __init__(self, num_classes=10, variant="std", in_channels=3, dropout_rate=0.2,
                 drop_connect_rate=0.2):
        super().__init__()
        self.variant = variant
        self.dropout_rate = dropout_rate
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        total = sum(c[0] for c in self.cfg)
        b = 0  # the reference never increments its block counter: every drop rate is 0
        blocks, cin = [], 32
        for n, t, cout, k, s in self.cfg:
            for stride in [s] + [1] * (n - 1):
                blocks.append(EfficientNetBlock(cin, cout, k, stride, t, 0.25,
                                                drop_connect_rate * b / total))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        name, head = _head(variant, self.feature_dim, num_classes)
        setattr(self, name, head)

    def feature_map(self, x):
        return self.layers(swish(self.bn1(self.conv1(x))))

    def forward_encoder(self, x):
        h = F.adaptive_avg_pool2d(self.feature_map(x), 1)
        h = h.view(h.size(0), -1)
        if self.training and self.dropout_rate > 0:  # inverted dropout, train mode only
            h = F.dropout(h, p=self.dropout_rate)
        return h


# ---------------------------------------------------------------------------------------

ENCODERS = {"mobilenetv2": MobileNetV2, "resnet18": ResNet18, "efficientnet_b0": EfficientNetB0}

# Spec section 5 (3 input channels, 10 classes).
SPEC_PARAMS = {
    ("mobilenetv2", "std"): 2_296_922,
    ("mobilenetv2", "encoder_memory"): 15_447_642,
    ("mobilenetv2", "memory"): 5_589_082,
    ("resnet18", "std"): 11_173_962,
    ("resnet18", "encoder_memory"): 13_288_522,
    ("resnet18", "memory"): 11_704_394,
    ("efficientnet_b0", "std"): 3_599_686,
    ("efficientnet_b0", "encoder_memory"): 4_429_766,
    ("efficientnet_b0", "memory"): 3_808_326,
}


def build(encoder, variant="std", num_classes=10, in_channels=3):
    return ENCODERS[encoder](num_classes=num_classes, variant=variant, in_channels=in_channels)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def final_map_size(model, size, in_channels=3):
    """Spatial size (h, w) of the map that the final pooling sees, for square inputs."""
    was = model.training
    model.eval()
    with torch.no_grad():
        x = torch.zeros(1, in_channels, size, size, dtype=next(model.parameters()).dtype)
        shape = tuple(model.feature_map(x).shape[2:])
    model.train(was)
    return shape


if __name__ == "__main__":
    for enc in ENCODERS:
        for var in VARIANTS:
            m = build(enc, var)
            n = count_params(m)
            want = SPEC_PARAMS[(enc, var)]
            print(f"{enc:16s} {var:15s} {n:>11,d} params (spec {want:>11,d}) "
                  f"{'OK' if n == want else 'MISMATCH'}; final map at 32: "
                  f"{final_map_size(m, 32)}, at 28: {final_map_size(m, 28)}")
