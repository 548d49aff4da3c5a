"""Stage 'detect': frames in, Face records out."""

from deepanon.detect.detector import DETECTORS, DetectorConfig, FaceDetector

__all__ = ["DETECTORS", "DetectorConfig", "FaceDetector"]
