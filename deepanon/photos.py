"""Folders of face photos, as training and the held-out evaluation both read them: listing, the fixed
train/validation split, and which face a photo is of."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepanon.media.errors import MediaError
from deepanon.media.images import IMAGE_EXTENSIONS, read_image
from deepanon.types import Face


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
    """Upright RGB pixels (EXIF orientation applied, every format `anonymize` reads, TIFF included), as the
    anonymizer sees a photo; None for a file that cannot be read. On UTKFace + LFW (200 photos, none rotated)
    the pixels are those cv2.imread gave before, so prepared data stays valid."""
    try:
        return read_image(path).rgb
    except MediaError:
        return None
