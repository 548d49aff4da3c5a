"""Which detections get a painted face, and which a filter: a decision per detection (per track in video).

Every detection is anonymized; only one that is confidently a face gets a new face painted on it. A false alarm
on a wall, a bottle or a fist then gets a filter that invents nothing (a smudge at worst, never a face). The
evidence (pure functions here; the second opinion is detect/second_opinion.py's O-Net score):
- size: below MIN_PAINT_FACE px the generator has nothing to work with;
- the detector's own score: O-Net alone passes a knee or a hand now and then (its crop is 48 px of skin), and
  the detector scored those low;
- landmarks: the 5 points must be there and make sense for the box (eyes above the mouth, inside the box);
- second opinion: MTCNN's O-Net on the square crop of the box, whichever detector found it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from deepanon.config import PaintConfig
from deepanon.types import Face

PAINTED = "painted"
# why a detection got a filter instead (the report counts these)
SMALL, NO_LANDMARKS, LANDMARKS = "small", "no-landmarks", "landmarks"
LOW_SCORE, SECOND_OPINION = "low-score", "second-opinion"
REASONS = (PAINTED, SMALL, NO_LANDMARKS, LANDMARKS, LOW_SCORE, SECOND_OPINION)

# Landmarks may lie this far (share of the box side) outside the box: profile faces reach its edge.
LANDMARK_MARGIN = 0.25


def landmarks_plausible(face: Face, margin: float = LANDMARK_MARGIN) -> bool:
    """Whether face's 5 landmarks (LANDMARK_NAMES order) look like a face for its box: every point inside the box
    grown by `margin`, both eyes above both mouth corners, the nose below the eyes' line and above the mouth's, the
    eyes apart (a face's eyes are never on one point) and the mouth corners in left/right order with the eyes."""
    if face.landmarks is None:
        return False
    lm = np.asarray(face.landmarks, np.float64)
    x0, y0, x1, y1 = face.box
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    u, v = (lm[:, 0] - x0) / w, (lm[:, 1] - y0) / h
    if (u < -margin).any() or (u > 1 + margin).any() or (v < -margin).any() or (v > 1 + margin).any():
        return False
    eyes_v, nose_v, mouth_v = v[:2].max(), v[2], v[3:].min()
    if not eyes_v < mouth_v or not v[:2].mean() < nose_v < v[3:].mean():
        return False
    eye_gap = np.hypot(*(lm[1] - lm[0])) / w
    return bool(eye_gap >= 0.08 and u[1] > u[0] and u[4] > u[3])


def reason_before_opinion(face: Face, config: PaintConfig) -> str | None:
    """Why face gets config.rest whatever the second opinion says, or None when the opinion decides (so the
    pipeline asks O-Net only about those)."""
    if max(face.width, face.height) < config.min_paint_face:
        return SMALL
    if face.landmarks is None:
        return NO_LANDMARKS
    if config.check_landmarks and not landmarks_plausible(face):
        return LANDMARKS
    if face.score < config.min_paint_score:
        return LOW_SCORE
    return None


def decide(face: Face, second_opinion: float, config: PaintConfig) -> str:
    """PAINTED, or the reason the detection gets config.rest instead."""
    reason = reason_before_opinion(face, config)
    if reason is not None:
        return reason
    if second_opinion < config.paint_threshold:
        return SECOND_OPINION
    return PAINTED


@dataclass(frozen=True)
class Votes:
    """What a track's frames said so far (video): decide()'s verdict on each frame it was judged in."""

    verdicts: tuple[str, ...] = ()

    def plus(self, other: Votes) -> Votes:
        return Votes(self.verdicts + other.verdicts)

    def verdict(self, paint_share: float) -> str:
        """PAINTED when more than `paint_share` of the frames said so (0: any one frame), else the reason most
        frames gave for the filter (no frame: nothing spoke for a face)."""
        painted = self.verdicts.count(PAINTED)
        if painted and painted > paint_share * len(self.verdicts):
            return PAINTED
        reasons = Counter(v for v in self.verdicts if v != PAINTED)
        return reasons.most_common(1)[0][0] if reasons else SECOND_OPINION
