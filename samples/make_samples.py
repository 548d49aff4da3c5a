"""Makes the files in samples/ from public-domain material that ships inside scikit-image.

astronaut: NASA photo of Eileen Collins (public domain). camera: the cameraman test image
(scikit-image lists it as free of known restrictions). Run: python samples/make_samples.py
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).parent


def astronaut_with_gps(path: Path) -> None:
    """The astronaut as a phone would save it: stored sideways with an orientation tag, and GPS."""
    img = Image.fromarray(data.astronaut()).transpose(Image.Transpose.ROTATE_90)  # stored rotated
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    exif[0x010F] = "deepanon sample camera"
    gps = {1: "N", 2: (28.0, 31.0, 27.0), 3: "W", 4: (80.0, 39.0, 3.0)}  # Kennedy Space Center
    exif[0x8825] = gps
    img.save(path, quality=92, exif=exif.tobytes())


def crowd(size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A made-up group picture: the astronaut's head at several sizes on a plain studio backdrop."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([60 + 80 * xx / w, 90 + 60 * yy / h, 140 - 40 * xx / w], -1).astype(np.uint8)
    head = data.astronaut()[20:260, 120:330]  # head and shoulders
    rng = np.random.default_rng(7)
    for k, scale in enumerate([1.2, 0.8, 0.55, 0.4, 0.3, 0.22]):
        hh, ww = int(head.shape[0] * scale), int(head.shape[1] * scale)
        patch = cv2.resize(head, (ww, hh), interpolation=cv2.INTER_AREA)
        if k % 2:
            patch = patch[:, ::-1]
        x = int(40 + (w - ww - 80) * k / 5)
        y = int(rng.integers(20, max(h - hh - 20, 21)))
        bg[y : y + hh, x : x + ww] = patch
    return bg


def video(path: Path, frames: int = 48, fps: int = 24) -> None:
    """A two-second clip: two heads moving across the backdrop, with a quiet tone as its sound."""
    w, h = 640, 360
    head = data.astronaut()[20:260, 120:330]
    small = cv2.resize(head, (105, 120), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([50 + 60 * xx / w, 80 + 50 * yy / h, 120 + 0 * xx], -1).astype(np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "20"}
        aus = out.add_stream("aac", rate=44100)
        for i in range(frames):
            frame = bg.copy()
            x1 = 40 + i * 8
            frame[60 : 60 + 240, x1 % (w - 210) : x1 % (w - 210) + 210] = head
            x2 = w - 150 - i * 4
            frame[200 : 200 + 120, x2 : x2 + 105] = small[:, ::-1]
            for p in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        t = np.arange(int(44100 * frames / fps)) / 44100
        tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = tone[start : start + 1024][None, :]
            af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            af.sample_rate = 44100
            af.pts = start
            af.time_base = Fraction(1, 44100)
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode():
            out.mux(p)


def main() -> None:
    astronaut_with_gps(HERE / "astronaut.jpg")
    Image.fromarray(crowd()).save(HERE / "crowd.png", optimize=True)
    Image.fromarray(data.camera()).save(HERE / "cameraman.png", optimize=True)
    video(HERE / "clip.mp4")


if __name__ == "__main__":
    main()
