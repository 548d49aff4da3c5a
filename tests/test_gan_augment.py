"""Adaptive discriminator augmentation: what it changes, what it keeps together, how p adapts, and resume."""

from __future__ import annotations

from pathlib import Path

import torch
from test_gan_training import params, tiny_config

from deepanon.train.augment import AdaptiveP, augment
from deepanon.train.training_loop import Trainer


def inputs(n: int = 8, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    mask = (torch.rand(n, 1, size, size, generator=g) > 0.5).float()
    lms = torch.rand(n, 5, size, size, generator=g)
    return img, mask, lms


def test_p_zero_returns_the_inputs() -> None:
    img, mask, lms = inputs()
    out = augment(img, mask, lms, 0.0)
    assert all(a is b for a, b in zip(out, (img, mask, lms), strict=True))


def test_p_one_changes_every_sample_and_keeps_shapes() -> None:
    img, mask, lms = inputs()
    torch.manual_seed(1)
    a, m, lm = augment(img, mask, lms, 1.0)
    assert a.shape == img.shape and m.shape == mask.shape and lm.shape == lms.shape
    assert torch.isfinite(a).all()
    assert ((a - img).abs().flatten(1).mean(1) > 0.05).all()
    assert m.min() >= -1e-6 and m.max() <= 1 + 1e-6  # bilinear resampling stays within the mask's range


def test_geometry_moves_image_mask_and_landmarks_together() -> None:
    img, mask, lms = inputs()
    img = torch.cat([mask * 2 - 1, lms[:, :2]], dim=1)  # image channels that ARE the mask and two landmark maps
    torch.manual_seed(2)
    a, m, lm = augment(img, mask, lms, 0.9, colour=False)
    assert not torch.allclose(m, mask)  # it did move
    torch.testing.assert_close(a[:, :1], m * 2 - 1, atol=1e-5, rtol=0)
    torch.testing.assert_close(a[:, 1:], lm[:, :2], atol=1e-5, rtol=0)


def test_colour_touches_the_image_only() -> None:
    img, mask, lms = inputs()
    torch.manual_seed(3)
    a, m, lm = augment(img, mask, lms, 1.0, geometric=False)
    assert torch.equal(m, mask) and torch.equal(lm, lms)
    assert not torch.allclose(a, img)


def test_gradient_reaches_the_unaugmented_image() -> None:
    """R1 and G's loss differentiate through the augmentation."""
    img, mask, lms = inputs(4)
    img.requires_grad_(True)
    torch.manual_seed(4)
    a, _, _ = augment(img, mask, lms, 0.8)
    (a.square().sum()).backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_adaptive_p_follows_the_sign_of_d_on_reals() -> None:
    ada = AdaptiveP(target=0.6, ada_kimg=1.0, interval=2)
    sure = torch.tensor(0.9)
    ada.observe(sure, batch=100)
    assert ada.p == 0.0  # adjusted only every `interval` steps
    ada.observe(sure, batch=100)
    assert abs(ada.p - 0.2) < 1e-9  # 2 steps x 100 images / 1000
    for _ in range(20):
        ada.observe(sure, batch=100)
    assert ada.p == 1.0  # clipped
    unsure = torch.tensor(0.1)
    ada.observe(unsure, batch=100)
    ada.observe(unsure, batch=100)
    assert abs(ada.p - 0.8) < 1e-9
    off = AdaptiveP(target=0.0, p=0.3)
    for _ in range(8):
        off.observe(sure, batch=100)
    assert off.p == 0.3  # fixed p when adaptation is off


def test_training_with_augmentation_resumes_exactly(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, augment_p=0.5, ada_kimg=0.004, ada_interval=2)
    a = Trainer(cfg)
    for _ in range(3):
        stats = a.step()
        assert all(torch.isfinite(v) for v in stats.values())
    ck = tmp_path / "ck.pt"
    a.save_checkpoint(ck)  # one r_t term pending (3 steps, interval 2)
    for _ in range(3):
        a.step()
    b = Trainer(cfg)
    b.load_checkpoint(ck)
    for _ in range(3):
        b.step()
    assert a.ada.p == b.ada.p and a.ada.p != 0.5  # p moved, and by the same amount after the resume
    for name in ("G", "D", "G_ema"):
        assert torch.equal(params(getattr(a, name)), params(getattr(b, name))), name
    compact = tmp_path / "state.safetensors"
    a.save_compact(compact)
    c = Trainer(cfg)
    c.load_compact(compact)
    assert c.ada.p == a.ada.p
