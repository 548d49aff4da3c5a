"""Adaptive discriminator augmentation (StyleGAN2-ADA, Karras et al. 2020) for our conditional D.

D sees every image, real or generated, through the same random transforms, each applied with probability p, so it
cannot memorise the ~20 k training faces (it did: its margin grew for the whole 22-minute GPU run). Because every
transform is applied with p < 1, D still sees the plain distribution often enough that G cannot learn the
augmentations ("non-leaking"). p adapts: it rises while E[sign(D(real))] is above a target (D too sure of the reals).

Geometric transforms move image, mask and landmark maps together (D judges a face against its pose and its region);
colour transforms touch the image only. All of it is differentiable: G's gradient and R1 pass through.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Strengths from StyleGAN2-ADA's 'bgc' pipeline (augment.py there), in [-1, 1] image units.
INT_TRANSLATE = 0.125  # whole-pixel shift, up to this fraction of the size
SCALE_STD = 0.2  # log2 of isotropic and anisotropic scale
FRAC_TRANSLATE_STD = 0.125  # sub-pixel shift, fraction of the size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2
SATURATION_STD = 1.0  # log2


def augment(
    img: torch.Tensor,
    mask: torch.Tensor,
    lms: torch.Tensor,
    p: float,
    geometric: bool = True,
    colour: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(img, mask, lms) with each transform applied per sample with probability p; p = 0 returns the inputs."""
    if p <= 0:
        return img, mask, lms
    dtype = img.dtype
    x, m, lm = img.float(), mask.float(), lms.float()
    if geometric:
        n, _, h, w = x.shape
        theta = _geometric(n, p, w, x.device)
        stacked = torch.cat([x, m, lm], dim=1)
        grid = F.affine_grid(theta, list(stacked.shape), align_corners=False)
        warped = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        x, m, lm = warped.split([x.shape[1], m.shape[1], lm.shape[1]], dim=1)
    if colour:
        x = _colour(x, p)
    return x.to(dtype), m.to(mask.dtype), lm.to(lms.dtype)


def _on(n: int, p: float, device: torch.device) -> torch.Tensor:
    """1.0 where a sample gets the transform, else 0.0 (each sample independently with probability p)."""
    return (torch.rand(n, device=device) < p).float()


def _affine(
    a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor
) -> torch.Tensor:
    """Batch of 3x3 matrices [[a, b, tx], [c, d, ty], [0, 0, 1]]."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([a, b, tx, c, d, ty, zero, zero, one], dim=1).view(-1, 3, 3)


def _geometric(n: int, p: float, size: int, device: torch.device) -> torch.Tensor:
    """(n, 2, 3) output -> input sampling matrices in affine_grid's [-1, 1] coordinates.

    Each factor's distribution is symmetric (shifts +-, log-scales, angles), so drawing the inverse directly draws
    the same transforms as ADA's forward ones.
    """
    one = torch.ones(n, device=device)
    zero = torch.zeros(n, device=device)
    mat = torch.eye(3, device=device).repeat(n, 1, 1)
    # Whole-pixel translation: a pixel is 2 / size in these coordinates.
    t = (torch.rand(n, 2, device=device) * 2 - 1) * INT_TRANSLATE * size
    t = torch.round(t) * (2.0 / size) * _on(n, p, device)[:, None]
    mat = mat @ _affine(one, zero, zero, one, t[:, 0], t[:, 1])
    s = torch.exp2(torch.randn(n, device=device) * SCALE_STD * _on(n, p, device))
    mat = mat @ _affine(s, zero, zero, s, zero, zero)
    # ADA rotates twice with p_rot = 1 - sqrt(1 - p), around the anisotropic scaling; the overall chance is p.
    p_rot = 1 - math.sqrt(max(1 - p, 0.0))
    for k in range(2):
        r = (torch.rand(n, device=device) * 2 - 1) * math.pi * _on(n, p_rot, device)
        cos, sin = torch.cos(r), torch.sin(r)
        mat = mat @ _affine(cos, -sin, sin, cos, zero, zero)
        if k == 0:
            a = torch.exp2(torch.randn(n, device=device) * SCALE_STD * _on(n, p, device))
            mat = mat @ _affine(a, zero, zero, 1 / a, zero, zero)
    t = torch.randn(n, 2, device=device) * FRAC_TRANSLATE_STD * 2 * _on(n, p, device)[:, None]
    mat = mat @ _affine(one, zero, zero, one, t[:, 0], t[:, 1])
    return mat[:, :2, :]


def _colour(x: torch.Tensor, p: float) -> torch.Tensor:
    """Brightness, contrast, hue rotation and saturation (ADA's colour transforms less the luma flip)."""
    n, dev = x.shape[0], x.device
    eye = torch.eye(4, device=dev).repeat(n, 1, 1)
    mat = eye.clone()
    b = torch.randn(n, device=dev) * BRIGHTNESS_STD * _on(n, p, dev)
    shift = eye.clone()
    shift[:, :3, 3] = b[:, None]
    mat = shift @ mat
    c = torch.exp2(torch.randn(n, device=dev) * CONTRAST_STD * _on(n, p, dev))
    mat = torch.diag_embed(torch.stack([c, c, c, torch.ones_like(c)], dim=1)) @ mat
    v = torch.full((3,), 1 / math.sqrt(3), device=dev)  # the luma axis
    vv = torch.outer(v, v)
    theta = (torch.rand(n, device=dev) * 2 - 1) * math.pi * _on(n, p, dev)
    cross = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], device=dev)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    hue = cos * torch.eye(3, device=dev) + sin * cross + (1 - cos) * vv  # Rodrigues: rotation about the luma axis
    sat = torch.exp2(torch.randn(n, device=dev) * SATURATION_STD * _on(n, p, dev))[:, None, None]
    sat_m = vv + (torch.eye(3, device=dev) - vv) * sat
    lin = eye.clone()
    lin[:, :3, :3] = sat_m @ hue
    mat = lin @ mat
    y = mat[:, :3, :3] @ x.reshape(n, 3, -1) + mat[:, :3, 3:]
    return y.reshape(x.shape)


class AdaptiveP:
    """The augmentation probability, tuned from the sign of D's output on the reals (ADA's r_t heuristic).

    Every `interval` steps: p <- clip(p + sign(r_t - target) * images / (ada_kimg * 1000), 0, 1), where r_t is the
    mean of sign(D(real)) over those steps. ada_kimg = 500 lets p go from 0 to 1 in half a million images.
    """

    def __init__(self, target: float, ada_kimg: float = 500.0, interval: int = 4, p: float = 0.0) -> None:
        self.target, self.ada_kimg, self.interval, self.p = target, ada_kimg, interval, p
        self._signs: list[torch.Tensor] = []
        self._sum, self._count = 0.0, 0  # pending r_t terms already read (kept across a checkpoint)

    @property
    def enabled(self) -> bool:
        return self.target > 0

    def observe(self, d_real_sign: torch.Tensor, batch: int) -> None:
        """One step's E[sign(D(real))]; the tensor is read (a GPU sync) only every `interval` steps."""
        if not self.enabled:
            return
        self._signs.append(d_real_sign.detach())
        if len(self._signs) + self._count < self.interval:
            return
        self._flush()
        r_t = self._sum / self._count
        direction = (r_t > self.target) - (r_t < self.target)
        self.p = float(min(max(self.p + direction * self._count * batch / (self.ada_kimg * 1000), 0.0), 1.0))
        self._sum, self._count = 0.0, 0

    def _flush(self) -> None:
        if self._signs:
            self._sum += float(torch.stack(self._signs).float().sum())
            self._count += len(self._signs)
            self._signs.clear()

    def state_dict(self) -> dict[str, float]:
        self._flush()
        return {"p": self.p, "sum": self._sum, "count": float(self._count)}

    def load_state_dict(self, sd: dict[str, float]) -> None:
        self.p = float(sd["p"])
        self._sum, self._count = float(sd.get("sum", 0.0)), int(sd.get("count", 0))
        self._signs.clear()
