"""Dataset preparation on public-domain / synthetic images: counts, arrays, split, resume."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepanon.photos import is_validation
from deepanon.train.prepare import prepare_dataset

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src")
    astro = skimage_data.astronaut()  # public domain NASA portrait
    cv2.imwrite(str(root / "astronaut.png"), cv2.cvtColor(astro, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "astronaut_flipped.jpg"), cv2.cvtColor(astro[:, ::-1], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "blank.png"), np.full((120, 120, 3), 128, np.uint8))
    (root / "broken.jpg").write_bytes(b"not an image")
    return root


@pytest.mark.slow
def test_prepare_counts_and_arrays(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    s = prepare_dataset([sources], out, resolution=32, val_fraction=0.5, chunk=2, threads=1, progress=False)
    assert (s["files"], s["found"], s["not_found"], s["unreadable"], s["too_small"]) == (4, 2, 1, 1, 0)
    imgs, masks = np.load(out / "images.npy"), np.load(out / "masks.npy")
    assert imgs.shape == (2, 32, 32, 3) and imgs.dtype == np.uint8 and masks.shape == (2, 32, 32)
    assert masks.max() == 255 and masks[0, 0, 0] == 0
    lm = np.load(out / "landmarks.npy")
    assert lm.shape == (2, 5, 2) and (lm > 0).all() and (lm < 32).all()
    names = (out / "names.txt").read_text().split()
    is_val = np.load(out / "is_val.npy")
    assert [bool(v) for v in is_val] == [is_validation(n, 0.5) for n in names]
    assert json.loads((out / "dataset.json").read_text())["count"] == 2
    # Resume: finished chunks are reused, the result is the same.
    again = prepare_dataset([sources], out, resolution=32, val_fraction=0.5, chunk=2, threads=1, progress=False)
    assert again["found"] == 2 and np.array_equal(np.load(out / "images.npy"), imgs)
    assert len(list((out / "chunks").iterdir())) == 1


@pytest.mark.slow
def test_changed_detection_rule_redoes_the_chunks(sources: Path, tmp_path: Path, monkeypatch) -> None:
    """The boxes define the training masks: chunks made under another merge rule must not be reused."""
    import deepanon.geometry.boxes as tiling

    out = tmp_path / "ds"
    prepare_dataset([sources / "astronaut.png"], out, resolution=32, threads=1, progress=False)
    monkeypatch.setattr(tiling, "MERGE_IOU", tiling.MERGE_IOU + 0.1)
    prepare_dataset([sources / "astronaut.png"], out, resolution=32, threads=1, progress=False)
    assert len(list((out / "chunks").iterdir())) == 2  # a second plan, not the first one's chunks


@pytest.mark.slow
def test_changed_mask_scale_redoes_the_chunks(sources: Path, tmp_path: Path) -> None:
    """The mask size defines the crop and the region to repaint: another size is another dataset."""
    out = tmp_path / "ds"
    prepare_dataset([sources / "astronaut.png"], out, resolution=32, threads=1, progress=False)
    prepare_dataset([sources / "astronaut.png"], out, resolution=32, threads=1, progress=False, mask_scale=1.7)
    assert len(list((out / "chunks").iterdir())) == 2


@pytest.mark.slow
def test_prepare_skips_small_faces(sources: Path, tmp_path: Path) -> None:
    s = prepare_dataset([sources / "astronaut.png"], tmp_path / "ds", resolution=32, min_face=400, progress=False)
    assert (s["found"], s["too_small"]) == (0, 1)


def test_validation_split_is_stable() -> None:
    names = [f"utkface/{i}.jpg" for i in range(2000)]
    frac = np.mean([is_validation(n, 0.1) for n in names])
    assert 0.07 < frac < 0.13
    assert is_validation("x/a.jpg", 0.3) == is_validation("x/a.jpg", 0.3)
