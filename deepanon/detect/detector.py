"""FaceDetector: one or more detector backends, merged, with bounded memory on large images.

Large images are searched twice: a bounded-size overview finds the big faces cheaply and
full-resolution tiles find the small ones, so memory stays bounded and small faces survive.
Where two backends see the same face, the higher-scoring box is kept; a face either one finds is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from deepanon.detect.tiling import tile_grid
from deepanon.device import device_name
from deepanon.geometry.boxes import merge_faces
from deepanon.types import Face

DETECTORS = ("mtcnn", "centerface")
MAX_UPSCALE = 4.0
CASCADE_THRESHOLD = 0.1
# TrackerConfig.hold_frames: a face the pass found is held until the next pass; TrackerConfig.lookback_frames: a face
# first found on a searched frame is carried back over every frame not searched before it
MAX_VIDEO_EVERY = 8


@dataclass(frozen=True)
class DetectorConfig:
    """Detection settings; defaults measured on WIDER FACE val (benchmarks/detection.py, RESULTS.md)."""

    # Backends whose faces are merged (privacy: a face either finds counts). CenterFace alone since MTCNN added
    # nothing on WIDER val beside CenterFace 1x + 2x (recall < 16 px 79.5 % alone, 78.6 % with it; 16-31 px 92.9 /
    # 92.3 %) and took half the time (RESULTS.md, detection).
    detectors: tuple[str, ...] = ("centerface",)
    # min_face 20 finds as many faces >= 32 px as 12 at 2.5x the speed; 0.6 keeps the most faces,
    # and a false alarm only costs an anonymized patch (privacy first).
    threshold: float = 0.6  # final MTCNN score to keep a face
    min_face: int = 20  # smallest face side, px, MTCNN searches for (it upscales below 12)
    stage_thresholds: tuple[float, float] = (0.6, 0.7)  # MTCNN P-Net and R-Net gates
    # 0.3: on WIDER val the union then finds 90.2 % of faces >= 32 px and 79.2 % of 16-31 px (0.4: 88.3 / 72.9 %),
    # at 4.4 false alarms per crowded image instead of 1.9; a missed face is worse than a painted patch.
    centerface_threshold: float = 0.3  # CenterFace heat-map peak to keep a face
    # CenterFace scores small faces lower, and about half of its 0.2-0.3 detections under 48 px on LFW photos are
    # real background faces: faces under small_face px (in the searched image) are kept from small_face_threshold.
    # WIDER val: recall 16-31 px 78.9 -> 85.8 %, < 16 px 28.4 -> 42.4 %; false alarms 4.3 -> 12.8 per crowded
    # image, all small (a pixelated or painted patch of at most 48 px).
    small_face_threshold: float = 0.2
    small_face: int = 48
    # Large faces in shadow, turned or motion-blurred score low too: faces of large_face px and more (in the searched
    # image) are kept from large_face_threshold. WIDER val, 333 photos (benchmarks/large_faces_recall.py): recall
    # >= 128 px 96.0 -> 98.7 %, 64-127 px 93.9 -> 95.9 %, for 48 more false alarms >= 64 px (0.14 a photo; mostly
    # backs and parts of heads, blurred faces; all scored < 0.4, so the paint decision filters them, paints none).
    large_face_threshold: float = 0.1
    large_face: int = 64
    # Small-face pass: CenterFace also searches every image (or tile) enlarged this much; 1 = off. Its anchors
    # barely reach faces under ~16 px at 1x. WIDER val (benchmarks/detection.py, with MTCNN): recall < 16 px
    # 42 -> 79 %, 16-31 px 86 -> 92 %, for about twice the false alarms (nearly all tiny) and half the speed.
    upscale: float = 2.0
    # Video: the pass runs on every N-th frame only; tracks hold what it found in between, following the camera's
    # motion (track.CameraMotion). N <= TrackerConfig.hold_frames (8), so a face is held until the next pass.
    # Pans over crowded WIDER photos (benchmarks/video_small_faces.py): faces < 16 px covered 94.9 % (every frame),
    # 94.5 % (2), 94.3 % (3), 77.5 % (never); detection 25 % faster at 2.
    video_upscale_every: int = 2
    # Video: the plain search runs on every N-th frame (and on every frame of the small-face pass); in between the
    # tracker carries each face along its own motion and the camera's, its box grown by TrackerConfig.hold_growth,
    # and a face first found on a searched frame is carried back over the frames before it (the lookback), so
    # N <= TrackerConfig.lookback_frames. A cut is always searched. benchmarks/video_small_faces.py measures it.
    video_detect_every: int = 1
    # The small-face pass as a cascade (centerface.Cascade): only cells of cascade_cell px where the plain search's
    # heat map reaches cascade_threshold are searched enlarged, with cascade_margin px of context; threshold 0 searches
    # the whole enlarged image. WIDER val, first 20 images (benchmarks/cascade.py, RESULTS.md): recall < 16 px 89.2 %
    # (whole image: 89.4), 16-31 px 97.4 (97.8), at 404 ms per image instead of 915 (plain search: 166).
    cascade_threshold: float = CASCADE_THRESHOLD
    cascade_cell: int = 128
    cascade_margin: int = 16
    # Only heat whose predicted face (CenterFace's scale map) is under this many px high makes a cell hot: the pass
    # keeps faces under small_face px only, and a cell hot from a face the plain search sees whole need not be
    # searched again. All 333 WIDER val photos (benchmarks/cascade.py --max-faces): recall the same in every class,
    # detection 184 instead of 232 ms an image; 40 px lost a face >= 64 px. 0: any heat counts.
    cascade_max_face: int = 48
    centerface_backend: str = "auto"  # auto: OpenCV's DNN on the CPU (measured faster there), torch on CUDA
    batch: int = 8  # frames or windows per network call (GPU: larger batches keep it busy)
    max_side: int = 1920  # larger images are searched as overview + tiles (1920: 1080p video needs no tiles)
    tile: int = 1024  # tile side for the full-resolution search of large images; 0: overview only (faster)
    tile_overlap: int = 160  # faces up to this size are always whole in some tile
    device: str = "auto"

    def __post_init__(self) -> None:
        if not 1.0 <= self.upscale <= MAX_UPSCALE:  # beyond, a 1024-px tile's CenterFace activations need GBs
            raise ValueError(f"upscale must be from 1 (no small-face pass) to {MAX_UPSCALE:g}, got {self.upscale}")
        for name in ("video_upscale_every", "video_detect_every"):
            if not 1 <= getattr(self, name) <= MAX_VIDEO_EVERY:
                raise ValueError(f"{name} must be from 1 to {MAX_VIDEO_EVERY}, got {getattr(self, name)}")
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown or not self.detectors:
            raise ValueError(f"unknown detector {', '.join(sorted(unknown)) or '(none)'}: use {', '.join(DETECTORS)}")


class _Net(Protocol):
    """One detection network (MtcnnNet, CenterFaceNet): faces per frame, in image pixels."""

    def run(self, frames: list[np.ndarray], small_pass: list[bool] | None = None) -> list[list[Face]]: ...


class FaceDetector:
    """`detect(rgb)` -> faces of one image; `detect_batch(frames)` -> faces per frame."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = c = config or DetectorConfig()
        self.device = device_name(c.device)  # a str: the blur path never imports torch
        self._nets: list[_Net] = []
        if "mtcnn" in c.detectors:
            from deepanon.detect.mtcnn import MtcnnNet

            self._nets.append(MtcnnNet(c.threshold, c.min_face, c.stage_thresholds, self.device))
        if "centerface" in c.detectors:
            from deepanon.detect.centerface import Cascade, CenterFaceNet

            cascade = (
                Cascade(c.cascade_threshold, c.cascade_cell, c.cascade_margin, c.upscale, c.cascade_max_face)
                if c.cascade_threshold > 0
                else None
            )
            self._nets.append(
                CenterFaceNet(
                    c.centerface_threshold,
                    c.small_face_threshold,
                    c.small_face,
                    c.upscale,
                    large_threshold=c.large_face_threshold,
                    large_face=c.large_face,
                    cascade=cascade,
                    backend=c.centerface_backend,
                    device=self.device,
                    batch=c.batch,
                )
            )

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, frames: Sequence[np.ndarray], small_pass: Sequence[bool] | None = None) -> list[list[Face]]:
        """Faces for each HxWx3 uint8 RGB frame. Same-size small frames go through the networks as one batch.
        small_pass[i] False: frame i skips CenterFace's small-face pass (video runs it on some frames only);
        None: every frame gets it (when config.upscale > 1)."""
        if not frames:
            return []
        passes = [True] * len(frames) if small_pass is None else list(small_pass)
        if len(passes) != len(frames):
            raise ValueError(f"small_pass has {len(passes)} flags for {len(frames)} frames")
        small = all(max(f.shape[:2]) <= self.config.max_side for f in frames)
        if small and len({f.shape for f in frames}) == 1:
            return self._run(list(frames), passes)
        return [
            self._detect_large(f, p) if max(f.shape[:2]) > self.config.max_side else self._run([f], [p])[0]
            for f, p in zip(frames, passes)
        ]

    def _detect_large(self, rgb: np.ndarray, small_pass: bool) -> list[Face]:
        c = self.config
        h, w = rgb.shape[:2]
        scale = c.max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))  # a 16383x2 strip: not 0 px high
        overview = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        # With tiles, the overview skips the small-face pass: the tiles' own pass sees those faces at 1/scale the
        # resolution (measured: benchmarks/large_image.py).
        faces = [f.scaled(1.0 / scale) for f in self._run([overview], [small_pass and c.tile <= 0])[0]]
        if c.tile > 0:
            for y0, x0, y1, x1 in tile_grid(h, w, c.tile, c.tile_overlap):
                tile = np.ascontiguousarray(rgb[y0:y1, x0:x1])
                faces += [f.scaled(1.0, (x0, y0)) for f in self._run([tile], [False])[0]]
            small_nets = [n for n in self._nets if hasattr(n, "search_small")] if small_pass else []
            # The small-face pass keeps faces under small_face px only: its tiles need to share just that much (plus
            # a margin for the box), not tile_overlap, so its enlarged tiles (4x the pixels) overlap far less.
            for y0, x0, y1, x1 in tile_grid(h, w, c.tile, c.small_face + 16) if small_nets else []:
                tile = np.ascontiguousarray(rgb[y0:y1, x0:x1])
                faces += [f.scaled(1.0, (x0, y0)) for net in small_nets for f in net.search_small(tile)]
        return merge_faces(faces)

    def _run(self, frames: list[np.ndarray], small_pass: list[bool]) -> list[list[Face]]:
        if min(min(f.shape[:2]) for f in frames) < 12:
            return [[] for _ in frames]  # smaller than any network's receptive field: nothing to find
        per_net = [net.run(frames, small_pass) for net in self._nets]
        if len(per_net) == 1:
            return per_net[0]
        return [merge_faces([f for faces in found for f in faces]) for found in zip(*per_net)]
