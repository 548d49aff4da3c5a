"""Evaluate the peers on one video: frames, rate and audio kept, per-frame coverage of reference faces, holes,
identity and its stability along a track, and frames/s with the time per stage.

A real clip has no ground truth, so the reference faces are the independent detector's confident boxes on the
original frames, linked into tracks by IoU. Every peer goes through deepanon's own transcoder (same H.264
settings), so differences come from the anonymization, not the codec.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from deepanon.evaluate.coverage import CHANGE_TOL_VIDEO, background_score, changed_mask, changed_share, covered
from deepanon.evaluate.detectors import Detector
from deepanon.evaluate.dlib_faces import DlibFaces
from deepanon.evaluate.identity import embedding_distances, identity_score
from deepanon.evaluate.matching import matched_gt
from deepanon.evaluate.peers import Peer
from deepanon.evaluate.phantoms import PhantomCounter
from deepanon.evaluate.still import IDENTITY_MIN_HEIGHT, PHANTOM_CROPS, REFERENCE_MIN_SCORE, face_crop
from deepanon.evaluate.timing import StageTimer
from deepanon.evaluate.video_metrics import (
    box_change,
    count_holes,
    identity_stability,
    link_tracks,
    track_sequences,
)
from deepanon.media.video import probe_video, transcode_video
from deepanon.types import Face

IDENTITY_EVERY = 3  # descriptors on every 3rd frame: consecutive frames add little and dlib is slow on a CPU


def decode_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video, upright HxWx3 uint8 RGB."""
    k = probe_video(path).rotation // 90
    with av.open(str(path)) as c:
        return [np.ascontiguousarray(np.rot90(f.to_ndarray(format="rgb24"), k)) for f in c.decode(video=0)]


def trim_video(src: Path, dst: Path, frames: int) -> Path:
    """Copy (no re-encoding) the first `frames` video frames' worth of `src`, audio included, into dst: a shorter
    clip for quick runs. Packets are cut by decode time, so every kept frame still decodes."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=inp.format.name.split(",")[0]) as out:
        vin = inp.streams.video[0]
        fps = vin.average_rate or 25
        end = frames / float(fps)
        streams = {s.index: out.add_stream_from_template(s) for s in (vin, *inp.streams.audio)}
        count = 0
        for packet in inp.demux(*[inp.streams[i] for i in streams]):
            if packet.dts is None:
                continue
            if packet.stream.type == "video":
                if count >= frames:
                    continue
                count += 1
            elif float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base) >= end:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


@dataclass
class VideoReference:
    frames: list[np.ndarray]
    boxes: list[np.ndarray]  # reference faces per frame
    track_ids: list[np.ndarray]
    fps: float
    frame_count: int
    audio_streams: int
    decode_ms: float  # per frame
    encode_ms: float  # per frame: an identity transcode's time less decoding
    codec_noise_p99: float  # 99th percentile of the per-pixel change an identity transcode makes, grey levels
    shapes5: dict[tuple[int, int], object] = field(default_factory=dict)  # (frame, face) -> dlib shape
    descriptors: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    known: list[np.ndarray] = field(default_factory=list)  # per frame: boxes that excuse a face on the output


def video_reference(src: Path, detector: Detector, dlib_faces: DlibFaces | None) -> VideoReference:
    info = probe_video(src)
    t0 = time.perf_counter()
    frames = decode_frames(src)
    decode_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="deepanon-eval-") as tmp:
        dst = Path(tmp) / f"identity{src.suffix}"
        t0 = time.perf_counter()
        transcode_video(src, dst, lambda fs: fs)
        codec_s = time.perf_counter() - t0
        again = decode_frames(dst)
    noise = [np.abs(a.astype(np.int16) - b.astype(np.int16)).max(-1) for a, b in zip(frames[::10], again[::10])]
    boxes, known = [], []
    phantoms = PhantomCounter(dlib_faces) if dlib_faces is not None else None
    for fr in frames:
        d = detector(fr)
        boxes.append(d[d[:, 4] >= REFERENCE_MIN_SCORE, :4])
        if phantoms is not None:  # the reference detector is dlib's HOG when dlib is there: reuse its search
            known.append(phantoms.known(fr, np.zeros((0, 4)), d if detector.name == "dlib HOG" else None))
    n = max(len(frames), 1)
    ref = VideoReference(
        frames,
        boxes,
        link_tracks(boxes),
        float(info.fps or 0),
        len(frames),
        info.audio_streams,
        1000 * decode_s / n,
        1000 * max(codec_s - decode_s, 0.0) / n,
        float(np.percentile(np.concatenate([x.ravel() for x in noise]), 99)) if noise else 0.0,
    )
    ref.known = known
    if dlib_faces is not None:
        for t in range(0, len(frames), IDENTITY_EVERY):
            for j, b in enumerate(boxes[t]):
                if b[3] - b[1] >= IDENTITY_MIN_HEIGHT:
                    ref.shapes5[t, j] = dlib_faces.shape5(frames[t], b)
                    ref.descriptors[t, j] = dlib_faces.descriptor(frames[t], ref.shapes5[t, j])
    return ref


@dataclass
class VideoResult:
    method: str
    frames_in: int = 0
    frames_out: int = 0
    fps_in: float = 0.0
    fps_out: float = 0.0
    audio_in: int = 0
    audio_out: int = 0
    reference_faces: int = 0  # face boxes over all frames
    tracks: int = 0
    coverage: float = float("nan")  # share of reference face boxes covered, over all frames
    recall: float = float("nan")
    holes: int = 0
    background_mad: float = float("nan")
    identity_faces: int = 0
    still_same: float = float("nan")
    identity_distance: float = float("nan")
    stability_within: float = float("nan")
    stability_between: float = float("nan")
    flicker: float = float("nan")  # frame-to-frame change inside the faces, anonymized / original
    frames_per_s: float = float("nan")  # wall clock of the whole transcode (+ shared detection time when reused)
    stage_ms: dict[str, float] = field(default_factory=dict)  # per frame
    phantoms: int = 0  # faces found on the output where the original has none, over all frames
    phantoms_per_frame: float = float("nan")
    painted: int = 0  # tracks that got a painted face (gan); the rest got a filter
    filtered: dict[str, int] = field(default_factory=dict)  # per reason: tracks given a filter instead
    phantom_crops: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)
    sample: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)


# detector_key -> per frame (faces, or None where the schedule did not search; seconds)
VideoCache = dict[str, list[tuple[list[Face] | None, float]]]


def evaluate_video_method(
    peer: Peer,
    src: Path,
    ref: VideoReference,
    dlib_faces: DlibFaces | None,
    out_dir: Path,
    cache: VideoCache | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> VideoResult:
    cache = {} if cache is None else cache
    known = cache.get(peer.detector_key)
    found: list[tuple[list[Face] | None, float]] = []  # None: a frame the schedule did not search
    timer = StageTimer()
    peer.start_video(src.name)

    def process(frames: list[np.ndarray]) -> list[np.ndarray]:
        start = len(found)
        if not frames:
            chunk = []
        elif known is not None:
            chunk = known[start : start + len(frames)]
        else:
            t0 = time.perf_counter()
            faces = peer.detect(frames)
            each = (time.perf_counter() - t0) / len(frames)
            chunk = [(f, each) for f in faces]
        found.extend(chunk)
        timer.add("detect", sum(s for _, s in chunk))
        t0 = time.perf_counter()
        out = peer.replace(frames, [f for f, _ in chunk], [src.name] * len(frames))
        timer.add_replace(time.perf_counter() - t0, peer.generate_seconds)
        progress(f"{peer.name}: frame {len(found)}/{ref.frame_count}")
        return out

    dst = out_dir / f"{peer.name}{src.suffix}"
    t0 = time.perf_counter()
    transcode_video(src, dst, process)
    wall = time.perf_counter() - t0
    if known is not None:  # detection was reused from a peer with the same detector: count its time as if run here
        wall += sum(secs for _, secs in found)
    cache.setdefault(peer.detector_key, found)
    info = probe_video(dst)
    outs = decode_frames(dst)
    res = VideoResult(peer.name, ref.frame_count, len(outs), ref.fps, float(info.fps or 0))
    res.audio_in, res.audio_out = ref.audio_streams, info.audio_streams
    res.reference_faces = sum(len(b) for b in ref.boxes)
    res.tracks = len({int(k) for ids in ref.track_ids for k in ids})
    cov, rec, mads = [], [], []
    same, emb, emb_ids = [], [], []
    change_out = change_orig = 0.0
    phantoms = PhantomCounter(dlib_faces) if dlib_faces is not None and ref.known else None
    for t, (orig, out) in enumerate(zip(ref.frames, outs)):
        if phantoms is not None:
            found_p = phantoms.phantoms(out, orig, ref.known[t])
            res.phantoms += len(found_p)
            if len(found_p) and len(res.phantom_crops) < PHANTOM_CROPS and t % 10 == 0:
                d = found_p[0]  # a few frames apart: one phantom held for seconds would fill the sheet
                res.phantom_crops.append((face_crop(orig, d, 2.0), face_crop(out, d, 2.0)))
        boxes = ref.boxes[t]
        if t > 0:
            change_out += box_change(outs[t - 1], out, boxes)[0]
            change_orig += box_change(ref.frames[t - 1], orig, boxes)[0]
        # what the method anonymized in this frame (tracks held and carried back included), not just what it detected
        done = peer.replaced[t] if t < len(peer.replaced) else []
        chosen = np.array([f.box for f in done], np.float32).reshape(-1, 4)
        share = changed_share(changed_mask(orig, out, CHANGE_TOL_VIDEO), boxes)
        cov.append(covered(share))
        rec.append(matched_gt(boxes, chosen))
        bg = background_score(orig, out, np.concatenate([boxes, chosen]), CHANGE_TOL_VIDEO)
        if bg.pixels:
            mads.append(bg.mad)
        if dlib_faces is not None:
            for j in range(len(boxes)):
                if (t, j) in ref.shapes5:
                    d = dlib_faces.descriptor(out, ref.shapes5[t, j])
                    same.append((ref.descriptors[t, j], d))
                    emb.append(d)
                    emb_ids.append(int(ref.track_ids[t][j]))
        if res.sample is None and len(boxes):
            res.sample = (orig, out, boxes)
    flat = np.concatenate(cov) if cov else np.zeros(0, bool)
    res.coverage = float(flat.mean()) if flat.size else float("nan")
    flat_rec = np.concatenate(rec) if rec else np.zeros(0, bool)
    res.recall = float(flat_rec.mean()) if flat_rec.size else float("nan")
    res.holes = sum(count_holes(seq) for seq in track_sequences(ref.track_ids, cov).values())
    res.background_mad = float(np.mean(mads)) if mads else float("nan")
    res.flicker = change_out / change_orig if change_orig > 0 else float("nan")
    if same:
        ident = identity_score(embedding_distances(np.stack([a for a, _ in same]), np.stack([b for _, b in same])))
        res.identity_faces, res.still_same, res.identity_distance = ident.faces, ident.still_same, ident.mean_distance
        stab = identity_stability(np.stack(emb), np.array(emb_ids))
        res.stability_within, res.stability_between = stab.within, stab.between
    res.phantoms_per_frame = res.phantoms / max(len(outs), 1) if phantoms is not None else float("nan")
    res.painted, res.filtered = peer.decisions() if hasattr(peer, "decisions") else (0, {})
    n = max(len(outs), 1)
    res.stage_ms = {"decode": ref.decode_ms, **timer.per_item_ms(n), "encode": ref.encode_ms}
    res.frames_per_s = len(outs) / wall if wall > 0 else float("nan")
    return res
