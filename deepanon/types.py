"""Records that travel between the pipeline stages (detect -> track -> anonymize)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

# Landmark order used everywhere: left eye, right eye, nose, mouth left, mouth right
# ("left"/"right" as seen in the image, the MTCNN convention).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def as_box(values: Iterable[float]) -> tuple[float, float, float, float]:
    """Face.box from four numbers (a numpy row, a list): Python floats; raises unless exactly four."""
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face in image pixel coordinates.

    box: (x0, y0, x1, y1), float pixels, x1/y1 exclusive.
    landmarks: (5, 2) float32 array of (x, y) in LANDMARK_NAMES order, or None.
    track_id: set by the video tracker; None for still images.
    treatment: set by the anonymizer (method gan): "painted", or why a filter was used instead
    (anonymize/decide.py REASONS); None before the decision and for the filter methods.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None
    track_id: int | None = None
    treatment: str | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def scaled(self, factor: float, offset: tuple[float, float] = (0.0, 0.0)) -> Face:
        """The same face in another coordinate frame: p' = p * factor + offset."""
        ox, oy = offset
        x0, y0, x1, y1 = self.box
        box = (x0 * factor + ox, y0 * factor + oy, x1 * factor + ox, y1 * factor + oy)
        lm = None if self.landmarks is None else self.landmarks * factor + np.array([ox, oy], np.float32)
        return replace(self, box=box, landmarks=lm)

    def to_json(self) -> dict:
        out: dict = {"box": [round(float(v), 1) for v in self.box], "score": round(float(self.score), 4)}
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks]
        if self.track_id is not None:
            out["track_id"] = self.track_id
        if self.treatment is not None:
            out["treatment"] = self.treatment
        return out
