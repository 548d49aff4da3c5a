"""Phantom faces: faces an anonymizer invents where the original shows none.

A phantom is a detection of an independent detector (dlib's HOG: deepanon decides what to paint with MTCNN and
CenterFace, deface with CenterFace) with score >= PHANTOM_SCORE on the output that overlaps (IoU >= PHANTOM_IOU)
no ground-truth box of any size and no detection, at any score >= ORIGINAL_SCORE, of either independent detector
on the original: dlib's HOG over the whole image, and dlib's CNN (MMOD) around each candidate (the CNN takes
~10 s for a 1024-px picture on one CPU core, so it looks only where a phantom is suspected, at a size it sees
well). A blur that leaves a face-like smudge counts as much as a painted face on a wall.
"""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np

from deepanon.evaluate.dlib_faces import DlibFaces
from deepanon.geometry.boxes import box_iou

PHANTOM_SCORE = 0.5  # on the output
ORIGINAL_SCORE = 0.1  # on the original: anything this weak there excuses a face on the output
PHANTOM_IOU = 0.2
HOG_UPSAMPLE = 1  # HOG's 80-px window finds faces from ~40 px once the image is doubled
CNN_FACE_PX = 100  # the candidate is scaled to about this size for the CNN (its window is ~80 px)
CNN_CONTEXT = 2.0  # the CNN sees the candidate's box grown this much about its centre


def unexplained(
    dets: np.ndarray, known: np.ndarray, score: float = PHANTOM_SCORE, iou: float = PHANTOM_IOU
) -> np.ndarray:
    """The rows of `dets` (N, 5: x0 y0 x1 y1 score) with score >= `score` that overlap no box of `known` (M, 4)
    by IoU >= `iou`."""
    dets = np.asarray(dets, np.float32).reshape(-1, 5)
    dets = dets[dets[:, 4] >= score]
    known = np.asarray(known, np.float32).reshape(-1, 4)
    if len(dets) == 0 or len(known) == 0:
        return dets
    return dets[box_iou(dets[:, :4], known).max(axis=1) < iou]


class PhantomCounter:
    """`known(original, gt)` once per picture, then `phantoms(output, original, known)` per method."""

    def __init__(self, dlib_faces: DlibFaces) -> None:
        self.dlib = dlib_faces

    @cached_property
    def _cnn(self):  # noqa: ANN202 (dlib type)
        import dlib

        return dlib.cnn_face_detection_model_v1(str(self.dlib.dir / "mmod_human_face_detector.dat"))

    def hog(self, rgb: np.ndarray) -> np.ndarray:
        return self.dlib.detect_hog(rgb, HOG_UPSAMPLE)

    def known(self, original: np.ndarray, gt: np.ndarray, hog: np.ndarray | None = None) -> np.ndarray:
        """Boxes (M, 4) that excuse a face on the output: ground truth and HOG's detections >= ORIGINAL_SCORE on
        the original (`hog`: those detections when already computed, all scores)."""
        dets = self.hog(original) if hog is None else np.asarray(hog, np.float32).reshape(-1, 5)
        return np.concatenate([np.asarray(gt, np.float32).reshape(-1, 4), dets[dets[:, 4] >= ORIGINAL_SCORE, :4]])

    def cnn_sees(self, original: np.ndarray, box: np.ndarray) -> bool:
        """Whether dlib's CNN finds a face (confidence >= ORIGINAL_SCORE, IoU >= PHANTOM_IOU) at `box` on the
        original, searched in a crop around it scaled so the box is about CNN_FACE_PX."""
        h, w = original.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * CNN_CONTEXT / 2
        x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
        x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return False
        f = CNN_FACE_PX / max(box[2] - box[0], box[3] - box[1], 1.0)
        patch = cv2.resize(
            np.ascontiguousarray(original[y0:y1, x0:x1]),
            (max(round((x1 - x0) * f), 1), max(round((y1 - y0) * f), 1)),
            interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC,
        )
        found = [
            (d.rect.left() / f + x0, d.rect.top() / f + y0, d.rect.right() / f + x0, d.rect.bottom() / f + y0)
            for d in self._cnn(patch, 0)
            if d.confidence >= ORIGINAL_SCORE
        ]
        if not found:
            return False
        return bool(box_iou(np.asarray([box[:4]], np.float32), np.asarray(found, np.float32)).max() >= PHANTOM_IOU)

    def phantoms(self, output: np.ndarray, original: np.ndarray, known: np.ndarray) -> np.ndarray:
        """(K, 5) phantom faces on `output`."""
        cand = unexplained(self.hog(output), known)
        keep = [i for i, d in enumerate(cand) if not self.cnn_sees(original, d)]
        return cand[keep]
