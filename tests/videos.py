"""Synthetic videos for the tests: frames given upright, stored rotated, with sine-tone audio streams."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from deepanon.media.video import _FORMAT_BY_SUFFIX


def make_test_video(
    path: Path | str,
    frames: list[np.ndarray] | Callable[[int], np.ndarray],
    *,
    n_frames: int | None = None,
    fps: Fraction | int = 25,
    audio: int | list[str] = 0,
    rotation: int = 0,
    pts: list[int] | None = None,
) -> Path:
    """Write a small synthetic video (for tests and benchmarks): frames given upright RGB, stored rotated by
    `rotation` (counter-clockwise display degrees), plus `audio` sine-tone streams (a count, or codec names)."""
    path = Path(path)
    fmt = _FORMAT_BY_SUFFIX.get(path.suffix.lower(), "mp4")
    count = len(frames) if isinstance(frames, list) else int(n_frames or 0)
    get = (lambda i: frames[i]) if isinstance(frames, list) else frames
    fps = Fraction(fps)
    k = (rotation // 90) % 4
    first = np.rot90(get(0), -k)
    h, w = first.shape[:2]
    codecs = audio if isinstance(audio, list) else [("libopus" if fmt == "webm" else "aac")] * audio
    with av.open(str(path), "w", format=fmt) as out:
        vcodec = "libvpx-vp9" if fmt == "webm" else "libx264"
        options = {"preset": "ultrafast", "bf": "0" if fmt == "avi" else "2"} if vcodec == "libx264" else {}
        vs = out.add_stream(vcodec, rate=fps, options=options)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv444p" if (w % 2 or h % 2) and vcodec == "libx264" else "yuv420p"
        vs.codec_context.time_base = 1 / fps
        if rotation:
            vs.set_display_rotation(rotation)
        streams = [out.add_stream(c, rate=48000) for c in codecs]
        for s in streams:
            s.layout = "stereo"
        for i in range(count):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(get(i), -k)), "rgb24")
            f.pts = pts[i] if pts else i
            f.time_base = 1 / fps
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        seconds = count / fps
        for j, s in enumerate(streams):
            resampler = av.AudioResampler(
                format=s.codec_context.codec.audio_formats[0].name, layout="stereo", rate=48000
            )
            n = int(48000 * seconds)
            t = np.arange(n) / 48000
            tone = (0.2 * np.sin(2 * np.pi * (440 + 110 * j) * t)).astype(np.float32)
            for start in range(0, n, 960):
                chunk = np.ascontiguousarray(np.tile(tone[start : start + 960], (2, 1)))
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, start
                for r in resampler.resample(af):
                    out.mux(s.encode(r))
            for r in resampler.resample(None):
                out.mux(s.encode(r))
            out.mux(s.encode(None))
    return path
