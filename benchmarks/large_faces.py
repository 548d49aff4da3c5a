"""Large faces (>= 128 px), before / after the rim colour field and the sharpening of enlarged crops
(anonymize/gan.py RIM_SIGMA, SHARPEN_PER_DOUBLING), side by side in one run, same seeds: a contact sheet
(original | before | after, benchmarks/large_faces.png, for the README) and numbers per face. Images: the
samples/ pictures the project ships (scikit-image's public-domain astronaut and cameraman) at several sizes.

    python benchmarks/large_faces.py

seam: mean |output - original| over the feathered rim (where the new face meets the photo; a halo raises it);
sharpness: variance of the Laplacian of the brightness inside the face box, output / original (1 = as crisp);
identity distance (dlib, > 0.6 = another person) and landmark shift (dlib's 68 points / eye distance) as in
`deepanon evaluate`.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from results import markdown_table, publish
from skimage import data

from deepanon.anonymize.gan import GanPainter
from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.evaluate.dlib_faces import DlibFaces
from deepanon.evaluate.identity import landmark_shift
from deepanon.evaluate.still import face_crop
from deepanon.geometry.masks import face_region

HERE = Path(__file__).parent


def pictures() -> list[tuple[str, np.ndarray]]:
    astro, camera = data.astronaut(), cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB)
    out = [("astronaut", astro), ("cameraman", camera)]
    for s in (1.6, 2.4):
        out.append((f"astronaut x{s:g}", cv2.resize(astro, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)))
    out.append(("cameraman x2", cv2.resize(camera, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)))
    flipped = np.ascontiguousarray(astro[:, ::-1])
    out.append(("astronaut mirrored x2", cv2.resize(flipped, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)))
    return out


def sharpness(rgb: np.ndarray, box: tuple[float, ...]) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    grey = cv2.cvtColor(rgb[max(y0, 0) : y1, max(x0, 0) : x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def main() -> None:
    t0 = time.perf_counter()
    detector = FaceDetector(DetectorConfig(detectors=("mtcnn",), device="cpu"))
    before = GanPainter(device="cpu", rim_sigma=0.0, sharpen=0.0)
    after = GanPainter(device="cpu")
    dlib_faces = DlibFaces()
    rows, sheet = [], []
    for name, rgb in pictures():
        faces = [f for f in detector.detect(rgb) if max(f.width, f.height) >= 128]
        for j, face in enumerate(faces):
            outs = [p.paint_one(rgb, [face], [7 + j]) for p in (before, after)]
            region = face_region(face, rgb.shape)
            rim = (region.alpha > 0) & (region.alpha < 1)
            shape = dlib_faces.shape5(rgb, face.box)
            desc = dlib_faces.descriptor(rgb, shape)
            lm = dlib_faces.landmarks68(rgb, face.box)
            line: list[object] = [name, f"{max(face.width, face.height):.0f}"]
            for out in outs:
                seam = np.abs(out[region.slices].astype(float) - rgb[region.slices])[rim].mean()
                ident = float(np.linalg.norm(dlib_faces.descriptor(out, shape) - desc))
                shift = landmark_shift(lm, dlib_faces.landmarks68(out, face.box))
                line += [f"{seam:.1f}", f"{sharpness(out, face.box) / sharpness(rgb, face.box):.2f}"]
                line += [f"{ident:.3f}", f"{shift:.3f}"]
            rows.append(line)
            sheet.append([cv2.resize(face_crop(im, np.array(face.box)), (200, 200), interpolation=cv2.INTER_AREA)
                          for im in (rgb, *outs)])  # fmt: skip
    pad = [np.concatenate([np.pad(c, ((3, 3), (3, 3), (0, 0)), constant_values=255) for c in r], 1) for r in sheet]
    cv2.imwrite(str(HERE / "large_faces.png"), cv2.cvtColor(np.concatenate(pad, 0), cv2.COLOR_RGB2BGR))
    header = ["picture", "face px"]
    for run in ("before", "after"):
        header += [f"{run} seam", f"{run} sharpness", f"{run} id distance", f"{run} landmark shift"]
    means = ["mean", ""] + [f"{np.mean([float(r[k]) for r in rows]):.3g}" for k in range(2, len(header))]
    body = (
        "## Large faces: rim colour field and sharpening (benchmarks/large_faces.py)\n\n"
        "The samples' faces >= 128 px (scikit-image's astronaut and cameraman, enlarged), painted with the same "
        "seeds before (global colour match, bilinear warp) and after (plus the rim's colour-offset field, cubic "
        "warp and brightness sharpening of enlarged crops). benchmarks/large_faces.png: original | before | after. "
        f"Run {time.perf_counter() - t0:.0f} s.\n\n" + markdown_table(header, rows + [means])
    )
    publish("large-faces", body, True)


if __name__ == "__main__":
    main()
