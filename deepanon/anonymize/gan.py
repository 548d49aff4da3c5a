"""GAN anonymizer: align every face -> generate a new one in one batch -> smooth its chroma -> warp back ->
colour-match -> blend.

The region that changes is exactly masks.face_region (the feathered ellipse); every other pixel of the frame is
returned bit-identical. Faces too small for the generator, or without landmarks, are pixelated instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from deepanon.anonymize.filters import apply_filter
from deepanon.anonymize.temporal import PaintHistory
from deepanon.config import PainterConfig
from deepanon.detect.attributes import AttributeNet, Attributes
from deepanon.device import cpu_has_native_bf16, resolve_device
from deepanon.gan.directions import AttributeSteer
from deepanon.gan.networks import Generator
from deepanon.gan.weights import WeightsError
from deepanon.geometry.align import (
    alignment_matrix,
    crop,
    face_crop_mask,
    landmark_maps,
    repaint_geometry,
    transform_points,
    warp_back,
)
from deepanon.geometry.masks import Region, blend, face_region
from deepanon.types import Face

# Below this box size (longest side, px) faces are pixelated (never left as they were). Painting the 12-23 px ones
# too keeps them faces: on 20 WIDER val images CenterFace's AP kept rose from 87.8 % (limit 24) to 92.1 % (12);
# painting every face (limit 0) gave 91.8 %, so below 12 px the generator's cost buys nothing.
MIN_GAN_FACE = 12
log = logging.getLogger(__name__)
# Limit on the standard-deviation correction of the colour match: it fixes casts, it must not flatten a face.
STD_RATIO_RANGE = (0.8, 1.25)
# Large faces: the sharpening grows with the enlargement (PainterConfig.sharpen per doubling) up to this.
SHARPEN_MAX = 1.0


def check_repaint(trained: dict | None, mask_scale: float, feather: float) -> None:
    """The run-time region against the one the generator was trained to fill (its card's "repaint").

    The alignment (template, margin) is this code's: weights trained with another one are refused (WeightsError),
    their crops would not be the ones they learned. Another mask_scale or feather only moves the edge of what is
    painted: it is allowed, with one warning line, since the generator then fills pixels it was never taught to."""
    if trained is None:
        return  # a network without a card (tests, a fresh training run)
    here = repaint_geometry(mask_scale, feather)
    for key in ("template_shrink", "template_center", "crop_margin"):
        if key in trained and not np.allclose(trained[key], here[key]):
            raise WeightsError(
                f"the generator was trained with alignment {key} {trained[key]}, this code aligns with {here[key]}: "
                "use the code it was trained with, or re-train"
            )
    off = [
        f"{key} {here[key]:g} (trained: {trained[key]:g})"
        for key in ("mask_scale", "feather")
        if key in trained and not np.isclose(trained[key], here[key])
    ]
    if off:
        log.warning("painting with %s: the generator extrapolates there (edges may show)", ", ".join(off))


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


# Choosing among candidates: an age difference of this many years weighs as much as a sure sex mismatch.
ATTRIBUTE_AGE_SCALE = 20.0


def composite(raw: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A raw painted crop inside the original crop as the mask blends it, uint8 (what a viewer, and the attribute
    networks choosing among draws, see)."""
    return np.rint(np.clip(raw * mask[..., None] + original * (1.0 - mask[..., None]), 0, 255)).astype(np.uint8)


def candidate_seed(seed: int, k: int) -> int:
    """The seed of a face's k-th candidate; candidate 0 is the face's own seed (one candidate: as without them)."""
    if k == 0:
        return seed
    return int(np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, k]).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class _Job:
    """One face to paint: its frame, alignment, region, and its candidates: seeds, numbers (ks) and moves in w."""

    frame: int
    face: Face
    M: np.ndarray
    region: Region
    seeds: list[int]
    ks: list[int]
    offsets: list[np.ndarray | None]  # per candidate: its move in w (AttributeSteer), or none
    choose: bool = False  # a large face whose new face is chosen by apparent sex and age


def _fresh_seed() -> int:
    """A random face seed in [0, 2**63), from the OS's entropy."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # an int when drawn (a sequence only when one is given)
    return entropy % 2**63


class GanPainter:
    """Paints new faces with the exported generator (deepanon/weights/generator.safetensors)."""

    def __init__(
        self,
        config: PainterConfig | None = None,
        device: str = "auto",
        *,
        generator: Generator | None = None,
        card: dict | None = None,
        steer: AttributeSteer | None = None,
        **settings: object,
    ) -> None:
        """config: the painter's settings (PainterConfig()); keyword settings override its fields, e.g.
        GanPainter(device="cpu", truncation=1.0). generator: a network to use instead of config.weights (with
        `card`, the repaint geometry it was trained with, checked as a loaded card is). steer: directions in w for
        sex and age (default: those fitted for the loaded generator, if any)."""
        from deepanon.gan.weights import load_card, load_generator

        self.config = c = replace(config or PainterConfig(), **settings)  # type: ignore[arg-type]
        self.device = resolve_device(device)
        if generator is None:
            card = load_card(c.weights)
        check_repaint((card or {}).get("repaint"), c.mask_scale, c.feather)
        self.G = generator if generator is not None else load_generator(c.weights, self.device)
        # channels-last: oneDNN's convolutions run 1.4-1.6x faster in it on the CPU (benchmarks/gan_speed.py).
        # torch's Module.to() overloads leave out (device, memory_format=), which it accepts
        self.G = self.G.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.G = self.G.eval().requires_grad_(False)
        self.half = (self.device.type == "cuda") if c.half is None else c.half
        if self.half:
            self.G = self.G.half()
        self.bf16 = self.device.type == "cpu" and (cpu_has_native_bf16() if c.bf16 is None else c.bf16)
        self.truncation = c.truncation
        self.w_avg = self.G.mean_w() if c.truncation != 1.0 else None
        self.resolution = int(self.G.cfg.resolution)
        self.chroma_sigma = c.chroma_sigma * self.resolution / 128
        self.rim_sigma = c.rim_sigma * self.resolution
        self.sharpen = c.sharpen
        self.z_dim = int(self.G.cfg.z_dim)
        self.batch = c.batch
        self.colour_match = c.colour_match
        self.mask_scale = c.mask_scale
        self.feather = c.feather
        self.candidates = c.candidates
        self.candidates_min_face = c.candidates_min_face
        self.attribute_move = c.attribute_move
        self.attributes = AttributeNet() if c.candidates > 1 else None
        self.steer: AttributeSteer | None = None
        if c.candidates > 1 and c.attribute_move > 0:
            # the directions were fitted for one generator at one truncation: anything else chooses without them
            self.steer = steer if steer is not None else AttributeSteer.for_generator(card, c.truncation)
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

        A face of at least candidates_min_face px gets, of `candidates` new faces (seeds derived from its own), the
        one whose apparent sex and age are nearest the original's (with attribute_move > 0 and directions: half as
        many, each moved in w towards the original's before the choice).
        history: consecutive frames of one video; each track's painted face is averaged with its previous one, and
        a track keeps the candidate chosen on its first painted frame."""
        if len(frames) != len(faces) or (seeds is not None and len(seeds) != len(faces)):
            raise ValueError("frames, faces and seeds must have one entry per frame")
        R = self.resolution
        out = [f.copy() for f in frames]
        small: list[list[Face]] = [[] for _ in frames]
        jobs: list[_Job] = []
        for i, (frame, fs) in enumerate(zip(frames, faces, strict=True)):
            for j, face in enumerate(fs):
                if face.landmarks is None or max(face.width, face.height) < MIN_GAN_FACE:
                    small[i].append(face)
                    continue
                region = face_region(face, frame.shape, self.mask_scale, self.feather)
                if region is None:
                    continue  # entirely off-image: nothing of it is visible
                seed = int(seeds[i][j]) if seeds is not None else _fresh_seed()
                M = alignment_matrix(face, R, self.mask_scale, self.feather)
                chosen = history.candidates.get(face.track_id) if history and face.track_id is not None else None
                choose = (
                    self.attributes is not None
                    and chosen is None
                    and max(face.width, face.height) >= self.candidates_min_face
                )
                # with directions each draw is painted twice (as drawn, then moved): half as many draws
                n = (max(self.candidates // 2, 1) if self.steer is not None else self.candidates) if choose else 1
                ks = [chosen[0]] if chosen else list(range(n))
                offsets: list[np.ndarray | None] = [chosen[1]] if chosen else [None] * n
                jobs.append(_Job(i, face, M, region, [candidate_seed(seed, k) for k in ks], ks, offsets, choose))
        crops, masks, lms = self._inputs(frames, jobs)
        painted = self._paint_candidates(jobs, crops, masks, lms)
        choosing = [n for n, j in enumerate(jobs) if j.choose]
        if self.steer is not None and choosing:  # move every draw by what it missed of the original's sex and age
            seen = self._attributes(
                [crops[n] for n in choosing], [masks[n] for n in choosing], [painted[n] for n in choosing]
            )
            for n, (o, drawn) in zip(choosing, seen, strict=True):
                jobs[n].offsets = [
                    self.attribute_move * self.steer.offset((d.male, d.age), (o.male, o.age)) for d in drawn
                ]
            moved = self._paint_candidates(
                [jobs[n] for n in choosing],
                [crops[n] for n in choosing],
                [masks[n] for n in choosing],
                [lms[n] for n in choosing],
            )
            for n, candidates in zip(choosing, moved, strict=True):
                painted[n] = candidates
        picks = self._choose(jobs, crops, masks, painted)
        for job, c, m, candidates, k in zip(jobs, crops, masks, painted, picks, strict=True):
            if history is not None and job.face.track_id is not None:
                history.candidates[job.face.track_id] = (job.ks[k], job.offsets[k])
            p = smooth_chroma(candidates[k], self.chroma_sigma)
            if history is not None:
                p = history.smooth(history.frames_seen + job.frame, job.face.track_id, p)
            if self.colour_match:
                p = color_match(p, c.astype(np.float32), m)
                p = p + rim_offset(p, c, m, self.rim_sigma)
                p = match_greyscale(p, c, m)
            p8 = np.clip(np.rint(p), 0, 255).astype(np.uint8)
            grow = enlargement(job.M)
            region = job.region
            shape, at = (region.y1 - region.y0, region.x1 - region.x0), (region.x0, region.y0)
            if grow > 1.0 and self.sharpen > 0:
                warped = warp_back(p8, job.M, shape, at, cv2.INTER_CUBIC)
                amount = min(self.sharpen * float(np.log2(grow)), SHARPEN_MAX)
                warped = sharpen_luma(warped, amount, sigma=0.5 * grow)
            else:
                warped = warp_back(p8, job.M, shape, at)
            out[job.frame][region.slices] = blend(out[job.frame][region.slices], warped, region.alpha)
        for i, fs in enumerate(small):
            if fs:
                out[i] = apply_filter(out[i], fs, "pixelate", self.mask_scale, self.feather)
        if history is not None:
            history.end_frames(len(frames))
        return out

    def _inputs(
        self, frames: Sequence[np.ndarray], jobs: list[_Job]
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Each job's aligned crop, mask (stopping at the frame's edge, as in training) and landmark maps."""
        R = self.resolution
        crops = [crop(frames[j.frame], j.M, R) for j in jobs]
        masks = [face_crop_mask(j.face, j.M, R, self.mask_scale, frames[j.frame].shape[:2], self.feather) for j in jobs]
        lms = []
        for j in jobs:
            assert j.face.landmarks is not None  # paint() pixelates the faces without landmarks
            lms.append(landmark_maps(transform_points(j.M, j.face.landmarks), R))
        return crops, masks, lms

    def _paint_candidates(
        self, jobs: list[_Job], crops: list[np.ndarray], masks: list[np.ndarray], lms: list[np.ndarray]
    ) -> list[list[np.ndarray]]:
        """Each job's candidates' raw painted crops: every candidate of every face of every frame through the
        generator in as few batches as possible."""
        flat = [(n, seed, off) for n, j in enumerate(jobs) for seed, off in zip(j.seeds, j.offsets, strict=True)]
        painted: list[list[np.ndarray]] = [[] for _ in jobs]
        for s in range(0, len(flat), self.batch):
            part = flat[s : s + self.batch]
            z = torch.stack([z_for_seed(seed, self.z_dim) for _, seed, _ in part])
            moves = None
            if any(off is not None for _, _, off in part):
                moves = torch.from_numpy(
                    np.stack([np.zeros(self.G.cfg.w_dim, np.float32) if off is None else off for _, _, off in part])
                )
            t0 = time.perf_counter()
            # ends with .cpu(): on CUDA the time includes the work
            raw = self.generate(
                np.stack([crops[n] for n, _, _ in part]),
                np.stack([masks[n] for n, _, _ in part]),
                np.stack([lms[n] for n, _, _ in part]),
                z,
                moves,
            )
            self.generate_seconds += time.perf_counter() - t0
            for (n, _, _), p in zip(part, raw, strict=True):
                painted[n].append(p)
        return painted

    def _attributes(
        self, crops: list[np.ndarray], masks: list[np.ndarray], candidates: list[list[np.ndarray]]
    ) -> list[tuple[Attributes, list[Attributes]]]:
        """Per face, the apparent sex and age of its original crop and of each of its candidates composited into it
        as it will be seen: every face's in one pass through the attribute networks."""
        assert self.attributes is not None
        seen = [[c, *[composite(p, c, m) for p in ps]] for c, m, ps in zip(crops, masks, candidates, strict=True)]
        flat = self.attributes.estimate_aligned([x for face in seen for x in face])
        out, at = [], 0
        for face in seen:
            out.append((flat[at], flat[at + 1 : at + len(face)]))
            at += len(face)
        return out

    def _choose(
        self, jobs: list[_Job], crops: list[np.ndarray], masks: list[np.ndarray], painted: list[list[np.ndarray]]
    ) -> list[int]:
        """Per job, the candidate to keep: for a choosing face the one whose apparent sex and age are nearest the
        original's (|P(male) difference| + |age difference| / ATTRIBUTE_AGE_SCALE), else its only one."""
        picks = [0] * len(jobs)
        choosing = [n for n, j in enumerate(jobs) if j.choose and len(painted[n]) > 1]
        if not choosing:
            return picks
        seen = self._attributes(
            [crops[n] for n in choosing], [masks[n] for n in choosing], [painted[n] for n in choosing]
        )
        for n, (o, rest) in zip(choosing, seen, strict=True):
            picks[n] = int(np.argmin([abs(a.male - o.male) + abs(a.age - o.age) / ATTRIBUTE_AGE_SCALE for a in rest]))
        return picks

    @torch.inference_mode()
    def generate(
        self,
        crops: np.ndarray,
        masks: np.ndarray,
        lms: np.ndarray,
        z: torch.Tensor,
        w_offset: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Raw generator crops, (N, R, R, 3) float32 in 0..255; w_offset (N, w_dim): moves in w (Generator)."""
        dt = torch.float16 if self.half else torch.float32
        cl = torch.channels_last
        x = (torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).to(dt) / 127.5 - 1.0).contiguous(
            memory_format=cl
        )
        m = torch.from_numpy(masks).to(self.device, dt)[:, None].contiguous(memory_format=cl)
        lm = torch.from_numpy(lms).to(self.device, dt).contiguous(memory_format=cl)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            off = None if w_offset is None else w_offset.to(self.device, dt)
            y = self.G(x, m, lm, z.to(self.device, dt), raw=True, w_avg=self.w_avg, psi=self.truncation, w_offset=off)
        return ((y.float().clamp(-1, 1) + 1.0) * 127.5).permute(0, 2, 3, 1).cpu().numpy()
