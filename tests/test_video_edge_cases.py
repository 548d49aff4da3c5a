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
    monkeypatch.setattr(anon.detector, "detect_batch", lambda frames, small_pass=None: flags.append(small_pass) or [])
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
