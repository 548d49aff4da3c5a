"""Rebuild a dataset folder (images.npy memmap + geometry files) from what pack.py wrote.

python scripts/remote_gpu/unpack.py .gpudata /tmp/faces
"""

from __future__ import annotations

import argparse
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

PACK_ONLY = ("images.bin", "offsets.npy", "shape.npy")


def unpack(src: Path, dst: Path, threads: int = 16) -> tuple[int, ...]:
    dst.mkdir(parents=True, exist_ok=True)
    raw = (src / "images.bin").read_bytes()
    offsets = np.load(src / "offsets.npy")
    shape = tuple(int(v) for v in np.load(src / "shape.npy"))
    out = np.lib.format.open_memmap(dst / "images.npy", mode="w+", dtype=np.uint8, shape=shape)

    def decode(i: int) -> None:
        img = cv2.imdecode(np.frombuffer(raw[offsets[i] : offsets[i + 1]], np.uint8), cv2.IMREAD_COLOR)
        if img is None or img.shape != shape[1:]:
            raise ValueError(f"{src / 'images.bin'}: crop {i} does not decode to {shape[1:]} (damaged or truncated)")
        out[i] = img[:, :, ::-1]

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(decode, range(shape[0])))
    out.flush()
    for f in src.iterdir():
        if f.name not in PACK_ONLY:
            shutil.copy(f, dst / f.name)
    return shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    a = ap.parse_args()
    print("unpacked", unpack(a.src, a.dst))


if __name__ == "__main__":
    main()
