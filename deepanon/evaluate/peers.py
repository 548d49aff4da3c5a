"""The anonymizers compared side by side: deepanon's methods and deface's, behind one small interface.

Each peer splits its work into `detect` and `replace` so the evaluation can time the stages from outside
(the pipeline code is not touched) and knows which boxes each method chose to anonymize.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from deepanon.geometry.masks import DEFAULT_MASK_SCALE
from deepanon.types import Face, as_box

if TYPE_CHECKING:
    from deepanon.anonymize.pipeline import VideoState
    from deepanon.config import AnonymizerConfig

DEFAULT_METHODS = ("gan", "blur", "pixelate", "deface-blur", "deface-mosaic")
DEFACE_METHODS = {"deface-blur": "blur", "deface-mosaic": "mosaic"}
DEFACE_MASK_SCALE = 1.3  # deface's defaults (CLI --mask-scale, --mosaicsize)
DEFACE_MOSAIC = 20


class Peer(Protocol):
    name: str
    detector_key: str  # peers with the same key find the same faces: detection is run (and timed) once for them
    generate_seconds: float  # of the last replace(): time in the generator; the rest of replace() is blending
    replaced: list[list[Face]]  # in a video: the faces anonymized in each frame replace() returned so far

    def start_video(self, key: str) -> None: ...

    def detect(self, frames: Sequence[np.ndarray]) -> Sequence[list[Face] | None]:
        """Faces per frame; None for a video frame the peer's schedule does not search (replace carries its faces)."""
        ...

    def replace(
        self, frames: Sequence[np.ndarray], faces: Sequence[list[Face] | None], keys: Sequence[str]
    ) -> list[np.ndarray]:
        """Anonymized frames; in a video possibly the oldest held back ones (transcode_video's process contract)."""
        ...


def _all_searched(faces: Sequence[list[Face] | None]) -> list[list[Face]]:
    """The faces of frames that were all searched (still images; deface's detect() in a video too)."""
    if any(fs is None for fs in faces):
        raise ValueError("a frame without its faces: only deepanon's video schedule leaves frames out")
    return [fs for fs in faces if fs is not None]


class DeepanonPeer:
    """deepanon's Anonymizer, called stage by stage exactly as Anonymizer.anonymize_frames (images) and
    anonymize_video_frames (video) do."""

    def __init__(
        self,
        method: str,
        device: str = "auto",
        seed: int | None = 0,
        mask_scale: float = DEFAULT_MASK_SCALE,
        config: AnonymizerConfig | None = None,
    ) -> None:
        from deepanon.anonymize.pipeline import Anonymizer

        self.name = method
        self.detector_key = "deepanon"
        self.anon = Anonymizer(config, method=method, device=device, seed=seed, mask_scale=mask_scale)
        self.video: VideoState | None = None
        self.video_key = ""
        self.generate_seconds = 0.0
        self.replaced: list[list[Face]] = []

    def decisions(self) -> tuple[int, dict[str, int]]:
        """Method gan: detections (video: tracks) painted, and filtered per reason, of what was replaced so far."""
        if self.video is not None:
            share = self.anon.config.paint.track_paint_share
            verdicts = [v.verdict(share) for v in self.video.choices.fixed().values()]
        else:
            verdicts = [f.treatment for fs in self.replaced for f in fs if f.treatment is not None]
        filtered: dict[str, int] = {}
        for v in verdicts:
            if v != "painted":
                filtered[v] = filtered.get(v, 0) + 1
        return sum(v == "painted" for v in verdicts), filtered

    def start_video(self, key: str) -> None:
        self.video, self.video_key, self.replaced = self.anon.new_video(), key, []

    def detect(self, frames: Sequence[np.ndarray]) -> Sequence[list[Face] | None]:
        """Faces per frame; in a video None for a frame the schedule does not search (replace carries its faces)."""
        return self.anon.detect(frames) if self.video is None else self.anon.detect_video(frames, self.video)

    def replace(
        self, frames: Sequence[np.ndarray], faces: Sequence[list[Face] | None], keys: Sequence[str]
    ) -> list[np.ndarray]:
        painter = self.anon.painter
        before = painter.generate_seconds if painter is not None else 0.0
        if self.video is not None:  # tracked; frames come back late (lookback); [] at the end returns the rest
            out, done = self.anon.replace_video(frames, faces, self.video_key, self.video)
            self.replaced += done
        else:
            treated = self.anon.treat(frames, _all_searched(faces))
            self.replaced += [list(fs) for fs in treated]
            seeds = [self.anon.face_seeds(k, fs) for k, fs in zip(keys, treated)]
            out = self.anon.replace_faces(frames, treated, seeds)
        self.generate_seconds = painter.generate_seconds - before if painter is not None else 0.0
        return out


class DefacePeer:
    """deface 1.5's CenterFace detector and deface.deface.anonymize_frame, with deface's default settings."""

    def __init__(self, name: str, device: str = "auto") -> None:
        from deepanon.evaluate.detectors import DEFACE_THRESHOLD, CenterFaceDetector

        self.name = name
        self.detector_key = "deface-centerface"
        self.replacewith = DEFACE_METHODS[name]
        self.generate_seconds = 0.0  # deface has no generator: its replace() is all filter and blend
        self.detector = CenterFaceDetector(threshold=DEFACE_THRESHOLD, device=device)
        self.replaced: list[list[Face]] = []
        self._video = False  # only a video's frames are recorded in `replaced`

    def start_video(self, key: str) -> None:  # deface has no tracking
        self.replaced, self._video = [], True

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        return [[Face(as_box(d[:4]), float(d[4])) for d in self.detector(f)] for f in frames]

    def replace(
        self, frames: Sequence[np.ndarray], faces: Sequence[list[Face] | None], keys: Sequence[str]
    ) -> list[np.ndarray]:
        from deface.deface import anonymize_frame

        searched = _all_searched(faces)  # detect() searches every frame
        out = []
        for frame, fs in zip(frames, searched):
            frame = frame.copy()  # deface paints in place
            dets = np.array([(*f.box, f.score) for f in fs], np.float32).reshape(-1, 5)
            anonymize_frame(
                dets,
                frame,
                mask_scale=DEFACE_MASK_SCALE,
                replacewith=self.replacewith,
                ellipse=True,
                draw_scores=False,
                replaceimg=None,
                mosaicsize=DEFACE_MOSAIC,
            )
            out.append(frame)
        if self._video:
            self.replaced += [list(fs) for fs in searched]
        return out


def gan_weights_path() -> Path:
    from deepanon.gan.weights import GENERATOR_PATH  # torch: only when asked

    return GENERATOR_PATH


@dataclass
class Peers:
    peers: list[Peer]
    skipped: dict[str, str]  # method -> why it was left out


def build_peers(
    methods: Sequence[str],
    device: str = "auto",
    seed: int | None = 0,
    mask_scale: float = DEFAULT_MASK_SCALE,
    config: AnonymizerConfig | None = None,
) -> Peers:
    """The requested peers that can run here; the others are listed with the reason."""
    out = Peers([], {})
    for name in methods:
        if name == "gan" and not gan_weights_path().exists():
            out.skipped[name] = f"no GAN weights at {gan_weights_path()} (train and export them first)"
            continue
        try:
            if name in DEFACE_METHODS:
                out.peers.append(DefacePeer(name, device))
            elif name in ("gan", "blur", "pixelate", "solid"):
                out.peers.append(DeepanonPeer(name, device, seed, mask_scale, config))
            else:
                raise ValueError(f"unknown method {name!r}: choose from {', '.join(DEFAULT_METHODS)}, solid")
        except ImportError as exc:
            out.skipped[name] = f"cannot load ({exc}); install the eval extra: ./install.sh eval"
        except (OSError, RuntimeError) as exc:  # e.g. damaged or mismatched GAN weights
            out.skipped[name] = f"cannot load ({type(exc).__name__}: {exc})"
    return out
