"""Matching detections to ground-truth faces."""

from __future__ import annotations

import numpy as np

from deepanon.geometry.boxes import box_iou

MATCH_IOU = 0.4  # MTCNN boxes are tighter than WIDER's (no forehead); 0.4 still means the same face


def matched_gt(gt: np.ndarray, det: np.ndarray, iou: float = MATCH_IOU) -> np.ndarray:
    """Boolean per ground-truth box: some detection overlaps it by at least `iou` (greedy one-to-one)."""
    hit = np.zeros(len(gt), bool)
    if len(gt) == 0 or len(det) == 0:
        return hit
    m = box_iou(gt.astype(np.float32), det.astype(np.float32))
    used = np.zeros(len(det), bool)
    for g in np.argsort(-m.max(axis=1)):
        cand = np.where(~used & (m[g] >= iou))[0]
        if cand.size:
            d = cand[np.argmax(m[g, cand])]
            used[d] = True
            hit[g] = True
    return hit
