"""Non-saturating logistic GAN loss with lazy R1 on the discriminator (StyleGAN2).

D returns one logit per sample (B,) or several (B, N) (the projected D: every patch of every head); the losses
average over all of them.

`augment` (augment.augment with the current p) is how D sees every input, real or fake, in both losses; R1 is taken
with respect to the un-augmented reals, through the augmentation, as in StyleGAN2-ADA.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Augment = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def _judge(
    D: nn.Module, x: torch.Tensor, mask: torch.Tensor, lms: torch.Tensor, augment: Augment | None
) -> torch.Tensor:
    return D(*augment(x, mask, lms)) if augment is not None else D(x, mask, lms)


def generator_loss(
    G: nn.Module,
    D: nn.Module,
    real: torch.Tensor,
    mask: torch.Tensor,
    lms: torch.Tensor,
    z: torch.Tensor,
    l1_weight: float = 0.0,
    augment: Augment | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """-log sigmoid(D(G(...))) (+ optional L1 to the original inside the mask); returns (loss, fake, stats)."""
    fake = G(real, mask, lms, z)
    adv = F.softplus(-_judge(D, fake, mask, lms, augment)).mean()
    loss = adv
    stats = {"g_adv": adv.detach()}
    if l1_weight > 0:
        l1 = ((fake - real).abs() * mask).sum() / (mask.sum() * 3 + 1e-8)
        loss = loss + l1_weight * l1
        stats["g_l1"] = l1.detach()
    return loss, fake, stats


def discriminator_loss(
    D: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    mask: torch.Tensor,
    lms: torch.Tensor,
    r1_gamma: float = 0.0,
    r1_scale: float = 1.0,
    augment: Augment | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """softplus(D(fake)) + softplus(-D(real)) (+ gamma/2 * |grad_real D|^2 * r1_scale when r1_gamma > 0)."""
    fake_logits = _judge(D, fake.detach(), mask, lms, augment)
    do_r1 = r1_gamma > 0
    real_in = real.detach().requires_grad_(do_r1)
    real_logits = _judge(D, real_in, mask, lms, augment)
    loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    stats = {
        "d_real": real_logits.detach().float().mean(),
        "d_fake": fake_logits.detach().float().mean(),
        # StyleGAN2-ADA's overfitting heuristic r_t = E[sign(D(real))]: drifting towards 1 means D memorises the reals.
        "d_real_sign": real_logits.detach().float().sign().mean(),
    }
    if do_r1:
        # Per sample, the mean of its logits (one for the classic D, every patch of every head for the projected one).
        per_sample = real_logits.float().reshape(len(real_logits), -1).mean(dim=1)
        (grad,) = torch.autograd.grad(per_sample.sum(), real_in, create_graph=True)
        r1 = grad.float().square().sum(dim=[1, 2, 3]).mean()
        loss = loss + r1 * (r1_gamma / 2) * r1_scale
        stats["r1"] = r1.detach()
    stats["d_loss"] = loss.detach()
    return loss, stats
