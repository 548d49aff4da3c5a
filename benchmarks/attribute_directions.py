"""Does the generator's w space hold a direction for apparent sex and one for age? (issue 16: a large face should get
a new face of the original's apparent sex and age.)

    python benchmarks/attribute_directions.py [--photos 150] [--draws 24] [--no-write] [--save]

Photos of LFW and UTKFace (their largest face >= 64 px), --photos per source from the training split (to fit) and as
many from the held-out validation split (to test); each is painted with --draws latents at the run-time truncation,
and every new face's apparent sex (logit of P(male)) and age are read by dlib's networks (detect/attributes.py) on
the crop as it is blended. Per photo the mean is removed (the context decides much of it: hair, clothes), and a
ridge regression on w finds the direction that moves each attribute (R^2 within photo on the held-out photos). Then
on the held-out faces: draws moved along both directions by what each missed of the original's values, painted
again, against the first draw and the best of 4 candidates: how often the sex then matches, how far the age is.
Writes RESULTS.md's section `attribute-directions`; --save writes the directions beside the shipped generator
(deepanon/gan/directions.py), which the painter then uses.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from results import markdown_table, publish

from deepanon.anonymize.gan import GanPainter, candidate_seed, composite, z_for_seed
from deepanon.detect import DetectorConfig, FaceDetector
from deepanon.detect.attributes import AttributeNet, Attributes
from deepanon.evaluate.data import spread
from deepanon.evaluate.refind import validation_photos
from deepanon.gan.directions import DIRECTIONS_PATH, AttributeSteer, logit
from deepanon.gan.weights import load_card
from deepanon.geometry.align import alignment_matrix, crop, face_crop_mask, landmark_maps, transform_points
from deepanon.photos import list_images, read_rgb
from deepanon.types import Face

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("lfw-single", "utkface")
MIN_FACE = 64
RIDGE = 1.0


def paint(painter: GanPainter, job: tuple, seeds: list[int], offsets: np.ndarray | None = None) -> list[np.ndarray]:
    crop, mask, lms = job
    n = len(seeds)
    z = torch.stack([z_for_seed(s, painter.z_dim) for s in seeds])
    off = None if offsets is None else torch.from_numpy(offsets.astype(np.float32))
    raw = painter.generate(np.stack([crop] * n), np.stack([mask] * n), np.stack([lms] * n), z, off)
    return [composite(r, crop, mask) for r in raw]


def ws(painter: GanPainter, seeds: list[int]) -> np.ndarray:
    z = torch.stack([z_for_seed(s, painter.z_dim) for s in seeds])
    with torch.inference_mode():
        return painter.G.w(z, painter.w_avg, painter.truncation).float().numpy()


def aligned(painter: GanPainter, rgb: np.ndarray, face: Face, M: np.ndarray) -> tuple[np.ndarray, ...]:
    """The generator's inputs for one face: aligned crop, mask, landmark maps (as GanPainter builds them)."""
    R = painter.resolution
    return (
        crop(rgb, M, R),
        face_crop_mask(face, M, R, painter.mask_scale, rgb.shape[:2], painter.feather),
        landmark_maps(transform_points(M, face.landmarks), R),
    )


def ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--photos", type=int, default=120, help="per source")
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--save", action="store_true", help="write the directions beside the shipped generator")
    a = ap.parse_args()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    det = FaceDetector(DetectorConfig(device="cpu"))
    painter = GanPainter(device="cpu", candidates=1)  # no choice, no directions: the generator's own draws
    net = AttributeNet()
    jobs, originals, is_test = [], [], []
    for src in SOURCES:
        test = validation_photos([a.data / src])
        held = set(test)
        train = [p for p, _ in list_images([a.data / src]) if p not in held]  # the generator's training split
        for split, photos in ((False, train), (True, test)):
            for p in [photos[i] for i in spread(len(photos), a.photos)]:
                rgb = read_rgb(p)
                faces = [f for f in det.detect(rgb) if f.landmarks is not None and max(f.width, f.height) >= MIN_FACE]
                if not faces:
                    continue
                face = max(faces, key=lambda f: f.width * f.height)
                M = alignment_matrix(face, painter.resolution, painter.mask_scale, painter.feather)
                crop_, mask_, lms_ = aligned(painter, rgb, face, M)
                jobs.append((crop_, mask_, lms_))
                originals.append(net.estimate_aligned([crop_])[0])
                is_test.append(split)
    n = len(jobs)
    print(f"{n} faces", flush=True)
    W, sex, age, photo = [], [], [], []
    for k, job in enumerate(jobs):
        seeds = [10_000 * k + d for d in range(a.draws)]
        est = net.estimate_aligned(paint(painter, job, seeds))
        W.append(ws(painter, seeds))
        sex.append(logit(np.array([e.male for e in est])))
        age.append(np.array([e.age for e in est]))
        photo.append(np.full(a.draws, k))
    W, sex, age, photo = np.concatenate(W), np.concatenate(sex), np.concatenate(age), np.concatenate(photo)
    fit = ~np.asarray(is_test)[photo]  # fitted on training photos, tested on held-out ones
    w_mean = W[fit].mean(0)
    rows, directions = [], {}
    for name, y in (("sex (logit P(male))", sex), ("age (years)", age)):
        yc = y - np.array([y[photo == k].mean() for k in range(n)])[photo]  # within photo
        d = ridge(W[fit] - w_mean, yc[fit])
        pred = (W[~fit] - w_mean) @ d
        test_photo = photo[~fit]
        pred = (
            pred
            - np.array([pred[test_photo == k].mean() if (test_photo == k).any() else 0 for k in range(n)])[test_photo]
        )
        r2 = 1 - ((yc[~fit] - pred) ** 2).sum() / (yc[~fit] ** 2).sum()
        share = yc.var() / y.var()
        directions[name] = d
        rows.append([name, f"{y.std():.2f}", f"{100 * share:.0f} %", f"{r2:.2f}"])
        print(rows[-1], flush=True)
    # steering on the test photos: first draw, then moved by what is missing, against the best of 4 candidates
    steer = AttributeSteer(directions["sex (logit P(male))"], directions["age (years)"])
    res: dict[str, list[tuple[bool, float]]] = {}

    def cost(e: Attributes, o: Attributes) -> float:
        return abs(e.male - o.male) + abs(e.age - o.age) / 20  # as GanPainter._choose

    for k in np.flatnonzero(is_test):
        o: Attributes = originals[k]
        seed = 77_000 + int(k)
        seeds = [candidate_seed(seed, c) for c in range(4)]
        cands = net.estimate_aligned(paint(painter, jobs[k], seeds))
        offsets = np.stack([steer.offset((e.male, e.age), (o.male, o.age)) for e in cands])  # as the painter moves
        moved = [net.estimate_aligned(paint(painter, jobs[k], [s], off[None]))[0] for s, off in zip(seeds, offsets)]
        picks = {
            "first draw (1 pass)": cands[0],
            "best of 4 candidates (4 passes)": min(cands, key=lambda e: cost(e, o)),
            "first draw moved along w (2 passes)": moved[0],
            "best of 2, each moved (4 passes)": min(moved[:2], key=lambda e: cost(e, o)),
            "best of 4, each moved (8 passes)": min(moved, key=lambda e: cost(e, o)),
        }
        for key, e in picks.items():
            res.setdefault(key, []).append(((e.male > 0.5) == (o.male > 0.5), abs(e.age - o.age)))
    steer = [
        [key, len(v), f"{100 * np.mean([s for s, _ in v]):.1f} %", f"{np.mean([x for _, x in v]):.1f}"]
        for key, v in res.items()
    ]
    for r in steer:
        print(r, flush=True)
    body = (
        "## Attribute directions in the generator's w (benchmarks/attribute_directions.py)\n\n"
        f"{n - sum(is_test)} training-split and {sum(is_test)} held-out faces >= {MIN_FACE} px (LFW, UTKFace), "
        f"{a.draws} draws each at psi {painter.truncation}; attributes by dlib's networks on the blended crop. Within "
        "photo: the share of the attribute's variance left once each photo's mean is removed (what z, not the "
        "context, decides); R^2: of a ridge regression on w fitted on the training photos, on the held-out ones. Run "
        f"{(time.perf_counter() - t0) / 60:.1f} min.\n\n"
        + markdown_table(["attribute", "std over all draws", "within photo", "R^2 on unseen photos"], rows)
        + "\n\nOn the test photos: sex kept and age difference (years) of the new face to the original's apparent "
        "ones: the first draw, the best of 4 candidates (today's painter), and draws moved along both directions by "
        "what each missed (one more generator pass each), alone or the best of several.\n\n"
        + markdown_table(["new face", "faces", "sex kept", "age difference"], steer)
    )
    publish("attribute-directions", body, not a.no_write)
    if a.save:
        card = load_card(None)
        notes = {"fitted_on": f"{n - sum(is_test)} training-split faces of LFW and UTKFace, {a.draws} draws each"}
        DIRECTIONS_PATH.write_text(steer.to_json(card["sha256"], painter.truncation, notes) + "\n")
        print(f"wrote {DIRECTIONS_PATH}")


if __name__ == "__main__":
    main()
