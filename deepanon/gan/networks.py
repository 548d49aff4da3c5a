"""Generator (conditional U-Net with style modulation) and discriminator of the face GAN.

Inputs of both networks, all (B, C, R, R) float tensors:
  image     RGB in [-1, 1]
  mask      run-time blend weight in [0, 1] (1 = repainted, soft rim = blended)
  landmarks 5 Gaussian heat maps (align.landmark_maps)
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepanon.gan.config import NetConfig

LRELU_GAIN = math.sqrt(2.0)


def channels(res: int, cbase: int, cmax: int) -> int:
    return max(min(cbase // res, cmax), 8)


def hidden_mask(mask: torch.Tensor) -> torch.Tensor:
    """1 wherever the output may differ from the input: the generator must not see the original there."""
    return (mask > 0).to(mask.dtype)


def composite(image: torch.Tensor, painted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The run-time blend: input outside the mask, generated inside, mixed on the feathered rim."""
    return image * (1.0 - mask) + painted * mask


class EqLinear(nn.Module):
    """Linear layer with equalized learning rate (weights scaled at run time, StyleGAN)."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(cin)
        self.lr_mul = lr_mul
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.act else x


class EqConv2d(nn.Module):
    """Conv with equalized learning rate; optional stride-2 downsampling and leaky ReLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, down: bool = False, act: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.stride = 2 if down else 1
        self.pad = k // 2
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the activation's gain is folded into the conv (leaky_relu(g x) = g leaky_relu(x) for g > 0): one pass less
        g = LRELU_GAIN if self.act else 1.0
        x = F.conv2d(x, self.weight * (self.scale * g), self.bias * g, stride=self.stride, padding=self.pad)
        return F.leaky_relu(x, 0.2) if self.act else x


class ModConv2d(nn.Module):
    """StyleGAN2 modulated conv (non-fused form: scale inputs, plain conv, demodulate outputs).

    The per-sample style comes from w, so different z give different faces for one and the same context.
    """

    def __init__(self, cin: int, cout: int, w_dim: int, k: int = 3, act: bool = True) -> None:
        super().__init__()
        self.affine = EqLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.pad = k // 2
        self.act = act

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # (B, cin)
        weight = self.weight * self.scale
        # Demodulation coefficient per sample and output channel keeps activations at unit scale.
        # sum_{i,k} (w_oik s_i)^2 = sum_i s_i^2 sum_k w_oik^2: a matmul instead of a (B, cout, cin, k, k) tensor.
        dcoef = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        x = x * styles[:, :, None, None].to(x.dtype)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.pad)
        # demodulate, add the bias and the activation's gain in one pass (as EqConv2d folds it)
        g = LRELU_GAIN if self.act else 1.0
        x = torch.addcmul(
            (self.bias * g)[None, :, None, None].to(x.dtype), x, (dcoef * g)[:, :, None, None].to(x.dtype)
        )
        return F.leaky_relu(x, 0.2) if self.act else x


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, layers: int) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        pairs = zip(dims[:-1], dims[1:], strict=True)
        self.layers = nn.Sequential(*[EqLinear(a, b, lr_mul=0.01, act=True) for a, b in pairs])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # normalize z (StyleGAN)
        return self.layers(z)


class Generator(nn.Module):
    """G(image, mask, landmarks, z) -> composited image: input outside the mask, a new face inside."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        R = cfg.resolution
        self.resolutions = [2**i for i in range(int(np.log2(R)), 1, -1)]  # R, R/2, ..., 4
        ch = {r: channels(r, cfg.g_cbase, cfg.g_cmax) for r in self.resolutions}
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.map_layers)
        self.from_input = EqConv2d(3 + 1 + cfg.landmarks, ch[R], k=1)
        self.enc = nn.ModuleDict()
        for r in self.resolutions[:-1]:  # conv at r (kept as skip), then strided conv down to r/2
            self.enc[str(r)] = nn.ModuleList([EqConv2d(ch[r], ch[r]), EqConv2d(ch[r], ch[r // 2], down=True)])
        c4 = ch[4]
        # Bottleneck: the encoded context plus a z-dependent 4x4 map (where the identity is decided).
        self.z_map = EqLinear(cfg.w_dim, c4 * 16)
        self.mid = nn.ModuleList([ModConv2d(2 * c4, c4, cfg.w_dim), ModConv2d(c4, c4, cfg.w_dim)])
        self.dec = nn.ModuleDict()
        for r in self.resolutions[-2::-1]:  # 8 ... R: upsample, concat skip, two modulated convs
            self.dec[str(r)] = nn.ModuleList(
                [ModConv2d(ch[r // 2] + ch[r], ch[r], cfg.w_dim), ModConv2d(ch[r], ch[r], cfg.w_dim)]
            )
        self.to_rgb = EqConv2d(ch[R], 3, k=1, act=False)

    def forward(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        landmarks: torch.Tensor,
        z: torch.Tensor,
        raw: bool = False,
        w_avg: torch.Tensor | None = None,
        psi: float = 1.0,
        w_offset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """raw=False: composited output (what D and the user see); raw=True: the generator's whole crop.
        psi < 1 with w_avg (mean_w()): the truncation trick, w pulled towards the average (cleaner, less varied).
        w_offset (B, w_dim): added to w after truncation (a move along an attribute's direction in w)."""
        w = self.w(z, w_avg, psi)
        if w_offset is not None:
            w = w + w_offset.to(w.dtype)
        x_in = torch.cat([image * (1.0 - hidden_mask(mask)), mask, landmarks], dim=1)
        x = self.from_input(x_in)
        skips: dict[int, torch.Tensor] = {}
        for r in self.resolutions[:-1]:
            conv, down = cast(nn.ModuleList, self.enc[str(r)])  # ModuleDict's values are typed as plain Module
            x = conv(x)
            skips[r] = x
            x = down(x)
        zmap = self.z_map(w).view(x.shape[0], -1, 4, 4).to(x.dtype)
        x = self.mid[0](torch.cat([x, zmap], dim=1), w)
        x = self.mid[1](x, w)
        for r in self.resolutions[-2::-1]:
            c0, c1 = cast(nn.ModuleList, self.dec[str(r)])
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = c1(c0(torch.cat([x, skips[r]], dim=1), w), w)
        painted = self.to_rgb(x)
        return painted if raw else composite(image, painted.to(image.dtype), mask)

    def w(self, z: torch.Tensor, w_avg: torch.Tensor | None = None, psi: float = 1.0) -> torch.Tensor:
        """The style vector of latent z (B, z_dim), truncated towards w_avg by psi."""
        w = self.mapping(z)
        return w_avg.to(w.dtype).lerp(w, psi) if w_avg is not None and psi != 1.0 else w

    @torch.no_grad()
    def mean_w(self, n: int = 4096) -> torch.Tensor:
        """The average w over n fixed latents: where the truncation trick pulls to. Deterministic for given weights."""
        p = next(self.parameters())
        z = torch.randn(n, self.cfg.z_dim, generator=torch.Generator().manual_seed(0))
        return self.mapping(z.to(p.device, p.dtype)).mean(0)


class MinibatchStd(nn.Module):
    """Appends the std over groups of samples: lets D see a lack of variety (mode collapse)."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.group, b)
        while b % g:
            g -= 1
        y = x.float().reshape(g, -1, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=[1, 2, 3])  # (b/g,)
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """D(image, mask, landmarks) -> realness logit (B,)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        R = cfg.resolution
        res = [2**i for i in range(int(np.log2(R)), 1, -1)]
        ch = {r: channels(r, cfg.d_cbase, cfg.d_cmax) for r in res}
        self.from_input = EqConv2d(3 + 1 + cfg.landmarks, ch[R], k=1)
        self.blocks = nn.Sequential(
            *[nn.Sequential(EqConv2d(ch[r], ch[r]), EqConv2d(ch[r], ch[r // 2], down=True)) for r in res[:-1]]
        )
        c4 = ch[4]
        self.mbstd = MinibatchStd(cfg.mbstd_group)
        self.conv4 = EqConv2d(c4 + 1, c4)
        self.fc = EqLinear(c4 * 16, c4, act=True)
        self.out = EqLinear(c4, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        x = self.from_input(torch.cat([image, mask, landmarks], dim=1))
        x = self.blocks(x)
        x = self.conv4(self.mbstd(x))
        return self.out(self.fc(x.flatten(1))).squeeze(1)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
