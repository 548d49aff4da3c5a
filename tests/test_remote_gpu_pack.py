"""scripts/remote_gpu: a packed dataset unpacks into one the trainer reads the same (up to WebP's small loss)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from test_gan_training import synthetic_dataset

from deepanon.train.dataset import FaceCrops

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "remote_gpu"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pack_unpack_round_trip(tmp_path: Path) -> None:
    src = synthetic_dataset(tmp_path / "data", n=10, stored=32)
    size = load("pack").pack(src, tmp_path / "packed", quality=95)
    assert 0 < size < np.load(src / "images.npy").nbytes  # smaller than the raw crops
    shape = load("unpack").unpack(tmp_path / "packed", tmp_path / "restored", threads=2)
    assert shape == np.load(src / "images.npy").shape
    a, b = (FaceCrops(p, 32, "train") for p in (src, tmp_path / "restored"))
    pos = np.arange(len(a))
    xa, ma, la = a.batch(pos)
    xb, mb, lb = b.batch(pos)
    assert torch.equal(ma, mb) and torch.equal(la, lb)  # geometry travels exactly
    err = (xa - xb).abs().mean() * 127.5
    assert 0 < err < 4  # lossy, but only slightly (grey levels)


def test_unpack_names_a_damaged_pack(tmp_path: Path) -> None:
    src = synthetic_dataset(tmp_path / "data", n=4, stored=32)
    load("pack").pack(src, tmp_path / "packed", quality=95)
    blob = tmp_path / "packed" / "images.bin"
    blob.write_bytes(blob.read_bytes()[:-40])  # the last crop loses its tail
    with pytest.raises(ValueError, match="crop 3"):
        load("unpack").unpack(tmp_path / "packed", tmp_path / "restored", threads=1)
