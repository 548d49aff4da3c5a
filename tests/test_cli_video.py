"""End to end on videos the tests make: frame count, rate, audio kept; every face covered in every frame."""

import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from deepanon import Anonymizer
from deepanon.cli import app
from deepanon.media.video import probe_video
from tests.faces import backdrop, head
from tests.videos import make_test_video

W, H, SCALE = 320, 240, 0.5
# where the face (not the whole head crop) lies inside a pasted head, at SCALE
FACE_IN_HEAD = (31, 22, 73, 77)


def positions(t: int) -> list[tuple[int, int]]:
    """Two heads crossing each other's path (the motion repeats every 24 frames)."""
    t %= 24
    return [(10 + 4 * t, 20), (190 - 4 * t, 110)]


def frame(t: int) -> np.ndarray:
    img = backdrop(H, W)
    small = cv2.resize(head(), (int(210 * SCALE), int(240 * SCALE)), interpolation=cv2.INTER_AREA)
    for x, y in positions(t):
        img[y : y + small.shape[0], x : x + small.shape[1]] = small
    return img


def face_boxes(t: int) -> list[tuple[int, int, int, int]]:
    fx0, fy0, fx1, fy1 = FACE_IN_HEAD
    return [(x + fx0, y + fy0, x + fx1, y + fy1) for x, y in positions(t)]


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def assert_every_face_covered(src: Path, dst: Path, n: int) -> None:
    before, after = decode(src), decode(dst)
    assert len(after) == len(before) == n
    for t, (a, b) in enumerate(zip(before, after)):
        for x0, y0, x1, y1 in face_boxes(t):
            change = np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1]).mean()
            assert change > 12, f"frame {t}: face at {(x0, y0)} looks unchanged (mean change {change:.1f})"
        # the backdrop far from the heads is kept up to codec noise
        assert np.abs(a[-20:, :].astype(int) - b[-20:, :]).mean() < 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vid") / "clip.mp4"
    return make_test_video(path, frame, n_frames=24, fps=Fraction(30000, 1001), audio=1)


def test_video_cli_keeps_count_rate_audio_and_covers_every_face(clip, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["anonymize", str(clip), "-o", str(out), "-m", "pixelate", "-q"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    dst = out / "clip.mp4"
    src_info, dst_info = probe_video(clip), probe_video(dst)
    assert dst_info.fps == src_info.fps == Fraction(30000, 1001)
    assert (dst_info.width, dst_info.height) == (W, H)
    assert dst_info.audio_streams == 1
    assert_every_face_covered(clip, dst, 24)


def test_detector_miss_in_one_frame_leaves_no_hole(clip, tmp_path):
    anon = Anonymizer(method="pixelate")
    real_detect = anon.detector.detect_batch
    calls = {"frame": 0}

    def flaky(frames, small_pass=None):
        out = real_detect(frames, small_pass)
        for i in range(len(out)):
            if calls["frame"] + i == 11:
                out[i] = []  # the detector misses every face in frame 11
        calls["frame"] += len(frames)
        return out

    anon.detector.detect_batch = flaky
    dst = tmp_path / "o.mp4"
    result = anon.anonymize_path(clip, dst)
    assert result.frames == 24
    assert_every_face_covered(clip, dst, 24)


def test_faces_found_late_are_covered_before_too(clip, tmp_path):
    anon = Anonymizer(method="pixelate")
    real_detect = anon.detector.detect_batch
    calls = {"frame": 0}

    def late(frames, small_pass=None):  # nobody found before frame 6 (faces entering, turning, coming into focus)
        out = [fs if calls["frame"] + i >= 6 else [] for i, fs in enumerate(real_detect(frames, small_pass))]
        calls["frame"] += len(frames)
        return out

    anon.detector.detect_batch = late
    dst = tmp_path / "o.mp4"
    assert anon.anonymize_path(clip, dst).frames == 24
    assert_every_face_covered(clip, dst, 24)


def test_other_containers_and_rotation(tmp_path):
    src = make_test_video(tmp_path / "r.mov", frame, n_frames=6, fps=25, rotation=90, audio=1)
    res = CliRunner().invoke(app, ["anonymize", str(src), "-o", str(tmp_path / "o"), "-m", "blur", "-q"])
    assert res.exit_code == 0, res.output
    a, b = probe_video(src), probe_video(tmp_path / "o" / "r.mov")
    assert (b.width, b.height, b.rotation, b.frame_count) == (a.width, a.height, a.rotation, 6)


def test_corrupt_video_is_reported_and_batch_goes_on(clip, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.mp4").write_bytes(clip.read_bytes())
    (folder / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    res = CliRunner().invoke(app, ["anonymize", str(folder), "-o", str(tmp_path / "o"), "-m", "blur", "-q"])
    assert res.exit_code == 1
    assert "bad.mp4" in res.output
    assert (tmp_path / "o" / "good.mp4").exists() and not (tmp_path / "o" / "bad.mp4").exists()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["good.mp4"]


def test_ctrl_c_leaves_no_partial_output(tmp_path):
    src = make_test_video(tmp_path / "long.mp4", frame, n_frames=300, fps=25)
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("deepanon")
    proc = subprocess.Popen(
        [str(exe), "anonymize", str(src), "-o", str(out), "-m", "blur"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts background jobs with SIGINT ignored and Python keeps that: give the child the default
        # disposition, so the test does not depend on how pytest itself was started.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any(out.iterdir())):
        time.sleep(0.2)  # wait until the temporary output exists: the interrupt lands mid-file
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(out.iterdir()) == []


def test_video_location_is_never_kept(tmp_path):
    """A phone clip's container tags: location always dropped, the rest only with --keep-metadata."""
    src = tmp_path / "in" / "trip.mp4"
    src.parent.mkdir()
    with av.open(str(src), "w") as out:
        out.metadata.update({"location": "+28.5231-080.6508/", "title": "our trip", "comment": "day 2"})
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), "rgb24")
            f.pts = i
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
    with av.open(str(src)) as c:
        assert c.metadata["location"] and c.metadata["title"] == "our trip"  # the input really carries them

    def tags(*flags: str) -> dict[str, str]:
        out = tmp_path / ("keep" if flags else "default")
        res = CliRunner().invoke(app, ["anonymize", str(src), "-o", str(out), "-m", "blur", "-q", *flags])
        assert res.exit_code == 0, res.output
        with av.open(str(out / "trip.mp4")) as c:
            return dict(c.metadata)

    default, kept = tags(), tags("--keep-metadata")
    assert not any("location" in k or "title" in k or "comment" in k for k in default), default
    assert kept["title"] == "our trip" and kept["comment"] == "day 2"
    assert not any("location" in k for k in kept), kept
