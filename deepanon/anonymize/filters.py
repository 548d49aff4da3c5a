"""Classic anonymizers: blur, pixelate, solid. Pure functions on uint8 RGB images.

Each filter's strength is tied to the face size, so a face is unrecognisable whatever its size:
the face is reduced to about FACE_CELLS cells across before anything of it is shown again.
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


def _cell_size(face_size: float, cells: float) -> int:
    return max(int(round(face_size / cells)), 2)


def pixelate(roi: np.ndarray, face_size: float, cells: float = FACE_CELLS) -> np.ndarray:
    cell = _cell_size(face_size, cells)
    h, w = roi.shape[:2]
    small = cv2.resize(roi, (max(w // cell, 1), max(h // cell, 1)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def blur(roi: np.ndarray, face_size: float, cells: float = FACE_CELLS) -> np.ndarray:
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


def apply_filter(
    rgb: np.ndarray,
    faces: Sequence[Face],
    method: str,
    mask_scale: float = DEFAULT_MASK_SCALE,
    feather: float = DEFAULT_FEATHER,
    cells: float = FACE_CELLS,
) -> np.ndarray:
    """A copy of `rgb` with every face's feathered ellipse replaced by `method`'s filter at `cells` cells across
    the face."""
    fn = FILTERS[method]
    out = rgb.copy()
    for face in faces:
        region = face_region(face, out.shape, mask_scale, feather)
        if region is None:
            continue
        roi = out[region.slices]
        out[region.slices] = blend(roi, fn(roi, max(face.width, face.height), cells), region.alpha)
    return out
