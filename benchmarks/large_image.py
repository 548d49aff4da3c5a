"""Detection on a 6000x4000 photo: the overview + tiles path before and after issue 19's trimming, side by side.

Before: the overview also ran the small-face pass, the tiles stepped by tile - overlap with the last one flush
to the border, and the small-face pass ran on those same tiles (160 px overlap, 4x their pixels once enlarged).
After: the overview skips the small-face pass when there are tiles, tiles are spread evenly (same count, less
overlap area), and the small-face pass has its own grid overlapping by small_face + 16 px (it keeps faces under
small_face px only). Faces: the planted heads found, and whether every face found before is found after.

    PYTHONPATH=. python benchmarks/large_image.py [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import markdown_table, publish  # noqa: E402
from deepanon.detect import DetectorConfig, FaceDetector  # noqa: E402
from deepanon.geometry.boxes import box_iou, merge_faces  # noqa: E402
from deepanon.types import Face  # noqa: E402
from tests.faces import scene  # noqa: E402


def old_tile_grid(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """The grid before this change (reference only)."""
    step = max(tile - overlap, 1)

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        s = list(range(0, n - tile, step))
        s.append(n - tile)
        return s

    return [(y, x, min(y + tile, height), min(x + tile, width)) for y in starts(height) for x in starts(width)]


def detect_before(det: FaceDetector, rgb: np.ndarray) -> list[Face]:
    """_detect_large as it was: every pass on the overview and on every 160-px-overlap tile."""
    import cv2

    c = det.config
    h, w = rgb.shape[:2]
    scale = c.max_side / max(h, w)
    overview = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    faces = [f.scaled(1.0 / scale) for f in det._run([overview], [True])[0]]
    for y0, x0, y1, x1 in old_tile_grid(h, w, c.tile, c.tile_overlap):
        tile = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        faces += [f.scaled(1.0, (x0, y0)) for f in det._run([tile], [True])[0]]
    return merge_faces(faces)


def planted() -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """6000x4000 with 40 heads from 17 to 720 px high, some on the new and old tile borders."""
    rng = np.random.default_rng(19)
    scales = rng.choice([0.07, 0.1, 0.15, 0.25, 0.5, 1.0, 3.0], 40)
    heads = []
    for s in scales:
        hh, ww = int(240 * s), int(210 * s)
        x = int(rng.choice([rng.integers(0, 6000 - ww), 864 - ww // 2, 995 - ww // 2, 1830 - ww // 2]))
        y = int(rng.integers(0, 4000 - hh))
        heads.append((max(0, min(x, 6000 - ww - 1)), y, float(s)))
    centres = [(x + 105 * s, y + 120 * s, 240 * s) for x, y, s in heads]
    return scene(4000, 6000, heads), centres


def found(faces: list[Face], centres: list[tuple[float, float, float]]) -> set[int]:
    """Indices of the planted heads some face is centred on."""
    c = np.array([f.center for f in faces]) if faces else np.zeros((0, 2))
    return {
        i for i, (x, y, hgt) in enumerate(centres) if (np.hypot(c[:, 0] - x, c[:, 1] - y) < max(12.0, 0.4 * hgt)).any()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    img, centres = planted()
    det = FaceDetector(DetectorConfig(device="cpu"))
    det.detect(img[:1024, :1024])  # warm-up
    rows, results = [], {}
    for name, fn in (("before", lambda: detect_before(det, img)), ("after", lambda: det.detect(img))):
        t0 = time.perf_counter()
        faces = fn()
        results[name] = (time.perf_counter() - t0, faces)
    before_boxes = np.array([f.box for f in results["before"][1]]).reshape(-1, 4)
    after_boxes = np.array([f.box for f in results["after"][1]]).reshape(-1, 4)
    kept = int((box_iou(before_boxes, after_boxes).max(axis=1, initial=0.0) >= 0.5).sum())
    for name, (secs, faces) in results.items():
        rows.append([name, f"{secs:.1f}", len(faces), f"{len(found(faces, centres))} / {len(centres)}"])
    lost = found(results["before"][1], centres) - found(results["after"][1], centres)
    load = os.getloadavg()[0]
    body = (
        "## Large image: overview + tiles (benchmarks/large_image.py)\n\n"
        f"One 6000x4000 synthetic photo, 40 planted heads 17-720 px high; detection only (MTCNN + CenterFace with\n"
        f"the small-face pass, defaults), CPU, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"both measured in one run, load average {load:.1f}.\n\n"
        + markdown_table(["path", "seconds", "faces", "planted heads found"], rows)
        + f"\n\nPlanted heads found before and missed after: {len(lost)}. Faces found before that are found after"
        f" with IoU >= 0.5: {kept} of {len(results['before'][1])} (the rest: boxes merged or framed differently). "
        f"Time ratio after/before: {results['after'][0] / results['before'][0]:.2f}."
    )
    publish("large_image", body, write=not args.no_write)


if __name__ == "__main__":
    main()
