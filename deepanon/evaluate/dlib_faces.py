"""dlib's face models (from the face_recognition_models wheel): landmarks, 128-d descriptors, HOG detector.

The model files are located without importing face_recognition_models (its __init__ imports pkg_resources).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # dlib comes with the eval extra
    import dlib

MODEL_PACKAGE = "face_recognition_models"


def model_dir() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{MODEL_PACKAGE} is not installed (./install.sh eval)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _rect(box: Sequence[float]) -> dlib.rectangle:
    import dlib

    x0, y0, x1, y1 = (int(round(float(v))) for v in box[:4])
    return dlib.rectangle(x0, y0, x1, y1)


class DlibFaces:
    """Lazy holder of dlib's models; every method takes HxWx3 uint8 RGB and boxes x0 y0 x1 y1."""

    def __init__(self) -> None:
        import dlib  # noqa: F401  (fail early when the eval extra is missing)

        self.dir = model_dir()

    @cached_property
    def _sp5(self) -> dlib.shape_predictor:
        import dlib

        return dlib.shape_predictor(str(self.dir / "shape_predictor_5_face_landmarks.dat"))

    @cached_property
    def _sp68(self) -> dlib.shape_predictor:
        import dlib

        return dlib.shape_predictor(str(self.dir / "shape_predictor_68_face_landmarks.dat"))

    @cached_property
    def _rec(self) -> dlib.face_recognition_model_v1:
        import dlib

        return dlib.face_recognition_model_v1(str(self.dir / "dlib_face_recognition_resnet_model_v1.dat"))

    @cached_property
    def _hog(self) -> dlib.fhog_object_detector:
        import dlib

        return dlib.get_frontal_face_detector()

    def shape5(self, rgb: np.ndarray, box: Sequence[float]) -> dlib.full_object_detection:
        """dlib full_object_detection (5 points) for the face in `box`: the alignment the descriptor expects."""
        return self._sp5(rgb, _rect(box))

    def landmarks68(self, rgb: np.ndarray, box: Sequence[float]) -> np.ndarray:
        shape = self._sp68(rgb, _rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)

    def descriptor(self, rgb: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
        """128-d descriptor of the face aligned by `shape` (which may come from another image of the same size:
        descriptor(anonymized, shape5(original, box)) looks exactly where the original face was)."""
        return np.array(self._rec.compute_face_descriptor(np.ascontiguousarray(rgb), shape), np.float64)

    def detect_hog(self, rgb: np.ndarray, upsample: int = 1) -> np.ndarray:
        """(N, 5) boxes with scores from dlib's HOG detector."""
        rects, scores, _ = self._hog.run(np.ascontiguousarray(rgb), upsample, -0.5)
        return np.array(
            [(r.left(), r.top(), r.right(), r.bottom(), s) for r, s in zip(rects, scores)], np.float32
        ).reshape(-1, 5)
