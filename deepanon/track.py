"""Stage 'track' (video): faces across frames get stable ids, smooth boxes, and no holes.

A track missed by the detector is held at its predicted place for a few frames, so one missed
frame never lets a real face through; boxes are smoothed so the mask does not jitter, but never
shrunk below what the detector saw in that frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepanon.detect.tiling import box_iou
from deepanon.types import Face


@dataclass(frozen=True)
class TrackerConfig:
    match_iou: float = 0.3  # a detection continues a track when it overlaps the prediction this much
    hold_frames: int = 8  # frames a lost track is still anonymized at its predicted place
    smooth: float = 0.6  # weight of the new detection in the running average (1.0: no smoothing)
    hold_growth: float = 0.05  # a held box grows by this fraction per missed frame (it is less certain)


@dataclass
class _Track:
    id: int
    box: np.ndarray  # smoothed (4,)
    landmarks: np.ndarray | None
    score: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    missing: int = 0

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])], np.float32)


def _grow(box: np.ndarray, factor: float) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) / 2 * factor, (box[3] - box[1]) / 2 * factor
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)


class Tracker:
    """`update(faces_of_frame)` -> the faces to anonymize in that frame, each with a track_id."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 0

    def update(self, faces: list[Face]) -> list[Face]:
        c = self.config
        dets = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        preds = np.array([t.predicted() for t in self._tracks], np.float32).reshape(-1, 4)
        matches = self._match(preds, dets)
        out: list[Face] = []
        matched_tracks = set()
        for ti, di in matches:
            track, face = self._tracks[ti], faces[di]
            det = dets[di]
            new_box = c.smooth * det + (1 - c.smooth) * track.predicted()
            track.velocity = 0.5 * track.velocity + 0.5 * (new_box - track.box)
            track.box = new_box
            if face.landmarks is not None:
                track.landmarks = (
                    face.landmarks.copy()
                    if track.landmarks is None
                    else c.smooth * face.landmarks + (1 - c.smooth) * track.landmarks
                ).astype(np.float32)
            track.score, track.missing = face.score, 0
            matched_tracks.add(ti)
            out.append(Face(tuple(map(float, _union(new_box, det))), face.score, track.landmarks, track.id))
        matched_dets = {di for _, di in matches}
        kept: list[_Track] = []
        for ti, track in enumerate(self._tracks):
            if ti in matched_tracks:
                kept.append(track)
                continue
            track.missing += 1
            if track.missing > c.hold_frames:
                continue  # gone for good
            shift = track.velocity.copy()
            track.box = track.predicted()
            track.velocity *= 0.5  # do not fly off on a stale velocity
            if track.landmarks is not None:
                track.landmarks = track.landmarks + np.array(
                    [(shift[0] + shift[2]) / 2, (shift[1] + shift[3]) / 2], np.float32
                )
            held = _grow(track.box, 1.0 + c.hold_growth * track.missing)
            out.append(Face(tuple(map(float, held)), track.score, track.landmarks, track.id))
            kept.append(track)
        for di, face in enumerate(faces):
            if di in matched_dets:
                continue
            lm = None if face.landmarks is None else face.landmarks.astype(np.float32)
            track = _Track(self._next_id, dets[di].copy(), lm, face.score)
            self._next_id += 1
            kept.append(track)
            out.append(Face(face.box, face.score, lm, track.id))
        self._tracks = kept
        return out

    def _match(self, preds: np.ndarray, dets: np.ndarray) -> list[tuple[int, int]]:
        """Greedy one-to-one matching by IoU; centre distance rescues fast motion with no overlap."""
        if len(preds) == 0 or len(dets) == 0:
            return []
        iou = box_iou(preds, dets)
        pc = (preds[:, :2] + preds[:, 2:]) / 2
        dc = (dets[:, :2] + dets[:, 2:]) / 2
        size = np.maximum(preds[:, 2] - preds[:, 0], preds[:, 3] - preds[:, 1])
        near = np.linalg.norm(pc[:, None] - dc[None], axis=2) < 0.5 * size[:, None]
        score = np.where(iou >= self.config.match_iou, 1.0 + iou, np.where(near, 0.5, 0.0))
        pairs: list[tuple[int, int]] = []
        while score.size and score.max() > 0:
            ti, di = np.unravel_index(np.argmax(score), score.shape)
            pairs.append((int(ti), int(di)))
            score[ti, :] = 0
            score[:, di] = 0
        return pairs
