"""WIDER FACE annotations (`*_bbx_gt.txt`) and face-height classes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Face-height classes used in every table: (label, min_h, max_h) in pixels, max exclusive.
HEIGHT_CLASSES: tuple[tuple[str, float, float], ...] = (
    (">=64", 64, float("inf")),
    ("32-63", 32, 64),
    ("16-31", 16, 32),
    ("<16", 0, 16),
)


def height_class(h: float) -> str:
    return next(label for label, lo, hi in HEIGHT_CLASSES if lo <= h < hi)


@dataclass(frozen=True)
class WiderImage:
    path: Path
    boxes: np.ndarray  # (N, 4) x0 y0 x1 y1 of valid faces


def read_wider(gt_file: Path, image_root: Path, keep_invalid: bool = False) -> list[WiderImage]:
    """Images listed in a WIDER ground-truth file; faces flagged invalid are left out unless keep_invalid."""
    lines = [ln.strip() for ln in gt_file.read_text().splitlines()]
    out: list[WiderImage] = []
    i = 0
    while i < len(lines):
        name = lines[i]
        if not name:
            i += 1
            continue
        count = int(lines[i + 1])
        rows = lines[i + 2 : i + 2 + max(count, 1)]
        i += 2 + max(count, 1)  # a count of 0 is followed by one line of zeros
        boxes = []
        for row in rows[:count]:
            v = [int(float(x)) for x in row.split()[:10]]
            x, y, w, h, invalid = v[0], v[1], v[2], v[3], v[7]
            if (invalid and not keep_invalid) or w <= 0 or h <= 0:
                continue
            boxes.append((x, y, x + w, y + h))
        out.append(WiderImage(image_root / name, np.array(boxes, np.float32).reshape(-1, 4)))
    return out
