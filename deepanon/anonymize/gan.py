"""GAN anonymizer: align every face -> generate a new one in one batch -> smooth its chroma -> warp back ->
colour-match -> blend.

The region that changes is exactly masks.face_region (the feathered ellipse); every other pixel of the frame is
returned bit-identical. Faces too small for the generator, or without landmarks, are pixelated instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from deepanon.anonymize.filters import apply_filter
from deepanon.anonymize.temporal import PaintHistory
from deepanon.device import cpu_has_native_bf16, resolve_device
from deepanon.geometry.align import alignment_matrix, crop, face_crop_mask, landmark_maps, transform_points, warp_back
from deepanon.geometry.masks import DEFAULT_FEATHER, DEFAULT_MASK_SCALE, Region, blend, face_region
from deepanon.types import Face

# Below this box size (longest side, px) faces are pixelated (never left as they were). Painting the 12-23 px ones
# too keeps them faces: on 20 WIDER val images CenterFace's AP kept rose from 87.8 % (limit 24) to 92.1 % (12);
# painting every face (limit 0) gave 91.8 %, so below 12 px the generator's cost buys nothing.
MIN_GAN_FACE = 12
# Truncation trick (StyleGAN): each new face's w is pulled this far towards the average w. On 100 held-out photos
# (benchmarks/gan_refind.py --truncation) MTCNN re-finds 99 % of the faces at psi 1.0, 100 % at 0.7 and at 0.5
# (128-px weights; the 64-px ones needed it more: 92 / 99 / 100 %); 0.7 keeps most of the variety between identities.
TRUNCATION_PSI = 0.7
# Limit on the standard-deviation correction of the colour match: it fixes casts, it must not flatten a face.
STD_RATIO_RANGE = (0.8, 1.25)
# The generator (2.8 M training images) leaves red/blue speckle on faces; the eye reads colour at a much lower
# resolution than brightness (JPEG halves it), so the chroma of each painted crop is smoothed with this Gaussian
# sigma (px at 128 px) and the brightness left sharp.
CHROMA_SIGMA = 3.0
# Halo: the global colour match leaves the painted face's edge off where the light varies across the head (one
# side lit, a coloured wall behind): a coloured ring at the seam. The remaining offset, measured on the rim (outside
# the face, where both are seen), is spread inward as a smooth field (normalised convolution with this sigma, share
# of the crop side) and added to the painted crop: colour and light only, no detail of the original face.
RIM_SIGMA = 0.12
# Large faces: the 128-px crop is enlarged (a 300-px face: 2.3x) and looks soft; cubic resampling and an unsharp
# mask on the brightness, stronger the more it is enlarged (this much per doubling, at most SHARPEN_MAX).
SHARPEN_PER_DOUBLING = 0.6
SHARPEN_MAX = 1.0


def z_for_seed(seed: int, z_dim: int) -> torch.Tensor:
    """The latent of one face: same seed -> same new identity, on any device."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF))


def color_match(painted: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift the painted crop's colours so its feathered rim matches the original rim (per channel mean/std).

    painted, original: (R, R, 3) float; mask: (R, R) blend weight. The rim (0 < mask < 1) is where both are seen.
    """
    rim = (mask > 0) & (mask < 1)
    if rim.sum() < 16:
        return painted
    p, o = painted[rim], original[rim]
    ratio = np.clip((o.std(0) + 1e-3) / (p.std(0) + 1e-3), *STD_RATIO_RANGE)
    return (painted - p.mean(0)) * ratio + o.mean(0)


# A black-and-white photo gets a black-and-white face: the generator paints colour, so where the rim around the face
# has no colour (channels within this many grey levels on average) the painted crop is made grey too.
GREY_RIM = 2.0


def match_greyscale(painted: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """painted (R, R, 3 float) in grey when the original's rim (0 < mask < 1) has no colour; else unchanged."""
    rim = (mask > 0) & (mask < 1)
    if rim.sum() < 16:
        return painted
    o = original[rim].astype(np.float32)
    if float(np.abs(o - o.mean(1, keepdims=True)).mean()) > GREY_RIM:
        return painted
    return np.repeat(painted @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(painted.shape)


def rim_offset(painted: np.ndarray, original: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """(R, R, 3) smooth colour offset that makes `painted` meet `original` along the rim (0 < mask < 1), spread
    inward by normalised convolution and fading to 0 where no rim is near (sigma in px)."""
    w = ((mask > 0) & (mask < 1)).astype(np.float32)
    if sigma <= 0 or w.sum() < 16:
        return np.zeros_like(painted, np.float32)
    d = (original.astype(np.float32) - painted.astype(np.float32)) * w[..., None]
    num = cv2.GaussianBlur(d, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    # the constant pulls the field to 0 where the rim's support is weak (the crop's centre is far from it)
    return num / (den + 0.05 * float(den.max()))[..., None]


def sharpen_luma(rgb: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask of the brightness (YCrCb's Y) of a uint8 RGB image; colour untouched."""
    if amount <= 0:
        return rgb
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    y = ycc[:, :, 0]
    ycc[:, :, 0] = y + amount * (y - cv2.GaussianBlur(y, (0, 0), sigma))
    return cv2.cvtColor(np.clip(np.rint(ycc), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)


def enlargement(M: np.ndarray) -> float:
    """How much the crop of alignment matrix M (image -> crop) is enlarged when warped back (1: not at all)."""
    return 1.0 / max(float(np.hypot(M[0, 0], M[1, 0])), 1e-6)


def smooth_chroma(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """rgb (H, W, 3) float in 0..255 with its chroma (YCrCb's Cr, Cb) Gaussian-smoothed; luma untouched."""
    if sigma <= 0:
        return rgb
    ycc = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32), cv2.COLOR_RGB2YCrCb)
    ycc[:, :, 1:] = cv2.GaussianBlur(ycc[:, :, 1:], (0, 0), sigma)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


class GanPainter:
    """Paints new faces with the exported generator (weights/generator.safetensors)."""

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        batch: int = 64,
        half: bool | None = None,
        bf16: bool | None = None,
        colour_match: bool = True,
        mask_scale: float = DEFAULT_MASK_SCALE,
        feather: float = DEFAULT_FEATHER,
        generator: torch.nn.Module | None = None,
        truncation: float = TRUNCATION_PSI,
        chroma_sigma: float = CHROMA_SIGMA,
        rim_sigma: float = RIM_SIGMA,
        sharpen: float = SHARPEN_PER_DOUBLING,
    ) -> None:
        from deepanon.gan.weights import load_generator

        self.device = resolve_device(device)
        self.G = generator if generator is not None else load_generator(weights, self.device)
        # channels-last: oneDNN's convolutions run 1.4-1.6x faster in it on the CPU (benchmarks/gan_speed.py).
        self.G = self.G.to(self.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self.half = (self.device.type == "cuda") if half is None else half
        if self.half:
            self.G = self.G.half()
        # bf16 autocast on CPUs that compute it natively: 2x faster (75 -> 38 ms a face on one AMD EPYC core), a mean
        # change of 1 grey level; G was trained under bf16 autocast. None: where the CPU has it. (CUDA runs fp16.)
        self.bf16 = self.device.type == "cpu" and (cpu_has_native_bf16() if bf16 is None else bf16)
        self.truncation = truncation
        self.w_avg = self.G.mean_w() if truncation != 1.0 else None
        self.resolution = int(self.G.cfg.resolution)
        self.chroma_sigma = chroma_sigma * self.resolution / 128
        self.rim_sigma = rim_sigma * self.resolution
        self.sharpen = sharpen
        self.z_dim = int(self.G.cfg.z_dim)
        self.batch = batch
        self.colour_match = colour_match
        self.mask_scale = mask_scale
        self.feather = feather
        self.generate_seconds = 0.0  # total time in the network (evaluate splits generation from blending with it)

    def paint_one(self, rgb: np.ndarray, faces: Sequence[Face], seeds: Sequence[int] | None = None) -> np.ndarray:
        return self.paint([rgb], [list(faces)], None if seeds is None else [list(seeds)])[0]

    def paint(
        self,
        frames: Sequence[np.ndarray],
        faces: Sequence[Sequence[Face]],
        seeds: Sequence[Sequence[int]] | None = None,
        history: PaintHistory | None = None,
    ) -> list[np.ndarray]:
        """New frames with every face replaced. seeds[i][j] fixes the identity of faces[i][j] (default: random).

        history: consecutive frames of one video; each track's painted face is averaged with its previous one."""
        if len(frames) != len(faces) or (seeds is not None and len(seeds) != len(faces)):
            raise ValueError("frames, faces and seeds must have one entry per frame")
        R = self.resolution
        out = [f.copy() for f in frames]
        small: list[list[Face]] = [[] for _ in frames]
        jobs: list[tuple[int, Face, int, np.ndarray]] = []
        regions: list[Region] = []  # computed once per face: the blend below reuses it
        for i, (frame, fs) in enumerate(zip(frames, faces, strict=True)):
            for j, face in enumerate(fs):
                if face.landmarks is None or max(face.width, face.height) < MIN_GAN_FACE:
                    small[i].append(face)
                    continue
                region = face_region(face, frame.shape, self.mask_scale, self.feather)
                if region is None:
                    continue  # entirely off-image: nothing of it is visible
                seed = int(seeds[i][j]) if seeds is not None else int(np.random.SeedSequence().entropy % 2**63)
                jobs.append((i, face, seed, alignment_matrix(face, R, self.mask_scale)))
                regions.append(region)
        for s in range(0, len(jobs), self.batch):  # all faces of all frames in as few batches as possible
            part = jobs[s : s + self.batch]
            crops = np.stack([crop(frames[i], M, R) for i, _, _, M in part])
            hw = [frames[i].shape[:2] for i, _, _, _ in part]  # the mask stops at the frame's edge, as in training
            masks = np.stack(
                [face_crop_mask(f, M, R, self.mask_scale, h) for (_, f, _, M), h in zip(part, hw, strict=True)]
            )
            lms = np.stack([landmark_maps(transform_points(M, f.landmarks), R) for _, f, _, M in part])
            z = torch.stack([z_for_seed(seed, self.z_dim) for _, _, seed, _ in part])
            t0 = time.perf_counter()
            painted = self._generate(crops, masks, lms, z)  # ends with .cpu(): on CUDA the time includes the work
            self.generate_seconds += time.perf_counter() - t0
            for (i, face, _, M), region, p, c, m in zip(
                part, regions[s : s + self.batch], painted, crops, masks, strict=True
            ):
                p = smooth_chroma(p, self.chroma_sigma)
                if history is not None:
                    p = history.smooth(history.frames_seen + i, face.track_id, p)
                if self.colour_match:
                    p = color_match(p, c.astype(np.float32), m)
                    p = p + rim_offset(p, c, m, self.rim_sigma)
                    p = match_greyscale(p, c, m)
                p8 = np.clip(np.rint(p), 0, 255).astype(np.uint8)
                grow = enlargement(M)
                shape, at = (region.y1 - region.y0, region.x1 - region.x0), (region.x0, region.y0)
                if grow > 1.0 and self.sharpen > 0:
                    warped = warp_back(p8, M, shape, at, cv2.INTER_CUBIC)
                    amount = min(self.sharpen * float(np.log2(grow)), SHARPEN_MAX)
                    warped = sharpen_luma(warped, amount, sigma=0.5 * grow)
                else:
                    warped = warp_back(p8, M, shape, at)
                out[i][region.slices] = blend(out[i][region.slices], warped, region.alpha)
        for i, fs in enumerate(small):
            if fs:
                out[i] = apply_filter(out[i], fs, "pixelate", self.mask_scale, self.feather)
        if history is not None:
            history.end_frames(len(frames))
        return out

    @torch.inference_mode()
    def _generate(self, crops: np.ndarray, masks: np.ndarray, lms: np.ndarray, z: torch.Tensor) -> np.ndarray:
        """Raw generator crops, (N, R, R, 3) float32 in 0..255."""
        dt = torch.float16 if self.half else torch.float32
        cl = torch.channels_last
        x = (torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).to(dt) / 127.5 - 1.0).contiguous(
            memory_format=cl
        )
        m = torch.from_numpy(masks).to(self.device, dt)[:, None].contiguous(memory_format=cl)
        lm = torch.from_numpy(lms).to(self.device, dt).contiguous(memory_format=cl)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            y = self.G(x, m, lm, z.to(self.device, dt), raw=True, w_avg=self.w_avg, psi=self.truncation)
        return ((y.float().clamp(-1, 1) + 1.0) * 127.5).permute(0, 2, 3, 1).cpu().numpy()
