"""A second opinion on a detection: MTCNN's last stage (O-Net, 48x48) on the square crop of its box.

The detectors keep weak detections on purpose (privacy first: every one of them is anonymized); whether a
detection is confidently a face, and so gets a painted face rather than a filter, is decided on more evidence
(anonymize/decide.py). O-Net is the stage of MTCNN that rejects face-like clutter, and it costs about a
millisecond a crop, so it can judge every detection of either backend, CenterFace's included.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from deepanon.types import Face

ONET_SIZE = 48
# onet.pt as facenet-pytorch 2.6.0 ships it (deepanon loads no weight file it has not checked)
ONET_SHA256 = "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"


def square_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """The square of side max(width, height) about the box's centre (MTCNN's rerec: what O-Net was trained on)."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def square_crop(rgb: np.ndarray, box: Sequence[float], size: int = ONET_SIZE) -> np.ndarray:
    """The square around `box` resized to size x size; parts outside the image are black (as MTCNN pads)."""
    x0, y0, x1, y1 = square_box(box)
    side = max(x1 - x0, 1.0)
    f = size / side
    M = np.array([[f, 0, -x0 * f], [0, f, -y0 * f]], np.float32)
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    if f < 0.5:  # warpAffine has no INTER_AREA: shrink first so the crop is an average, not a few samples
        h, w = rgb.shape[:2]
        g = 2 * f
        small = cv2.resize(rgb, (max(round(w * g), 1), max(round(h * g), 1)), interpolation=cv2.INTER_AREA)
        M = np.array([[f / g, 0, -x0 * f], [0, f / g, -y0 * f]], np.float32)
        return cv2.warpAffine(small, M, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return cv2.warpAffine(rgb, M, (size, size), flags=interp, borderValue=0)


# Where the 5 landmarks of an upright face sit in an MTCNN-like box: its side is this many times the larger of the
# eye distance and the eyes-to-mouth distance, its centre this share of the side above the points' mean.
LANDMARK_BOX_SIDE = 2.5
LANDMARK_BOX_UP = 0.08


def landmark_box(face: Face) -> tuple[float, float, float, float] | None:
    """The box an MTCNN-like detector would give for face's landmarks (None without landmarks). A box merged from
    two detectors (detect/detector.py keeps their union) frames more than the face; this one does not."""
    if face.landmarks is None:
        return None
    lm = np.asarray(face.landmarks, np.float64)
    eyes, mouth = lm[:2].mean(0), lm[3:].mean(0)
    side = LANDMARK_BOX_SIDE * max(float(np.hypot(*(lm[1] - lm[0]))), float(np.hypot(*(mouth - eyes))), 1.0)
    cx, cy = lm.mean(0)
    cy -= LANDMARK_BOX_UP * side
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def onet_weights() -> Path:
    """facenet-pytorch's onet.pt, found without importing the package (its import pulls in torchvision and torch's
    compiler stack: 1.5 s of every painting process's start-up), its SHA-256 checked."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        raise ImportError("the second opinion needs facenet-pytorch's O-Net weights: run ./install.sh")
    path = Path(spec.origin).parent / "data" / "onet.pt"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ONET_SHA256:
        raise RuntimeError(f"{path}: SHA-256 {digest} is not the O-Net deepanon was measured with")
    return path


class ONet(nn.Module):
    """MTCNN's O-Net with facenet-pytorch's parameter names, so its onet.pt loads as it is. Defined here rather than
    imported from facenet_pytorch.models.mtcnn for start-up time (onet_weights); tests/test_paint_decision.py checks
    it gives facenet-pytorch's outputs. forward -> (box offsets, landmarks, face probabilities)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, kernel_size=3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, kernel_size=3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, kernel_size=3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, kernel_size=2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))  # the Caffe model's (W, H, C) order
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


class SecondOpinion:
    """`scores(rgb, faces)` -> O-Net's face probability for each face: the higher of its box's square crop and
    its landmarks' box's (`both` gives the two)."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.net = ONet()
        self.net.load_state_dict(torch.load(onet_weights(), map_location="cpu", weights_only=True))
        self.net = self.net.to(self.device).eval().requires_grad_(False)

    def scores(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[float]:
        return [max(a, b) for a, b in self.both(rgb, faces)]

    def both(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[tuple[float, float]]:
        """(on the box, on the landmarks' box) per face; the second is 0 for a face without landmarks."""
        if not faces:
            return []
        boxes = [f.box for f in faces] + [b for f in faces if (b := landmark_box(f)) is not None]
        p = self._onet([square_crop(rgb, b) for b in boxes])
        on_box, rest = p[: len(faces)], iter(p[len(faces) :])
        return [(a, next(rest) if f.landmarks is not None else 0.0) for a, f in zip(on_box, faces)]

    @torch.inference_mode()
    def _onet(self, crops: list[np.ndarray]) -> list[float]:
        x = (
            torch.from_numpy(np.stack(crops).astype(np.float32)).permute(0, 3, 1, 2).to(self.device) - 127.5
        ) * 0.0078125
        _, _, prob = self.net(x)
        return [float(v) for v in prob[:, 1].cpu()]
