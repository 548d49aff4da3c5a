"""Video frames/s: plain decode + encode (the floor), deepanon (blur, gan) and deface, on the same clips.

    python benchmarks/video_throughput.py [--frames 48] [--sizes 1280x720,1920x1080] [--device auto]

Clips are made from samples/crowd.png (a slow pan over six faces), so every run measures the same
pixels; ../shared/data/video/short_hamilton_clip.mp4 is added when present.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from results import markdown_table, write_section

from deepanon import Anonymizer
from deepanon.anonymize.files import anonymize_video_file
from deepanon.media.video import probe_video, transcode_video

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic test clips: tests/videos.py
from tests.videos import make_test_video  # noqa: E402

HAMILTON = ROOT.parent / "shared/data/video/short_hamilton_clip.mp4"


def pan_clip(path: Path, width: int, height: int, frames: int) -> Path:
    crowd = np.asarray(Image.open(ROOT / "samples/crowd.png").convert("RGB"))
    big = cv2.resize(crowd, (int(width * 1.2), int(height * 1.2)), interpolation=cv2.INTER_CUBIC)

    def frame(t: int) -> np.ndarray:
        dx = int((big.shape[1] - width) * t / max(frames - 1, 1))
        return np.ascontiguousarray(big[:height, dx : dx + width])

    return make_test_video(path, frame, n_frames=frames, fps=25, audio=1)


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def identity(frames: list[np.ndarray]) -> list[np.ndarray]:
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", default="copy,blur,gan,deface")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    methods = args.methods.split(",")
    work = Path(tempfile.mkdtemp(prefix="deepanon-bench-"))
    clips = [
        (f"{w}x{h} pan", pan_clip(work / f"pan{h}.mp4", w, h, args.frames))
        for w, h in (map(int, s.split("x")) for s in args.sizes.split(","))
    ]
    if HAMILTON.exists():
        clips.append(("hamilton 640x360", HAMILTON))
    anons = {m: Anonymizer(method=m, device=args.device, seed=0) for m in ("blur", "gan") if m in methods}
    deface_exe = str(Path(sys.executable).with_name("deface"))  # installed beside us by install.sh
    rows = []
    for name, clip in clips:
        n = probe_video(clip).frame_count or args.frames
        row: list[object] = [name, n]
        for m in methods:
            dst = work / f"out-{m}-{clip.name}"
            if m == "copy":
                secs = timed(transcode_video, clip, dst, identity)
            elif m in anons:
                secs = timed(anonymize_video_file, anons[m], clip, dst, clip.name)
            elif m == "deface" and Path(deface_exe).exists():
                cmd = [deface_exe, str(clip), "-o", str(dst), "--ffmpeg-config", '{"codec": "libx264"}']
                secs = timed(subprocess.run, cmd, check=True, capture_output=True)
            else:
                row.append("n/a")
                continue
            row.append(f"{n / secs:.2f}")
            print(name, m, f"{n / secs:.2f} fps", flush=True)
        rows.append(row)
    device = next(iter(anons.values())).device if anons else args.device
    body = (
        f"## Video throughput (benchmarks/video_throughput.py, {device})\n\n"
        f"Frames per second, whole file (decode + detect + anonymize + encode + audio), device {device}. "
        "`copy` is a plain decode + encode of the same clip through the same PyAV path: the floor no anonymizer "
        "can beat. deface: its CLI with default blur (CenterFace via onnxruntime).\n\n"
        + markdown_table(["clip", "frames", *[f"{m} fps" for m in methods]], rows)
    )
    print(body)
    if not args.no_write:
        # One section per device type: a GPU run does not replace the CPU numbers.
        write_section("video-throughput" + ("-cuda" if str(device).startswith("cuda") else ""), body)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
