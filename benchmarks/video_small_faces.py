"""Video: how often the small-face pass and the plain search must run. Crowded WIDER val photos become slow pans (the
ground-truth boxes move with the picture); each frame is detected with and without the pass once, then every
schedule (pass on every frame, every 2nd, 3rd, ... frame, never; the plain search on every frame or only on every
N-th, the tracker carrying the faces over the others) is replayed through deepanon's real video path (tracker,
holds, lookback) and scored: share of the faces anonymized per face height, detection time per frame.

    python benchmarks/video_small_faces.py [--data ../shared/data/wider-val] [--images 8] [--frames 24]

Slow: every frame is searched twice (about 2 s per frame on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from results import markdown_table, publish

from deepanon import Anonymizer
from deepanon.anonymize.pipeline import VideoState
from deepanon.evaluate.coverage import COVERED_SHARE
from deepanon.evaluate.matching import matched_gt
from deepanon.evaluate.wider import HEIGHT_CLASSES, WiderImage, height_class, read_wider
from deepanon.geometry.boxes import intersection_over_first
from deepanon.track import CameraMotion
from deepanon.types import Face


@dataclass(frozen=True)
class Schedule:
    small: int  # the small-face pass runs on every N-th frame (0: never)
    camera: bool = True  # held boxes follow the camera's motion
    search: int = 1  # the plain search runs on every N-th frame (and on the pass's); the tracker carries the rest

    def found(self, i: int, runs: dict[bool, list[list[Face]]]) -> list[Face] | None:
        """What the detector gives frame i: with or without the pass, or None (not searched)."""
        small = self.small > 0 and i % self.small == 0
        return runs[small][i] if small or i % self.search == 0 else None

    def searches(self, n: int) -> tuple[int, int]:
        """(frames searched with the pass, frames searched without it) of n frames."""
        small = sum(self.small > 0 and i % self.small == 0 for i in range(n))
        return small, sum(self.found(i, {True: [[]] * n, False: [[]] * n}) is not None for i in range(n)) - small


SCHEDULES = {f"pass every {e}": Schedule(e) for e in (1, 2, 3, 4)} | {
    "pass never": Schedule(0),
    "pass every 1, camera motion ignored": Schedule(1, False),
    "pass every 2, camera motion ignored": Schedule(2, False),
    "search every 2, pass every 2": Schedule(2, search=2),
    "search every 2, pass every 4": Schedule(4, search=2),
    "search every 3, pass every 3": Schedule(3, search=3),
    "search every 4, pass every 4": Schedule(4, search=4),
}
SMALL = 32  # px: the faces the pass is for (a WIDER crowd has dozens under this)


def crowded(images: list[WiderImage], n: int, min_small: int = 15) -> list[WiderImage]:
    """The first n images with at least min_small faces under SMALL px: where a schedule can miss something."""
    return [im for im in images if int(((im.boxes[:, 3] - im.boxes[:, 1]) < SMALL).sum()) >= min_small][:n]


def pan(rgb: np.ndarray, boxes: np.ndarray, frames: int, travel: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A horizontal pan over `travel` of the width: frames and, per frame, the ground-truth boxes wholly inside."""
    h, w = rgb.shape[:2]
    width = int(w * (1 - travel)) // 2 * 2
    out, gts = [], []
    for t in range(frames):
        dx = round((w - width) * t / max(frames - 1, 1))
        out.append(np.ascontiguousarray(rgb[:, dx : dx + width]))
        b = boxes - np.array([dx, 0, dx, 0], np.float32)
        gts.append(b[(b[:, 0] >= 0) & (b[:, 2] <= width)])
    return out, gts


def replay(
    anon: Anonymizer, frames: list[np.ndarray], found: list[list[Face] | None], camera: bool = True
) -> list[list[Face]]:
    """The boxes deepanon anonymizes in each frame, given what was detected: the real tracker, holds and lookback;
    camera False: as before camera motion was followed (a peak response no frame reaches)."""
    video = VideoState() if camera else VideoState(camera=CameraMotion(min_response=2.0))
    out: list[list[Face]] = []
    for frame, faces in zip(frames, found):
        out += anon.replace_video([frame], [faces], "pan", video)[1]
    return out + anon.replace_video([], [], "pan", video)[1]


def covered(gt: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per ground-truth box: does some anonymized box hold at least COVERED_SHARE of its area (the mask is an
    ellipse 1.5x the box, so this is a conservative stand-in for "its pixels were replaced")."""
    if len(boxes) == 0:
        return np.zeros(len(gt), bool)
    return intersection_over_first(gt, boxes).max(axis=1) >= COVERED_SHARE


def score(gts: list[np.ndarray], anonymized: list[list[Face]]) -> tuple[dict[str, list[bool]], dict[str, list[bool]]]:
    """Per height class: each ground-truth face of each frame found (IoU >= 0.4) and covered (covered())."""
    found: dict[str, list[bool]] = {label: [] for label, _, _ in HEIGHT_CLASSES}
    cover: dict[str, list[bool]] = {label: [] for label, _, _ in HEIGHT_CLASSES}
    for gt, faces in zip(gts, anonymized, strict=True):
        boxes = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        for box, hit, cov in zip(gt, matched_gt(gt, boxes), covered(gt, boxes)):
            found[height_class(box[3] - box[1])].append(bool(hit))
            cover[height_class(box[3] - box[1])].append(bool(cov))
    return found, cover


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/wider-val")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--travel", type=float, default=0.15, help="share of the width the pan crosses")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    images = crowded(read_wider(args.data / "wider_face_val_bbx_gt.txt", args.data / "images"), args.images)
    anon = Anonymizer(method="blur", device="cpu", seed=0)  # the boxes do not depend on the method; blur is cheapest
    det = anon.detector
    schedules: dict[str, tuple[list[bool], list[bool]]] = {}  # name -> (found, covered) over all clips
    cost: dict[str, float] = {}  # name -> detection seconds the schedule spends (each clip's measured searches)
    n_frames = 0
    for k, im in enumerate(images):
        frames, gts = pan(np.asarray(Image.open(im.path).convert("RGB")), im.boxes, args.frames, args.travel)
        det.detect_batch(frames[:1])  # warm-up
        runs: dict[bool, list[list[Face]]] = {}
        secs_clip = {}
        for small_pass in (True, False):
            t0 = time.perf_counter()
            runs[small_pass] = [det.detect_batch([f], [small_pass])[0] for f in frames]
            secs_clip[small_pass] = (time.perf_counter() - t0) / len(frames)  # per frame of this clip
        n_frames += len(frames)
        for name, sched in SCHEDULES.items():
            found = [sched.found(i, runs) for i in range(len(frames))]
            hit, cov = score(gts, replay(anon, frames, found, sched.camera))
            n_small, n_plain = sched.searches(len(frames))
            cost[name] = cost.get(name, 0.0) + n_small * secs_clip[True] + n_plain * secs_clip[False]
            acc = schedules.setdefault(name, ({}, {}))
            for d, new in zip(acc, (hit, cov)):
                for label, v in new.items():
                    d.setdefault(label, []).extend(v)
        print(f"clip {k + 1}/{len(images)}: {im.path.name}, {len(im.boxes)} faces", flush=True)
    rows = []
    for name, (hit, cov) in schedules.items():
        ms = 1000 * cost[name] / n_frames
        pct = [f"{100 * np.mean(cov[lb]):.1f}" if cov[lb] else "-" for lb, _, _ in HEIGHT_CLASSES]
        rec = [f"{100 * np.mean(hit[lb]):.1f}" if hit[lb] else "-" for lb, _, _ in HEIGHT_CLASSES]
        rows.append([name, *pct, *rec, f"{ms:.0f}"])
        print(rows[-1], flush=True)
    labels = [label for label, _, _ in HEIGHT_CLASSES]
    n_faces = sum(len(v) for v in schedules["pass never"][0].values())
    body = (
        f"{len(images)} crowded WIDER val photos (the first with >= 15 faces under {SMALL} px) as {args.frames}-frame "
        f"horizontal pans across {100 * args.travel:.0f} % of their width ({n_frames} frames, {n_faces} face-frames "
        f"wholly in view); the default detector ({', '.join(det.config.detectors)}), each frame searched with and "
        "without the small-face pass, then each schedule replayed through the video path (tracker, holds, "
        "lookback; a frame not searched is carried by the tracker). covered: "
        f"an anonymized box holds >= {100 * COVERED_SHARE:.0f} % of the face's box; found: IoU >= 0.4. "
        "detect ms: per frame, the schedule's "
        "mix of the two measured searches.\n\n"
        + markdown_table(
            [
                "schedule",
                *[f"covered {lb} %" for lb in labels],
                *[f"found {lb} %" for lb in labels],
                "detect ms",
            ],
            rows,
        )
    )
    publish(
        "video_small_faces",
        "## Video: small-face pass schedule (benchmarks/video_small_faces.py)\n\n" + body,
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
