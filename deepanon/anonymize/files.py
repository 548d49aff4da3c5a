"""One file end to end: read -> anonymize -> write (atomic). Images and videos."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepanon.anonymize.pipeline import Anonymizer, VideoState
from deepanon.media.images import read_image, write_image
from deepanon.media.video import VIDEO_EXTENSIONS, transcode_video
from deepanon.types import Face


@dataclass(frozen=True)
class FileOptions:
    keep_metadata: bool = False  # keep EXIF/XMP, video container tags (never GPS or location)
    max_pixels: int = 100_000_000  # refuse larger images (decompression bombs)
    crf: int = 18  # video quality: lower is better, 18 is visually lossless for H.264
    batch_size: int = 8  # video frames per detection/generation batch


@dataclass
class FileResult:
    faces: list[Face] = field(default_factory=list)  # still images: every face replaced
    face_count: int = 0  # videos: detections over all frames
    frames: int | None = None
    warnings: list[str] = field(default_factory=list)
    # method gan: regions (video: per frame) per treatment: "painted", or why a filter was used (decide.REASONS)
    treatments: dict[str, int] = field(default_factory=dict)


def count_treatments(faces: Iterable[Face], into: dict[str, int] | None = None) -> dict[str, int]:
    """Faces per treatment (faces without one are not counted), added to `into`."""
    out = Counter(into or {})
    out.update(f.treatment for f in faces if f.treatment is not None)
    return dict(out)


def anonymize_image_file(anon: Anonymizer, src: Path, dst: Path, rel: str, opts: FileOptions) -> FileResult:
    loaded = read_image(src, max_pixels=opts.max_pixels)
    out, faces = anon.anonymize_image(loaded.rgb, key=rel)
    write_image(dst, loaded, out, keep_metadata=opts.keep_metadata)
    return FileResult(faces=faces, face_count=len(faces), treatments=count_treatments(faces))


def anonymize_video_file(
    anon: Anonymizer,
    src: Path,
    dst: Path,
    rel: str,
    opts: FileOptions,
    on_frames: Callable[[int, int], None] | None = None,
) -> FileResult:
    """on_frames(frames_done_in_batch, faces_in_batch) is called after each batch, for progress bars."""
    result = FileResult(frames=0)
    video = VideoState()

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
        src, dst, process, batch_size=opts.batch_size, crf=opts.crf, keep_metadata=opts.keep_metadata
    )
    result.warnings.extend(getattr(info, "warnings", []) or [])
    return result


def anonymize_file(
    anon: Anonymizer,
    src: Path,
    dst: Path,
    rel: str,
    opts: FileOptions,
    on_frames: Callable[[int, int], None] | None = None,
) -> FileResult:
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        return anonymize_video_file(anon, src, dst, rel, opts, on_frames)
    return anonymize_image_file(anon, src, dst, rel, opts)
