"""One file end to end: read -> anonymize -> write (atomic). Images and videos."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepanon.anonymize.pipeline import Anonymizer, VideoState
from deepanon.media.images import MultiFrameImage, read_animation, read_image, write_animation, write_image
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


def anonymize_image_file(anon: Anonymizer, src: Path, dst: Path, rel: str, opts: FileOptions) -> FileResult:
    try:
        loaded = read_image(src, max_pixels=opts.max_pixels)
    except MultiFrameImage:
        return anonymize_animation_file(anon, src, dst, rel, opts)
    out, faces = anon.anonymize_image(loaded.rgb, key=rel)
    write_image(dst, loaded, out, keep_metadata=opts.keep_metadata)
    return FileResult(faces=faces, face_count=len(faces), warnings=list(loaded.warnings))


def anonymize_animation_file(anon: Anonymizer, src: Path, dst: Path, rel: str, opts: FileOptions) -> FileResult:
    """Every frame of an animated GIF/PNG/WebP or multi-page TIFF. Frames of one size are a short video (tracked:
    one identity per person, faces the detector misses for a frame or two stay covered); pages of different sizes
    are separate pictures."""
    anim = read_animation(src, max_pixels=opts.max_pixels)
    out: list[np.ndarray] = []
    found: list[list[Face]] = []
    if anim.same_size:
        video = VideoState()
        step = max(1, opts.batch_size)
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
    return FileResult(face_count=sum(len(f) for f in found), frames=len(out))


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
