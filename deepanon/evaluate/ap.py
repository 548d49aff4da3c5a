"""Average precision of a face detector against ground truth (PASCAL VOC style, all-point interpolation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepanon.geometry.boxes import box_iou

AP_IOU = 0.5


def average_precision(
    gt: Sequence[np.ndarray],
    detections: Sequence[np.ndarray],
    iou: float = AP_IOU,
    ignore: Sequence[np.ndarray] | None = None,
) -> float:
    """AP over a set of images. gt[i]: (N, 4) boxes; detections[i]: (M, 5) x0 y0 x1 y1 score.

    Detections are taken best score first over all images; each is a true positive when it overlaps a
    not-yet-claimed ground-truth box of its image by at least `iou`. ignore[i] (N,) bool: ground truth that neither
    counts nor penalises (VOC's "difficult", used for AP per face size): a detection that only overlaps ignored
    boxes is dropped. NaN when there is no ground truth left to count.
    """
    skip = [np.zeros(len(g), bool) for g in gt] if ignore is None else [np.asarray(m, bool) for m in ignore]
    n_gt = sum(int((~m).sum()) for m in skip)
    if n_gt == 0:
        return float("nan")
    rows = [(float(d[4]), i, j) for i, dets in enumerate(detections) for j, d in enumerate(np.reshape(dets, (-1, 5)))]
    rows.sort(key=lambda r: -r[0])
    claimed = [np.zeros(len(g), bool) for g in gt]
    ious = [
        box_iou(np.reshape(d, (-1, 5))[:, :4].astype(np.float32), np.reshape(g, (-1, 4)).astype(np.float32))
        if len(g) and len(np.reshape(d, (-1, 5)))
        else None
        for g, d in zip(gt, detections)
    ]
    tp, counted = np.zeros(len(rows)), np.ones(len(rows), bool)
    for k, (_, i, j) in enumerate(rows):
        m = ious[i]
        if m is None:
            continue
        cand = np.where(~claimed[i] & ~skip[i] & (m[j] >= iou))[0]
        if cand.size:
            claimed[i][cand[np.argmax(m[j, cand])]] = True
            tp[k] = 1
        elif (skip[i] & (m[j] >= iou)).any():
            counted[k] = False
    tp = tp[counted]
    return voc_ap(np.cumsum(tp) / n_gt, np.cumsum(tp) / np.arange(1, len(tp) + 1))


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (precision made non-increasing in recall)."""
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))
