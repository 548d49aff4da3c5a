"""Box geometry shared by every stage: overlaps, IoU, NMS merge (x0 y0 x1 y1 boxes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from deepanon.types import Face, as_box


def _overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection areas (N, M) of boxes a (N, 4) and b (M, 4), x0 y0 x1 y1, and the areas of a and b."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter, (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes a (N, 4) and b (M, 4), x0 y0 x1 y1."""
    inter, area_a, area_b = _overlaps(a, b)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def intersection_over_first(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of each box of a (N, 4) that lies inside each box of b (M, 4): (N, M)."""
    inter, area_a, _ = _overlaps(a, b)
    return inter / np.maximum(area_a[:, None], 1e-9)


def intersection_over_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of the smaller box that overlaps the other; catches a tile's half face inside a whole one."""
    inter, area_a, area_b = _overlaps(a, b)
    return inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)


# Two boxes this close are one face seen by two detectors (MTCNN frames eyebrows-to-chin, CenterFace the whole
# head, shifted): kept apart, both would be painted, one half over the other (a doubled face). Merging errs safe:
# the kept box grows to the union, so whatever either box covered stays covered.
MERGE_IOU = 0.3
MERGE_CONTAINMENT = 0.6


def merge_faces(faces: list[Face], iou: float = MERGE_IOU, containment: float = MERGE_CONTAINMENT) -> list[Face]:
    """Greedy NMS by score. A box mostly inside a kept one is dropped too (it is the same face seen cut by a tile
    border); boxes that merely touch are both kept, since anonymizing more is safe. A kept face's box grows to
    cover the boxes it suppressed (detectors frame faces differently: the union hides the whole face); its
    landmarks and score stay its own."""
    if len(faces) < 2:
        return list(faces)
    order = sorted(range(len(faces)), key=lambda i: -faces[i].score)
    boxes = np.array([faces[i].box for i in order], np.float32)
    ious = box_iou(boxes, boxes)
    inside = intersection_over_smaller(boxes, boxes)
    keep: list[int] = []
    grown: dict[int, np.ndarray] = {}
    for i in range(len(order)):
        by = next((k for k in keep if ious[i, k] >= iou or inside[i, k] >= containment), None)
        if by is None:
            keep.append(i)
            continue
        g = grown.setdefault(by, boxes[by].copy())
        g[:2] = np.minimum(g[:2], boxes[i, :2])
        g[2:] = np.maximum(g[2:], boxes[i, 2:])
    out = []
    for k in keep:
        face = faces[order[k]]
        out.append(replace(face, box=as_box(grown[k])) if k in grown else face)
    return out
