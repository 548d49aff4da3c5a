"""Recall of large faces on WIDER val: the detector's large-face band (DetectorConfig.large_face_threshold).

    python benchmarks/large_faces_recall.py [--data ../shared/data/wider-val] [--limit N] [--no-write]

A large face in shadow, turned away or motion-blurred scores low in CenterFace; below centerface_threshold it was
not anonymized at all (the largest face of the phantom count's 100 photos, 523 px and half in shadow, scored
0.257). The default detector runs three times per image: without the band, with it at its default, and with it at
the lowest threshold tried (the other thresholds are read off that run: its faces >= large_face px below the
threshold dropped). False alarms: detections matching no face of the ground truth, the faces it flags invalid
included (those are faces too: anonymizing them is no error).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from results import markdown_table, publish

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.evaluate.matching import matched_gt
from deepanon.evaluate.wider import read_wider
from deepanon.types import Face

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wider-val"
CLASSES = ((">=128", 128, 1e9), ("64-127", 64, 128), ("32-63", 32, 64), ("16-31", 16, 32), ("<16", 0, 16))
TRIED = (0.05, 0.1, 0.15, 0.2, 0.25)


def row(label: str, gts: list[np.ndarray], everything: list[np.ndarray], found: list[list[Face]]) -> list[object]:
    hits = {c: [0, 0] for c, _, _ in CLASSES}
    false_alarms = large = 0
    for gt, every, faces in zip(gts, everything, found):
        boxes = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        heights = gt[:, 3] - gt[:, 1]
        got = matched_gt(gt, boxes)
        for c, lo, hi in CLASSES:
            sel = (heights >= lo) & (heights < hi)
            hits[c][0] += int(got[sel].sum())
            hits[c][1] += int(sel.sum())
        unmatched = ~matched_gt(boxes, every)
        false_alarms += int(unmatched.sum())
        large += int((unmatched & (boxes[:, 3] - boxes[:, 1] >= 64)).sum())
    pct = [f"{100 * a / n:.1f} ({a}/{n})" if n else "-" for a, n in hits.values()]
    return [label, *pct, false_alarms, large]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--limit", type=int, default=0, help="first N images (0: all)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    a = ap.parse_args()
    gt_file = a.data / "wider_face_val_bbx_gt.txt"
    images = read_wider(gt_file, a.data / "images")[: a.limit or None]
    every = {im.path: im.boxes for im in read_wider(gt_file, a.data / "images", keep_invalid=True)}
    everything = [every[im.path] for im in images]
    d = DetectorConfig(device="cpu")
    configs = {
        "off": replace(d, large_face=0),
        "default": d,
        "floor": replace(d, large_face_threshold=min(TRIED)),
    }
    found: dict[str, list[list[Face]]] = {k: [] for k in configs}
    secs = dict.fromkeys(configs, 0.0)
    detectors = {k: FaceDetector(c) for k, c in configs.items()}
    t0 = time.perf_counter()
    for n, im in enumerate(images):
        rgb = np.asarray(Image.open(im.path).convert("RGB"))
        for k, det in detectors.items():
            t = time.perf_counter()
            found[k].append(det.detect(rgb))
            secs[k] += time.perf_counter() - t
        if n % 50 == 49:
            print(f"{n + 1}/{len(images)} images, {time.perf_counter() - t0:.0f} s", flush=True)
    gts = [im.boxes for im in images]
    rows = [
        row(
            f"no large-face band (all >= {d.small_face} px from {d.centerface_threshold})",
            gts,
            everything,
            found["off"],
        )
    ]
    for t in TRIED:
        if t == d.large_face_threshold:
            kept = found["default"]
            label = f"**>= {d.large_face} px from {t} (default)**"
        else:
            kept = [
                [f for f in fs if f.score >= t or f.height < d.large_face or f.score >= d.centerface_threshold]
                for fs in found["floor"]
            ]
            label = f">= {d.large_face} px from {t}"
        rows.append(row(label, gts, everything, kept))
    header = ["rule", *[f"recall {c} %" for c, _, _ in CLASSES], "false alarms", "false alarms >= 64 px"]
    ms = {k: 1000 * v / len(images) for k, v in secs.items()}
    body = (
        f"## Large faces: the detector's large-face band (benchmarks/large_faces_recall.py)\n\n"
        f"{len(images)} WIDER val photos, the default detector (CenterFace, cascade small-face pass) with and without "
        f"the large-face band (faces >= {d.large_face} px kept from large_face_threshold); a face is found at IoU "
        f">= 0.4 (deepanon/evaluate/matching.py), a false alarm matches no annotated box (invalid-flagged ones "
        f"included). Thresholds other than the default are read off the {min(TRIED)} run. Detection time per image "
        f"(same run, interleaved): off {ms['off']:.0f} ms, default {ms['default']:.0f} ms.\n\n"
        + markdown_table(header, rows)
    )
    publish("large-faces-recall", body, write=not a.no_write)


if __name__ == "__main__":
    main()
