"""Video edge cases: no faces, a crowd of 50+, 4K frames."""

from pathlib import Path

import av
import numpy as np
from typer.testing import CliRunner

from deepanon.cli import app
from deepanon.media.video import probe_video
from tests.faces import backdrop, scene
from tests.videos import make_test_video


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def anonymize(src: Path, out: Path, *extra: str) -> None:
    res = CliRunner().invoke(app, ["anonymize", str(src), "-o", str(out), "-m", "pixelate", "-q", *extra])
    assert res.exit_code == 0, res.output


def test_video_without_faces_is_kept(tmp_path):
    src = make_test_video(tmp_path / "empty.mp4", [backdrop(120, 160)] * 5, fps=25, audio=1)
    anonymize(src, tmp_path / "o")
    before, after = decode(src), decode(tmp_path / "o" / "empty.mp4")
    assert len(after) == 5 and probe_video(tmp_path / "o" / "empty.mp4").audio_streams == 1
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(before, after)) < 2


def test_crowd_of_50_faces_all_covered(tmp_path):
    heads = [(20 + 125 * (i % 10), 20 + 140 * (i // 10), 0.45) for i in range(50)]  # 10 x 5 heads, faces ~40 px
    frame = scene(720, 1280, heads)
    src = make_test_video(tmp_path / "crowd.mp4", [frame] * 3, fps=25)
    anonymize(src, tmp_path / "o")
    for out in decode(tmp_path / "o" / "crowd.mp4"):
        for x, y, s in heads:
            fx0, fy0, fx1, fy1 = (int(v * s) for v in (62, 44, 147, 154))  # the face inside a head crop
            change = np.abs(
                out[y + fy0 : y + fy1, x + fx0 : x + fx1].astype(int) - frame[y + fy0 : y + fy1, x + fx0 : x + fx1]
            )
            assert change.mean() > 8, (x, y)


def test_4k_frames_small_faces_found_on_tiles(tmp_path):
    heads = [(300, 300, 0.3), (3000, 1500, 0.3), (1800, 200, 1.0)]
    frame = scene(2160, 3840, heads)
    src = make_test_video(tmp_path / "uhd.mp4", [frame] * 2, fps=25)
    anonymize(src, tmp_path / "o")
    info = probe_video(tmp_path / "o" / "uhd.mp4")
    assert (info.width, info.height, info.frame_count) == (3840, 2160, 2)
    out = decode(tmp_path / "o" / "uhd.mp4")[0]
    for x, y, s in heads:
        fx0, fy0, fx1, fy1 = (int(v * s) for v in (62, 44, 147, 154))
        change = np.abs(
            out[y + fy0 : y + fy1, x + fx0 : x + fx1].astype(int) - frame[y + fy0 : y + fy1, x + fx0 : x + fx1]
        )
        assert change.mean() > 8, (x, y)


def test_small_face_pass_runs_on_every_other_frame_and_held_faces_follow_a_pan(monkeypatch):
    from skimage import data

    from deepanon import Anonymizer
    from deepanon.anonymize.pipeline import VideoState
    from deepanon.types import Face

    anon = Anonymizer(method="blur", device="cpu", upscale_every=2)
    flags: list[list[bool]] = []
    monkeypatch.setattr(
        anon.detector, "detect_batch", lambda frames, small_pass=None: flags.append(small_pass) or [[] for _ in frames]
    )
    video = VideoState()
    for n in (3, 3, 2):  # the schedule runs on across batches
        anon.detect_video([np.zeros((64, 64, 3), np.uint8)] * n, video)
    assert flags == [[True, False, True], [False, True, False], [True, False]]

    # A pan over a picture (8 px a frame) with small faces the detector sees only on even frames (as a face only
    # the small-face pass finds): on the odd frames they are held where the pan took them, not left bare.
    world = np.ascontiguousarray(np.tile(data.astronaut(), (1, 2, 1))[:360, :])
    heads = [(300.0, 120.0), (420.0, 200.0), (520.0, 90.0)]
    video, covered = VideoState(), []
    for t in range(12):
        frame = np.ascontiguousarray(world[:, 8 * t : 8 * t + 640])
        truth = [(x - 8 * t, y, x - 8 * t + 14, y + 14) for x, y in heads]
        found = [Face(b, 0.3) for b in truth] if t % 2 == 0 else []
        _, done = anon.replace_video([frame], [found], "pan", video)
        covered += done
    covered += anon.replace_video([], [], "pan", video)[1]
    assert len(covered) == 12
    for t in range(1, 12, 2):  # odd frames: nothing detected, every face still inside a held box
        truth = [(x - 8 * t, y, x - 8 * t + 14, y + 14) for x, y in heads]
        for box in truth:
            assert any(
                b.box[0] <= box[0] + 1 and b.box[1] <= box[1] + 1 and b.box[2] >= box[2] - 1 and b.box[3] >= box[3] - 1
                for b in covered[t]
            ), (t, box, [f.box for f in covered[t]])


def test_plain_search_every_nth_frame_is_scheduled_across_batches(monkeypatch):
    from deepanon import Anonymizer
    from deepanon.anonymize.pipeline import VideoState

    anon = Anonymizer(method="blur", device="cpu", upscale_every=4, detect_every=2)
    calls: list[tuple[int, list[bool]]] = []

    def fake(frames, small_pass=None):
        calls.append((len(frames), list(small_pass)))
        return [[] for _ in frames]

    monkeypatch.setattr(anon.detector, "detect_batch", fake)
    video, got = VideoState(), []
    for n in (3, 3, 3):
        got += anon.detect_video([np.zeros((64, 64, 3), np.uint8)] * n, video)
    # frames 0, 2, 4, 6, 8 searched; the small-face pass on 0, 4, 8; the others None (carried by the tracker)
    assert [f is not None for f in got] == [True, False, True, False, True, False, True, False, True]
    assert calls == [(2, [True, False]), (1, [True]), (2, [False, True])]


def test_faces_are_carried_over_frames_not_searched_and_new_ones_carried_back():
    """Frames not searched (None): each face moves on with the pan and its own motion and stays covered; a face
    that enters on such a frame is covered there too once the next searched frame finds it (the lookback)."""
    from skimage import data

    from deepanon import Anonymizer
    from deepanon.anonymize.pipeline import VideoState
    from deepanon.evaluate.coverage import COVERED_SHARE
    from deepanon.geometry.boxes import intersection_over_first
    from deepanon.types import Face

    anon = Anonymizer(method="blur", device="cpu")
    world = np.ascontiguousarray(np.tile(data.astronaut(), (1, 2, 1))[:360, :])

    def truth(t: int) -> list[tuple[float, float, float, float]]:
        walker = (200.0 + 5 * t, 150.0, 240.0 + 5 * t, 200.0)  # walks right, against the pan
        still = (420.0 - 8 * t, 200.0, 460.0 - 8 * t, 250.0)  # stands still: moves with the pan
        late = (100.0 - 8 * t, 60.0, 136.0 - 8 * t, 104.0)  # enters the video at frame 5
        return [walker, still] + ([late] if t >= 5 else [])

    video, covered = VideoState(), []
    for t in range(16):
        frame = np.ascontiguousarray(world[:, 8 * t : 8 * t + 640])
        found = [Face(b, 0.9) for b in truth(t)] if t % 3 == 0 else None  # searched every 3rd frame
        covered += anon.replace_video([frame], [found], "pan", video)[1]
    covered += anon.replace_video([], [], "pan", video)[1]
    assert len(covered) == 16
    for t in range(16):
        walker, still, *late = truth(t)
        assert any(  # moving with the pan: wholly inside a carried box
            b.box[0] <= still[0] + 1
            and b.box[1] <= still[1] + 1
            and b.box[2] >= still[2] - 1
            and b.box[3] >= still[3] - 1
            for b in covered[t]
        ), (t, still, [f.box for f in covered[t]])
        # The walker's own motion is learnt from its detections, the late face's from where it is carried back from;
        # until then a box holds at least what the benchmarks count as covered (what is changed is an ellipse 1.5x
        # the box), and nearly all of the face from its third detection on.
        boxes = np.array([f.box for f in covered[t]], np.float32)
        for box, first in [(walker, 0), *((b, 5) for b in late)]:
            share = intersection_over_first(np.array([box], np.float32), boxes).max()
            assert share >= (COVERED_SHARE if t < first + 6 else 0.9), (t, box, share)


def test_a_cut_on_a_frame_not_searched_is_searched(monkeypatch):
    from deepanon import Anonymizer
    from deepanon.anonymize.pipeline import VideoState
    from deepanon.types import Face

    anon = Anonymizer(method="blur", device="cpu")
    looked: list[int] = []
    face = Face((40.0, 40.0, 80.0, 90.0), 0.9)

    def fake(frames, small_pass=None):
        looked.append(len(frames))
        return [[face] for _ in frames]

    monkeypatch.setattr(anon.detector, "detect_batch", fake)
    video = VideoState()
    dark, bright = np.full((120, 160, 3), 20, np.uint8), np.full((120, 160, 3), 220, np.uint8)
    anon.replace_video([dark], [[]], "v", video)
    assert looked == []
    out = anon.replace_video([bright], [None], "v", video)[1] + anon.replace_video([], [], "v", video)[1]
    assert looked == [1]  # the new shot was searched although the schedule skipped it
    assert [len(fs) for fs in out] == [0, 1]
