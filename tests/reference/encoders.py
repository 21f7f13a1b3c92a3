"""The reference encoders of Memory Wrap as PyTorch modules. MobileNetV2, ResNet18 and
EfficientNet-B0 are written from /work/shared/reference-spec.md section 5 (CIFAR variants of
kuangliu/pytorch-cifar as used by KRLGroup/memory-wrap paper/architectures/{mobilenet,resnet,
efficientnet}.py); GoogLeNet, DenseNet-cifar, ShuffleNetV2 (net_size 0.5) and WRN-28-10 are
written from KRLGroup/memory-wrap paper/architectures/{googlenet,densenet,shufflenet,
wide_resnet}.py (our own code; state_dict keys, shapes, order and parameter counts equal the
reference modules', and eval outputs agree to rounding on the same weights).

Every model takes `variant`:
  * "std"            : encoder + `self.linear` (Linear(d, classes)); forward(x)
                       (WRN-28-10: the head is `classifier.5`, reachable as `self.linear`)
  * "memory"         : encoder + `self.mw = memorywrap.BaselineMemory(d, classes)`
                       ("Only Memory"); forward(x, ss, return_weights=False)
  * "encoder_memory" : encoder + `self.mw = memorywrap.MemoryWrapLayer(d, classes)`
                       ("Memory Wrap"); forward(x, ss, return_weights=False)
The memory variants call `forward_encoder` twice, once on the inputs and once on the memory
set (separate BatchNorm batch statistics, two running-stat updates per train step, no detach).

Submodules are created in the same order as in the reference code, so that state_dict keys,
their order and (under the same torch seed) PyTorch's default initialisation match.
`in_channels` (3 for CIFAR/SVHN, 1 for Fashion-MNIST) only changes the first conv. The input
size is not a constructor argument: the layers do not depend on it. MobileNetV2, ResNet18
and ShuffleNetV2 end with `avg_pool2d(4)`, which yields 1x1 (and the documented feature
width d) only when the final map is 4x4 -- true for 32x32 and 28x28 inputs (28 -> 14 -> 7
-> 4); see `final_map_size`. EfficientNet-B0 ends with adaptive average pooling, so any size
works.

Final pooling of GoogLeNet (AvgPool2d(8, stride=1)), DenseNet-cifar (avg_pool2d(4)) and
WRN-28-10 (AvgPool2d(8)), see `_final_pool`: when the final map is exactly the reference's
window (32x32 inputs: 8x8, 4x4, 8x8) the reference's op is used; otherwise (e.g. 1x28x28:
7x7, 3x3, 7x7, where the reference cannot run) the map is averaged globally
(adaptive_avg_pool2d(x, 1)), which gives the same d. memwrap does the same. Intermediate
pooling (GoogLeNet's max pools, DenseNet's avg_pool2d(2) transitions, which floor odd sizes:
7 -> 3) is the reference's at every size.
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
# Final pooling of GoogLeNet, DenseNet-cifar and WRN-28-10 (see the module docstring)

def _final_pool(h, window, pool=None):
    """The reference's average pooling (`pool`, or avg_pool2d(window)) when the map is exactly
    window x window (32x32 inputs); otherwise global average pooling (the reference's fixed
    window does not fit, e.g. 7x7 or 3x3 maps of 28x28 inputs), which yields the same d."""
    if tuple(h.shape[2:]) == (window, window):
        return pool(h) if pool is not None else F.avg_pool2d(h, window)
    return F.adaptive_avg_pool2d(h, 1)


def _check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


# ---------------------------------------------------------------------------------------
# GoogLeNet (paper/architectures/googlenet.py), d = 1024

def _conv_bn_relu(cin, cout, k):
    """Conv2d (with bias, 'same' padding), BatchNorm2d, ReLU: the unit of every branch."""
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=True), nn.BatchNorm2d(cout), nn.ReLU()]


class Inception(nn.Module):
    """Four branches concatenated in order b1, b2, b3, b4: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3
    (the "5x5" branch); 3x3 max pool (stride 1, padding 1) -> 1x1."""

    def __init__(self, in_planes, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_planes):
        super().__init__()
        self.b1 = nn.Sequential(*_conv_bn_relu(in_planes, n1x1, 1))
        self.b2 = nn.Sequential(*_conv_bn_relu(in_planes, n3x3red, 1),
                                *_conv_bn_relu(n3x3red, n3x3, 3))
        self.b3 = nn.Sequential(*_conv_bn_relu(in_planes, n5x5red, 1),
                                *_conv_bn_relu(n5x5red, n5x5, 3),
                                *_conv_bn_relu(n5x5, n5x5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                *_conv_bn_relu(in_planes, pool_planes, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class GoogLeNet(_Wrapped):
    # (name, in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj); "maxpool" = the
    # shared MaxPool2d(3, stride 2, padding 1) between stages
    cfg = [("a3", 192, 64, 96, 128, 16, 32, 32), ("b3", 256, 128, 128, 192, 32, 96, 64),
           "maxpool",
           ("a4", 480, 192, 96, 208, 16, 48, 64), ("b4", 512, 160, 112, 224, 24, 64, 64),
           ("c4", 512, 128, 128, 256, 24, 64, 64), ("d4", 512, 112, 144, 288, 32, 64, 64),
           ("e4", 528, 256, 160, 320, 32, 128, 128),
           "maxpool",
           ("a5", 832, 256, 160, 320, 32, 128, 128), ("b5", 832, 384, 192, 384, 48, 128, 128)]
    feature_dim = 1024

    def __init__(self, num_classes=10, variant="std", in_channels=3):
        super().__init__()
        self.variant = variant
        self.pre_layers = nn.Sequential(*_conv_bn_relu(in_channels, 192, 3))
        self.stages = []  # forward order, names of submodules
        for c in self.cfg:
            if c == "maxpool":
                if not hasattr(self, "maxpool"):
                    self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
                self.stages.append("maxpool")
            else:
                setattr(self, c[0], Inception(*c[1:]))
                self.stages.append(c[0])
        self.avgpool = nn.AvgPool2d(8, stride=1)
        name, head = _head(variant, self.feature_dim, num_classes)
        setattr(self, name, head)

    def feature_map(self, x):
        h = self.pre_layers(x)
        for name in self.stages:
            h = getattr(self, name)(h)
        return h

    def forward_encoder(self, x):
        h = _final_pool(self.feature_map(x), 8, self.avgpool)
        return h.view(h.size(0), -1)


# ---------------------------------------------------------------------------------------
# DenseNet-cifar (paper/architectures/densenet.py, densenet_cifar()), d = 384

class DenseBottleneck(nn.Module):
    """Pre-activation BN-ReLU-conv1x1 (4g) -> BN-ReLU-conv3x3 (g); output cat([new, x])."""

    def __init__(self, in_planes, growth_rate):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        h = self.conv1(F.relu(self.bn1(x)))
        h = self.conv2(F.relu(self.bn2(h)))
        return torch.cat([h, x], 1)  # new features first


class DenseTransition(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)  # floors odd sizes (7 -> 3)


class DenseNetCifar(_Wrapped):
    feature_dim = 384

    def __init__(self, num_classes=10, variant="std", in_channels=3, nblocks=(6, 12, 24, 16),
                 growth_rate=12, reduction=0.5):
        super().__init__()
        self.variant = variant
        self.growth_rate = growth_rate
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        for i, n in enumerate(nblocks):
            setattr(self, f"dense{i + 1}", nn.Sequential(
                *[DenseBottleneck(planes + j * growth_rate, growth_rate) for j in range(n)]))
            planes += n * growth_rate
            if i + 1 < len(nblocks):
                out_planes = int(math.floor(planes * reduction))
                setattr(self, f"trans{i + 1}", DenseTransition(planes, out_planes))
                planes = out_planes
        assert planes == self.feature_dim, planes
        self.bn = nn.BatchNorm2d(planes)
        name, head = _head(variant, self.feature_dim, num_classes)
        setattr(self, name, head)

    def feature_map(self, x):
        h = self.conv1(x)
        h = self.trans1(self.dense1(h))
        h = self.trans2(self.dense2(h))
        h = self.trans3(self.dense3(h))
        return F.relu(self.bn(self.dense4(h)))

    def forward_encoder(self, x):
        h = _final_pool(self.feature_map(x), 4)
        return h.view(h.size(0), -1)


# ---------------------------------------------------------------------------------------
# ShuffleNetV2, net_size 0.5 (paper/architectures/shufflenet.py), d = 1024

class ChannelShuffle(nn.Module):
    """[N, C, H, W] -> [N, g, C/g, H, W] -> transpose g and C/g -> [N, C, H, W]."""

    def __init__(self, groups=2):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, hh, ww = x.size()
        g = self.groups
        return x.view(n, g, c // g, hh, ww).permute(0, 2, 1, 3, 4).reshape(n, c, hh, ww)


class ChannelSplit(nn.Module):
    """First int(C * ratio) channels, then the rest."""

    def __init__(self, ratio):
        super().__init__()
        self.ratio = ratio

    def forward(self, x):
        c = int(x.size(1) * self.ratio)
        return x[:, :c, :, :], x[:, c:, :, :]


class ShuffleUnit(nn.Module):
    """Stride-1 unit: split; the second half goes 1x1-BN-ReLU, depthwise 3x3-BN,
    1x1-BN-ReLU; cat([first half, that]); shuffle."""

    def __init__(self, channels, split_ratio=0.5):
        super().__init__()
        self.split = ChannelSplit(split_ratio)
        c = int(channels * split_ratio)
        self.conv1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride=1, padding=1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)
        self.shuffle = ChannelShuffle()

    def forward(self, x):
        x1, x2 = self.split(x)
        h = F.relu(self.bn1(self.conv1(x2)))
        h = self.bn2(self.conv2(h))
        h = F.relu(self.bn3(self.conv3(h)))
        return self.shuffle(torch.cat([x1, h], 1))


class ShuffleDownUnit(nn.Module):
    """Stride-2 unit: left = depthwise 3x3 s2-BN, 1x1-BN-ReLU; right = 1x1-BN-ReLU,
    depthwise 3x3 s2-BN, 1x1-BN-ReLU; cat([left, right]); shuffle."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, stride=2, padding=1,
                               groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, stride=2, padding=1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)
        self.shuffle = ChannelShuffle()

    def forward(self, x):
        left = self.bn1(self.conv1(x))
        left = F.relu(self.bn2(self.conv2(left)))
        right = F.relu(self.bn3(self.conv3(x)))
        right = self.bn4(self.conv4(right))
        right = F.relu(self.bn5(self.conv5(right)))
        return self.shuffle(torch.cat([left, right], 1))


class ShuffleNetV2(_Wrapped):
    out_channels = (48, 96, 192, 1024)  # net_size 0.5
    num_blocks = (3, 7, 3)
    feature_dim = 1024

    def __init__(self, num_classes=10, variant="std", in_channels=3):
        super().__init__()
        self.variant = variant
        self.conv1 = nn.Conv2d(in_channels, 24, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        cin = 24
        for i, (cout, n) in enumerate(zip(self.out_channels, self.num_blocks)):
            setattr(self, f"layer{i + 1}", nn.Sequential(
                ShuffleDownUnit(cin, cout), *[ShuffleUnit(cout) for _ in range(n)]))
            cin = cout
        self.conv2 = nn.Conv2d(cin, self.out_channels[3], 1, stride=1, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(self.out_channels[3])
        name, head = _head(variant, self.feature_dim, num_classes)
        setattr(self, name, head)

    def feature_map(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return F.relu(self.bn2(self.conv2(h)))

    def forward_encoder(self, x):
        h = F.avg_pool2d(self.feature_map(x), 4)  # 4x4 at 32x32 and at 28x28
        return h.view(h.size(0), -1)


# ---------------------------------------------------------------------------------------
# WRN-28-10 (paper/architectures/wide_resnet.py, wrn28_10 / memory_ / encoder_), d = 640

class WideBasic(nn.Module):
    """Pre-activation block: residual = BN, ReLU, conv3x3, Dropout(p), BN, ReLU, conv3x3 with
    the stride (on the SECOND conv); shortcut = bare conv1x1 with the stride when the stride
    or the width changes, else identity."""

    def __init__(self, in_planes, planes, stride, dropout):
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(in_planes), nn.ReLU(),
            nn.Conv2d(in_planes, planes, 3, padding=1, bias=False),
            nn.Dropout(dropout),
            nn.BatchNorm2d(planes), nn.ReLU(),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False))
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class WideResNet28x10(_Wrapped):
    """`classifier` = Sequential(BatchNorm2d(640, momentum=0.9), ReLU, AvgPool2d(8), Flatten,
    then std: Dropout(p), Linear(640, classes) (the head: `classifier.5`); memory:
    Dropout(p) (applied to input and memory encodings); encoder_memory: nothing). In the
    memory variants `mw` is created before `classifier` (state_dict order). `dropout_rate`
    sets p of every Dropout (the train-step reference sets it to 0)."""
    feature_dim = 640

    def __init__(self, num_classes=10, variant="std", in_channels=3, dropout=0.3, depth=28,
                 widen_factor=10, initialize=True):
        super().__init__()
        _check_variant(variant)
        assert (depth - 4) % 6 == 0, "Wide-ResNet depth must be 6n+4"
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        assert widths[3] == self.feature_dim or (depth, widen_factor) != (28, 10)
        self.variant = variant
        self._dropout = dropout
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        cin = widths[0]
        for i, (planes, stride) in enumerate(zip(widths[1:], (1, 2, 2))):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(WideBasic(cin, planes, s, dropout))
                cin = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        if variant != "std":  # before the classifier, as in the reference
            name, head = _head(variant, cin, num_classes)
            setattr(self, name, head)
        tail = [nn.BatchNorm2d(cin, momentum=0.9), nn.ReLU(), nn.AvgPool2d(8), nn.Flatten()]
        if variant != "encoder_memory":
            tail.append(nn.Dropout(dropout))
        if variant == "std":
            tail.append(nn.Linear(cin, num_classes))
        self.classifier = nn.Sequential(*tail)
        if initialize:  # the reference's loop, after every module exists (mw included)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, val=1)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

    @property
    def linear(self):
        """The std head (classifier.5), for _Wrapped.forward and the generators."""
        if self.variant != "std":
            raise AttributeError("only the std variant has a linear head")
        return self.classifier[5]

    @property
    def dropout_rate(self):
        return self._dropout

    @dropout_rate.setter
    def dropout_rate(self, p):
        self._dropout = p
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.p = p

    def feature_map(self, x):
        h = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.classifier[1](self.classifier[0](h))

    def forward_encoder(self, x):
        h = _final_pool(self.feature_map(x), 8, self.classifier[2])
        h = self.classifier[3](h)
        if self.variant != "encoder_memory":
            h = self.classifier[4](h)  # Dropout(p): train mode only
        return h


# ---------------------------------------------------------------------------------------

ENCODERS = {"mobilenetv2": MobileNetV2, "resnet18": ResNet18, "efficientnet_b0": EfficientNetB0,
            "googlenet": GoogLeNet, "densenet_cifar": DenseNetCifar, "shufflenetv2": ShuffleNetV2,
            "wrn28_10": WideResNet28x10}

# Spec section 5 (3 input channels, 10 classes); the last four counted on the reference's own
# modules (paper/architectures/*.py, 3 input channels, 10 classes).
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
    ("googlenet", "std"): 6_166_250,
    ("googlenet", "encoder_memory"): 14_589_674,
    ("googlenet", "memory"): 8_275_690,
    ("densenet_cifar", "std"): 1_000_618,
    ("densenet_cifar", "encoder_memory"): 2_193_322,
    ("densenet_cifar", "memory"): 1_300_138,
    ("shufflenetv2", "std"): 352_042,
    ("shufflenetv2", "encoder_memory"): 8_775_466,
    ("shufflenetv2", "memory"): 2_461_482,
    ("wrn28_10", "std"): 36_479_194,
    ("wrn28_10", "encoder_memory"): 39_777_754,
    ("wrn28_10", "memory"): 37_306_074,
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
