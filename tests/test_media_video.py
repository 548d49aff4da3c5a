"""Video transcode: frames, timing, size, rotation and audio survive; process is applied; bad inputs fail cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from deepanon.media.atomic import TMP_MARKER
from deepanon.media.errors import MediaError
from deepanon.media.video import is_video_path, probe_video, transcode_video
from tests.videos import make_test_video

FAST = {"preset": "ultrafast", "batch_size": 4}


def _scene(w: int = 160, h: int = 120):
    """Upright frames: a white block at the top-left (shows the orientation), brightness varying with time."""

    def frame(i: int) -> np.ndarray:
        a = np.full((h, w, 3), 90 + 3 * i, np.uint8)
        a[: h // 4, : w // 4] = 255
        return a

    return frame


def _darken_bottom(frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for f in frames:
        g = f.copy()
        g[f.shape[0] // 2 :] = 0
        out.append(g)
    return out


def _decoded(path: Path) -> tuple[list[np.ndarray], list[int], int]:
    """Upright RGB frames, their pts and the display rotation."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        rot = frames[0].rotation // 90
        return [np.rot90(f.to_ndarray(format="rgb24"), rot) for f in frames], [f.pts for f in frames], rot * 90


def test_mp4_ntsc_rate_rotation_two_audio_streams(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "in.mp4", _scene(), n_frames=20, fps=Fraction(30000, 1001), audio=2, rotation=90)
    before = src.read_bytes()
    shapes: list[tuple[int, ...]] = []
    progress: list[int] = []

    def process(frames: list[np.ndarray]) -> list[np.ndarray]:
        shapes.extend(f.shape for f in frames)
        assert len(frames) <= 4
        return _darken_bottom(frames)

    info = transcode_video(src, tmp_path / "out.mp4", process, on_frames=progress.append, **FAST)
    assert info.frame_count == 20 and not info.warnings
    assert set(shapes) == {(120, 160, 3)}  # upright for the detector
    assert progress == [4, 8, 12, 16, 20]
    out = probe_video(tmp_path / "out.mp4")
    assert (out.width, out.height, out.rotation) == (120, 160, 90)
    assert out.fps == Fraction(30000, 1001) and out.frame_count == 20
    assert out.audio_codecs == ["aac", "aac"]
    frames, pts, _ = _decoded(tmp_path / "out.mp4")
    _, pts_in, _ = _decoded(src)
    assert pts == pts_in
    assert frames[5][:30, :40].mean() > 200  # the white block is still top-left when displayed
    assert frames[5][70:].mean() < 20  # the processed region came out dark
    assert src.read_bytes() == before


@pytest.mark.parametrize(("ext", "codec"), [(".mkv", "h264"), (".webm", "vp9"), (".avi", "h264"), (".mov", "h264")])
def test_containers_and_odd_size(tmp_path: Path, ext: str, codec: str) -> None:
    src = make_test_video(tmp_path / f"in{ext}", _scene(161, 121), n_frames=10, fps=25, audio=1)
    info = transcode_video(src, tmp_path / f"out{ext}", _darken_bottom, **FAST)
    assert info.frame_count == 10
    out = probe_video(tmp_path / f"out{ext}")
    assert (out.width, out.height) == (161, 121) and out.video_codec == codec and out.audio_streams == 1
    frames, pts, _ = _decoded(tmp_path / f"out{ext}")
    pts_in = _decoded(src)[1]
    assert len(frames) == 10
    # AVI stores no timestamps (its demuxer offsets them by the codec delay): there the spacing must match.
    assert np.array_equal(np.diff(pts), np.diff(pts_in)) if ext == ".avi" else pts == pts_in
    assert frames[0][80:].mean() < 20 and frames[0][:20, :30].mean() > 200


def test_audio_copied_or_reencoded_as_the_container_needs(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "in.mkv", _scene(), n_frames=8, audio=["pcm_s16le", "libopus"])
    transcode_video(src, tmp_path / "same.mkv", lambda f: f, **FAST)
    assert probe_video(tmp_path / "same.mkv").audio_codecs == ["pcm_s16le", "opus"]  # copied
    transcode_video(src, tmp_path / "other.mp4", lambda f: f, **FAST)
    assert probe_video(tmp_path / "other.mp4").audio_codecs == ["aac", "opus"]  # PCM does not fit in MP4


def test_no_audio_single_frame_and_vfr(tmp_path: Path) -> None:
    one = make_test_video(tmp_path / "one.mp4", [_scene()(0)])
    info = transcode_video(one, tmp_path / "one_out.mp4", lambda f: f, **FAST)
    assert info.frame_count == 1 and not info.has_audio
    assert probe_video(tmp_path / "one_out.mp4").frame_count == 1

    vfr_pts = [0, 1, 2, 5, 6, 10, 11, 12]
    vfr = make_test_video(tmp_path / "vfr.mkv", _scene(), n_frames=8, fps=25, pts=vfr_pts)
    transcode_video(vfr, tmp_path / "vfr_out.mkv", lambda f: f, **FAST)
    assert _decoded(tmp_path / "vfr_out.mkv")[1] == _decoded(vfr)[1]


def test_corrupt_tail_keeps_what_decodes(tmp_path: Path) -> None:
    src = make_test_video(
        tmp_path / "in.mkv",
        lambda i: np.asarray(np.random.default_rng(i).integers(0, 256, (120, 160, 3)), np.uint8),
        n_frames=24,
        audio=1,
    )
    data = src.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    info = transcode_video(cut, tmp_path / "out.mkv", lambda f: f, **FAST)
    assert 0 < info.frame_count < 40
    assert info.warnings  # reported, not silent
    assert len(_decoded(tmp_path / "out.mkv")[0]) == info.frame_count  # a complete, playable file


@pytest.mark.parametrize("kind", ["text", "empty", "jpeg", "truncated_mp4"])
def test_not_a_video(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.mp4"
    if kind == "text":
        path.write_text("this is not a video\n" * 50)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "jpeg":
        from PIL import Image

        Image.new("RGB", (32, 32)).save(path, format="JPEG")
    else:  # moov atom at the end: a cut file has no index at all
        data = make_test_video(tmp_path / "full.mp4", _scene(), n_frames=8).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as err:
        probe_video(path)
    assert str(tmp_path) not in str(err.value)
    with pytest.raises(MediaError):
        transcode_video(path, tmp_path / "out.mp4", lambda f: f, **FAST)
    assert not (tmp_path / "out.mp4").exists()


def test_failure_inside_process_leaves_no_output(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "in.mp4", _scene(), n_frames=8)

    def broken(frames: list[np.ndarray]) -> list[np.ndarray]:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        transcode_video(src, tmp_path / "out" / "out.mp4", broken, **FAST)
    assert not any(TMP_MARKER in n for n in os.listdir(tmp_path / "out"))
    assert not (tmp_path / "out" / "out.mp4").exists()


def test_process_may_hold_frames_back_and_return_them_late(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "in.mp4", _scene(), n_frames=11)
    held: list[np.ndarray] = []

    def lagging(frames: list[np.ndarray]) -> list[np.ndarray]:  # 5 frames late, like the video lookback
        held.extend(frames)
        n = len(held) - 5 if frames else len(held)
        out = held[:n]
        del held[:n]
        return out

    progress: list[int] = []
    opts = {**FAST, "batch_size": 3}
    info = transcode_video(src, tmp_path / "out.mp4", lagging, on_frames=progress.append, **opts)
    frames, pts, _ = _decoded(tmp_path / "out.mp4")
    _, pts_in, _ = _decoded(src)
    assert info.frame_count == 11 and len(frames) == 11 and pts == pts_in
    brightness = [float(f[-10:, -10:].mean()) for f in frames]  # the scene brightens 3 levels a frame
    assert all(b > a for a, b in zip(brightness, brightness[1:]))  # each frame at its own place
    assert progress[-1] == 11 and progress == sorted(set(progress))
    assert np.array_equal(held, [])


def test_process_that_keeps_frames_is_an_error_with_no_output(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "in.mp4", _scene(), n_frames=6)
    with pytest.raises(ValueError, match="kept"):
        transcode_video(src, tmp_path / "out" / "out.mp4", lambda f: f[:1], **FAST)
    assert not (tmp_path / "out" / "out.mp4").exists()


def test_process_that_returns_extra_frames_is_an_error_with_no_output(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "in.mp4", _scene(), n_frames=6)
    with pytest.raises(ValueError, match="more frames"):
        transcode_video(src, tmp_path / "out" / "out.mp4", lambda f: f + f, **FAST)
    assert not (tmp_path / "out" / "out.mp4").exists()


def test_extensions() -> None:
    assert is_video_path("a/B.MP4") and is_video_path("x.webm") and not is_video_path("x.jpg")


def test_memory_stays_flat_on_long_videos(tmp_path: Path) -> None:
    """Frames stream through: the peak memory of a transcode does not grow with the video's length. Each run is
    its own process (peak RSS cannot be reset); holding every frame of the longer clip would add ~280 MB."""
    code = (
        "import resource, sys\n"
        "from deepanon.media.video import transcode_video\n"
        "transcode_video(sys.argv[1], sys.argv[2], lambda fr: fr, preset='ultrafast', batch_size=8)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"  # KiB on Linux
    )
    scene = _scene(640, 480)

    def peak_kib(n: int) -> int:
        src = make_test_video(tmp_path / f"long{n}.mp4", lambda i: scene(i % 50), n_frames=n)
        out = subprocess.run(
            [sys.executable, "-c", code, str(src), str(tmp_path / f"out{n}.mp4")], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return int(out.stdout.split()[-1])

    short, long = peak_kib(50), peak_kib(350)
    assert long - short < 60_000, (short, long)  # 300 more frames of 0.9 MB would be 276 MB
