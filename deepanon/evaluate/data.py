"""What `deepanon evaluate` was given: a WIDER-format folder, a folder of face photos, or a video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepanon.evaluate.wider import read_wider
from deepanon.media.images import is_image_path
from deepanon.media.video import is_video_path


@dataclass(frozen=True)
class Item:
    path: Path
    boxes: np.ndarray | None  # (N, 4) ground truth; None: to be found by the reference detector


@dataclass(frozen=True)
class Dataset:
    kind: str  # "wider", "faces" or "video"
    root: Path
    items: list[Item]


def spread(n: int, limit: int) -> list[int]:
    """`limit` indices spread evenly over range(n) (all when limit is 0 or >= n): a subset that visits every
    WIDER event instead of the first few."""
    if limit <= 0 or limit >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, limit).round()})


def load_dataset(data: Path, limit: int = 0) -> Dataset:
    """WIDER format: images/ and a *_bbx_gt.txt at the top; a video file; else every image under the folder."""
    data = Path(data)
    if data.is_file():
        if not is_video_path(data):
            raise ValueError(f"{data}: give a video file, a WIDER-format folder or a folder of face photos")
        return Dataset("video", data, [Item(data, None)])
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such file or folder")
    gt = sorted(data.glob("*_bbx_gt.txt"))
    if gt and (data / "images").is_dir():
        images = [im for im in read_wider(gt[0], data / "images") if im.path.exists()]
        return Dataset("wider", data, [Item(images[i].path, images[i].boxes) for i in spread(len(images), limit)])
    paths = sorted(p for p in data.rglob("*") if p.is_file() and is_image_path(p))
    if not paths:
        raise ValueError(f"{data}: no images found")
    return Dataset("faces", data, [Item(paths[i], None) for i in spread(len(paths), limit)])
