"""Weights on disk, safetensors only (no pickle): the shipped generator and the compact training state."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from importlib.resources import files
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from deepanon.gan.config import NetConfig
from deepanon.gan.networks import Generator

# The generator ships inside the package (deepanon/weights/, package data), so a wheel can paint; pip unpacks
# wheels, so the resource is a real file that safetensors can map. `deepanon export` writes here by default.
WEIGHTS_DIR = Path(str(files("deepanon").joinpath("weights")))
GENERATOR_PATH = WEIGHTS_DIR / "generator.safetensors"
LICENCE_NOTE = (
    "Trained on UTKFace (non-commercial research use only) and LFW (research): these weights carry the "
    "non-commercial research terms of UTKFace. The code is MIT."
)


class WeightsError(RuntimeError):
    """Missing, damaged or mismatched weights."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # safetensors creates private files; weights are meant to be read by anyone
    os.replace(tmp, path)


def _half(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}


def export_generator(
    G_ema: Generator, path: Path = GENERATOR_PATH, info: dict | None = None, half: bool = True
) -> dict:
    """Write the generator (fp16 by default: half the size, no visible change) plus its JSON card."""
    path = Path(path)
    sd = G_ema.state_dict()
    _atomic_save(_half(sd) if half else sd, path, {"net": G_ema.cfg.to_json()})
    card = {
        "format": "safetensors",
        "architecture": "deepanon.gan.networks.Generator",
        "net": json.loads(G_ema.cfg.to_json()),
        "resolution": G_ema.cfg.resolution,
        "dtype": "float16" if half else "float32",
        "params": sum(p.numel() for p in G_ema.parameters()),
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **(info or {}),
        "licence": LICENCE_NOTE,
        "sha256": sha256(path),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, path.with_suffix(".json"))
    return card


def load_card(path: Path | str | None = None) -> dict:
    """The JSON card beside the generator weights (architecture, checksum, the repaint geometry it learned)."""
    path = Path(path) if path is not None else GENERATOR_PATH
    card_path = path.with_suffix(".json")
    if not path.exists():
        raise WeightsError(f"generator weights not found: {path} (train and export them: deepanon train --export)")
    if not card_path.exists():
        raise WeightsError(f"{card_path} is missing: it holds the architecture and checksum of {path.name}")
    return json.loads(card_path.read_text())


def load_generator(path: Path | str | None = None, device: str | torch.device = "cpu") -> Generator:
    """The EMA generator shipped in the package (or at `path`), checked against the SHA-256 in its JSON card;
    eval mode."""
    path = Path(path) if path is not None else GENERATOR_PATH
    card = load_card(path)
    card_path = path.with_suffix(".json")
    digest = sha256(path)
    if digest != card.get("sha256"):
        raise WeightsError(
            f"checksum mismatch for {path}: file {digest[:12]}..., {card_path.name} says {str(card.get('sha256'))[:12]}"
            "...; the file is damaged or not the one described (re-download or re-export it)"
        )
    G = Generator(NetConfig.from_dict(card["net"]))
    sd = load_file(str(path))
    G.load_state_dict({k: v.float() for k, v in sd.items()})
    return G.eval().requires_grad_(False).to(device)


def save_train_state(
    path: Path,
    G: nn.Module,
    D: nn.Module,
    G_ema: nn.Module,
    step: int,
    cur_nimg: int,
    config: dict,
    rng: torch.Tensor | None = None,
    extra: dict[str, float] | None = None,
) -> None:
    """Compact, resumable-from state for the repository: fp16 G, D, G_ema (optimizer moments are not kept).

    extra: numbers the run needs to go on where it stopped (the augmentation probability), stored as metadata."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, m in (("G.", G), ("D.", D), ("G_ema.", G_ema)):
        tensors.update({prefix + k: v for k, v in _half(m.state_dict()).items()})
    if rng is not None:
        tensors["rng"] = rng
    meta = {"step": str(step), "cur_nimg": str(cur_nimg), "config": json.dumps(config)}
    if extra:
        meta["extra"] = json.dumps(extra)
    _atomic_save(tensors, Path(path), meta)


def load_train_state(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """({'G': sd, 'D': sd, 'G_ema': sd, 'rng': tensor?}, metadata with step, cur_nimg and config)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata() or {})
    flat = load_file(str(path))
    out: dict[str, dict[str, torch.Tensor]] = {"G": {}, "D": {}, "G_ema": {}}
    for k, v in flat.items():
        if k == "rng":
            out["rng"] = v  # type: ignore[assignment]
            continue
        prefix, name = k.split(".", 1)
        out[prefix][name] = v.float() if v.is_floating_point() else v
    info = {
        "step": int(meta.get("step", 0)),
        "cur_nimg": int(meta.get("cur_nimg", 0)),
        "config": json.loads(meta.get("config", "{}")),
    }
    info.update(json.loads(meta.get("extra", "{}")))
    return out, info
