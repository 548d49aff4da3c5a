"""MTCNN (facenet-pytorch, weights inside its wheel) behind a small interface returning Face records.

Large images are searched twice: a bounded-size overview finds the big faces cheaply and
full-resolution tiles find the small ones, so memory stays bounded and small faces survive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from deepanon.detect.tiling import merge_faces, tile_grid
from deepanon.device import resolve_device
from deepanon.types import Face


@dataclass(frozen=True)
class DetectorConfig:
    """Detection settings; defaults measured on WIDER FACE val (benchmarks/detection.py)."""

    # Measured on WIDER val (benchmarks/RESULTS.md): min_face 20 finds as many faces >= 32 px as 12, at 2.5x the
    # speed; 0.6 keeps the most faces, and a false alarm only costs an anonymized patch (privacy first).
    threshold: float = 0.6  # final MTCNN score to keep a face
    min_face: int = 20  # smallest face side, px, searched for (MTCNN upscales below 12)
    max_side: int = 1600  # images larger than this are searched as overview + tiles
    tile: int = 1024  # tile side for the full-resolution search of large images; 0: overview only (faster)
    tile_overlap: int = 160  # faces up to this size are always whole in some tile
    stage_thresholds: tuple[float, float] = (0.6, 0.7)  # P-Net and R-Net gates
    device: str = "auto"


class FaceDetector:
    """`detect(rgb)` -> faces of one image; `detect_batch(frames)` -> faces per frame."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        from facenet_pytorch import MTCNN  # heavy import, deferred until a detector is built

        self.config = config or DetectorConfig()
        self.device = resolve_device(self.config.device)
        c = self.config
        self._mtcnn = MTCNN(
            keep_all=True,
            min_face_size=c.min_face,
            thresholds=[c.stage_thresholds[0], c.stage_thresholds[1], c.threshold],
            device=self.device,
        )

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces for each HxWx3 uint8 RGB frame. Same-size small frames go through MTCNN as one batch."""
        if not frames:
            return []
        small = all(max(f.shape[:2]) <= self.config.max_side for f in frames)
        if small and len({f.shape for f in frames}) == 1:
            return self._run(list(frames))
        return [self._detect_large(f) if max(f.shape[:2]) > self.config.max_side else self._run([f])[0] for f in frames]

    def _detect_large(self, rgb: np.ndarray) -> list[Face]:
        c = self.config
        h, w = rgb.shape[:2]
        scale = c.max_side / max(h, w)
        overview = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        faces = [f.scaled(1.0 / scale) for f in self._run([overview])[0]]
        if c.tile <= 0:
            return faces
        for y0, x0, y1, x1 in tile_grid(h, w, c.tile, c.tile_overlap):
            tile = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            faces += [f.scaled(1.0, (x0, y0)) for f in self._run([tile])[0]]
        return merge_faces(faces)

    @torch.inference_mode()
    def _run(self, frames: list[np.ndarray]) -> list[list[Face]]:
        if min(min(f.shape[:2]) for f in frames) < 12:
            return [[] for _ in frames]  # smaller than MTCNN's receptive field: nothing to find
        batch = np.stack(frames) if len(frames) > 1 else frames[0]
        boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        if len(frames) == 1:
            boxes, probs, points = [boxes], [probs], [points]
        out: list[list[Face]] = []
        for b, p, lm in zip(boxes, probs, points):
            faces: list[Face] = []
            if b is not None:
                for box, score, pts in zip(b, p, lm):
                    if score is None or score < self.config.threshold:
                        continue
                    faces.append(Face(tuple(float(v) for v in box), float(score), np.asarray(pts, np.float32)))
            out.append(faces)
        return out
