"""Video metrics on per-frame results: tracks of reference faces, holes in coverage, identity stability, flicker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepanon.evaluate.coverage import clip_box
from deepanon.geometry.boxes import box_iou

LINK_IOU = 0.3  # consecutive-frame boxes of one person overlap well above this at 25 fps


def link_tracks(boxes: Sequence[np.ndarray], iou: float = LINK_IOU, max_gap: int = 2) -> list[np.ndarray]:
    """Track ids for reference boxes: boxes[t] is (N_t, 4); returns one int array of ids per frame.

    Greedy by IoU against each track's last box, so a reference face is followed through short gaps
    (up to `max_gap` frames) of the reference detector.
    """
    last: dict[int, tuple[np.ndarray, int]] = {}  # id -> (box, frame)
    ids_out: list[np.ndarray] = []
    next_id = 0
    for t, b in enumerate(boxes):
        b = np.asarray(b, np.float32).reshape(-1, 4)
        ids = np.full(len(b), -1, int)
        live = [k for k, (_, f) in last.items() if t - f <= max_gap + 1]
        if live and len(b):
            m = box_iou(b, np.stack([last[k][0] for k in live]).astype(np.float32))
            for i, j in sorted(np.ndindex(m.shape), key=lambda ij: -m[ij]):
                if m[i, j] < iou:
                    break
                if ids[i] < 0 and live[j] not in ids:
                    ids[i] = live[j]
        for i in range(len(b)):
            if ids[i] < 0:
                ids[i], next_id = next_id, next_id + 1
            last[int(ids[i])] = (b[i], t)
        ids_out.append(ids)
    return ids_out


def count_holes(covered: Sequence[bool | None]) -> int:
    """Frames t where one face is covered at t-1 and t+1 but not at t (None: the face is absent that frame)."""
    c = list(covered)
    return sum(1 for t in range(1, len(c) - 1) if c[t - 1] is True and c[t + 1] is True and c[t] is False)


def track_sequences(ids: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> dict[int, list[bool | None]]:
    """Per track id, its value (e.g. covered) in every frame, None where the track has no box."""
    n = len(ids)
    out: dict[int, list[bool | None]] = {}
    for t, (fid, fv) in enumerate(zip(ids, values)):
        for k, v in zip(fid, fv):
            out.setdefault(int(k), [None] * n)[t] = bool(v)
    return out


@dataclass(frozen=True)
class Stability:
    within: float  # mean embedding distance between frames of the same track (consecutive samples)
    between: float  # mean distance between faces of different tracks
    pairs_within: int
    pairs_between: int


def identity_stability(embeddings: np.ndarray, track_ids: np.ndarray) -> Stability:
    """embeddings (N, D) of anonymized faces in frame order, track_ids (N,). A GAN that keeps one new identity per
    person gives within << between; one that draws a new face every frame gives within ~ between."""
    e, k = np.asarray(embeddings, np.float64), np.asarray(track_ids)
    within: list[float] = []
    for tid in np.unique(k):
        seq = e[k == tid]
        within += list(np.linalg.norm(np.diff(seq, axis=0), axis=1))
    if len(e) >= 2:
        d = np.linalg.norm(e[:, None] - e[None], axis=-1)
        other = k[:, None] != k[None]
        between = d[np.triu(other, 1)]
    else:
        between = np.zeros(0)
    nan = float("nan")
    return Stability(
        float(np.mean(within)) if within else nan,
        float(between.mean()) if between.size else nan,
        len(within),
        int(between.size),
    )


def box_change(prev: np.ndarray, cur: np.ndarray, boxes: np.ndarray) -> tuple[float, int]:
    """(sum of |cur - prev| over the pixels and channels inside the boxes, number of values summed).

    With the original frames this is the face's own motion; with the anonymized ones, motion plus any shimmer the
    method adds. Their ratio (flicker) is 1 for a method as steady as the video itself.
    """
    total, count = 0.0, 0
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
        xa, ya, xb, yb = clip_box(box, cur.shape)
        if xb <= xa or yb <= ya:
            continue
        diff = np.abs(cur[ya:yb, xa:xb].astype(np.int16) - prev[ya:yb, xa:xb].astype(np.int16))
        total += float(diff.sum())
        count += diff.size
    return total, count
