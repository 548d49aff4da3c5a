"""Alignment geometry: the crop, the mask in crop space and the way back agree with masks.py."""

from __future__ import annotations

import numpy as np

from deepanon.geometry.align import (
    TEMPLATE,
    alignment_matrix,
    crop,
    face_crop_mask,
    flip_landmarks,
    landmark_maps,
    transform_points,
    warp_back,
)
from deepanon.geometry.masks import face_region
from deepanon.types import Face

R = 64


def make_face(cx: float = 100.0, cy: float = 90.0, size: float = 60.0, angle: float = 0.0) -> Face:
    """A face whose landmarks are the template, scaled, rotated and moved."""
    lm = (TEMPLATE - 0.5) * size * 2.2
    c, s = np.cos(angle), np.sin(angle)
    lm = lm @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])
    box = (cx - size / 2, cy - size * 0.45, cx + size / 2, cy + size * 0.6)
    return Face(box, 0.99, lm.astype(np.float32))


def test_landmarks_land_on_template() -> None:
    face = make_face(angle=0.3)
    M = alignment_matrix(face, R)
    np.testing.assert_allclose(transform_points(M, face.landmarks), TEMPLATE * R, atol=1e-3)


def test_mask_ellipse_fits_in_crop() -> None:
    for size in (30.0, 60.0, 120.0):
        face = make_face(size=size, angle=-0.2)
        m = face_crop_mask(face, alignment_matrix(face, R), R)
        assert m.max() == 1.0
        border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
        assert border.max() == 0.0, "the feathered ellipse must lie inside the crop"


def test_crop_then_warp_back_is_identity_inside_region() -> None:
    rng = np.random.default_rng(0)
    img = cv2_smooth(rng.integers(0, 255, (200, 220, 3), dtype=np.uint8))
    face = make_face(size=28.0)  # crop at R=64 upsamples: the round trip is near lossless
    M = alignment_matrix(face, R)
    c = crop(img, M, R)
    reg = face_region(face, img.shape)
    back = warp_back(c, M, (reg.y1 - reg.y0, reg.x1 - reg.x0), (reg.x0, reg.y0))
    inside = reg.alpha > 0.5
    err = np.abs(back.astype(int) - img[reg.slices].astype(int))[inside]
    assert err.mean() < 6


def test_crop_mask_matches_runtime_region() -> None:
    """The mask in crop space, warped back, is the run-time face_region alpha."""
    face = make_face(size=28.0, angle=0.15)
    M = alignment_matrix(face, R)
    m = face_crop_mask(face, M, R)
    reg = face_region(face, (200, 220, 3))
    back = warp_back((m * 255).astype(np.uint8)[..., None].repeat(3, 2), M, reg.alpha.shape, (reg.x0, reg.y0))
    assert np.abs(back[..., 0] / 255.0 - reg.alpha).mean() < 0.02


def test_landmark_maps_and_flip() -> None:
    lm = TEMPLATE * R
    maps = landmark_maps(lm, R)
    assert maps.shape == (5, R, R)
    y, x = np.unravel_index(maps[0].argmax(), (R, R))
    assert abs(x + 0.5 - lm[0, 0]) <= 1 and abs(y + 0.5 - lm[0, 1]) <= 1
    f = flip_landmarks(lm, R)
    assert f[0, 0] < f[1, 0], "after a flip the left eye is still the one on the left"
    np.testing.assert_allclose(flip_landmarks(f, R), lm, atol=1e-5)


def cv2_smooth(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 3)


def test_mask_stops_at_the_image_edge() -> None:
    from deepanon.geometry.align import crop_valid

    face = make_face(cx=20.0, cy=90.0, size=40.0)  # the ellipse reaches past the left edge of the photo
    M = alignment_matrix(face, R)
    valid = crop_valid((200, 220), M, R)
    assert valid.min() == 0.0 and valid.max() == 1.0
    full = face_crop_mask(face, M, R)
    cut = face_crop_mask(face, M, R, image_hw=(200, 220))
    assert (cut <= full + 1e-6).all() and cut.sum() < full.sum()
    assert cut[valid == 0].max() == 0.0
