"""Detection recall per face-height class, false alarms and images/s on WIDER FACE val, per detector setting.

    python benchmarks/detection.py [--data ../shared/data/wider-val] [--limit N] [--mtcnn-min-faces 20,12]

Each backend runs once per image with a low threshold; recall and false alarms are then read off at several
thresholds, and the union of MTCNN and CenterFace (what deepanon uses by default) is formed from the same runs,
so the table shows the whole recall / speed / false-alarm trade.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from results import markdown_table, publish

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.centerface import keep_detection
from deepanon.evaluate.matching import matched_gt
from deepanon.evaluate.wider import HEIGHT_CLASSES, WiderImage, height_class, read_wider
from deepanon.geometry.boxes import merge_faces
from deepanon.types import Face

MTCNN_THRESHOLDS = (0.6, 0.7, 0.8, 0.9)
CENTERFACE_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
SMALL_FACE_THRESHOLDS = (0.2, 0.15)  # CenterFace thresholds tried for faces under DetectorConfig.small_face px
LARGE = DetectorConfig.small_face  # false alarms this high are what a viewer notices (a painted face on a wall)


def run_backend(cfg: DetectorConfig, pixels: list[np.ndarray]) -> tuple[list[list[Face]], float]:
    det = FaceDetector(cfg)
    det.detect(pixels[0])  # warm-up
    t0 = time.perf_counter()
    found = [det.detect(p) for p in pixels]
    return found, time.perf_counter() - t0


def union(
    mtcnn: list[list[Face]], centerface: list[list[Face]], keep_centerface: Callable[[Face], bool]
) -> list[list[Face]]:
    """Per image, what the default detector keeps: MTCNN's faces at its default threshold and the CenterFace faces
    `keep_centerface` accepts, merged as FaceDetector merges its backends."""
    t = DetectorConfig.threshold
    return [
        merge_faces([f for f in a if f.score >= t] + [f for f in b if keep_centerface(f)])
        for a, b in zip(mtcnn, centerface)
    ]


def score_row(images: list[WiderImage], found: list[list[Face]]) -> list[str]:
    hits: dict[str, list[bool]] = {label: [] for label, _, _ in HEIGHT_CLASSES}
    false_alarms = large_false_alarms = 0
    for im, faces in zip(images, found):
        boxes = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        for box, h in zip(im.boxes, matched_gt(im.boxes, boxes)):
            hits[height_class(box[3] - box[1])].append(bool(h))
        unmatched = ~matched_gt(boxes, im.boxes)
        false_alarms += int(unmatched.sum())
        large_false_alarms += int((unmatched & (boxes[:, 3] - boxes[:, 1] >= LARGE)).sum())
    ge32 = hits[">=64"] + hits["32-63"]
    pct = [f"{100 * np.mean(hits[label]):.1f}" if hits[label] else "-" for label, _, _ in HEIGHT_CLASSES]
    return [*pct, f"{100 * np.mean(ge32):.1f}", str(false_alarms), str(large_false_alarms)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/wider-val")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    ap.add_argument("--mtcnn-min-faces", default="20,12")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = ap.parse_args()
    images = read_wider(args.data / "wider_face_val_bbx_gt.txt", args.data / "images")
    if args.limit:
        images = images[: args.limit]
    pixels = [np.asarray(Image.open(im.path).convert("RGB")) for im in images]
    n = len(pixels)
    rows: list[list[object]] = []

    def add(name: str, thr: str, found: list[list[Face]], secs: float) -> None:
        rows.append([name, thr, *score_row(images, found), f"{n / secs:.2f}"])
        print(rows[-1], flush=True)

    cf, cf_secs = run_backend(
        DetectorConfig(
            detectors=("centerface",),
            centerface_threshold=min(CENTERFACE_THRESHOLDS + SMALL_FACE_THRESHOLDS),
            upscale=1.0,
            device=args.device,
        ),
        pixels,
    )
    for t in CENTERFACE_THRESHOLDS:
        add("CenterFace", f"{t}", [[f for f in fs if f.score >= t] for fs in cf], cf_secs)
    mtcnn_default, mtcnn_secs = None, 0.0
    for min_face in (int(v) for v in args.mtcnn_min_faces.split(",")):
        cfg = DetectorConfig(
            detectors=("mtcnn",), min_face=min_face, threshold=min(MTCNN_THRESHOLDS), device=args.device
        )
        mt, mt_secs = run_backend(cfg, pixels)
        for t in MTCNN_THRESHOLDS:
            add(f"MTCNN min face {min_face}", f"{t}", [[f for f in fs if f.score >= t] for fs in mt], mt_secs)
        if min_face == DetectorConfig.min_face:
            mtcnn_default, mtcnn_secs = mt, mt_secs
            for t in CENTERFACE_THRESHOLDS[1:4]:
                both = union(mt, cf, lambda f, t=t: f.score >= t)
                add(f"MTCNN {min_face} + CenterFace", f"{DetectorConfig.threshold} / {t}", both, mt_secs + cf_secs)
            d = DetectorConfig()
            for small in SMALL_FACE_THRESHOLDS:  # the run-time rule: small faces, lower bar
                keep = partial(
                    keep_detection, threshold=d.centerface_threshold, small_threshold=small, small_face=d.small_face
                )
                both = union(mt, cf, lambda f, keep=keep: keep(f.score, f.height))
                thr = f"{d.threshold} / {d.centerface_threshold}, < {d.small_face} px {small}"
                add(f"MTCNN {min_face} + CenterFace", thr, both, mt_secs + cf_secs)
    if mtcnn_default is None:
        raise SystemExit(f"--mtcnn-min-faces must include the default {DetectorConfig.min_face}")
    # The small-face pass (DetectorConfig.upscale): CenterFace also on the image enlarged, with the run-time rule
    # at the default thresholds and at a stricter pair; alone and in the default union with MTCNN (min face 20).
    d = DetectorConfig()
    for thr, small in ((d.centerface_threshold, d.small_face_threshold), (0.4, 0.3)):
        cfg = DetectorConfig(
            detectors=("centerface",), centerface_threshold=thr, small_face_threshold=small, device=args.device
        )
        up, up_secs = run_backend(cfg, pixels)
        name = f"CenterFace 1x + {d.upscale:g}x"
        add(name, f"{thr}, < {d.small_face} px {small}", up, up_secs)
        both = union(mtcnn_default, up, lambda f: True)  # `up` already holds what the run-time rule keeps
        add(
            f"MTCNN {d.min_face} + {name}",
            f"{d.threshold} / {thr}, < {d.small_face} px {small}",
            both,
            mtcnn_secs + up_secs,
        )
    counts = ", ".join(
        f"{label}: {sum(1 for im in images for b in im.boxes if height_class(b[3] - b[1]) == label)}"
        for label, _, _ in HEIGHT_CLASSES
    )
    header = ["detector", "threshold", *[f"recall {label} %" for label, _, _ in HEIGHT_CLASSES]]
    header += ["recall >=32 %", "false alarms", f"false alarms >= {LARGE} px", "images/s"]
    body = (
        "## Detection (benchmarks/detection.py)\n\n"
        f"WIDER FACE val subset in ../shared/data/wider-val: first {n} images, "
        f"{sum(len(im.boxes) for im in images)} valid faces ({counts}). A face counts as found when a detection "
        "overlaps it with IoU >= 0.4; a false alarm is a detection that overlaps no face. "
        f"Default now: {' + '.join(d.detectors)}, MTCNN min face {d.min_face} at {d.threshold}, "
        f"CenterFace at {d.centerface_threshold} (faces under {d.small_face} px: {d.small_face_threshold}), "
        f"on the image and on the image enlarged {d.upscale:g}x (the small-face pass; rows without '{d.upscale:g}x' "
        "search the image as it is). "
        "images/s: each setting's own runs, one after the other (a union adds its backends' times); see the "
        "load average below.\n\n" + markdown_table(header, rows)
    )
    publish("detection", body, not args.no_write)


if __name__ == "__main__":
    main()
