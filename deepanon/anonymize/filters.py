"""Classic anonymizers: blur, pixelate, solid. Pure functions on uint8 RGB images.

Each filter's strength is tied to the face size, so a face is unrecognisable whatever its size:
the face is reduced to a few cells across (CELLS) before anything of it is shown again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from deepanon.geometry.masks import DEFAULT_FEATHER, DEFAULT_MASK_SCALE, blend, face_region
from deepanon.types import Face

# About 8 cells across a face leaves no identity (a 16x16 face is already at the limit of
# recognition for humans and machines), while keeping skin tone and position.
FACE_CELLS = 8
# A blur smooths its cells back together, and a smooth face-shaped blob is still a face to a detector and partly
# to a face recogniser; with CenterFace's tight boxes (a close-up's cut at the image edge) 8 cells kept 95 % of an
# independent detector's AP and dlib's "same person" at 17 % on held-out photos. At 4: 8.6 % and 0.7 % (deface's
# blur: 8.8 % and 2.0 %; benchmarks/filter_strength.py).
BLUR_CELLS = 4


def _cell_size(face_size: float, cells: float) -> int:
    return max(int(round(face_size / cells)), 2)


def pixelate(roi: np.ndarray, face_size: float, cells: float = FACE_CELLS) -> np.ndarray:
    cell = _cell_size(face_size, cells)
    h, w = roi.shape[:2]
    small = cv2.resize(roi, (max(w // cell, 1), max(h // cell, 1)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def blur(roi: np.ndarray, face_size: float, cells: float = BLUR_CELLS) -> np.ndarray:
    # Averaging down then smoothing back up is a blur whose cost does not grow with the face:
    # the detail lost in the downscale cannot come back, unlike a mild Gaussian.
    cell = _cell_size(face_size, cells)
    h, w = roi.shape[:2]
    small = cv2.resize(roi, (max(w // cell, 1), max(h // cell, 1)), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = 2 * (cell // 2) + 1
    return cv2.GaussianBlur(up, (k, k), 0)


def solid(roi: np.ndarray, face_size: float, cells: float = FACE_CELLS) -> np.ndarray:
    return np.zeros_like(roi)


# filter(roi, face size px, cells across the face) -> the filtered roi
Filter = Callable[[np.ndarray, float, float], np.ndarray]
FILTERS: dict[str, Filter] = {"blur": blur, "pixelate": pixelate, "solid": solid}
CELLS: dict[str, float] = {"blur": BLUR_CELLS, "pixelate": FACE_CELLS, "solid": FACE_CELLS}  # each one's default


def apply_filter(
    rgb: np.ndarray,
    faces: Sequence[Face],
    method: str,
    mask_scale: float = DEFAULT_MASK_SCALE,
    feather: float = DEFAULT_FEATHER,
    cells: float | None = None,
) -> np.ndarray:
    """A copy of `rgb` with every face's feathered ellipse replaced by `method`'s filter at `cells` cells across
    the face (default: the method's own, CELLS)."""
    fn = FILTERS[method]
    cells = CELLS[method] if cells is None else cells
    out = rgb.copy()
    for face in faces:
        region = face_region(face, out.shape, mask_scale, feather)
        if region is None:
            continue
        roi = out[region.slices]
        out[region.slices] = blend(roi, fn(roi, max(face.width, face.height), cells), region.alpha)
    return out
