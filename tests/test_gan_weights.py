"""Generator export/load: safetensors only, checksum verified, tampering detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepanon.gan.config import NetConfig
from deepanon.gan.networks import Generator
from deepanon.gan.weights import GENERATOR_PATH, WeightsError, export_generator, load_generator
from deepanon.geometry.masks import DEFAULT_MASK_SCALE

TINY = NetConfig(resolution=16, z_dim=8, w_dim=8, map_layers=1, g_cbase=64, g_cmax=16, d_cbase=64, d_cmax=16)


def test_export_and_load_round_trip(tmp_path: Path) -> None:
    G = Generator(TINY)
    path = tmp_path / "generator.safetensors"
    card = export_generator(G, path, {"kimg": 1.0})
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == card["sha256"]
    assert "non-commercial" in card["licence"] and card["net"]["resolution"] == 16
    G2 = load_generator(path)
    x, m, lm, z = torch.rand(2, 3, 16, 16), torch.rand(2, 1, 16, 16), torch.rand(2, 5, 16, 16), torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(G(x, m, lm, z), G2(x, m, lm, z), atol=2e-2, rtol=1e-2)  # fp16 storage


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "generator.safetensors"
    export_generator(Generator(TINY), path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum"):
        load_generator(path)


def test_missing_weights_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_generator(tmp_path / "nope.safetensors")


def test_shipped_generator_learned_the_run_time_mask() -> None:
    """The generator fills the region it was trained to fill: a retrain with another `prepare --mask-scale` must
    move the anonymizer's default with it, or it is asked to fill a region of a size it never learned."""
    card = json.loads(GENERATOR_PATH.with_suffix(".json").read_text())
    assert card["training_data"]["mask_scale"] == DEFAULT_MASK_SCALE
