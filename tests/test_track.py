import numpy as np

from deepanon.track import Tracker, TrackerConfig
from deepanon.types import Face


def face(x: float, y: float, s: float = 40.0, score: float = 0.99) -> Face:
    lm = np.array(
        [[x + 12, y + 15], [x + 28, y + 15], [x + 20, y + 24], [x + 14, y + 32], [x + 26, y + 32]], np.float32
    )
    return Face((x, y, x + s, y + s), score, lm)


def contains(outer: tuple, inner: tuple) -> bool:
    return (
        outer[0] <= inner[0] + 1e-3
        and outer[1] <= inner[1] + 1e-3
        and outer[2] >= inner[2] - 1e-3
        and outer[3] >= inner[3] - 1e-3
    )


def test_ids_are_stable_for_moving_faces_and_boxes_cover_detections():
    tr = Tracker()
    ids = []
    for t in range(30):
        dets = [face(10 + 5 * t, 50), face(400 - 4 * t, 200)]
        out = tr.update(dets)
        assert len(out) == 2
        for d in dets:
            assert any(contains(o.box, d.box) for o in out)  # never covers less than the detector saw
        ids.append(sorted(o.track_id for o in out))
    assert all(i == ids[0] for i in ids)


def test_missed_frame_is_held_not_dropped():
    tr = Tracker()
    for t in range(5):
        tr.update([face(100 + 6 * t, 100)])
    held = tr.update([])  # the detector missed the face in this frame
    assert len(held) == 1 and held[0].track_id == 0
    x0, y0, x1, y1 = held[0].box
    assert x0 <= 100 + 6 * 5 + 2 and x1 >= 100 + 6 * 5 + 40 - 2  # predicted where the face moved to
    again = tr.update([face(100 + 6 * 6, 100)])
    assert [f.track_id for f in again] == [0]


def test_lost_track_dropped_after_hold_and_new_id_on_return():
    tr = Tracker(TrackerConfig(hold_frames=3))
    tr.update([face(100, 100)])
    counts = [len(tr.update([])) for _ in range(5)]
    assert counts == [1, 1, 1, 0, 0]
    back = tr.update([face(100, 100)])
    assert back[0].track_id == 1


def test_crossing_faces_keep_their_ids():
    tr = Tracker()
    first = {}
    for t in range(21):
        a, b = face(50 + 10 * t, 100), face(250 - 10 * t, 104)
        out = tr.update([a, b] if t % 2 else [b, a])
        # identify by which one moves right: track id -> x position trend
        for o in out:
            first.setdefault(o.track_id, []).append(o.center[0])
    assert len(first) == 2
    trends = sorted(np.sign(xs[-1] - xs[0]) for xs in first.values())
    assert trends == [-1, 1]


def test_smoothing_reduces_jitter():
    rng = np.random.default_rng(0)
    tr = Tracker()
    raw, smooth = [], []
    for _ in range(60):
        d = face(200 + rng.normal(0, 3), 200 + rng.normal(0, 3))
        out = tr.update([d])
        raw.append(d.landmarks[0])
        smooth.append(out[0].landmarks[0])
    assert np.std(np.diff(np.array(smooth), axis=0)) < 0.8 * np.std(np.diff(np.array(raw), axis=0))
