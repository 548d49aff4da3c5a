"""MTCNN (facenet-pytorch; its weights ship inside the wheel) as a detector backend returning Face records."""

from __future__ import annotations

import numpy as np
import torch

from deepanon.types import Face, as_box


class MtcnnNet:
    """`run(frames)` -> faces per frame; frames must share one shape (they go through MTCNN as one batch)."""

    def __init__(
        self, threshold: float, min_face: int, stage_thresholds: tuple[float, float], device: torch.device | str
    ) -> None:
        from facenet_pytorch import MTCNN  # heavy import, deferred until a detector is built

        self.threshold = threshold
        self._min_face = min_face
        self._mtcnn = MTCNN(
            keep_all=True,
            min_face_size=min_face,
            thresholds=[stage_thresholds[0], stage_thresholds[1], threshold],
            device=torch.device(device),
        )

    @torch.inference_mode()
    def run(self, frames: list[np.ndarray], small_pass: list[bool] | None = None) -> list[list[Face]]:
        """small_pass: CenterFace's small-face pass flags, accepted for one backend interface; MTCNN has no such
        pass (its image pyramid reaches down to min_face)."""
        if min(frames[0].shape[:2]) < self._min_face:
            # its pyramid would have no level (facenet-pytorch then fails on an empty torch.cat), and every face
            # here is smaller than the smallest it searches: CenterFace covers such frames
            return [[] for _ in frames]
        batch = np.stack(frames) if len(frames) > 1 else frames[0]
        boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        if len(frames) == 1:
            boxes, probs, points = [boxes], [probs], [points]
        out: list[list[Face]] = []
        for b, p, lm in zip(boxes, probs, points):
            faces: list[Face] = []
            if b is not None:
                for box, score, pts in zip(b, p, lm):
                    if score is None or score < self.threshold:
                        continue
                    faces.append(Face(as_box(box), float(score), np.asarray(pts, np.float32)))
            out.append(faces)
        return out
