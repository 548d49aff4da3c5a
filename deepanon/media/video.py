"""Stream a video through the anonymizer with PyAV: decode -> upright RGB batches -> process -> encode, audio kept.

Decisions:
- The container follows the output name (.mp4/.m4v -> mp4, .mov -> mov, .mkv -> matroska, .avi -> avi, .webm ->
  webm); the input's container family is used for other names. Video is re-encoded with libx264 (constant quality
  `crf`), except in WebM, which cannot hold H.264: there libvpx-vp9 in constant-quality mode with a crf mapped from
  the x264 scale (x264 18 ~ VP9 31).
- Exact resolution is kept. H.264 4:2:0 needs even sizes, so odd-sized videos are encoded 4:4:4 (High 4:4:4
  profile); VP9 handles odd sizes in 4:2:0. Inputs that were already 4:4:4 stay 4:4:4.
- Frames are handed to `process` upright (the display-matrix rotation applied) and rotated back before encoding;
  the output stream carries the same rotation, so the stored size and the display orientation both match the input.
- Every frame keeps its own pts in the input stream's time base: variable frame rate, 30000/1001 and the frame
  count survive.
- Audio streams are all kept: packets are copied when the output container accepts the codec, else re-encoded
  (AAC, or Opus in WebM). Subtitle/data streams are not carried over.
- Metadata: container tags are dropped by default (a phone's clip carries its location); keep_metadata copies
  them except anything locating the recording (location/GPS/ISO6709 keys) and the muxer's own.
- A damaged input: undecodable packets are skipped and a demux error ends the read; what decoded is written and
  closed cleanly, and the returned VideoInfo lists what happened in `warnings`. Zero decodable frames -> MediaError.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
import av.logging
import numpy as np

from deepanon.media.atomic import atomic_output
from deepanon.media.errors import MediaError, os_reason

# H.264 constant quality: lower is better and larger; 18 is visually lossless (the x264 documentation's rule).
DEFAULT_CRF = 18
# Frames decoded and handed to `process` together (the anonymizer detects and paints them as one batch).
DEFAULT_VIDEO_BATCH = 8
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"})
_FORMAT_BY_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}
# Audio codecs each container takes as-is (a conservative list: a wrong guess would only fail at header time).
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"},
    "matroska": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus", "vorbis", "pcm_s16le", "pcm_s24le", "mp2"},
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "mp2", "ac3", "aac", "pcm_s16le", "pcm_u8"},
}
_END_TOLERANCE_S = 0.5
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
# Demuxers that read still images: a JPEG renamed .mp4 is not a video.
_IN_FLIGHT = 2  # batches handed to process() and not yet encoded
_IMAGE_DEMUXERS = ("image2", "_pipe")

Process = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass
class VideoInfo:
    """What a video holds. width/height are the stored size; rotation (degrees counter-clockwise, as FFmpeg's
    display matrix reads) turns stored frames upright: upright = np.rot90(stored, rotation // 90)."""

    width: int
    height: int
    rotation: int = 0
    frame_count: int | None = None  # header count from probe_video; decoded/written count from transcode_video
    fps: Fraction | None = None  # average frame rate
    time_base: Fraction | None = None
    duration: float | None = None  # seconds
    container: str = ""
    video_codec: str = ""
    audio_codecs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codecs)

    @property
    def audio_streams(self) -> int:
        return len(self.audio_codecs)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) of the upright frames that `process` sees."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)


def is_video_path(path: Path | str) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


# ---------------------------------------------------------------- reading


def _ffmpeg_reason(e: Exception) -> str:
    if isinstance(e, av.error.InvalidDataError):
        return "not an image or video (unknown format, or damaged)"
    if isinstance(e, OSError) and not isinstance(e, av.error.FFmpegError):
        return os_reason(e)
    reason = getattr(e, "strerror", None) or type(e).__name__
    return str(reason).lower()


@contextlib.contextmanager
def _open_input(path: Path) -> Iterator[av.container.InputContainer]:
    if path.is_dir():
        raise MediaError("is a directory")
    try:
        if path.exists() and not path.is_file():  # never opened: reading a FIFO would wait forever
            raise MediaError("not a regular file (a FIFO, socket or device)")
        if path.stat().st_size == 0:
            raise MediaError("empty file")
        container = av.open(str(path), "r")
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError(_ffmpeg_reason(e)) from None
    try:
        fmt = container.format.name
        if any(tag in fmt for tag in _IMAGE_DEMUXERS) or not container.streams.video:
            raise MediaError("not a video (no video stream)")
        yield container
    finally:
        container.close()


def _rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame | None) -> int:
    """Counter-clockwise display rotation, a multiple of 90, from the frame's display matrix or an old rotate tag."""
    degrees = first.rotation if first is not None else 0
    if not degrees and "rotate" in stream.metadata:
        with contextlib.suppress(ValueError):
            degrees = -int(float(stream.metadata["rotate"]))  # the tag is clockwise
    return int(round(degrees / 90.0)) * 90 % 360


def _info(container: av.container.InputContainer, first: av.VideoFrame | None) -> VideoInfo:
    v = container.streams.video[0]
    duration = None
    if v.duration is not None and v.time_base is not None:
        duration = float(v.duration * v.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return VideoInfo(
        width=v.codec_context.width,
        height=v.codec_context.height,
        rotation=_rotation(v, first),
        frame_count=v.frames or None,
        fps=v.average_rate or v.guessed_rate,
        time_base=v.time_base,
        duration=duration,
        container=container.format.name,
        video_codec=v.codec_context.name,
        audio_codecs=[_audio_codec(a) for a in container.streams.audio],
    )


def probe_video(path: Path | str) -> VideoInfo:
    """Header facts plus the rotation read from the first decoded frame; MediaError if it is not a playable video."""
    with _open_input(Path(path)) as container:
        first = None
        try:
            for first in container.decode(video=0):  # noqa: B007 - only the first frame is needed
                break
        except (av.error.FFmpegError, ValueError):
            first = None
        if first is None:
            raise MediaError("no decodable video frames")
        return _info(container, first)


# ---------------------------------------------------------------- writing


def _output_format(dst: Path, input_format: str) -> str:
    fmt = _FORMAT_BY_SUFFIX.get(dst.suffix.lower())
    if fmt:
        return fmt
    family = input_format.split(",")[0]
    return {"mov": "mov", "matroska": "matroska"}.get(family, family)


# Container tags the muxer writes itself, and tag names that locate the recording (mp4 "location" is ©xyz;
# Apple's com.apple.quicktime.location.ISO6709; some cameras write GPS tags): never copied.
_MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
_LOCATION_HINTS = ("location", "gps", "iso6709", "xyz", "coordinates", "latitude", "longitude")


def kept_metadata(tags: dict[str, str]) -> dict[str, str]:
    """The container tags keep_metadata carries over: all but location and the muxer's own."""
    return {
        k: v
        for k, v in tags.items()
        if k.lower() not in _MUXER_TAGS and not any(h in k.lower() for h in _LOCATION_HINTS)
    }


def _add_video_stream(
    out: av.container.OutputContainer, fmt: str, vin: av.VideoStream, info: VideoInfo, crf: int, preset: str
) -> av.VideoStream:
    rate = info.fps if info.fps else Fraction(30)
    if fmt == "webm":
        # libvpx-vp9 constant quality: crf with bit rate 0; "cpu-used" trades speed like x264's preset.
        speed = {"ultrafast": "8", "superfast": "7", "veryfast": "6", "faster": "5", "fast": "5", "medium": "4"}
        options = {"crf": str(min(63, round(crf * 1.75))), "b": "0", "row-mt": "1", "deadline": "good"}
        options["cpu-used"] = speed.get(preset, "2")
        stream = out.add_stream("libvpx-vp9", rate=rate, options=options)
        pix_fmt = "yuv444p" if (vin.codec_context.pix_fmt or "").startswith("yuv444") else "yuv420p"
    else:
        options = {"crf": str(crf), "preset": preset}
        if fmt == "avi":
            options["bf"] = "0"  # AVI has no pts: B-frames would shift every timestamp by the reorder delay
        stream = out.add_stream("libx264", rate=rate, options=options)
        odd = info.width % 2 or info.height % 2
        pix_fmt = "yuv444p" if odd or (vin.codec_context.pix_fmt or "").startswith("yuv444") else "yuv420p"
    stream.width, stream.height, stream.pix_fmt = info.width, info.height, pix_fmt
    if vin.time_base is not None:
        stream.codec_context.time_base = vin.time_base
        stream.time_base = vin.time_base
    if vin.sample_aspect_ratio:
        stream.codec_context.sample_aspect_ratio = vin.sample_aspect_ratio
    if info.rotation:
        stream.set_display_rotation(info.rotation)
    if vin.language:
        stream.metadata["language"] = vin.language
    return stream


@dataclass
class _AudioRoute:
    """One input audio stream: copied packet by packet, or decoded and re-encoded."""

    out: av.AudioStream
    encoder: bool
    resampler: av.AudioResampler | None = None


def _audio_codec(ain: av.AudioStream) -> str:
    codec = ain.codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name


def _add_audio_stream(out: av.container.OutputContainer, fmt: str, ain: av.AudioStream) -> _AudioRoute:
    # The codec's canonical name: the decoder's can differ (FFmpeg decodes MP3 with "mp3float", AC-3 "ac3_fixed")
    if _audio_codec(ain) in _COPYABLE_AUDIO.get(fmt, set()):
        with contextlib.suppress(ValueError, av.error.FFmpegError):
            stream = out.add_stream_from_template(ain)
            return _AudioRoute(stream, encoder=False)
    codec: Literal["libopus", "aac"] = "libopus" if fmt == "webm" else "aac"
    rate = 48000 if codec == "libopus" else (ain.codec_context.sample_rate or 48000)
    stream = out.add_stream(codec, rate=rate)
    channels = ain.codec_context.channels or 2
    # The default layout for the channel count: PCM often has an unnamed order ("2 channels") encoders reject.
    layout = _LAYOUTS.get(min(channels, 2) if codec == "libopus" else channels, "stereo")
    stream.layout = layout
    if ain.language:
        stream.metadata["language"] = ain.language
    formats = stream.codec_context.codec.audio_formats
    assert formats, f"{codec} lists no sample formats"  # every FFmpeg audio encoder lists them
    resampler = av.AudioResampler(format=formats[0].name, layout=layout, rate=rate)
    return _AudioRoute(stream, encoder=True, resampler=resampler)


def _encode_audio(out: av.container.OutputContainer, route: _AudioRoute, frame: av.AudioFrame | None) -> None:
    assert route.resampler is not None
    for resampled in route.resampler.resample(frame):
        out.mux(route.out.encode(resampled))
    if frame is None:
        out.mux(route.out.encode(None))


def _to_upright_rgb(frame: av.VideoFrame, k: int) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def transcode_video(
    src: Path | str,
    dst: Path | str,
    process: Process,
    *,
    batch_size: int = DEFAULT_VIDEO_BATCH,
    crf: int = DEFAULT_CRF,
    preset: str = "medium",
    on_frames: Callable[[int], None] | None = None,
    keep_metadata: bool = False,
) -> VideoInfo:
    """Re-encode `src` into `dst` (atomically) with every frame passed through `process`, in batches.

    process gets a list of upright HxWx3 uint8 RGB frames and returns the processed versions of the oldest frames it
    has been given and not yet returned, in order: usually all of them, fewer when it holds some back to look ahead
    (video tracking does). At the end it is called with [] and must return every frame it still holds. Returns the
    input's VideoInfo with frame_count = frames written and `warnings` for damaged input. Container tags are
    dropped unless keep_metadata (then all but location ones are kept).
    """
    src, dst = Path(src), Path(dst)
    info = probe_video(src)  # the rotation comes from the first frame; it must be set before encoding starts
    k = info.rotation // 90  # quarter turns from stored to upright
    with _open_input(src) as inp, atomic_output(dst) as tmp:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        fmt = _output_format(dst, inp.format.name)
        try:
            out = av.open(str(tmp), "w", format=fmt)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise MediaError(f"cannot create output ({_ffmpeg_reason(e)})") from None
        try:
            if keep_metadata:
                out.metadata.update(kept_metadata(dict(inp.metadata)))
            vout = _add_video_stream(out, fmt, vin, info, crf, preset)
            routes = {a.index: _add_audio_stream(out, fmt, a) for a in inp.streams.audio}
            rebase = fmt == "avi"
            with _ffmpeg_errors() as logged:
                written, end_time, problems = _pump(
                    inp, out, vin, vout, routes, process, k, max(1, batch_size), on_frames, rebase
                )
            out.mux(vout.encode(None))
            for route in routes.values():
                if route.encoder:
                    _encode_audio(out, route, None)
        finally:
            out.close()
        if written == 0:
            raise MediaError("no decodable video frames")
    info.warnings += problems + [f"input damaged ({msg})" for msg in logged]
    # Matroska only knows the longest stream's duration, and audio often runs a little longer: allow half a second.
    if info.duration and end_time < info.duration - _END_TOLERANCE_S:
        info.warnings.append(f"input ends early: frames up to {end_time:.2f}s of the {info.duration:.2f}s announced")
    if info.frame_count and written < info.frame_count and fmt != "avi":  # AVI counts B-frame padding too
        info.warnings.append(f"wrote {written} of the {info.frame_count} frames the header announces")
    info.frame_count = written
    return info


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list[str]]:
    """Collect FFmpeg's error messages (e.g. "File ended prematurely") that do not raise; PyAV mutes them."""
    messages: list[str] = []
    old = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            try:
                yield messages
            finally:
                for _level, _name, text in logs:
                    if text.strip() and text.strip() not in messages and len(messages) < 3:
                        messages.append(text.strip())
    finally:
        av.logging.set_level(old)


def _pump(
    inp: av.container.InputContainer,
    out: av.container.OutputContainer,
    vin: av.VideoStream,
    vout: av.VideoStream,
    routes: dict[int, _AudioRoute],
    process: Process,
    k: int,
    batch_size: int,
    on_frames: Callable[[int], None] | None,
    rebase: bool,
) -> tuple[int, float, list[str]]:
    """The streaming loop: demux, decode, batch, process, encode, mux.

    Returns (frames written, end time of the last frame in seconds, warnings).

    rebase: start pts at 0. AVI stores no pts (position = time) and its demuxer reports pts shifted by the codec
    delay; passing those on would add empty leading frames at every generation.
    """
    batch: list[tuple[np.ndarray, int, Fraction]] = []
    written, last_pts, bad_video, bad_audio = 0, -1, 0, 0
    offset: int | None = None
    end_time = 0.0
    problems: list[str] = []

    # process() runs on one worker thread while this thread keeps decoding and encoding: detection and
    # generation overlap with the codec work. At most _IN_FLIGHT batches wait, so memory stays flat.
    pending: deque[Future[list[np.ndarray]]] = deque()
    waiting: deque[tuple[np.ndarray, int, Fraction]] = deque()  # frames given to process(), not yet returned
    worker = ThreadPoolExecutor(1, thread_name_prefix="deepanon-process")

    def encode_oldest() -> None:
        nonlocal written
        result = pending.popleft().result()
        if len(result) > len(waiting):
            raise ValueError("process returned more frames than it was given")
        meta = [waiting.popleft() for _ in result]
        if any(r.shape != m[0].shape for r, m in zip(result, meta, strict=True)):
            raise ValueError("process must return frames of the shapes it got")
        for img, (_, pts, tb) in zip(result, meta, strict=True):
            stored = np.rot90(img, -k) if k else img
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(stored, dtype=np.uint8), "rgb24")
            frame.pts, frame.time_base = pts, tb
            out.mux(vout.encode(frame))
        written += len(meta)
        if on_frames is not None and meta:
            on_frames(written)

    def flush(drain: bool = False) -> None:
        if batch:
            waiting.extend(batch)
            pending.append(worker.submit(process, [m[0] for m in batch]))
            batch.clear()
        if drain:  # the end: process() returns whatever it still holds back
            pending.append(worker.submit(process, []))
        while pending and (drain or len(pending) > _IN_FLIGHT):
            encode_oldest()
        if drain and waiting:
            raise ValueError(f"process kept {len(waiting)} frames it never returned")

    def take(frame: av.VideoFrame) -> None:
        nonlocal last_pts, offset, end_time
        tb = frame.time_base or vin.time_base or Fraction(1, 30)
        pts = frame.pts if frame.pts is not None else last_pts + 1
        if offset is None:
            offset = pts if rebase else 0
        pts -= offset
        pts = max(pts, last_pts + 1)  # encoders need strictly increasing pts
        last_pts = pts
        end_time = float((pts + offset) * tb) + float(frame.duration * tb if frame.duration else 0)
        batch.append((_to_upright_rgb(frame, k), pts, tb))
        if len(batch) >= batch_size:
            flush()

    try:
        try:
            for packet in inp.demux(vin, *inp.streams.audio):
                if packet.stream.type == "video":
                    try:
                        frames = vin.decode(packet)
                    except (av.error.FFmpegError, ValueError):
                        bad_video += 1
                        continue
                    for frame in frames:
                        take(frame)
                    continue
                route = routes[packet.stream.index]
                try:
                    if route.encoder:
                        for aframe in packet.decode():
                            assert isinstance(aframe, av.AudioFrame)  # a packet of an audio stream
                            _encode_audio(out, route, aframe)
                    elif packet.dts is not None:  # the demuxer's final empty packet has none
                        packet.stream = route.out
                        out.mux(packet)
                except (av.error.FFmpegError, ValueError):
                    bad_audio += 1  # a bad audio packet must not stop the video
        except av.error.FFmpegError as e:
            problems.append(f"input damaged ({_ffmpeg_reason(e)}): kept what decoded before it")
        with contextlib.suppress(av.error.FFmpegError, ValueError):
            for frame in vin.decode(None):
                take(frame)
        flush(drain=True)
    finally:
        worker.shutdown(wait=True, cancel_futures=True)
    if bad_video:
        problems.append(f"skipped {bad_video} undecodable video packets")
    if bad_audio:
        problems.append(f"dropped {bad_audio} bad audio packets")
    return written, end_time, problems
