"""One file end to end: read -> anonymize -> write (atomic). Images and videos.

The Anonymizer (pipeline.py) calls these for `anonymize_path`; they take it as an argument and use only its
methods, so this module does not import pipeline.py (imports flow one way).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepanon.media.images import MultiFrameImage, read_animation, read_image, write_animation, write_image
from deepanon.media.video import VIDEO_EXTENSIONS, transcode_video
from deepanon.types import Face

if TYPE_CHECKING:  # for type hints only: pipeline.py imports this module
    from deepanon.anonymize.pipeline import Anonymizer


@dataclass
class FileResult:
    """What anonymizing one file gave: the faces replaced (a still image), or frame and detection counts (a video)."""

    faces: list[Face] = field(default_factory=list)  # still images: every face replaced
    face_count: int = 0  # images: len(faces); videos: detections over all frames
    frames: int | None = None  # None: a still image
    warnings: list[str] = field(default_factory=list)
    # method gan: regions (video: per frame) per treatment: "painted", or why a filter was used (decide.REASONS)
    treatments: dict[str, int] = field(default_factory=dict)


def count_treatments(faces: Iterable[Face], into: dict[str, int] | None = None) -> dict[str, int]:
    """Faces per treatment (faces without one are not counted), added to `into`."""
    out = Counter(into or {})
    out.update(f.treatment for f in faces if f.treatment is not None)
    return dict(out)


def anonymize_image_file(anon: Anonymizer, src: Path, dst: Path, rel: str) -> FileResult:
    out_cfg = anon.config.output
    try:
        loaded = read_image(src, max_pixels=out_cfg.max_pixels)
    except MultiFrameImage:
        return anonymize_animation_file(anon, src, dst, rel)
    out, faces = anon.anonymize_image(loaded.rgb, key=rel)
    write_image(dst, loaded, out, keep_metadata=out_cfg.keep_metadata)
    return FileResult(
        faces=faces, face_count=len(faces), warnings=list(loaded.warnings), treatments=count_treatments(faces)
    )


def anonymize_animation_file(anon: Anonymizer, src: Path, dst: Path, rel: str) -> FileResult:
    """Every frame of an animated GIF/PNG/WebP or multi-page TIFF. Frames of one size are a short video (tracked:
    one identity per person, faces the detector misses for a frame or two stay covered); pages of different sizes
    are separate pictures."""
    anim = read_animation(src, max_pixels=anon.config.output.max_pixels)
    out: list[np.ndarray] = []
    found: list[list[Face]] = []
    if anim.same_size:
        video = anon.new_video()
        step = anon.config.output.video_batch
        for i in range(0, len(anim.frames), step):
            done, faces = anon.anonymize_video_frames(anim.frames[i : i + step], rel, video)
            out += done
            found += faces
        done, faces = anon.anonymize_video_frames([], rel, video)
        out += done
        found += faces
    else:
        for i, frame in enumerate(anim.frames):
            done, faces = anon.anonymize_frames([frame], [f"{rel}#{i}"])
            out += done
            found += faces
    write_animation(dst, anim, out)
    treatments: dict[str, int] = {}
    for frame_faces in found:
        treatments = count_treatments(frame_faces, treatments)
    return FileResult(face_count=sum(len(f) for f in found), frames=len(out), treatments=treatments)


def anonymize_video_file(
    anon: Anonymizer,
    src: Path,
    dst: Path,
    rel: str,
    on_frames: Callable[[int, int], None] | None = None,
) -> FileResult:
    """on_frames(frames_done_in_batch, faces_in_batch) is called after each batch, for progress bars."""
    out_cfg = anon.config.output
    result = FileResult(frames=0)
    video = anon.new_video()

    def process(frames: list[np.ndarray]) -> list[np.ndarray]:
        out, faces = anon.anonymize_video_frames(frames, rel, video)
        n_faces = sum(len(f) for f in faces)
        result.frames = (result.frames or 0) + len(out)
        result.face_count += n_faces
        result.treatments = count_treatments((f for fs in faces for f in fs), result.treatments)
        if on_frames is not None and out:
            on_frames(len(out), n_faces)
        return out

    info = transcode_video(
        src, dst, process, batch_size=out_cfg.video_batch, crf=out_cfg.crf, keep_metadata=out_cfg.keep_metadata
    )
    result.warnings.extend(getattr(info, "warnings", []) or [])
    return result


def anonymize_file(
    anon: Anonymizer,
    src: Path,
    dst: Path,
    rel: str,
    on_frames: Callable[[int, int], None] | None = None,
) -> FileResult:
    """src anonymized into dst with anon's settings (config.output: metadata, pixel limit, video quality).
    rel names the file in seeds (the same relative path gives the same new faces)."""
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        return anonymize_video_file(anon, src, dst, rel, on_frames)
    return anonymize_image_file(anon, src, dst, rel)
