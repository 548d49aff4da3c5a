"""Folders of face photos, as training and the held-out evaluation both read them: listing, the fixed
train/validation split, and which face a photo is of."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from deepanon.types import Face

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def list_images(sources: Sequence[Path]) -> list[tuple[Path, str]]:
    """(path, name) for every image under the sources; name = source folder name / relative path."""
    out: list[tuple[Path, str]] = []
    for src in sources:
        src = Path(src)
        if src.is_file():
            out.append((src, src.name))
            continue
        for p in sorted(src.rglob("*")):
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
                out.append((p, f"{src.name}/{p.relative_to(src).as_posix()}"))
    return out


def is_validation(name: str, fraction: float) -> bool:
    """Stable split: the same file is always on the same side, whatever else is in the data."""
    h = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    return h / 2**32 < fraction


def pick_face(faces: Sequence[Face], shape: tuple[int, ...]) -> Face | None:
    """The largest face, discounted by its distance from the image centre (the subject of a portrait)."""
    faces = [f for f in faces if f.landmarks is not None]
    if not faces:
        return None
    h, w = shape[:2]
    diag = float(np.hypot(h, w))

    def score(f: Face) -> float:
        d = np.hypot(f.center[0] - w / 2, f.center[1] - h / 2) / diag
        return f.width * f.height * float(np.exp(-8.0 * d * d))

    return max(faces, key=score)


def read_rgb(path: Path) -> np.ndarray | None:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
