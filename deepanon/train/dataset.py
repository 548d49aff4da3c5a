"""Training batches from a prepared folder (train/prepare.py): crops at any resolution <= the stored one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepanon.geometry.align import FLIP_ORDER, crop_mask, crop_valid, flip_landmarks, landmark_maps
from deepanon.geometry.masks import Ellipse


class FaceCrops:
    """Memory-mapped crops; `batch(idx, flip)` -> image [-1, 1], mask [0, 1], landmark maps at `resolution`."""

    def __init__(
        self,
        root: str | Path,
        resolution: int,
        split: str = "train",
        balance: bool = False,
        source_weights: dict[str, float] | None = None,
    ) -> None:
        root = Path(root)
        self.meta = json.loads((root / "dataset.json").read_text())
        self.stored = int(self.meta["resolution"])
        if resolution > self.stored or self.stored % resolution:
            raise ValueError(f"cannot train at {resolution} from crops stored at {self.stored}")
        self.resolution = resolution
        self.images = np.load(root / "images.npy", mmap_mode="r")
        self.matrices = np.load(root / "matrices.npy")
        self.ellipses = np.load(root / "ellipses.npy")
        self.landmarks = np.load(root / "landmarks.npy")
        # Source photo sizes: the mask stops at the photo's edge (older folders without it: whole crop valid).
        sizes = root / "sizes.npy"
        self.sizes = np.load(sizes) if sizes.exists() else None
        is_val = np.load(root / "is_val.npy")
        self.indices = np.flatnonzero(is_val == (1 if split == "val" else 0))
        if len(self.indices) == 0:
            raise ValueError(f"{root}: no {split} samples")
        # balance=True: every source folder is drawn equally often (UTKFace has 4x more crops than LFW, but only
        # LFW shows the context around the head: UTKFace's tight 200-px chips fill ~13 % of a training crop and
        # are all inside the mask). source_weights: a source's share is proportional to its weight (default 1).
        names_path = root / "names.txt"
        names = names_path.read_text().split("\n") if names_path.exists() else []
        # Source folder of every sample (the part of its name before the first '/').
        self.sources = np.array([names[i].split("/", 1)[0] if i < len(names) else "" for i in self.indices])
        self.weights: torch.Tensor | None = None
        if balance or source_weights:
            share = source_weights or {}
            unknown = set(share) - set(self.sources)
            if unknown:
                raise ValueError(f"source_weights name {sorted(unknown)}; the sources are {sorted(set(self.sources))}")
            counts = {s: (self.sources == s).sum() for s in set(self.sources)}
            w = [share.get(s, 1.0) / counts[s] for s in self.sources]
            self.weights = torch.tensor(w, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.indices)

    def spread(self, n: int) -> np.ndarray:
        """n fixed positions spread evenly over the samples of each source in turn (for sample grids)."""
        groups = [np.flatnonzero(self.sources == s) for s in sorted(set(self.sources))]
        per = [len(g) for g in np.array_split(np.arange(n), len(groups))]
        return np.concatenate(
            [g[np.linspace(0, len(g) - 1, k).round().astype(int)] for g, k in zip(groups, per, strict=True) if k]
        )

    def sample(self, n: int, gen: torch.Generator, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """Random positions (with replacement) and flips, drawn from `gen` so a resumed run draws the same."""
        if self.weights is not None:
            pos = torch.multinomial(self.weights, n, replacement=True, generator=gen).numpy()
        else:
            pos = torch.randint(len(self.indices), (n,), generator=gen).numpy()
        flips = (torch.rand(n, generator=gen) < 0.5).numpy() if flip else np.zeros(n, bool)
        return pos, flips

    def batch(
        self, pos: np.ndarray, flips: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        R, k = self.resolution, self.stored // self.resolution
        idx = self.indices[np.asarray(pos)]
        order = np.argsort(idx)  # sorted reads are kinder to the memmap
        imgs = np.empty((len(idx), self.stored, self.stored, 3), np.uint8)
        imgs[order] = self.images[idx[order]]
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()
        if k > 1:
            x = F.avg_pool2d(x, k)  # area downsampling: crop coordinates simply scale by 1/k
        x = x / 127.5 - 1.0
        masks, lms = [], []
        for j, i in enumerate(idx):
            M = self.matrices[i].astype(np.float64) / k
            m = crop_mask(Ellipse(*map(float, self.ellipses[i])), M, R)  # exact run-time geometry at R
            if self.sizes is not None:
                m = m * crop_valid(tuple(self.sizes[i]), M, R)
            lm = self.landmarks[i] / k
            if flips is not None and flips[j]:
                m = m[:, ::-1]
                lm = flip_landmarks(lm, R)
            masks.append(np.ascontiguousarray(m))
            lms.append(landmark_maps(lm, R))
        if flips is not None and flips.any():
            f = torch.from_numpy(np.asarray(flips, bool))
            x[f] = x[f].flip(3)
        return x, torch.from_numpy(np.stack(masks))[:, None], torch.from_numpy(np.stack(lms))


class DeviceCrops:
    """All training samples of a FaceCrops, made once by its own `batch` and kept on the device (GPU training).

    The CPU builds masks and landmark maps per sample; at GPU speed that is the bottleneck. Flips are done
    on the device: the mirrored mask and maps equal those of the mirrored geometry (pixel-centre convention,
    landmark channels swapped as FLIP_ORDER), so batches match FaceCrops.batch (tested): exactly at the stored
    resolution, within half a grey level below it (the area-downsampled crops are kept as uint8).
    """

    def __init__(self, data: FaceCrops, device: torch.device, chunk: int = 512) -> None:
        imgs, masks, lms = [], [], []
        for start in range(0, len(data), chunk):
            x, m, lm = data.batch(np.arange(start, min(start + chunk, len(data))))
            imgs.append(((x + 1.0) * 127.5).round().to(torch.uint8).to(device))
            masks.append(m.to(device, torch.float16))
            lms.append(lm.to(device, torch.float16))
        self.images, self.masks, self.lms = torch.cat(imgs), torch.cat(masks), torch.cat(lms)
        self.flip_order = torch.tensor(FLIP_ORDER, device=device)

    def __len__(self) -> int:
        return len(self.images)

    def batch(
        self, pos: np.ndarray, flips: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(np.asarray(pos), device=self.images.device)
        x = self.images[idx].float() / 127.5 - 1.0
        m, lm = self.masks[idx].float(), self.lms[idx].float()
        if flips is not None and np.asarray(flips).any():
            f = torch.as_tensor(np.asarray(flips, bool), device=x.device)
            x = torch.where(f[:, None, None, None], x.flip(3), x)
            m = torch.where(f[:, None, None, None], m.flip(3), m)
            lm = torch.where(f[:, None, None, None], lm.flip(3)[:, self.flip_order], lm)
        return x, m, lm
