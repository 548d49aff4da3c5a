"""Geometry of the region that gets anonymized: a feathered ellipse around each face box.

The same functions define the region to repaint at training time (train/prepare.py) and at run
time, so the generator sees exactly the geometry it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepanon.types import Face

# The ellipse's semi-axes are half the box size times mask_scale. A box's corners lie at
# sqrt(2) ~ 1.41 in those units, so 1.5 covers the whole box plus hairline and chin.
DEFAULT_MASK_SCALE = 1.5
# Width of the soft edge, as a fraction of the ellipse radius, added *outside* the ellipse:
# the inside is always fully replaced (privacy first), only the rim is blended.
DEFAULT_FEATHER = 0.15
# MTCNN boxes sit low on the head (eyebrows to chin): move the ellipse up to reach the hairline.
CENTER_SHIFT_UP = 0.06


@dataclass(frozen=True)
class Ellipse:
    cx: float
    cy: float
    ax: float  # semi-axis along x, pixels
    ay: float  # semi-axis along y, pixels


@dataclass(frozen=True)
class Region:
    """A rectangle of the image (y0:y1, x0:x1) and the blend weight inside it."""

    y0: int
    y1: int
    x0: int
    x1: int
    alpha: np.ndarray  # (y1-y0, x1-x0) float32 in [0, 1]

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def face_ellipse(face: Face, mask_scale: float = DEFAULT_MASK_SCALE) -> Ellipse:
    cx, cy = face.center
    w, h = max(face.width, 1.0), max(face.height, 1.0)
    return Ellipse(cx, cy - CENTER_SHIFT_UP * h, 0.5 * w * mask_scale, 0.5 * h * mask_scale)


def ellipse_alpha(xs: np.ndarray, ys: np.ndarray, ell: Ellipse, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """Blend weight at points (xs, ys): 1 inside the ellipse, smooth fall-off to 0 over `feather`."""
    r = np.sqrt(((xs - ell.cx) / ell.ax) ** 2 + ((ys - ell.cy) / ell.ay) ** 2)
    if feather <= 0:
        return (r <= 1.0).astype(np.float32)
    t = np.clip((1.0 + feather - r) / feather, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: no visible seam


def face_region(
    face: Face,
    image_shape: tuple[int, ...],
    mask_scale: float = DEFAULT_MASK_SCALE,
    feather: float = DEFAULT_FEATHER,
) -> Region | None:
    """The part of an image of `image_shape` that anonymizing `face` may change; None if off-image."""
    ell = face_ellipse(face, mask_scale)
    reach = 1.0 + max(feather, 0.0)
    h, w = image_shape[:2]
    x0 = max(int(np.floor(ell.cx - ell.ax * reach)), 0)
    x1 = min(int(np.ceil(ell.cx + ell.ax * reach)) + 1, w)
    y0 = max(int(np.floor(ell.cy - ell.ay * reach)), 0)
    y1 = min(int(np.ceil(ell.cy + ell.ay * reach)) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    # Pixel centres are at integer + 0.5 in the box coordinate convention.
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    return Region(y0, y1, x0, x1, ellipse_alpha(xs, ys, ell, feather))


def blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """dst * (1 - alpha) + src * alpha for uint8 HxWx3 images; alpha is HxW in [0, 1]."""
    a = alpha[..., None]
    out = dst.astype(np.float32) * (1.0 - a) + src.astype(np.float32) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
