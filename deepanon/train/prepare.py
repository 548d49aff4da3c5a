"""Photos -> aligned training crops for the face GAN, stored as .npy memmaps in one folder.

out/images.npy     (N, R, R, 3) uint8   aligned crops (alignment_matrix, run-time geometry)
out/masks.npy      (N, R, R)    uint8   run-time blend weight (ellipse_alpha) * 255 in crop space
out/landmarks.npy  (N, 5, 2)    float32 landmarks in crop pixels
out/matrices.npy   (N, 2, 3)    float32 image->crop matrix at R (dataset.py re-derives exact masks at other R)
out/ellipses.npy   (N, 4)       float32 the mask ellipse (cx, cy, ax, ay) in image pixels
out/sizes.npy      (N, 2)       int32   source image (height, width): where the crop shows the photo
out/is_val.npy     (N,)         uint8   fixed validation split (hash of the file name), never trained on
out/names.txt, out/dataset.json (counts, sources, resolution)
Work is done in chunks written atomically to out/chunks/, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from deepanon.geometry.align import alignment_matrix, face_crop_mask, transform_points
from deepanon.geometry.masks import DEFAULT_MASK_SCALE, face_ellipse
from deepanon.photos import is_validation, list_images, pick_face, read_rgb
from deepanon.types import Face

if TYPE_CHECKING:  # the detector (torch) loads when prepare runs
    from deepanon.detect import FaceDetector

# Bump when align.crop changes what the crops look like: chunks made before are then redone.
CROP_BORDER = "constant-0, mask inside image"
ARRAYS = ("images", "masks", "landmarks", "matrices", "ellipses", "sizes", "is_val")


@dataclass
class PrepareConfig:
    resolution: int = 128  # stored size; a 64 model downsamples in dataset.py, a later 128 model needs no re-prepare
    val_fraction: float = 0.02
    min_face: int = 48  # faces whose box is smaller (longest side, source px) would be upsampled: skipped
    chunk: int = 256  # files per resumable chunk
    detect_batch: int = 32
    mask_scale: float = DEFAULT_MASK_SCALE
    threads: int | None = None
    device: str = "cpu"
    sources: list[str] = field(default_factory=list)


def _process_chunk(files: list[tuple[Path, str]], detector: FaceDetector, cfg: PrepareConfig) -> dict[str, np.ndarray]:
    from deepanon.geometry.align import crop

    R = cfg.resolution
    imgs = [read_rgb(p) for p, _ in files]
    found: list[list[Face]] = [[] for _ in files]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(imgs):
        if im is not None:
            by_shape.setdefault(im.shape, []).append(i)
    for idx in by_shape.values():  # same-size images are detected as one batch
        for s in range(0, len(idx), cfg.detect_batch):
            part = idx[s : s + cfg.detect_batch]
            batch = [read for i in part if (read := imgs[i]) is not None]  # all: by_shape holds only read ones
            for i, faces in zip(part, detector.detect_batch(batch), strict=True):
                found[i] = faces
    rec: dict[str, list] = {k: [] for k in (*ARRAYS, "names")}
    counts = {"files": len(files), "unreadable": 0, "not_found": 0, "too_small": 0, "found": 0}
    for (_, name), im, faces in zip(files, imgs, found, strict=True):
        if im is None:
            counts["unreadable"] += 1
            continue
        face = pick_face(faces, im.shape)
        if face is None:
            counts["not_found"] += 1
            continue
        if max(face.width, face.height) < cfg.min_face:
            counts["too_small"] += 1
            continue
        counts["found"] += 1
        M = alignment_matrix(face, R, cfg.mask_scale)
        assert face.landmarks is not None  # alignment_matrix() raised otherwise
        ell = face_ellipse(face, cfg.mask_scale)
        rec["images"].append(crop(im, M, R))
        mask = face_crop_mask(face, M, R, cfg.mask_scale, im.shape[:2])
        rec["masks"].append(np.rint(mask * 255).astype(np.uint8))
        rec["landmarks"].append(transform_points(M, face.landmarks))
        rec["matrices"].append(M.astype(np.float32))
        rec["ellipses"].append(np.array([ell.cx, ell.cy, ell.ax, ell.ay], np.float32))
        rec["sizes"].append(np.array(im.shape[:2], np.int32))
        rec["is_val"].append(np.uint8(is_validation(name, cfg.val_fraction)))
        rec["names"].append(name)
    shapes = {
        "images": (0, R, R, 3),
        "masks": (0, R, R),
        "landmarks": (0, 5, 2),
        "matrices": (0, 2, 3),
        "ellipses": (0, 4),
        "sizes": (0, 2),
        "is_val": (0,),
    }
    out = {
        k: (
            np.stack(rec[k])
            if rec[k]
            else np.zeros(
                shapes[k],
                np.float32 if k in ("landmarks", "matrices", "ellipses") else np.int32 if k == "sizes" else np.uint8,
            )
        )
        for k in ARRAYS
    }
    out["names"] = np.array(rec["names"], dtype=object).astype(str) if rec["names"] else np.zeros((0,), "<U1")
    out["counts"] = np.array([counts[k] for k in ("files", "unreadable", "not_found", "too_small", "found")])
    return out


COUNT_KEYS = ("files", "unreadable", "not_found", "too_small", "found")


def prepare_dataset(
    sources: Sequence[Path],
    out: Path,
    resolution: int = 128,
    val_fraction: float = 0.02,
    min_face: int = 48,
    chunk: int = 256,
    threads: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    mask_scale: float = DEFAULT_MASK_SCALE,
) -> dict:
    """Detect, align and store every photo's main face; returns the dataset.json summary."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from deepanon.detect import DetectorConfig, FaceDetector
    from deepanon.geometry.boxes import MERGE_CONTAINMENT, MERGE_IOU

    if threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
    cfg = PrepareConfig(
        resolution,
        val_fraction,
        min_face,
        chunk,
        mask_scale=mask_scale,
        threads=threads,
        device=device,
        sources=[str(Path(s).resolve()) for s in sources],
    )
    out = Path(out)
    files = list_images(sources)
    if not files:
        raise ValueError(f"no images found under {', '.join(map(str, sources))}")
    # The run-time detector (MTCNN + CenterFace, union boxes), so the GAN learns to fill exactly the masks it
    # will be given. Search a little below min_face (at most 40 px) so small faces count as too small, not missing.
    det_cfg = DetectorConfig(min_face=max(12, min(int(min_face * 0.8), 40)), device=device)
    # Chunks are reusable only by the same plan: same files, settings, crop rendering, mask size and detector (its
    # config and merge rule: they define the boxes, hence the masks), so a changed default redoes the chunks by itself.
    # (device and the video pass schedule do not change what a photo's search finds)
    detection = {**asdict(det_cfg), "device": None, "merge": (MERGE_IOU, MERGE_CONTAINMENT)}
    del detection["video_upscale_every"]
    plan = hashlib.sha1(
        json.dumps(
            [[n for _, n in files], resolution, val_fraction, min_face, chunk, CROP_BORDER, cfg.mask_scale, detection]
        ).encode()
    )
    chunk_dir = out / "chunks" / plan.hexdigest()[:12]
    chunk_dir.mkdir(parents=True, exist_ok=True)
    n_chunks = (len(files) + chunk - 1) // chunk
    detector = FaceDetector(det_cfg)
    t0 = time.time()
    with Progress(
        TextColumn("prepare"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        disable=not progress,
    ) as bar:
        task = bar.add_task("prepare", total=len(files), info="")
        found = 0
        for c in range(n_chunks):
            path = chunk_dir / f"chunk_{c:05d}.npz"
            part = files[c * chunk : (c + 1) * chunk]
            if not path.exists():
                data = _process_chunk(part, detector, cfg)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, allow_pickle=True, **data)  # its default, named: else mypy matches **data to it
                os.replace(tmp, path)
            with np.load(path) as z:
                found += int(z["counts"][-1])
            bar.update(task, advance=len(part), info=f"{found} faces")
    summary = _assemble(chunk_dir, n_chunks, out, cfg)
    summary["seconds"] = round(time.time() - t0, 1)
    (out / "dataset.json").write_text(json.dumps(summary, indent=2))
    return summary


def _assemble(chunk_dir: Path, n_chunks: int, out: Path, cfg: PrepareConfig) -> dict:
    """Concatenate the chunks into memmaps (written to temp names, then renamed)."""
    paths = [chunk_dir / f"chunk_{c:05d}.npz" for c in range(n_chunks)]
    counts = np.zeros(len(COUNT_KEYS), np.int64)
    sizes = []
    for p in paths:
        with np.load(p) as z:
            counts += z["counts"]
            sizes.append(len(z["is_val"]))
    n = int(sum(sizes))
    with np.load(paths[0]) as z:
        specs = {k: (z[k].shape[1:], z[k].dtype) for k in ARRAYS}
    arrays = {
        k: np.lib.format.open_memmap(out / f"{k}.tmp.npy", "w+", dt, (n, *shape)) for k, (shape, dt) in specs.items()
    }
    names: list[str] = []
    i = 0
    for p, m in zip(paths, sizes, strict=True):
        with np.load(p) as z:
            for k in ARRAYS:
                arrays[k][i : i + m] = z[k]
            names += [str(s) for s in z["names"]]
        i += m
    for k, a in arrays.items():
        a.flush()
        del a
        os.replace(out / f"{k}.tmp.npy", out / f"{k}.npy")
    (out / "names.txt").write_text("\n".join(names) + "\n")
    is_val = np.load(out / "is_val.npy")
    summary = {
        "resolution": cfg.resolution,
        "count": n,
        "train": int((is_val == 0).sum()),
        "val": int(is_val.sum()),
        **{k: int(v) for k, v in zip(COUNT_KEYS, counts, strict=True)},
        "config": asdict(cfg),
        "geometry": "deepanon.geometry.align.alignment_matrix + masks.face_ellipse (run-time mask)",
    }
    return summary
