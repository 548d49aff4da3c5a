"""The Anonymizer: frames in, anonymized frames and the faces found out (detect -> (track) -> mask & generate ->
blend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepanon.anonymize.decide import PAINTED, Votes, decide, reason_before_opinion
from deepanon.anonymize.files import FileResult, anonymize_file
from deepanon.anonymize.filters import FILTERS, apply_filter
from deepanon.anonymize.seeds import derive_seed
from deepanon.anonymize.temporal import PaintHistory
from deepanon.config import AnonymizerConfig, ConfigError, apply_shortcuts
from deepanon.detect import FaceDetector
from deepanon.timing import StageTimer
from deepanon.track import CameraMotion, Lookback, Shots, TrackChoices, Tracker
from deepanon.types import Face

METHODS = ("gan", *FILTERS)


def check_config(config: AnonymizerConfig) -> None:
    """What the tree's own checks cannot know (the methods live here). Raises ConfigError."""
    if config.method not in METHODS:
        raise ConfigError(f"unknown method {config.method!r}: choose one of {', '.join(METHODS)}")
    if config.paint.rest not in FILTERS:
        raise ConfigError(
            f"unknown filter {config.paint.rest!r} for unpainted faces: choose one of {', '.join(FILTERS)}"
        )


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
    # method gan: each track's verdicts, fixed when its first frame is replaced
    choices: TrackChoices[Votes] = field(default_factory=lambda: TrackChoices(Votes.plus))


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
        self.second_opinion = None
        if config.method == "gan":
            from deepanon.anonymize.gan import GanPainter  # torch model: only loaded when used
            from deepanon.detect.second_opinion import SecondOpinion

            self.painter = GanPainter(config.painter, device=str(self.detector.device))
            self.second_opinion = SecondOpinion(self.detector.device)

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

    def detect_video(self, frames: Sequence[np.ndarray], video: VideoState) -> list[list[Face] | None]:
        """Faces in the next frames of one video, None for a frame not searched: the plain search runs on every
        `video_detect_every`-th frame and the small-face pass on every `video_upscale_every`-th (counted from the
        video's first; a frame with the pass is searched); the tracker carries and holds the faces in between."""
        c, first = self.config.detector, video.frames_detected
        video.frames_detected += len(frames)
        index = range(first, first + len(frames))
        small = [i % c.video_upscale_every == 0 for i in index]
        searched = [k for k, i in enumerate(index) if small[k] or i % c.video_detect_every == 0]
        with self.timer.stage("detect"):
            found = self.detector.detect_batch([frames[k] for k in searched], [small[k] for k in searched])
        out: list[list[Face] | None] = [None] * len(frames)
        for k, faces in zip(searched, found, strict=True):
            out[k] = faces
        return out

    def judge(self, frame: np.ndarray, faces: Sequence[Face]) -> list[tuple[float, str]]:
        """Method gan: (second opinion, decide()'s verdict) per face of one frame. O-Net only looks at the faces
        that size, landmarks and the detector's score do not already rule out."""
        p = self.config.paint
        asked = [f for f in faces if reason_before_opinion(f, p) is None]
        with self.timer.stage("decide"):
            scores: list[float] = []
            if asked:
                assert self.second_opinion is not None, "judge() is method gan's"  # loaded with the painter
                scores = self.second_opinion.scores(frame, asked)
        opinion = dict(zip(map(id, asked), scores))
        return [(opinion.get(id(f), 0.0), decide(f, opinion.get(id(f), 0.0), p)) for f in faces]

    def treat(self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]) -> list[list[Face]]:
        """Method gan: each face of each frame with its treatment (PAINTED, or why it gets the filter) decided
        on its own (still images); faces that have one (video: their track's) keep it."""
        if self.painter is None:
            return [list(fs) for fs in faces]
        out = []
        for frame, fs in zip(frames, faces, strict=True):
            todo = [f for f in fs if f.treatment is None]
            verdicts = iter(self.judge(frame, todo) if todo else [])
            out.append([f if f.treatment is not None else replace(f, treatment=next(verdicts)[1]) for f in fs])
        return out

    def replace_faces(
        self,
        frames: Sequence[np.ndarray],
        faces: Sequence[Sequence[Face]],
        seeds: Sequence[Sequence[int]],
        history: PaintHistory | None = None,
    ) -> list[np.ndarray]:
        """Anonymize the given faces (one list per frame); `seeds` give each face's new identity (GAN only);
        `history` (video, GAN only) steadies each track's painted face over consecutive frames. Method gan: the
        faces treated PAINTED get a new face, the others config.paint.rest (faces without a treatment are
        decided here: `treat`)."""
        c = self.config
        p = c.painter
        if self.painter is None:
            with self.timer.stage("paint"):
                return [apply_filter(fr, fs, c.method, p.mask_scale, p.feather) for fr, fs in zip(frames, faces)]
        treated = self.treat(frames, faces)
        paint = [
            [(f, s) for f, s in zip(fs, ss, strict=True) if f.treatment == PAINTED] for fs, ss in zip(treated, seeds)
        ]
        with self.timer.stage("paint"):
            out = self.painter.paint(
                list(frames), [[f for f, _ in q] for q in paint], [[s for _, s in q] for q in paint], history
            )
            rest = c.paint
            return [
                apply_filter(
                    o,
                    [f for f in fs if f.treatment != PAINTED],
                    rest.rest,
                    p.mask_scale * rest.rest_grow,
                    p.feather,
                    rest.rest_cells,
                )
                for o, fs in zip(out, treated)
            ]

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
        faces = self.treat(frames, self.detect(frames))
        seeds = [self.face_seeds(k, fs) for k, fs in zip(keys, faces)]
        return self.replace_faces(frames, faces, seeds), faces

    def replace_video(
        self, frames: Sequence[np.ndarray], faces: Sequence[list[Face] | None], key: str, video: VideoState
    ) -> tuple[list[np.ndarray], list[list[Face]]]:
        """The next frames of one video (in order) and their detected faces (None: a frame not searched, whose
        faces the tracker carries; searched after all if it starts a new shot): track, look back, replace.

        Frames come back `video.lookback.frames` + 1 late, with the faces replaced in them (carried-back tracks
        included); called with no frames, all that are left."""
        ready = []
        for frame, found in zip(frames, faces, strict=True):
            with self.timer.stage("track"):
                shot, cut = video.shots.next(frame)
                camera = video.camera.step(frame)
                if cut:
                    video.tracker.cut()
            if found is None and cut:  # a new shot: nothing to carry, so look
                found = self.detect([frame])[0]
            with self.timer.stage("track"):
                if found is None:
                    tracked = video.tracker.coast(camera)
                else:
                    tracked = video.tracker.update(found, None if cut else camera, frame.shape[:2])
            if self.painter is not None and found is not None:  # evidence for each open track, where it was seen
                open_ = [f for f in tracked if f.track_id is not None and video.choices.open(f.track_id)]
                for f, (_, verdict) in zip(open_, self.judge(frame, open_) if open_ else []):
                    assert f.track_id is not None  # open_ holds tracked faces only
                    video.choices.observe(f.track_id, Votes((verdict,)))
            with self.timer.stage("track"):
                ready += video.lookback.push(frame, tracked, shot)
        if not frames:
            ready = video.lookback.flush()
        if not ready:
            return [], []
        held = [fr for fr, _ in ready]
        treated = [self._track_treatments(fs, video) for _, fs in ready]
        # one key for the whole video: a person's seed is (video, track id), one identity per track
        seeds = [self.face_seeds(key, fs) for fs in treated]
        return self.replace_faces(held, treated, seeds, video.history), treated

    def _track_treatments(self, faces: list[Face], video: VideoState) -> list[Face]:
        """Method gan: each face gets its track's treatment, fixed from the track's first frame on."""
        if self.painter is None:
            return faces
        out = []
        share = self.config.paint.track_paint_share
        for f in faces:
            votes = video.choices.choice(f.track_id) if f.track_id is not None else None
            out.append(f if votes is None else replace(f, treatment=votes.verdict(share)))  # None: decided alone
        return out

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
