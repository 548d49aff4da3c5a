import numpy as np
import pytest

from deepanon.track import (
    CameraMotion,
    Lookback,
    Shots,
    Tracker,
    TrackerConfig,
    frame_signature,
    is_cut,
    lookback_faces,
)
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


def share_inside(inner: tuple, outer: tuple) -> float:
    w = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    h = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    return w * h / ((inner[2] - inner[0]) * (inner[3] - inner[1]))


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


def test_a_small_weak_detection_does_not_collapse_a_big_face_and_held_boxes_never_invert():
    # A 200-px face half leaves the picture: the detector sees a 40-px sliver of it, then nothing.
    tr = Tracker()
    for _ in range(5):
        tr.update([face(100, 100, s=200)])
    (sliver,) = tr.update([face(110, 110, s=40, score=0.3)])
    assert sliver.width >= 0.9 * 200 - 1e-3 and sliver.height >= 0.9 * 200 - 1e-3
    last = sliver.width
    for _ in range(TrackerConfig().hold_frames):
        (held,) = tr.update([])
        assert held.width >= last - 1e-3 and held.height > 0  # held boxes only grow
        last = held.width


def test_shrinking_face_shrinks_gradually():
    tr = Tracker(TrackerConfig(smooth=1.0))
    widths = [tr.update([face(100, 100, s=s)])[0].width for s in (200, 200, 100, 100, 100, 100, 100, 100, 100)]
    assert all(b >= 0.9 * a - 1e-3 for a, b in zip(widths, widths[1:]))
    assert widths[-1] < 110  # and still follows the face down to its real size


def test_lookback_covers_the_frames_before_a_face_was_first_found():
    # Detected from frame 12 on, walking right 6 px per frame: it was there, unseen, before.
    tr, lb = Tracker(), Lookback(8)
    truth = {t: face(100 + 6 * t, 100) for t in range(20)}
    released = []
    for t in range(20):
        released += lb.push(t, tr.update([truth[t]] if t >= 12 else []))
    released += lb.flush()
    assert [t for t, _ in released] == list(range(20))  # every frame, in order, once
    for t, faces in released:
        if t < 12 - 8:
            assert faces == []
        else:
            assert len(faces) == 1 and faces[0].track_id == 0
            # where the face really was: (nearly) all of it, and the mask reaches 1.5x beyond the box
            assert share_inside(truth[t].box, faces[0].box) > 0.95, t


def fill_backward(tracked: list[list[Face]], frames: int) -> list[list[Face]]:
    """A whole video's tracked faces through the streaming Lookback, in order."""
    lb: Lookback[int] = Lookback(frames)
    return [fs for t, f in enumerate(tracked) for _, fs in lb.push(t, f)] + [fs for _, fs in lb.flush()]


def test_lookback_adds_nothing_to_frames_where_the_track_is():
    tr = Tracker()
    tracked = [tr.update([face(50, 50)] + ([face(300, 80)] if t >= 5 else [])) for t in range(15)]
    streamed = fill_backward(tracked, 4)
    assert len(streamed) == 15 and all(len(fs) >= len(f) for fs, f in zip(streamed, tracked, strict=True))
    assert [len(fs) for fs in streamed] == [1] + [2] * 14  # frames 1-4 gain the second face, frame 0 does not
    assert all(len({f.track_id for f in fs}) == len(fs) for fs in streamed)  # no track twice in a frame


def test_lookback_shift_is_bounded_by_the_face_size():
    first, second = face(300, 100), face(380, 100)  # a jumpy birth: 80 px in one frame
    first = Face(first.box, first.score, first.landmarks, 7)
    second = Face(second.box, second.score, second.landmarks, 7)
    (back,) = lookback_faces([], [[]] * 4 + [[first], [second]], growth=0.0)
    assert back.width <= 2 * first.width + 1e-3  # the first box joined with one at most one face size away
    assert contains(back.box, first.box)


def test_lookback_joins_a_broken_track_instead_of_painting_the_person_twice():
    def tracked(x: float, tid: int) -> Face:
        f = face(x, 100)
        return Face(f.box, f.score, f.landmarks, tid)

    # track 0 until frame 5; the same person comes back as track 1 from frame 6 (the tracker lost the match)
    frames = [[tracked(100, 0)] for _ in range(6)] + [[tracked(104, 1)] for _ in range(6)]
    filled = fill_backward(frames, 4)
    for t in range(2, 6):
        (only,) = filled[t]
        assert only.track_id == 0 and contains(only.box, tracked(104, 1).box)
    assert [len(fs) for fs in filled] == [1] * 12


def test_cuts_are_told_from_camera_motion():
    import cv2
    from skimage import data

    a = cv2.resize(data.astronaut(), (640, 360))
    b = cv2.resize(data.coffee(), (640, 360))
    panned = np.roll(a, 12, axis=1)  # a fast pan: 12 px in one frame
    brighter = np.clip(a.astype(int) + 15, 0, 255).astype(np.uint8)  # lights come up
    assert is_cut(frame_signature(a), frame_signature(b)) and is_cut(frame_signature(b), frame_signature(a))
    assert not is_cut(frame_signature(a), frame_signature(panned))
    assert not is_cut(frame_signature(a), frame_signature(brighter))
    shots = Shots()
    assert [shots.next(f) for f in (a, panned, b, b, a)] == [(0, False), (0, False), (1, True), (1, False), (2, True)]


def test_nothing_is_held_or_carried_back_across_a_cut():
    tr = Tracker()
    tr.update([face(100, 100)])
    tr.cut()
    assert tr.update([]) == []  # the old shot's face is not held into the new one
    lb: Lookback[int] = Lookback(4)
    born = Face((300, 80, 340, 120), 0.9, None, 5)
    shots = [0, 0, 0, 1, 1, 1]
    released = [r for t in range(6) for r in lb.push(t, [born] if t >= 3 else [], shots[t])] + lb.flush()
    assert [len(fs) for _, fs in released] == [0, 0, 0, 1, 1, 1]
    lb = Lookback(4)  # the same without the cut: carried back
    released = [r for t in range(6) for r in lb.push(t, [born] if t >= 3 else [])] + lb.flush()
    assert [len(fs) for _, fs in released] == [1, 1, 1, 1, 1, 1]


def test_a_held_false_alarm_on_a_tracked_face_is_not_painted_as_a_second_face():
    tr = Tracker()
    big = face(100, 100, s=120)
    ear = face(190, 150, s=24, score=0.5)  # a false alarm on the ear, inside the face's box
    tr.update([big, ear])  # the detector's own merge would have caught this; a tracker's hold must too
    out = tr.update([face(100, 100, s=120)])  # the ear track is held, the face tracked
    assert len(out) == 1 and contains(out[0].box, big.box) and contains(out[0].box, ear.box)


def test_camera_motion_reads_a_pan_and_ignores_what_is_not_one():
    import cv2
    from skimage import data

    a = cv2.resize(data.astronaut(), (960, 540))
    cam = CameraMotion()
    assert cam.step(a).tolist() == [0.0, 0.0]  # nothing to compare the first frame with
    moved = np.roll(a, (-5, 12), axis=(0, 1))  # the picture moves 12 px right and 5 px up
    dx, dy = cam.step(moved)
    assert abs(dx - 12) < 0.5 and abs(dy + 5) < 0.5
    assert np.allclose(cam.step(moved), 0.0, atol=0.1)  # a still camera
    assert cam.step(cv2.resize(data.coffee(), (960, 540))).tolist() == [0.0, 0.0]  # a cut: no common motion
    assert cam.step(a[:270, :480].copy()).tolist() == [0.0, 0.0]  # another frame size: no shift guessed
    cam = CameraMotion()
    cam.step(a)
    # a third of the picture in one frame is no pan (phase correlation wraps around): held boxes must not jump
    assert cam.step(np.roll(a, 320, axis=1)).tolist() == [0.0, 0.0]


def test_held_boxes_follow_the_camera():
    small = face(100, 100, s=16)  # a small face in a crowd, the detector misses it in the next frame
    for camera, covered in (((14.0, 3.0), True), (None, False)):
        tr = Tracker()
        tr.update([small])
        (held,) = tr.update([], camera=None if camera is None else np.array(camera, np.float32))
        there = (114.0, 103.0, 130.0, 119.0)  # where the pan took it
        assert (share_inside(there, held.box) >= 0.9) is covered
        if camera is not None:  # landmarks move with it too (the painter aligns by them)
            assert np.allclose(held.landmarks, small.landmarks + np.array(camera, np.float32))


def test_held_faces_follow_the_picture_only_when_the_faces_found_did():
    """The picture's shift can be a large person walking past while the crowd behind stands still."""
    big, a, b, held = face(100, 100, s=200), face(400, 40, s=16), face(460, 40, s=16), face(520, 40, s=16)
    walk = np.array([-20.0, 0.0], np.float32)
    tr = Tracker()
    tr.update([big, a, b, held])
    big_moved = Face((80, 100, 280, 300), 0.99, big.landmarks + walk)
    out = tr.update([big_moved, a, b], camera=walk)  # `held` missed; two of three found faces stood still
    assert len({f.track_id for f in out}) == 4  # nobody lost their track
    kept = next(f for f in out if f.track_id == 3)  # ids in order of first detection: big, a, b, held
    assert share_inside(held.box, kept.box) >= 0.9  # held where it stands, not carried off by the walker
    tr = Tracker()  # a pan: the found faces all moved with the picture, so the missed one is held where it went
    tr.update([big, a, held])
    pan = [Face(tuple(np.add(f.box, np.tile(walk, 2))), f.score, f.landmarks + walk) for f in (big, a)]
    out = tr.update(pan, camera=walk)
    there = tuple(np.add(held.box, np.tile(walk, 2)))
    assert any(share_inside(there, f.box) >= 0.9 for f in out)
    assert len({f.track_id for f in out}) == 3


def test_a_face_cut_by_the_frame_edge_does_not_teach_its_track_how_it_moves() -> None:
    """Entering from the right during a pan to the left, the face's box grows leftward while its right side stays
    on the edge: its centre moves less than the face. The track's motion is learnt only from uncut boxes."""
    from deepanon.track import Tracker
    from deepanon.types import Face

    tr = Tracker()
    size = (240, 320)
    tr.update([Face((300.0, 100.0, 320.0, 150.0), 0.9)], np.array([-20.0, 0.0]), size)
    tr.update([Face((270.0, 100.0, 320.0, 150.0), 0.9)], np.array([-20.0, 0.0]), size)
    (track,) = tr._tracks
    assert track.with_camera is None and not track.velocity.any()  # still unknown: both hypotheses kept
    tr.update([Face((250.0, 100.0, 300.0, 150.0), 0.9)], np.array([-20.0, 0.0]), size)  # whole now: it moved
    assert track.with_camera is True


def test_as_box_gives_four_python_floats_and_refuses_anything_else() -> None:
    from deepanon.types import as_box

    box = as_box(np.array([1, 2, 3.5, 4], np.float32))
    assert box == (1.0, 2.0, 3.5, 4.0) and all(type(v) is float for v in box)
    with pytest.raises(ValueError):
        as_box([1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        as_box([1.0, 2.0, 3.0, 4.0, 5.0])
