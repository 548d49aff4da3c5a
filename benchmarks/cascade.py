"""The small-face pass as a cascade: recall per face-height class, false alarms and detection time on WIDER val for
the whole enlarged image vs only the cells where the plain search's heat map reaches a threshold.

    python benchmarks/cascade.py [--data ../shared/data/wider-val] [--limit 100] [--thresholds 0.02,0.05,0.1]
    python benchmarks/cascade.py --backends opencv,torch   # instead: the default detector per CenterFace backend

Every setting runs the default detector (CenterFace, plain search + 2x pass) on the same images, interleaved per
image so the machine's load falls on all alike; the share of the image the pass searched is printed too.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from detection import score_row
from PIL import Image
from results import markdown_table, publish

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.evaluate.wider import HEIGHT_CLASSES, height_class, read_wider


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/wider-val")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--thresholds", default="0.02,0.05,0.1")
    ap.add_argument("--cells", default="96,160")
    ap.add_argument("--backends", default="", help="instead of the sweep: today's settings per CenterFace backend")
    ap.add_argument("--max-faces", default="", help="instead of the sweep: today's settings, cascade_max_face values")
    ap.add_argument("--threads", type=int, default=0, help="torch and OpenCV threads (0: their defaults)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.threads:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    images = read_wider(args.data / "wider_face_val_bbx_gt.txt", args.data / "images")[: args.limit]
    base = DetectorConfig(device="cpu")
    settings = {
        "plain search only (no pass)": replace(base, upscale=1.0),
        "whole image 2x": replace(base, cascade_threshold=0),
    }
    if args.backends:
        settings = {f"today's, backend {b}": replace(base, centerface_backend=b) for b in args.backends.split(",")}
    if args.max_faces:
        settings = {
            f"today's, heat of faces < {m} px" if int(m) else "today's": replace(base, cascade_max_face=int(m))
            for m in args.max_faces.split(",")
        }
    for cell in (int(c) for c in args.cells.split(",")) if not (args.backends or args.max_faces) else ():
        for t in (float(v) for v in args.thresholds.split(",")):
            settings[f"cells {cell} px, heat >= {t:g}"] = replace(base, cascade_threshold=t, cascade_cell=cell)
    detectors = {name: FaceDetector(cfg) for name, cfg in settings.items()}
    found: dict[str, list] = {name: [] for name in settings}
    secs = dict.fromkeys(settings, 0.0)
    load0 = os.getloadavg()[0]
    for k, im in enumerate(images):
        rgb = np.asarray(Image.open(im.path).convert("RGB"))
        if k == 0:
            for det in detectors.values():
                det.detect(rgb)  # warm-up
        for name, det in detectors.items():
            t0 = time.perf_counter()
            found[name].append(det.detect(rgb))
            secs[name] += time.perf_counter() - t0
        if k % 20 == 19:
            print(f"{k + 1}/{len(images)}", flush=True)
    rows = []
    for name in settings:
        rows.append([name, *score_row(images, found[name]), f"{1000 * secs[name] / len(images):.0f}"])
        print(rows[-1], flush=True)
    counts = ", ".join(
        f"{label}: {sum(1 for im in images for b in im.boxes if height_class(b[3] - b[1]) == label)}"
        for label, _, _ in HEIGHT_CLASSES
    )
    header = ["small-face pass", *[f"recall {label} %" for label, _, _ in HEIGHT_CLASSES]]
    header += ["recall >=32 %", "false alarms", "false alarms >= 48 px", "detect ms / image"]
    title = "CenterFace backends" if args.backends else "Small-face pass as a cascade"
    threads = f"{args.threads} thread(s)" if args.threads else "default threads"
    body = (
        f"## {title} (benchmarks/cascade.py{' --backends' if args.backends else ''})\n\n"
        f"WIDER FACE val, first {len(images)} images ({counts}); CenterFace at {base.centerface_threshold} (under "
        f"{base.small_face} px: {base.small_face_threshold}), plain search plus the {base.upscale:g}x pass on the "
        f"whole enlarged image or only on the cells (with {base.cascade_margin} px of context) where the plain "
        f"search's heat map reaches the threshold. Settings interleaved per image, {threads}; load average "
        f"{load0:.1f} at the start. Found: IoU >= 0.4.\n\n" + markdown_table(header, rows)
    )
    name = "cascade-backends" if args.backends else "cascade-max-face" if args.max_faces else "cascade"
    publish(name, body, not args.no_write)


if __name__ == "__main__":
    main()
