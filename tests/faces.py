"""Test images the project may ship: made here from scikit-image's public-domain astronaut."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


def head() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[20:260, 120:330])


def backdrop(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([60 + 80 * xx / w, 90 + 60 * yy / h, 140 - 40 * xx / w], -1).astype(np.uint8)


def scene(h: int, w: int, heads: list[tuple[int, int, float]]) -> np.ndarray:
    """A backdrop with the astronaut's head pasted at (x, y) with the given scale."""
    img = backdrop(h, w)
    src = head()
    for x, y, s in heads:
        hh, ww = int(src.shape[0] * s), int(src.shape[1] * s)
        img[y : y + hh, x : x + ww] = cv2.resize(src, (ww, hh), interpolation=cv2.INTER_AREA)
    return img
