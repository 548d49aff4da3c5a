"""Identity and realism maths on face embeddings and landmarks. Pure functions; dlib is in dlib_faces.py.

- identity: dlib's 128-d face descriptors; dlib calls two faces the same person below SAME_PERSON_DISTANCE.
- realism: the Frechet distance between the descriptor distributions of real and anonymized faces
  (FID's formula on dlib descriptors instead of Inception features), and the landmark shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAME_PERSON_DISTANCE = 0.6  # dlib's threshold: 99.38 % on LFW pairs


def embedding_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distance between two (N, D) embedding arrays."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


@dataclass(frozen=True)
class IdentityScore:
    faces: int
    still_same: float  # share of faces whose anonymized embedding is within SAME_PERSON_DISTANCE of the original
    mean_distance: float


def identity_score(distances: np.ndarray, threshold: float = SAME_PERSON_DISTANCE) -> IdentityScore:
    d = np.asarray(distances, np.float64)
    if d.size == 0:
        return IdentityScore(0, float("nan"), float("nan"))
    return IdentityScore(int(d.size), float((d < threshold).mean()), float(d.mean()))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(Ca + Cb - 2 sqrt(Ca Cb)) between Gaussians fitted to rows of a and b.

    With fewer samples than dimensions the covariances are singular and the value is biased upwards; compare
    methods on the same faces, not with published FIDs.
    """
    from scipy import linalg  # scipy comes with the eval extra (and scikit-image)

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(ca @ cb)
    if not np.isfinite(covmean).all():  # singular product: nudge both, as the FID reference code does
        eps = np.eye(len(ca)) * 1e-6
        covmean = linalg.sqrtm((ca + eps) @ (cb + eps))
    covmean = np.real(covmean)
    return float(max(mu @ mu + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean), 0.0))


# Eye points in dlib's 68-point layout (the 5-point model's eye corners are 0-1 and 2-3).
EYES_68 = (slice(36, 42), slice(42, 48))


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the eye centres of a (68, 2) landmark array."""
    p = np.asarray(points, np.float64)
    return float(np.linalg.norm(p[EYES_68[0]].mean(0) - p[EYES_68[1]].mean(0)))


def landmark_shift(original: np.ndarray, anonymized: np.ndarray) -> float:
    """Mean point-to-point distance between two (68, 2) landmark sets, in units of the original's eye distance."""
    return _mean_distance(original, anonymized, inter_ocular(original))


def _mean_distance(a: np.ndarray, b: np.ndarray, unit: float) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b, axis=1).mean() / max(unit, 1e-9))


def pose_points(points: np.ndarray) -> np.ndarray:
    """The 5 points the generator is conditioned on (eye centres, nose tip, mouth corners) of a (68, 2) set."""
    p = np.asarray(points, np.float64)
    return np.stack([p[EYES_68[0]].mean(0), p[EYES_68[1]].mean(0), p[30], p[48], p[54]])


def pose_shift(original: np.ndarray, anonymized: np.ndarray) -> float:
    """landmark_shift over the 5 pose points only. The 68 include the jaw line and brows, which a new face may
    legitimately draw elsewhere; these 5 are the pose it must keep."""
    return _mean_distance(pose_points(original), pose_points(anonymized), inter_ocular(original))
