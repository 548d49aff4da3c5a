"""Evaluate the peers on still images (WIDER-format data or a folder of face photos), one method at a time.

Per method: coverage and recall per face-height class, background kept, AP of an independent detector on the
anonymized images, identity distance at the original face's landmarks, Frechet distance of descriptors,
landmark shift, and the time per stage (decode, detect, generate, blend, encode) measured around each call.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepanon.detect.attributes import AttributeNet, Attributes
from deepanon.evaluate.ap import average_precision
from deepanon.evaluate.coverage import background_score, changed_mask, changed_share, covered
from deepanon.evaluate.data import Dataset
from deepanon.evaluate.detectors import Detector
from deepanon.evaluate.dlib_faces import DlibFaces
from deepanon.evaluate.identity import (
    embedding_distances,
    frechet_distance,
    identity_score,
    landmark_shift,
    pose_shift,
)
from deepanon.evaluate.matching import matched_gt
from deepanon.evaluate.peers import Peer
from deepanon.evaluate.phantoms import PhantomCounter
from deepanon.evaluate.timing import StageTimer
from deepanon.evaluate.wider import HEIGHT_CLASSES, height_class
from deepanon.media.images import read_image, write_image
from deepanon.types import Face

# dlib's descriptor works on a 150 px chip; below ~48 px of face height it sees mostly interpolation.
IDENTITY_MIN_HEIGHT = 48
REFERENCE_MIN_SCORE = 0.5  # faces folder: the reference detector's box counts as ground truth above this
SAMPLES = 4  # images kept for the contact sheets
MIN_CLASS_FACES = 10  # AP per height class only where the class has this many ground-truth faces
LARGEST_FACES = 24  # the largest ground-truth faces of the set get their own contact sheet and numbers
PHANTOM_CROPS = 24  # phantom faces kept per method for their contact sheet


@dataclass
class MethodResult:
    method: str
    images: int = 0
    faces: int = 0
    coverage: dict[str, float] = field(default_factory=dict)  # per height class and "all": share covered
    recall: dict[str, float] = field(default_factory=dict)  # per height class and "all": share detected
    changed_share: float = float("nan")  # mean share of GT-box pixels changed
    background_mad: float = float("nan")
    background_kept: float = float("nan")
    ap_original: float = float("nan")
    ap_anonymized: float = float("nan")
    ap_ratio: float = float("nan")
    ap_ratio_by_height: dict[str, float] = field(default_factory=dict)  # the same, per ground-truth height class
    identity_faces: int = 0
    still_same: float = float("nan")  # over every identity-sized GT face: a missed face keeps its identity
    still_same_covered: float = float("nan")  # over the covered ones: how well the replacement itself hides
    identity_distance: float = float("nan")
    frechet: float = float("nan")
    landmark_shift: float = float("nan")
    pose_shift: float = float("nan")  # the 5 conditioned points of the 68 only
    images_per_s: float = float("nan")
    stage_ms: dict[str, float] = field(default_factory=dict)  # per image
    phantoms: int = 0  # faces found on the output where the original has none (evaluate/phantoms.py)
    phantoms_per_100: float = float("nan")  # per 100 images
    painted: int = 0  # detections that got a painted face (gan); the rest got a filter
    filtered: dict[str, int] = field(default_factory=dict)  # per reason: detections given a filter instead
    # the LARGEST_FACES largest ground-truth faces: AP kept, identity distance, landmark shift on them alone
    largest: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)
    largest_crops: list[np.ndarray] = field(default_factory=list, repr=False)  # in Reference.largest's order
    phantom_crops: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)  # original, output


def _boxes(faces: Sequence[Face]) -> np.ndarray:
    return np.array([f.box for f in faces], np.float32).reshape(-1, 4)


def _height_labels(boxes: np.ndarray) -> np.ndarray:
    """The height class (wider.HEIGHT_CLASSES) of each (N, 4) box."""
    return np.array([height_class(h) for h in boxes[:, 3] - boxes[:, 1]], dtype=object)


def _per_class(gt: list[np.ndarray], flags: list[np.ndarray]) -> dict[str, float]:
    hit = np.concatenate(flags) if flags else np.zeros(0, bool)
    out = {"all": float(hit.mean()) if hit.size else float("nan")}
    labels = np.concatenate([_height_labels(g) for g in gt]) if gt else np.zeros(0, dtype=object)
    for label, _, _ in HEIGHT_CLASSES:
        sel = labels == label
        out[label] = float(hit[sel].mean()) if sel.any() else float("nan")
    return out


def ap_ratio_by_height(
    gt: list[np.ndarray], original: list[np.ndarray], anonymized: list[np.ndarray], min_faces: int = MIN_CLASS_FACES
) -> dict[str, float]:
    """AP kept (anonymized / original) per ground-truth height class, the other faces ignored: which sizes the
    method keeps detectable. NaN for a class with fewer than `min_faces` faces (a ratio of two tiny APs)."""
    labels = [_height_labels(g) for g in gt]
    out = {}
    for label, _, _ in HEIGHT_CLASSES:
        ignore = [lab != label for lab in labels]
        if sum(int((~m).sum()) for m in ignore) < min_faces:
            out[label] = float("nan")
            continue
        before = average_precision(gt, original, ignore=ignore)
        out[label] = average_precision(gt, anonymized, ignore=ignore) / before if before > 0 else float("nan")
    return out


def face_crop(img: np.ndarray, box: np.ndarray, grow: float = 1.6) -> np.ndarray:
    """The square around a box grown `grow` times about its centre, clipped to the image."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * grow / 2
    y0, y1 = int(max(cy - half, 0)), int(min(cy + half, img.shape[0]))
    x0, x1 = int(max(cx - half, 0)), int(min(cx + half, img.shape[1]))
    return img[y0:y1, x0:x1] if y1 > y0 and x1 > x0 else img


def largest_faces(gt: Sequence[np.ndarray], n: int = LARGEST_FACES) -> list[tuple[int, int]]:
    """(image, face) indices of the n largest ground-truth boxes (by area), largest first."""
    sizes = [(float((b[2] - b[0]) * (b[3] - b[1])), i, j) for i, g in enumerate(gt) for j, b in enumerate(g)]
    return [(i, j) for _, i, j in sorted(sizes, key=lambda t: -t[0])[:n]]


@dataclass
class Reference:
    """What is measured once on the originals, shared by every method."""

    gt: list[np.ndarray]
    detections: list[np.ndarray]  # independent detector on the originals
    shapes5: list[list]  # dlib 5-point shapes of the identity-sized GT faces, per image
    identity_boxes: list[np.ndarray]
    descriptors: list[np.ndarray]  # at the original's own landmarks
    landmarks68: list[np.ndarray]
    known: list[np.ndarray] = field(default_factory=list)  # per image: boxes that excuse a face on the output
    largest: list[tuple[int, int]] = field(default_factory=list)  # largest_faces(gt)
    largest_crops: list[np.ndarray] = field(default_factory=list)  # the originals of those faces


def reference(
    dataset: Dataset, detector: Detector, dlib_faces: DlibFaces | None, gt_detector: Detector | None = None
) -> Reference:
    """Measure the originals once. Without ground truth (a faces folder), `gt_detector`'s boxes (dlib HOG, which is
    neither deepanon's nor deface's detector) stand in for it, else the independent detector's confident ones."""
    ref = Reference([], [], [], [], [], [])
    phantoms = PhantomCounter(dlib_faces) if dlib_faces is not None else None
    for item in dataset.items:
        rgb = read_image(item.path).rgb
        dets = detector(rgb)
        gt = item.boxes
        if gt is None:
            found = gt_detector(rgb) if gt_detector is not None else dets
            gt = found[found[:, 4] >= (0.0 if gt_detector is not None else REFERENCE_MIN_SCORE), :4]
        ref.gt.append(np.asarray(gt, np.float32).reshape(-1, 4))
        ref.detections.append(dets)
        big = ref.gt[-1][(ref.gt[-1][:, 3] - ref.gt[-1][:, 1]) >= IDENTITY_MIN_HEIGHT]
        ref.identity_boxes.append(big)
        if phantoms is not None:
            ref.known.append(phantoms.known(rgb, ref.gt[-1]))
        if dlib_faces is None:
            ref.shapes5.append([])
            continue
        shapes = [dlib_faces.shape5(rgb, b) for b in big]
        ref.shapes5.append(shapes)
        ref.descriptors += [dlib_faces.descriptor(rgb, s) for s in shapes]
        ref.landmarks68 += [dlib_faces.landmarks68(rgb, b) for b in big]
    ref.largest = largest_faces(ref.gt)
    for i, j in ref.largest:
        ref.largest_crops.append(face_crop(read_image(dataset.items[i].path).rgb, ref.gt[i][j]))
    return ref


# Detections per detector_key: per image, the faces and the seconds detection took (deterministic detectors, so
# methods sharing one detector share its work; each method's table still shows the detection time).
DetectionCache = dict[str, list[tuple[list[Face], float]]]


def five_points(lm68: np.ndarray) -> np.ndarray:
    """dlib's 68 landmarks as deepanon's 5 (eye centres, nose tip, mouth corners; MTCNN's order)."""
    lm = np.asarray(lm68, np.float32)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def largest_numbers(
    ref: Reference,
    anon_dets: list[np.ndarray],
    distances: np.ndarray,
    id_keys: list[tuple[int, int]],
    shifts: list[np.ndarray],
    attributes: dict[int, tuple[Attributes, Attributes]] | None = None,
) -> dict[str, float]:
    """AP kept, mean identity distance and landmark shift over the largest faces (Reference.largest) alone; with
    `attributes` ((before, after) apparent sex and age by identity row), how often the sex is kept and the mean age
    difference (years)."""
    want = set(ref.largest)
    ignore = [np.array([(i, j) not in want for j in range(len(g))], bool) for i, g in enumerate(ref.gt)]
    before = average_precision(ref.gt, ref.detections, ignore=ignore)
    after = average_precision(ref.gt, anon_dets, ignore=ignore)
    rows = [k for k, key in enumerate(id_keys) if key in want]
    out = {
        "faces": float(len(want)),
        "min_height": float(min((ref.gt[i][j][3] - ref.gt[i][j][1] for i, j in want), default=float("nan"))),
        "ap_ratio": after / before if before > 0 else float("nan"),
        "identity_distance": float(np.mean(distances[rows])) if rows else float("nan"),
        "landmark_shift": (
            float(np.mean([landmark_shift(ref.landmarks68[k], shifts[k]) for k in rows])) if rows else float("nan")
        ),
    }
    pairs = [attributes[k] for k in rows if attributes and k in attributes]
    if pairs:
        out["sex_kept"] = float(np.mean([(b.male > 0.5) == (a.male > 0.5) for b, a in pairs]))
        out["age_difference"] = float(np.mean([abs(a.age - b.age) for b, a in pairs]))
    return out


def evaluate_method(
    peer: Peer,
    dataset: Dataset,
    ref: Reference,
    detector: Detector,
    dlib_faces: DlibFaces | None,
    cache: DetectionCache | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> MethodResult:
    res = MethodResult(peer.name, images=len(dataset.items), faces=sum(len(g) for g in ref.gt))
    timer = StageTimer()
    cov_flags, rec_flags, shares, anon_dets = [], [], [], []
    mads, kept = [], []
    same_desc, own_desc, shifts, id_covered = [], [], [], []
    id_keys: list[tuple[int, int]] = []  # (image, gt face) of each same_desc entry
    phantoms = PhantomCounter(dlib_faces) if dlib_faces is not None and ref.known else None
    largest_at = {k: r for r, k in enumerate(ref.largest)}
    attribute_net = AttributeNet() if dlib_faces is not None and ref.largest else None
    attributes: dict[int, tuple[Attributes, Attributes]] = {}  # identity row -> (original, output)
    res.largest_crops = [np.zeros((1, 1, 3), np.uint8)] * len(ref.largest)
    cache = {} if cache is None else cache
    known = cache.get(peer.detector_key)
    found: list[tuple[list[Face], float]] = []
    with tempfile.TemporaryDirectory(prefix="deepanon-eval-") as tmp:
        for n, item in enumerate(dataset.items):
            with timer.stage("decode"):
                loaded = read_image(item.path)
            rgb = loaded.rgb
            if known is not None:
                faces, secs = known[n]
            else:
                if n == 0:
                    peer.detect([rgb])  # warm-up: first-call set-up is not detection time
                t0 = time.perf_counter()
                searched = peer.detect([rgb])[0]
                secs = time.perf_counter() - t0
                assert searched is not None  # only a video's schedule leaves frames out
                faces = searched
            found.append((faces, secs))
            timer.add("detect", secs)
            t0 = time.perf_counter()
            out = peer.replace([rgb], [faces], [str(item.path.name)])[0]
            timer.add_replace(time.perf_counter() - t0, peer.generate_seconds)
            with timer.stage("encode"):
                write_image(Path(tmp) / f"out{item.path.suffix or '.png'}", loaded, out)
            gt = ref.gt[n]
            det = _boxes(faces)
            share = changed_share(changed_mask(rgb, out), gt)
            shares.append(share)
            cov_flags.append(covered(share))
            rec_flags.append(matched_gt(gt, det))
            bg = background_score(rgb, out, np.concatenate([gt, det]))
            if bg.pixels:
                mads.append((bg.mad, bg.pixels))
                kept.append((bg.kept, bg.pixels))
            anon_dets.append(detector(out))
            for j, box in enumerate(gt):
                if (n, j) in largest_at:
                    res.largest_crops[largest_at[n, j]] = face_crop(out, box)
            if phantoms is not None:
                found_p = phantoms.phantoms(out, rgb, ref.known[n])
                res.phantoms += len(found_p)
                for d in found_p[: max(PHANTOM_CROPS - len(res.phantom_crops), 0)]:
                    res.phantom_crops.append((face_crop(rgb, d, 2.0), face_crop(out, d, 2.0)))
            if dlib_faces is not None:
                big = (gt[:, 3] - gt[:, 1]) >= IDENTITY_MIN_HEIGHT
                id_covered += list(covered(share)[big])
                id_keys += [(n, int(j)) for j in np.flatnonzero(big)]
                for j, box, shape in zip(np.flatnonzero(big).tolist(), ref.identity_boxes[n], ref.shapes5[n]):
                    same_desc.append(dlib_faces.descriptor(out, shape))  # where the original face was
                    own_desc.append(dlib_faces.descriptor(out, dlib_faces.shape5(out, box)))  # as a viewer sees it
                    shifts.append(dlib_faces.landmarks68(out, box))
                    if attribute_net is not None and (n, int(j)) in largest_at:  # apparent sex and age, as seen
                        k = len(shifts) - 1
                        before = attribute_net.estimate(rgb, [five_points(ref.landmarks68[k])])[0]
                        attributes[k] = (before, attribute_net.estimate(out, [five_points(shifts[k])])[0])
            if n < SAMPLES:
                res.samples.append((rgb, out, gt))
            progress(f"{peer.name}: {n + 1}/{len(dataset.items)}")
    cache.setdefault(peer.detector_key, found)
    res.phantoms_per_100 = 100 * res.phantoms / max(len(dataset.items), 1) if phantoms is not None else float("nan")
    res.painted, res.filtered = peer.decisions() if hasattr(peer, "decisions") else (0, {})
    res.coverage = _per_class(ref.gt, cov_flags)
    res.recall = _per_class(ref.gt, rec_flags)
    all_shares = np.concatenate(shares) if shares else np.zeros(0)
    res.changed_share = float(all_shares.mean()) if all_shares.size else float("nan")
    if mads:
        w = np.array([p for _, p in mads], np.float64)
        res.background_mad = float(np.average([m for m, _ in mads], weights=w))
        res.background_kept = float(np.average([k for k, _ in kept], weights=w))
    res.ap_original = average_precision(ref.gt, ref.detections)
    res.ap_anonymized = average_precision(ref.gt, anon_dets)
    res.ap_ratio = res.ap_anonymized / res.ap_original if res.ap_original > 0 else float("nan")
    res.ap_ratio_by_height = ap_ratio_by_height(ref.gt, ref.detections, anon_dets)
    if same_desc:
        orig = np.stack(ref.descriptors)
        ident = identity_score(embedding_distances(orig, np.stack(same_desc)))
        res.identity_faces, res.still_same, res.identity_distance = ident.faces, ident.still_same, ident.mean_distance
        dist = embedding_distances(orig, np.stack(same_desc))
        res.still_same_covered = identity_score(dist[np.array(id_covered, bool)]).still_same
        res.frechet = frechet_distance(orig, np.stack(own_desc))
        res.landmark_shift = float(np.mean([landmark_shift(o, a) for o, a in zip(ref.landmarks68, shifts)]))
        res.pose_shift = float(np.mean([pose_shift(o, a) for o, a in zip(ref.landmarks68, shifts)]))
        res.largest = largest_numbers(ref, anon_dets, dist, id_keys, shifts, attributes)
    res.stage_ms = timer.per_item_ms(len(dataset.items))
    res.images_per_s = len(dataset.items) / timer.total if timer.total > 0 else float("nan")
    return res
