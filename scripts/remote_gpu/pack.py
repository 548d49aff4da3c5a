"""Pack a prepared dataset into a folder small enough to send to a GPU machine that cannot see the photos.

    python scripts/remote_gpu/pack.py datasets/faces .gpudata [--quality 92]

The crops (images.npy, ~1 GB for 20k crops at 128 px) become one file of WebP blobs (~35 MB at quality 92, mean
error 0.4-1.6 grey levels); the geometry files (landmarks, matrices, ellipses, sizes, split, names) are copied as
they are, so masks and landmark maps are rebuilt exactly. unpack.py reverses it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

SKIP = ("images.npy", "masks.npy")  # masks are rebuilt from the ellipses by the dataset reader


def pack(src: Path, dst: Path, quality: int) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    imgs = np.load(src / "images.npy", mmap_mode="r")
    offsets = [0]
    with (dst / "images.bin").open("wb") as f:
        for im in imgs:
            ok, buf = cv2.imencode(".webp", np.ascontiguousarray(im[:, :, ::-1]), [cv2.IMWRITE_WEBP_QUALITY, quality])
            if not ok:
                raise RuntimeError("WebP encoding failed")
            f.write(buf.tobytes())
            offsets.append(offsets[-1] + len(buf))
    np.save(dst / "offsets.npy", np.array(offsets, np.int64))
    np.save(dst / "shape.npy", np.array(imgs.shape, np.int64))
    for f in src.iterdir():
        if f.is_file() and f.name not in SKIP:
            shutil.copy(f, dst / f.name)
    return offsets[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--quality", type=int, default=92)
    a = ap.parse_args()
    size = pack(a.src, a.dst, a.quality)
    print(f"packed {a.src} -> {a.dst}: crops {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
