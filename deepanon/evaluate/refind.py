"""Still a face? How often MTCNN finds a portrait's face again after it was anonymized.

Measured on the held-out validation photos of `deepanon prepare` (the hash-fixed split the GAN never trains on):
each photo's main face (the one prepare would crop) is anonymized, then MTCNN alone searches the result. A face
counts as found when an MTCNN box overlaps the anonymized face's box by MATCH_IOU. The same count on the
originals is the ceiling. benchmarks/gan_refind.py records the rate of the shipped weights; a test holds the
weights to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepanon.anonymize.pipeline import Anonymizer
from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.evaluate.matching import matched_gt
from deepanon.photos import is_validation, list_images, pick_face, read_rgb
from deepanon.types import Face


@dataclass
class RefindResult:
    photos: int = 0
    faces: int = 0  # photos whose main face the anonymizer detected and replaced
    found_before: int = 0  # of those, MTCNN finds the original face
    found_after: int = 0  # and the anonymized one

    @property
    def rate_before(self) -> float:
        return self.found_before / max(self.faces, 1)

    @property
    def rate_after(self) -> float:
        return self.found_after / max(self.faces, 1)


def validation_photos(sources: Sequence[Path], per_source: int = 0, val_fraction: float = 0.02) -> list[Path]:
    """The validation split of each source folder (as prepare draws it), the first `per_source` of each (0: all)."""
    out: list[Path] = []
    for src in sources:
        val = [p for p, name in list_images([Path(src)]) if is_validation(name, val_fraction)]
        out += val[:per_source] if per_source > 0 else val
    return out


def mtcnn_detector(device: str = "cpu") -> FaceDetector:
    """MTCNN alone, at the run-time threshold: the judge of "still a face"."""
    return FaceDetector(DetectorConfig(detectors=("mtcnn",), device=device))


def _found(box: tuple[float, ...], faces: Sequence[Face]) -> bool:
    det = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
    return bool(matched_gt(np.array([box], np.float32), det)[0])


def refind(photos: Sequence[Path], anonymizer: Anonymizer, judge: FaceDetector) -> RefindResult:
    """Anonymize each photo's main face and count how often `judge` finds it before and after."""
    res = RefindResult()
    for path in photos:
        rgb = read_rgb(path)
        if rgb is None:
            continue
        res.photos += 1
        out, faces = anonymizer.anonymize_image(rgb, key=path.name)
        face = pick_face(faces, rgb.shape)
        if face is None:
            continue
        res.faces += 1
        res.found_before += _found(face.box, judge.detect(rgb))
        res.found_after += _found(face.box, judge.detect(out))
    return res
