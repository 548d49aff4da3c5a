"""Where deepanon's 5 landmarks (CenterFace: eye centres, nose tip, mouth corners) fall in dlib's face chip, the crop
dlib's age and gender networks were trained on (its 5-point shape predictor, padding 0.2): detect/attributes.py's
CHIP_TEMPLATE, which cuts the same chip from our landmarks. Prints the mean and spread over LFW photos.

    python benchmarks/attribute_chip.py [--photos 150]

dlib's chip transform is read exactly by cutting chips of two images that hold each pixel's x and y.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import dlib
import numpy as np

from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.attributes import AGE_CHIP, CHIP_TEMPLATE, model_path
from deepanon.photos import list_images, read_rgb

ROOT = Path(__file__).resolve().parents[1]


def chip_points(rgb: np.ndarray, shape: dlib.full_object_detection, points: np.ndarray, size: int) -> np.ndarray:
    """`points` (image px, continuous) in dlib's chip of `shape`, in units of the chip side."""
    details = dlib.get_face_chip_details(shape, size, 0.2)
    h, w = rgb.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    cx, cy = dlib.extract_image_chip(xs, details), dlib.extract_image_chip(ys, details)
    r, c = np.mgrid[0:size, 0:size]
    a = np.stack([c.ravel(), r.ravel(), np.ones(size * size)], 1)
    chip_to_image = np.vstack([np.linalg.lstsq(a, v.ravel(), rcond=None)[0] for v in (cx, cy)] + [[0, 0, 1]])
    pts = np.c_[points - 0.5, np.ones(len(points))] @ np.linalg.inv(chip_to_image).T  # pixel-index coordinates
    return (pts[:, :2] + 0.5) / size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lfw-single")
    ap.add_argument("--photos", type=int, default=150)
    a = ap.parse_args()
    predictor = dlib.shape_predictor(str(model_path("age-v1.onnx").parent / "shape_predictor_5_face_landmarks.dat"))
    det = FaceDetector(DetectorConfig(device="cpu"))
    paths = [p for p, _ in list_images([a.data])]
    random.Random(0).shuffle(paths)
    found = []
    for path in paths:
        if len(found) == a.photos:
            break
        rgb = read_rgb(path)
        faces = [f for f in det.detect(rgb) if f.landmarks is not None and f.width >= 60]
        if not faces:
            continue
        face = max(faces, key=lambda f: f.width * f.height)
        x0, y0, x1, y1 = (int(v) for v in face.box)
        found.append(chip_points(rgb, predictor(rgb, dlib.rectangle(x0, y0, x1, y1)), face.landmarks, AGE_CHIP))
    pts = np.array(found)
    print(f"{len(pts)} faces; our landmarks in dlib's chip (unit coordinates):")
    print("mean  ", np.round(pts.mean(0), 4).tolist())
    print("spread", np.round(pts.std(0), 4).tolist())
    print("CHIP_TEMPLATE (the mean made left-right symmetric)", CHIP_TEMPLATE.tolist())


if __name__ == "__main__":
    main()
