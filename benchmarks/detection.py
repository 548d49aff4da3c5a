"""Detection recall per face-height class and images/s on WIDER FACE val, for several detector settings.

    python benchmarks/detection.py [--data ../shared/data/wider-val] [--limit N] [--min-faces 20,12,8]

Each min-face setting is run once with a low final threshold; recall and false alarms are then
read off at several thresholds, so the table shows the whole recall / speed / precision trade.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from results import markdown_table, write_section

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.evaluate.matching import matched_gt
from deepanon.evaluate.wider import HEIGHT_CLASSES, height_class, read_wider

THRESHOLDS = (0.6, 0.7, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/wider-val")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    ap.add_argument(
        "--settings",
        default="20@0.6:0.7,20@0.5:0.6,12@0.6:0.7",
        help="comma-separated MIN_FACE@PNET:RNET detector settings to compare",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = ap.parse_args()
    images = read_wider(args.data / "wider_face_val_bbx_gt.txt", args.data / "images")
    if args.limit:
        images = images[: args.limit]
    pixels = [np.asarray(Image.open(im.path).convert("RGB")) for im in images]
    n_gt = sum(len(im.boxes) for im in images)
    rows = []
    settings = [
        (int(m), tuple(float(v) for v in st.split(":"))) for m, st in (c.split("@") for c in args.settings.split(","))
    ]
    for min_face, stages in settings:
        cfg = DetectorConfig(device=args.device, min_face=min_face, threshold=min(THRESHOLDS), stage_thresholds=stages)
        det = FaceDetector(cfg)
        det.detect(pixels[0])  # warm-up
        t0 = time.perf_counter()
        found = [det.detect(p) for p in pixels]
        secs = time.perf_counter() - t0
        for thr in THRESHOLDS:
            hits: dict[str, list[bool]] = {label: [] for label, _, _ in HEIGHT_CLASSES}
            false_alarms = 0
            for im, faces in zip(images, found):
                boxes = np.array([f.box for f in faces if f.score >= thr], np.float32).reshape(-1, 4)
                hit = matched_gt(im.boxes, boxes)
                for box, h in zip(im.boxes, hit):
                    hits[height_class(box[3] - box[1])].append(bool(h))
                false_alarms += len(boxes) - int(matched_gt(boxes, im.boxes).sum())
            ge32 = hits[">=64"] + hits["32-63"]
            rows.append(
                [min_face, f"{stages[0]}/{stages[1]}", thr]
                + [f"{100 * np.mean(hits[label]):.1f}" if hits[label] else "-" for label, _, _ in HEIGHT_CLASSES]
                + [f"{100 * np.mean(ge32):.1f}", false_alarms, f"{len(pixels) / secs:.2f}"]
            )
            print(rows[-1], flush=True)
    counts = ", ".join(
        f"{label}: {sum(1 for im in images for b in im.boxes if height_class(b[3] - b[1]) == label)}"
        for label, _, _ in HEIGHT_CLASSES
    )
    header = (
        ["min face px", "P/R-Net gates", "threshold"]
        + [f"recall {label} %" for label, _, _ in HEIGHT_CLASSES]
        + ["recall >=32 %", "false alarms", "images/s"]
    )
    body = (
        "## Detection (benchmarks/detection.py)\n\n"
        f"WIDER FACE val subset in ../shared/data/wider-val: {len(images)} images, {n_gt} valid faces ({counts}). "
        "A face counts as found when a detection overlaps it with IoU >= 0.4. "
        f"Device {det.device}.\n\n" + markdown_table(header, rows)
    )
    print(body)
    if not args.no_write:
        write_section("detection", body)


if __name__ == "__main__":
    main()
