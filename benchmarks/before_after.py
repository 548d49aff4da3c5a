"""Before / after picture of the shipped samples: original, gan, blur, pixelate side by side.

    python benchmarks/before_after.py [--out benchmarks/before_after.png] [--seed 0]

Each row is one sample (samples/astronaut.jpg, samples/crowd.png), cropped around its faces so they are visible
at README size. Regenerate after exporting new weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from deepanon.anonymize.pipeline import Anonymizer
from deepanon.media.images import read_image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ("astronaut.jpg", "crowd.png")
METHODS = ("gan", "blur", "pixelate")
TILE = 320  # height of one picture in the sheet


def faces_window(shape: tuple[int, ...], boxes: list[tuple[float, ...]], grow: float = 1.2) -> tuple[slice, slice]:
    """The part of the image around all faces (grown by `grow` of the union's size), for a readable thumbnail."""
    b = np.array(boxes, np.float32)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    pad = grow * max(x1 - x0, y1 - y0) / 2
    h, w = shape[:2]
    return slice(max(int(y0 - pad), 0), min(int(y1 + pad), h)), slice(max(int(x0 - pad), 0), min(int(x1 + pad), w))


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "before_after.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    anons = {m: Anonymizer(method=m, device="cpu", seed=a.seed) for m in METHODS}
    rows = []
    for name in SAMPLES:
        rgb = read_image(ROOT / "samples" / name).rgb
        outs = {m: anon.anonymize_image(rgb, key=name) for m, anon in anons.items()}
        window = faces_window(rgb.shape, [f.box for f in outs["gan"][1]])
        tiles = [rgb[window]] + [outs[m][0][window] for m in METHODS]
        h = TILE
        tiles = [cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h), interpolation=cv2.INTER_AREA) for t in tiles]
        rows.append(np.concatenate([label(t, n) for t, n in zip(tiles, ("original", *METHODS), strict=True)], 1))
    width = min(r.shape[1] for r in rows)  # rows of one width: the wider ones are scaled down to it
    rows = [cv2.resize(r, (width, round(r.shape[0] * width / r.shape[1])), interpolation=cv2.INTER_AREA) for r in rows]
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, 0), (0, 0)), constant_values=255) for r in rows])
    cv2.imwrite(str(a.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {a.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
