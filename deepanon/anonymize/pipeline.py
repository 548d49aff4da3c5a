"""The Anonymizer: frames in, anonymized frames and the faces found out (detect -> (track) -> mask & generate ->
blend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepanon.anonymize.files import FileResult, anonymize_file
from deepanon.anonymize.filters import FILTERS, apply_filter
from deepanon.anonymize.seeds import derive_seed
from deepanon.anonymize.temporal import PaintHistory
from deepanon.config import AnonymizerConfig, ConfigError, apply_shortcuts
from deepanon.detect import FaceDetector
from deepanon.timing import StageTimer
from deepanon.track import CameraMotion, Lookback, Shots, Tracker
from deepanon.types import Face

METHODS = ("gan", *FILTERS)


def check_config(config: AnonymizerConfig) -> None:
    """What the tree's own checks cannot know (the methods live here). Raises ConfigError."""
    if config.method not in METHODS:
        raise ConfigError(f"unknown method {config.method!r}: choose one of {', '.join(METHODS)}")


@dataclass
class VideoState:
    """What one video carries from batch to batch: its tracks, the frames held back for the lookback (a track
    also covers the frames just before its first detection) and each track's last painted face."""

    tracker: Tracker = field(default_factory=Tracker)
    lookback: Lookback[np.ndarray] = field(default_factory=Lookback)
    history: PaintHistory = field(default_factory=PaintHistory)
    shots: Shots = field(default_factory=Shots)  # cuts: nothing is held or carried back across one
    camera: CameraMotion = field(default_factory=CameraMotion)  # held boxes follow a pan
    frames_detected: int = 0  # which frames get the small-face pass (every DetectorConfig.video_upscale_every-th)


class Anonymizer:
    """Detects every face and replaces it.

    >>> anon = Anonymizer(AnonymizerConfig(method="blur"))
    >>> anon = Anonymizer(method="blur", threshold=0.5)  # the same, by the shortcuts of config.SHORTCUTS
    >>> out, faces = anon.anonymize_image(rgb)  # rgb: HxWx3 uint8
    """

    def __init__(self, config: AnonymizerConfig | None = None, **shortcuts: Any) -> None:
        """config: the whole run's settings; keyword shortcuts (the CLI's flag names: method, device, seed,
        threshold, mask_scale, ...) override its fields. Raises ConfigError (a ValueError) for bad settings."""
        config = apply_shortcuts(config or AnonymizerConfig(), shortcuts)
        check_config(config)
        self.config = config
        # seconds spent in each stage over this Anonymizer's life (--verbose prints them after a run)
        self.timer = StageTimer()
        self.detector = FaceDetector(config.detector)
        self.painter = None
        if config.method == "gan":
            from deepanon.anonymize.gan import GanPainter  # torch model: only loaded when used

            self.painter = GanPainter(config.painter, device=str(self.detector.device))

    def new_video(self) -> VideoState:
        """The state one video carries from batch to batch, with this run's tracker settings."""
        t = self.config.tracker
        return VideoState(tracker=Tracker(t), lookback=Lookback(t.lookback_frames, t.hold_growth))

    @property
    def device(self) -> str:
        return str(self.detector.device)

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        with self.timer.stage("detect"):
            return self.detector.detect_batch(frames)

    def detect_video(self, frames: Sequence[np.ndarray], video: VideoState) -> list[list[Face]]:
        """Faces in the next frames of one video: the small-face pass runs on every `video_upscale_every`-th frame
        (counted from the video's first); the tracker holds what it found in between."""
        every, first = self.config.detector.video_upscale_every, video.frames_detected
        video.frames_detected += len(frames)
        with self.timer.stage("detect"):
            return self.detector.detect_batch(frames, [(first + i) % every == 0 for i in range(len(frames))])

    def replace_faces(
        self,
        frames: Sequence[np.ndarray],
        faces: Sequence[Sequence[Face]],
        seeds: Sequence[Sequence[int]],
        history: PaintHistory | None = None,
    ) -> list[np.ndarray]:
        """Anonymize the given faces (one list per frame); `seeds` give each face's new identity (GAN only);
        `history` (video, GAN only) steadies each track's painted face over consecutive frames."""
        c = self.config
        with self.timer.stage("paint"):
            if self.painter is not None:
                return self.painter.paint(list(frames), [list(f) for f in faces], [list(s) for s in seeds], history)
            p = c.painter
            return [apply_filter(fr, fs, c.method, p.mask_scale, p.feather) for fr, fs in zip(frames, faces)]

    def face_seeds(self, key: str, faces: Sequence[Face]) -> list[int]:
        """One seed per face: by track in video (one identity per person), by position in the list otherwise."""
        return [
            derive_seed(
                self.config.seed,
                key,
                "track" if f.track_id is not None else "face",
                i if f.track_id is None else f.track_id,
            )
            for i, f in enumerate(faces)
        ]

    def anonymize_frames(
        self, frames: Sequence[np.ndarray], keys: Sequence[str]
    ) -> tuple[list[np.ndarray], list[list[Face]]]:
        """Independent images: detect and replace; keys[i] seeds frame i's new faces."""
        faces = self.detect(frames)
        seeds = [self.face_seeds(k, fs) for k, fs in zip(keys, faces)]
        return self.replace_faces(frames, faces, seeds), faces

    def replace_video(
        self, frames: Sequence[np.ndarray], faces: Sequence[list[Face]], key: str, video: VideoState
    ) -> tuple[list[np.ndarray], list[list[Face]]]:
        """The next frames of one video (in order) and their detected faces: track, look back, replace.

        Frames come back `video.lookback.frames` + 1 late, with the faces replaced in them (carried-back tracks
        included); called with no frames, all that are left."""
        ready = []
        with self.timer.stage("track"):
            for frame, found in zip(frames, faces, strict=True):
                shot, cut = video.shots.next(frame)
                camera = video.camera.step(frame)
                if cut:
                    video.tracker.cut()
                ready += video.lookback.push(frame, video.tracker.update(found, None if cut else camera), shot)
            if not frames:
                ready = video.lookback.flush()
        if not ready:
            return [], []
        held = [fr for fr, _ in ready]
        tracked = [fs for _, fs in ready]
        # one key for the whole video: a person's seed is (video, track id), one identity per track
        seeds = [self.face_seeds(key, fs) for fs in tracked]
        return self.replace_faces(held, tracked, seeds, video.history), tracked

    def anonymize_video_frames(
        self, frames: Sequence[np.ndarray], key: str, video: VideoState
    ) -> tuple[list[np.ndarray], list[list[Face]]]:
        """The next frames of one video (a transcode_video process): detect, track, look back, replace. Returns
        the frames that are ready, which lag the input; call with [] at the end for the rest."""
        return self.replace_video(frames, self.detect_video(frames, video) if frames else [], key, video)

    def anonymize_image(self, rgb: np.ndarray, key: str = "image") -> tuple[np.ndarray, list[Face]]:
        """rgb: HxWx3 uint8. Returns the anonymized copy and the faces that were replaced."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
        out, faces = self.anonymize_frames([np.ascontiguousarray(rgb)], [key])
        return out[0], faces[0]

    def anonymize_path(self, src: Path | str, dst: Path | str) -> FileResult:
        """Anonymize one image or video file into dst (atomic), with config.output's settings. Raises MediaError
        for bad input."""
        return anonymize_file(self, Path(src), Path(dst), Path(dst).name)
