"""Which detections are confidently faces: the evidence anonymize/decide.py uses, measured on WIDER val.

Every detection of deepanon's default detector on N WIDER val photos is labelled a face (IoU >= 0.4 with a
ground-truth box) or a false alarm (IoU < 0.2 with every ground-truth box; in between: left out), then, per
paint threshold (O-Net's face probability on the square crop, detect/second_opinion.py) with and without the
landmark check, and per minimum detector score, the share of each that would get a painted face, per face height.
--exclude N leaves out the photos of a --limit N run (the phantom count's), so what is tuned here is not
what is counted there.

    python benchmarks/paint_decision.py [--data ../shared/data/wider-val] [--limit 100] [--exclude 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from results import markdown_table, publish

from deepanon.anonymize.decide import PAINTED, decide
from deepanon.config import PaintConfig
from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.second_opinion import SecondOpinion
from deepanon.evaluate.data import load_dataset
from deepanon.evaluate.wider import HEIGHT_CLASSES, height_class
from deepanon.geometry.boxes import box_iou
from deepanon.media.images import read_image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
MIN_SCORES = (0.0, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "wider-val")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--exclude", type=int, default=0, help="leave out the photos a --limit N run would use")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    items = load_dataset(args.data, args.limit).items
    if args.exclude:
        left_out = {it.path for it in load_dataset(args.data, args.exclude).items}
        items = [it for it in items if it.path not in left_out]
    detector, judge = FaceDetector(DetectorConfig(device="cpu")), SecondOpinion()
    rows: list[tuple[str, str, object, float]] = []  # (label, height class, face, onet)
    for n, item in enumerate(items):
        rgb = read_image(item.path).rgb
        faces = detector.detect(rgb)
        scores = judge.both(rgb, faces)
        gt = np.asarray(item.boxes, np.float32).reshape(-1, 4)
        for face, s in zip(faces, scores):
            iou = box_iou(np.array([face.box], np.float32), gt).max() if len(gt) else 0.0
            label = "face" if iou >= 0.4 else "false alarm" if iou < 0.2 else ""
            if label:
                rows.append((label, height_class(face.height), face, s))
        print(f"{n + 1}/{len(items)}", end="\r", flush=True)
    classes = [c for c, _, _ in HEIGHT_CLASSES]
    table = []
    crops = {"box": lambda s: s[0], "landmarks' box": lambda s: s[1], "higher of both": max}

    def shares(cfg: PaintConfig, pick: Callable[[tuple[float, float]], float]) -> list[str]:
        line = []
        for label in ("face", "false alarm"):
            for c in classes:
                sel = [decide(f, pick(s), cfg) == PAINTED for lab, hc, f, s in rows if lab == label and hc == c]
                line.append(f"{100 * np.mean(sel):.1f}" if sel else "-")
        return line

    for (name, pick), check in [(c, False) for c in crops.items()] + [(("higher of both", max), True)]:
        for thr in THRESHOLDS:
            cfg = PaintConfig(paint_threshold=thr, check_landmarks=check, min_paint_score=0.0)
            table.append([f"{thr:g}", name, "yes" if check else "no", "0", *shares(cfg, pick)])
    default = PaintConfig()
    for low in MIN_SCORES:
        cfg = PaintConfig(min_paint_score=low)
        line = [f"{default.paint_threshold:g}", "higher of both", "yes" if default.check_landmarks else "no"]
        table.append([*line, f"{low:g}", *shares(cfg, max)])
    counts = {
        (lab, c): sum(1 for r in rows if r[0] == lab and r[1] == c) for lab in ("face", "false alarm") for c in classes
    }
    header = ["O-Net >=", "O-Net crop", "landmark check", "detector score >="]
    header += [f"faces {c} painted % (n={counts['face', c]})" for c in classes]
    header += [f"false alarms {c} painted % (n={counts['false alarm', c]})" for c in classes]
    body = (
        "## Paint decision: which detections are faces (benchmarks/paint_decision.py)\n\n"
        f"{len(items)} WIDER val photos (spread over the events"
        + (f"; not the {args.exclude} of the phantom count" if args.exclude else "")
        + f"), detector `{DetectorConfig(device='cpu')!r}`: "
        "each detection labelled a face (IoU >= 0.4 with the ground truth) or a false alarm (IoU < 0.2), and the "
        "share of each that anonymize/decide.py would paint (the rest are filtered), per box height; faces under "
        f"{PaintConfig().min_paint_face} px are never painted. Run {(time.perf_counter() - t0) / 60:.1f} min.\n\n"
        + markdown_table(header, table)
    )
    publish("paint-decision", body, not args.no_write)


if __name__ == "__main__":
    main()
