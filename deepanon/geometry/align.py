"""Face alignment for the GAN: image <-> canonical crop, shared by training (train/prepare.py) and run time (gan.py).

Coordinates are continuous pixels with pixel centres at integer + 0.5 (the Face/masks.py convention).
A 2x3 matrix M maps image points to crop points: p_crop = M[:, :2] @ p_img + M[:, 2].
"""

from __future__ import annotations

import cv2
import numpy as np

from deepanon.geometry.masks import DEFAULT_FEATHER, DEFAULT_MASK_SCALE, Ellipse, ellipse_alpha, face_ellipse
from deepanon.types import Face

# ArcFace 112x112 template in unit coordinates, shrunk by TEMPLATE_SHRINK about TEMPLATE_CENTER so the run-time
# mask ellipse (feather included) plus a ring of context fits: measured on UTKFace + LFW with MTCNN, the outer
# ellipse then has semi-axes ~0.30 (x) and ~0.40 (y) of the crop side, centred (p5..p95 ~ 0.42..0.46 for y).
_ARCFACE = (
    np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
    )
    / 112.0
)
TEMPLATE_SHRINK = 0.5
TEMPLATE_CENTER = np.array([0.5, 0.52], np.float32)
TEMPLATE = (_ARCFACE - TEMPLATE_CENTER) * TEMPLATE_SHRINK + np.array([0.5, 0.5], np.float32)
# The outer ellipse must stay this far (fraction of the crop side) inside the crop; wider faces are zoomed out.
CROP_MARGIN = 0.03
# Landmark heat-map sigma as a fraction of the crop side (2 px at 64).
LANDMARK_SIGMA = 1.0 / 32
# Horizontal flip swaps left/right eye and left/right mouth corner.
FLIP_ORDER = (1, 0, 2, 4, 3)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping src (N,2) onto dst (N,2); 2x3 float64."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / max((s**2).sum() / len(src), 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def transform_points(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (np.asarray(pts, np.float64) @ M[:, :2].T + M[:, 2]).astype(np.float32)


def invert(M: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(M, np.float64))


def repaint_geometry(mask_scale: float = DEFAULT_MASK_SCALE, feather: float = DEFAULT_FEATHER) -> dict:
    """What a generator learns to fill, as its card records it: the region (mask_scale, feather) and the
    alignment that puts it in the crop. Training writes it; the painter compares its own settings with it."""
    return {
        "mask_scale": float(mask_scale),
        "feather": float(feather),
        "template_shrink": TEMPLATE_SHRINK,
        "template_center": [float(v) for v in TEMPLATE_CENTER],
        "crop_margin": CROP_MARGIN,
    }


def alignment_matrix(
    face: Face, resolution: int, mask_scale: float = DEFAULT_MASK_SCALE, feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """2x3 image->crop similarity: landmarks onto TEMPLATE*R, zoomed out if the mask ellipse (its feathered rim
    included) would not fit."""
    if face.landmarks is None:
        raise ValueError("alignment needs the face's 5 landmarks")
    R = float(resolution)
    M = similarity(np.asarray(face.landmarks, np.float32), TEMPLATE * R)
    # The outer (feathered) ellipse after M lies within a circle of radius max(ax, ay) * (1 + feather) * scale.
    ell = face_ellipse(face, mask_scale)
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    c = transform_points(M, np.array([[ell.cx, ell.cy]]))[0]
    reach = max(ell.ax, ell.ay) * (1.0 + max(feather, 0.0)) * scale + float(np.abs(c - R / 2).max())
    limit = R * (0.5 - CROP_MARGIN)
    if reach > limit:  # rare: zoom out about the crop centre so the whole region can be repainted
        k = limit / reach
        M = M * k
        M[:, 2] += (1.0 - k) * R / 2
    return M


def _cv_matrix(M: np.ndarray) -> np.ndarray:
    """The same map for cv2, whose pixel centres are at integers: t' = t + A @ (0.5, 0.5) - 0.5."""
    M = np.asarray(M, np.float64).copy()
    M[:, 2] += M[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return M


def crop(rgb: np.ndarray, M: np.ndarray, resolution: int, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """The RxR aligned crop of an HxWxC image; outside the image is black.

    Not reflected: tight training photos (UTKFace) would fill the context with mirrored copies of the face,
    which real photos never show; black is also what the crop of a face at a photo's edge looks like at run time.
    """
    # INTER_AREA is not supported by warpAffine; shrink first when the face is much larger than the crop.
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    if scale < 0.5:
        f = 2.0 * scale
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (max(round(w * f), 1), max(round(h * f), 1)), interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        M = M @ np.array([[1 / fx, 0, 0], [0, 1 / fy, 0], [0, 0, 1]])
        rgb = small
    return cv2.warpAffine(
        rgb, _cv_matrix(M), (resolution, resolution), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0
    )


def warp_back(
    crop_img: np.ndarray,
    M: np.ndarray,
    region_shape: tuple[int, int],
    offset: tuple[int, int],
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """The crop resampled into an image rectangle of `region_shape` (h, w) whose top-left is `offset` (x0, y0)."""
    x0, y0 = offset
    shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    M_region = np.asarray(M, np.float64) @ shift  # region point -> crop point
    h, w = region_shape
    return cv2.warpAffine(
        crop_img,
        _cv_matrix(M_region),
        (w, h),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def crop_mask(ell: Ellipse, M: np.ndarray, resolution: int, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """Run-time blend weight (masks.ellipse_alpha of `ell`, image coords) at each crop pixel centre; (R, R) float32."""
    ys, xs = np.mgrid[0:resolution, 0:resolution].astype(np.float64) + 0.5
    inv = invert(M)
    ix = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    iy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return ellipse_alpha(ix, iy, ell, feather)


def crop_valid(image_hw: tuple[int, int], M: np.ndarray, resolution: int) -> np.ndarray:
    """(R, R) float32: 1 where the crop shows the image, 0 outside it (soft at the edge, like the crop itself)."""
    ones = np.ones(tuple(image_hw[:2]), np.float32)
    return crop(ones, M, resolution)


def face_crop_mask(
    face: Face,
    M: np.ndarray,
    resolution: int,
    mask_scale: float = DEFAULT_MASK_SCALE,
    image_hw: tuple[int, int] | None = None,
    feather: float = DEFAULT_FEATHER,
) -> np.ndarray:
    """The run-time mask in crop space; with image_hw, only where the crop shows the image (nothing to paint
    beyond the photo's edge: at training time that is black, at run time it is never seen)."""
    m = crop_mask(face_ellipse(face, mask_scale), M, resolution, feather)
    return m if image_hw is None else m * crop_valid(image_hw, M, resolution)


def landmark_maps(landmarks: np.ndarray, resolution: int, sigma: float = LANDMARK_SIGMA) -> np.ndarray:
    """(5, R, R) float32 Gaussian heat maps (peak 1) of crop-space landmarks (5, 2)."""
    c = np.arange(resolution, dtype=np.float32) + 0.5
    s = sigma * resolution
    lm = np.asarray(landmarks, np.float32)
    gx = np.exp(-((c[None, :] - lm[:, 0:1]) ** 2) / (2 * s * s))  # (5, R)
    gy = np.exp(-((c[None, :] - lm[:, 1:2]) ** 2) / (2 * s * s))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def flip_landmarks(landmarks: np.ndarray, resolution: float) -> np.ndarray:
    """Landmarks of the horizontally mirrored crop, in the same semantic order."""
    out = np.asarray(landmarks, np.float32).copy()
    out[..., 0] = resolution - out[..., 0]
    return out[..., FLIP_ORDER, :]
