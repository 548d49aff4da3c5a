"""Generators side by side on the held-out validation crops: the same crops and z through each (sample grid), and
the features of EfficientNet-Lite1 (the ImageNet network the projected D does not use) of the real crops and of
each generator's inpainted ones, for a Frechet distance (the discriminator A/B of issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from deepanon.gan.networks import Generator, hidden_mask
from deepanon.gan.weights import load_train_state
from deepanon.train.config import TrainConfig
from deepanon.train.dataset import FaceCrops

GRID_Z_SEED = 12345
FEATURE_Z_SEED = 2024


def load_ema(state: Path, device: torch.device) -> tuple[Generator, dict]:
    """The EMA generator of a compact training state (eval mode, frozen) and the state's metadata."""
    sds, info = load_train_state(state)
    cfg = TrainConfig.from_dict(info["config"])
    G = Generator(cfg.net)
    G.load_state_dict(sds["G_ema"])
    return G.eval().requires_grad_(False).to(device), info


def training_speed(run: Path) -> float:
    """Median images/s of a run folder's log.jsonl, its first window (start-up included) left out; nan if none."""
    log = Path(run) / "log.jsonl"
    rows = [json.loads(r) for r in log.read_text().splitlines() if r.strip()] if log.exists() else []
    speeds = [r["img_s"] for r in rows[1:]] or [r["img_s"] for r in rows]
    return float(np.median(speeds)) if speeds else float("nan")


@torch.no_grad()
def grid(data: str | Path, gens: list[Generator], n: int, n_z: int, device: torch.device) -> np.ndarray:
    """(H, W, 3) uint8: a row per validation crop: original, masked input, then per z every generator's output."""
    val = FaceCrops(data, gens[0].cfg.resolution, "val")
    n = min(n, len(val))
    real, mask, lms = (t.to(device) for t in val.batch(val.spread(n)))
    zgen = torch.Generator().manual_seed(GRID_Z_SEED)
    cols = [real, real * (1 - hidden_mask(mask))]
    for _ in range(n_z):
        z = torch.randn(n, gens[0].cfg.z_dim, generator=zgen).to(device)
        cols += [G(real, mask, lms, z) for G in gens]  # the same crop and z through every generator
    img = torch.cat([torch.cat([c[i] for c in cols], dim=2) for i in range(n)], dim=1)
    return ((img.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def lite1_features(
    data: str | Path, gens: list[Generator], device: torch.device, limit: int = 0, batch: int = 32
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Lite1 features of every validation crop (or `limit` spread over them) and of each generator's composite of
    the same crops, with the same z per crop for every generator: (real (N, 1280), [fake (N, 1280) per G])."""
    from deepanon.train.lite1 import Lite1

    net = Lite1().to(device)
    val = FaceCrops(data, gens[0].cfg.resolution, "val")
    pos = val.spread(limit) if limit else np.arange(len(val))
    zgen = torch.Generator().manual_seed(FEATURE_Z_SEED)
    real_f: list[torch.Tensor] = []
    fake_f: list[list[torch.Tensor]] = [[] for _ in gens]
    for s in range(0, len(pos), batch):
        real, mask, lms = (t.to(device) for t in val.batch(pos[s : s + batch]))
        z = torch.randn(len(real), gens[0].cfg.z_dim, generator=zgen).to(device)
        real_f.append(net(real).cpu())
        for out, G in zip(fake_f, gens):
            out.append(net(G(real, mask, lms, z).float()).cpu())
    return torch.cat(real_f).numpy(), [torch.cat(f).numpy() for f in fake_f]
