"""Stage 'detect': frames in, Face records out."""

from deepanon.detect.mtcnn import DetectorConfig, FaceDetector

__all__ = ["DetectorConfig", "FaceDetector"]
