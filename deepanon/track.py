"""Stage 'track' (video): faces across frames get stable ids, smooth boxes, and no holes.

A track missed by the detector is held at its predicted place for a few frames (moved with the camera:
`CameraMotion`), so one missed frame never lets a real face through; boxes are smoothed so the mask does not
jitter, but never shrunk below what the detector saw in that frame. Faces are often found a few frames late
(entering the picture, turning, coming into focus): `Lookback` holds the last frames back so that a new track
also covers the frames just before its first detection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import cv2
import numpy as np

from deepanon.geometry.boxes import box_iou, merge_faces
from deepanon.types import Face, as_box


@dataclass(frozen=True)
class TrackerConfig:
    match_iou: float = 0.3  # a detection continues a track when it overlaps the prediction this much
    hold_frames: int = 8  # frames a lost track is still anonymized at its predicted place
    smooth: float = 0.6  # weight of the new detection in the running average (1.0: no smoothing)
    hold_growth: float = 0.05  # a held box grows by this fraction per missed frame (it is less certain)
    # A face does not shrink to a third between two frames; a weak, small detection matched to a big track (a face
    # half out of the picture) must not collapse the box that still covers the rest of it.
    max_shrink: float = 0.1  # the tracked box's width and height lose at most this fraction per frame
    lookback_frames: int = 8  # frames before a track's first detection that it covers too (video is delayed this much)


@dataclass
class _Track:
    id: int
    box: np.ndarray  # smoothed (4,)
    landmarks: np.ndarray | None
    score: float
    # Motion of the box centre per frame. Only the centre is extrapolated: extrapolating the four edges apart
    # lets a box that shrank once shrink on through the held frames, invert, and uncover the face.
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    missing: int = 0
    # Whether the track moved with the picture's shift when last seen (None: seen once, its motion not yet known).
    with_camera: bool | None = None
    # The picture's shift over the frames not searched since, for a track whose with_camera is None: its box stays
    # where it would be had it stood still, and the next detection tells which of the two it did.
    drift: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))

    def predicted(self) -> np.ndarray:
        return self.box + np.tile(self.velocity, 2)


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])], np.float32)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


def _resize(box: np.ndarray, width: float, height: float) -> np.ndarray:
    cx, cy = _centre(box)
    return np.array([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], np.float32)


def _grow(box: np.ndarray, factor: float) -> np.ndarray:
    return _resize(box, (box[2] - box[0]) * factor, (box[3] - box[1]) * factor)


def _at_edge(box: np.ndarray, size: tuple[int, int], margin: float = 2.0) -> bool:
    """Whether a detection touches the frame's border (the detector clips boxes to it)."""
    h, w = size
    return bool(box[0] <= margin or box[1] <= margin or box[2] >= w - margin or box[3] >= h - margin)


def _shrink_at_most(new: np.ndarray, old: np.ndarray, fraction: float) -> np.ndarray:
    """new, widened / heightened about its centre where it lost more than `fraction` of old's size."""
    keep = 1.0 - fraction
    width = max(new[2] - new[0], keep * (old[2] - old[0]))
    height = max(new[3] - new[1], keep * (old[3] - old[1]))
    return _resize(new, width, height)


class Tracker:
    """`update(faces_of_frame)` -> the faces to anonymize in that frame, each with a track_id."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 0

    def cut(self) -> None:
        """A new shot starts: nobody is held across it (a held face would be painted on the new shot's background)."""
        self._tracks = []

    def update(
        self, faces: list[Face], camera: np.ndarray | None = None, size: tuple[int, int] | None = None
    ) -> list[Face]:
        """`size`: the frame's (height, width): a face cut by the frame's edge (entering or leaving the picture)
        says nothing of how it moves (its box's centre does not follow it), so its track's motion is left as it was.
        `camera`: the picture's shift (dx, dy) px since the last frame (CameraMotion). That shift may be the
        camera's (a pan: every face moved with it) or a large person's walking past (the faces behind stayed put:
        hamilton clip). Each detection is matched to where its track would be under either, each found face's track
        moves as it did, and held tracks follow the shift only when most found faces did (or none was found)."""
        c = self.config
        move = np.zeros(2, np.float32) if camera is None else np.asarray(camera, np.float32)
        dets = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        still = np.array([t.predicted() for t in self._tracks], np.float32).reshape(-1, 4)
        drift = np.array([t.drift for t in self._tracks], np.float32).reshape(-1, 2)
        panned = still + np.tile(move + drift, 2)
        matches = self._match(still, dets, panned)
        moved = {ti: self._moved_with_camera(self._tracks[ti], still[ti], panned[ti], dets[di]) for ti, di in matches}
        follow = 2 * sum(moved.values()) >= len(moved)  # ties and no evidence: a pan (where holds matter most)
        for ti, track in enumerate(self._tracks):
            shift = move + track.drift
            if moved.get(ti, follow) and shift.any():
                track.box = track.box + np.tile(shift, 2)
                if track.landmarks is not None:
                    track.landmarks = (track.landmarks + shift).astype(np.float32)
            track.drift = np.zeros(2, np.float32)
        out: list[Face] = []
        matched_tracks = set()
        for ti, di in matches:
            track, face = self._tracks[ti], faces[di]
            det = dets[di]
            new_box = _shrink_at_most(c.smooth * det + (1 - c.smooth) * track.predicted(), track.box, c.max_shrink)
            cut_off = size is not None and _at_edge(det, size)
            if not cut_off:
                track.velocity = 0.5 * track.velocity + 0.5 * (_centre(new_box) - _centre(track.box))
            track.box = new_box
            if face.landmarks is not None:
                track.landmarks = (
                    face.landmarks.copy()
                    if track.landmarks is None
                    else c.smooth * face.landmarks + (1 - c.smooth) * track.landmarks
                ).astype(np.float32)
            track.score, track.missing = face.score, 0
            if (move + drift[ti]).any() and not cut_off:
                track.with_camera = moved[ti]
            matched_tracks.add(ti)
            out.append(Face(as_box(_union(new_box, det)), face.score, track.landmarks, track.id))
        matched_dets = {di for _, di in matches}
        kept: list[_Track] = []
        for ti, track in enumerate(self._tracks):
            if ti in matched_tracks:
                kept.append(track)
                continue
            track.missing += 1
            if track.missing > c.hold_frames:
                continue  # gone for good
            shift = track.velocity.copy()
            track.box = track.predicted()
            track.velocity *= 0.5  # do not fly off on a stale velocity
            if track.landmarks is not None:
                track.landmarks = track.landmarks + shift
            held = _grow(track.box, 1.0 + c.hold_growth * track.missing)
            out.append(Face(as_box(held), track.score, track.landmarks, track.id))
            kept.append(track)
        for di, face in enumerate(faces):
            if di in matched_dets:
                continue
            lm = None if face.landmarks is None else face.landmarks.astype(np.float32)
            track = _Track(self._next_id, dets[di].copy(), lm, face.score)
            self._next_id += 1
            kept.append(track)
            out.append(Face(face.box, face.score, lm, track.id))
        self._tracks = kept
        # A held track (a false alarm on an ear, a face lost a moment ago) can lie on a face that is tracked too:
        # painted twice, it would show a small face on a cheek. One face per place; the kept box covers both.
        return merge_faces(out)

    @staticmethod
    def _moved_with_camera(track: _Track, still: np.ndarray, panned: np.ndarray, det: np.ndarray) -> bool:
        """Whether the detection is nearer where the track would be had it moved with the picture's shift. A track
        keeps the answer it had unless the other is nearer by a tenth of its size: where the two predictions lie
        about as near (a face walking at half the pan's speed), flipping would mix up what its velocity means."""
        to_pan = float(np.hypot(*(_centre(panned) - _centre(det))))
        to_still = float(np.hypot(*(_centre(still) - _centre(det))))
        margin = 0.1 * max(float(still[2] - still[0]), float(still[3] - still[1]))
        if track.with_camera is None:
            return to_pan < to_still
        return to_pan < to_still + margin if track.with_camera else to_pan + margin < to_still

    def coast(self, camera: np.ndarray | None = None) -> list[Face]:
        """A frame the detector did not search (DetectorConfig.video_detect_every): every track moves on along its
        own motion and the camera's, nothing is counted missing (nobody looked), and its box is given grown by
        hold_growth (a prediction is less certain than a detection). New faces wait for the next searched frame,
        whose lookback carries them back over this one."""
        move = np.zeros(2, np.float32) if camera is None else np.asarray(camera, np.float32)
        out = []
        for track in self._tracks:
            shift = track.velocity + (move if track.with_camera else 0.0)
            track.box = track.box + np.tile(shift, 2)
            held = _grow(track.box, 1.0 + self.config.hold_growth * (track.missing + 1))
            if track.with_camera is None:  # seen once: it may stand still in the picture or move with it
                track.drift = track.drift + move
                held = _union(held, held + np.tile(track.drift, 2))
            else:
                track.landmarks = None if track.landmarks is None else (track.landmarks + shift).astype(np.float32)
            out.append(Face(as_box(held), track.score, track.landmarks, track.id))
        return merge_faces(out)

    def _match(self, preds: np.ndarray, dets: np.ndarray, alt: np.ndarray | None = None) -> list[tuple[int, int]]:
        """Greedy one-to-one matching by IoU; centre distance rescues fast motion with no overlap. `alt`: a second
        prediction per track (moved with the camera); a pair scores by the better of the two."""
        if len(preds) == 0 or len(dets) == 0:
            return []
        score = self._pair_scores(preds, dets)
        if alt is not None:
            score = np.maximum(score, self._pair_scores(alt, dets))
        pairs: list[tuple[int, int]] = []
        while score.size and score.max() > 0:
            ti, di = np.unravel_index(np.argmax(score), score.shape)
            pairs.append((int(ti), int(di)))
            score[ti, :] = 0
            score[:, di] = 0
        return pairs

    def _pair_scores(self, preds: np.ndarray, dets: np.ndarray) -> np.ndarray:
        iou = box_iou(preds, dets)
        pc = (preds[:, :2] + preds[:, 2:]) / 2
        dc = (dets[:, :2] + dets[:, 2:]) / 2
        size = np.maximum(preds[:, 2] - preds[:, 0], preds[:, 3] - preds[:, 1])
        near = np.linalg.norm(pc[:, None] - dc[None], axis=2) < 0.5 * size[:, None]
        return np.where(iou >= self.config.match_iou, 1.0 + iou, np.where(near, 0.5, 0.0))


# A cut changes the whole picture at once: the 64x36 thumbnail's mean grey-level change and its histogram both jump
# (hamilton clip: the 3 cuts 28-30 levels / 0.19-0.40; the fastest camera motion 13.6 / 0.07; median 3.4 / 0.02).
CUT_MAD = 20.0
CUT_HISTOGRAM = 0.12
THUMB = (64, 36)


def frame_signature(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frame's small grey thumbnail and its 32-bin grey histogram (sums to 1), for spotting cuts."""
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), THUMB, interpolation=cv2.INTER_AREA)
    hist = np.bincount(grey.ravel() // 8, minlength=32).astype(np.float32)
    return grey.astype(np.float32), hist / hist.sum()


def is_cut(before: tuple[np.ndarray, np.ndarray], after: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether two consecutive frames' signatures belong to different shots."""
    mad = float(np.abs(after[0] - before[0]).mean())
    hist = 0.5 * float(np.abs(after[1] - before[1]).sum())
    return mad >= CUT_MAD and hist >= CUT_HISTOGRAM


# Camera motion: phase correlation of grey thumbnails this wide (320 read pans of WIDER photos with a 1.5 px
# vertical bias, 640 within 0.05 px, at 4-7 ms a frame); below this peak response the picture did not move as one
# (a cut, a flash) and no shift is applied (hamilton clip: median response 0.86). A large person walking past also
# reads as a shift of the picture: Tracker.update tells that from a pan by the faces it found.
MOTION_WIDTH = 640
MIN_MOTION_RESPONSE = 0.1


class CameraMotion:
    """Frame-to-frame translation of the whole picture (a pan, a tilt, a shaking hand), in px of the frame.

    A face the detector misses for a frame is held where its track predicts it; in a pan a small face moves several
    of its own widths in a few frames, so without the camera's motion the held box covers the wall beside it.
    """

    def __init__(self, width: int = MOTION_WIDTH, min_response: float = MIN_MOTION_RESPONSE) -> None:
        self.width, self.min_response = width, min_response
        self._last: np.ndarray | None = None
        self._window: np.ndarray | None = None

    def step(self, rgb: np.ndarray) -> np.ndarray:
        """The shift (dx, dy) of this frame's content relative to the previous frame's (0, 0 for the first)."""
        h, w = rgb.shape[:2]
        scale = min(1.0, self.width / w)
        size = (max(round(w * scale), 8), max(round(h * scale), 8))
        grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        last, self._last = self._last, grey.astype(np.float32)
        if last is None or last.shape != self._last.shape:
            return np.zeros(2, np.float32)
        if self._window is None or self._window.shape != last.shape:
            self._window = cv2.createHanningWindow(size, cv2.CV_32F)  # damps the borders' wrap-around
        (dx, dy), response = cv2.phaseCorrelate(last, self._last, self._window)
        # a shift of over a quarter of the picture in one frame is a misreading (phase correlation wraps around)
        if response < self.min_response or abs(dx) > size[0] / 4 or abs(dy) > size[1] / 4:
            return np.zeros(2, np.float32)
        return np.array([dx * w / size[0], dy * h / size[1]], np.float32)


class Shots:
    """Numbers the shots of one video, frame by frame in order."""

    def __init__(self) -> None:
        self.shot = 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def next(self, rgb: np.ndarray) -> tuple[int, bool]:
        """(shot of this frame, whether a new shot starts at it)."""
        sig = frame_signature(rgb)
        new = self._last is not None and is_cut(self._last, sig)
        self._last = sig
        self.shot += int(new)
        return self.shot, new


def lookback_faces(
    faces: list[Face], later: Sequence[list[Face]], growth: float, reach: int | None = None
) -> list[Face]:
    """`faces` of one frame plus, for each track first seen in later[i] (the frame i + 1 after it; i < reach), its
    box carried back i + 1 frames: both where it was first seen and where its first motion (later[i] to
    later[i + 1]) points back to, grown by `growth` per frame (the further back, the less certain)."""
    present = {f.track_id for f in faces}
    out = list(faces)
    for i, frame in enumerate(later[:reach]):
        for face in frame:
            if face.track_id is None or face.track_id in present:
                continue
            present.add(face.track_id)
            k = i + 1
            box = np.array(face.box, np.float32)
            nxt = next((f for f in later[i + 1] if f.track_id == face.track_id), None) if i + 1 < len(later) else None
            shift = np.zeros(2, np.float32)
            if nxt is not None:  # motion per frame at the track's birth, carried back k frames
                shift = -k * (_centre(np.array(nxt.box, np.float32)) - _centre(box))
                # at most one face size: a jumpy first detection must not smear the box across the frame
                shift *= min(1.0, max(face.width, face.height) / max(float(np.hypot(*shift)), 1e-6))
            back = _grow(_union(box, box + np.tile(shift, 2)), 1.0 + growth * k)
            lm = None if face.landmarks is None else (face.landmarks + shift).astype(np.float32)
            # score 0: not detected in this frame, so where it is the same person as a face that is (a track that
            # broke in two: the old one held, the new one carried back) the merge keeps that face, grown over it
            out.append(Face(as_box(back), 0.0, lm, face.track_id))
    return merge_faces(out)


T = TypeVar("T")


class TrackChoices(Generic[T]):
    """One choice per track for its whole life (what a track is anonymized with: a face must not appear and
    vanish). Observations of a track are merged with `combine` until its choice is first read; from then on it is
    fixed, so its held and carried-back boxes keep it too. Read it when the track's first frame leaves the
    Lookback: the observations of the `lookback_frames` after that frame have come in by then.

    >>> choices = TrackChoices(max)
    >>> if choices.open(track_id): choices.observe(track_id, value)
    >>> choices.choice(track_id)  # fixed from now on
    """

    def __init__(self, combine: Callable[[T, T], T]) -> None:
        self.combine = combine
        self._seen: dict[int, T] = {}
        self._fixed: dict[int, T] = {}

    def open(self, track_id: int) -> bool:
        """Whether the track's choice can still change (so an observation is worth making)."""
        return track_id not in self._fixed

    def observe(self, track_id: int, value: T) -> None:
        if track_id in self._fixed:
            return
        old = self._seen.get(track_id)
        self._seen[track_id] = value if old is None else self.combine(old, value)

    def choice(self, track_id: int) -> T | None:
        """The track's choice, fixed from the first call on; None for a track never observed."""
        if track_id not in self._fixed:
            if track_id not in self._seen:
                return None
            self._fixed[track_id] = self._seen.pop(track_id)
        return self._fixed[track_id]

    def fixed(self) -> dict[int, T]:
        """Every track's fixed choice so far."""
        return dict(self._fixed)


class Lookback(Generic[T]):
    """Delays a video's tracked frames by `frames` + 1 so each can take in tracks that start just after it.

    >>> lb = Lookback(8)
    >>> ready = lb.push(frame, faces)  # [(frame, faces)] of the frame 9 back, once 9 are held
    >>> ready += lb.flush()            # at the end of the video: the rest
    """

    def __init__(self, frames: int = TrackerConfig.lookback_frames, growth: float = TrackerConfig.hold_growth) -> None:
        self.frames, self.growth = frames, growth
        self._held: deque[tuple[T, list[Face], int]] = deque()

    def push(self, item: T, faces: list[Face], shot: int = 0) -> list[tuple[T, list[Face]]]:
        """`shot` numbers the video's shots: no face is carried back across a cut into the shot before."""
        self._held.append((item, faces, shot))
        return self._release(keep=self.frames + 1)  # + 1: a track born `frames` later needs its second frame

    def flush(self) -> list[tuple[T, list[Face]]]:
        return self._release(keep=0)

    def _release(self, keep: int) -> list[tuple[T, list[Face]]]:
        out = []
        while len(self._held) > keep:
            item, faces, shot = self._held.popleft()
            later = []
            for _, fs, their_shot in self._held:
                if their_shot != shot:
                    break  # the frames after a cut show other people
                later.append(fs)
            out.append((item, lookback_faces(faces, later, self.growth, self.frames)))
        return out
