"""Where does identity leak? dlib "still the same person" per source (UTKFace split by age), psi and mask size.

    python benchmarks/identity_probe.py [--per-source 80] [--configs 0.7:1.5,1.0:1.5,0.5:1.5,0.7:1.7] [--seeds 3]
        [--weights shipped,runs/x/generator.safetensors]   # generators side by side, on the same draws
    (a config psi:mask:candidates[:move] also sets the painter's candidates and attribute_move, e.g. 0.7:1.5:1
    without the choice, 0.7:1.5:4:0 the best of 4 plain draws)

Beside identity, the apparent sex and age (detect/attributes.py) of the largest run-time face on the original and on
the output: how often the sex is kept, and the mean age difference (years). The painter's candidate choice uses the
same networks, so this measures what it aimed at; UTKFace's own labels (its names start with age and sex) give a
check that does not depend on them for the original: "sex kept (label)".

Held-out validation photos of LFW and UTKFace, spread over each split; the main face is found by dlib HOG
(>= 48 px high), its descriptor taken at its own 5 landmarks on the original and on the anonymized image (as
`deepanon evaluate` does). Faces are detected once; each config repaints them with seeds i * 7 + j + 1000 * s for
s < --seeds (the same seeds for every config, so configs are compared on the same draws). Chance level
per group: pairs of different originals. UTKFace names start with the age: children under CHILD_AGE are a group
of their own, since dlib's descriptor tells young children apart poorly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from results import markdown_table, publish

from deepanon.anonymize.gan import GanPainter
from deepanon.anonymize.pipeline import Anonymizer
from deepanon.config import PainterConfig
from deepanon.detect.attributes import AttributeNet
from deepanon.evaluate.data import spread
from deepanon.evaluate.dlib_faces import DlibFaces
from deepanon.evaluate.identity import SAME_PERSON_DISTANCE
from deepanon.evaluate.refind import validation_photos
from deepanon.evaluate.still import IDENTITY_MIN_HEIGHT
from deepanon.photos import read_rgb

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("lfw-single", "utkface")
CHILD_AGE = 13


def utk_sex(path: Path) -> bool | None:
    """UTKFace's label of a photo: True for male (its names are age_sex_race_date, sex 0 male, 1 female)."""
    parts = path.name.split("_")
    return parts[1] == "0" if len(parts) > 2 and parts[1] in ("0", "1") else None


def group_of(source: str, path: Path) -> str:
    if source != "utkface":
        return source
    age = int(path.name.split("_", 1)[0])
    return f"utkface age < {CHILD_AGE}" if age < CHILD_AGE else f"utkface age >= {CHILD_AGE}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--per-source", type=int, default=80)
    ap.add_argument("--configs", default="0.7:1.5,1.0:1.5,0.5:1.5,0.7:1.7", help="psi:mask_scale pairs")
    ap.add_argument("--seeds", type=int, default=1, help="repaint every face this many times (pooled)")
    ap.add_argument("--weights", default="shipped", help="generators (exported .safetensors; shipped: the package's)")
    ap.add_argument("--section", default="identity_probe", help="RESULTS.md section (another keeps the one there)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    dl = DlibFaces()
    anon = Anonymizer(method="gan", device="cpu", seed=0)
    items = []  # (group, rgb, dlib shape, original descriptor, run-time faces)
    for src in SOURCES:
        photos = validation_photos([a.data / src])
        # Spread over the whole split: UTKFace names start with the age, so the first N would all be small children.
        for p in [photos[i] for i in spread(len(photos), a.per_source)]:
            rgb = read_rgb(p)
            hog = dl.detect_hog(rgb)
            if len(hog) == 0:
                continue
            box = hog[np.argmax((hog[:, 2] - hog[:, 0]) * (hog[:, 3] - hog[:, 1]))][:4]
            if box[3] - box[1] < IDENTITY_MIN_HEIGHT:
                continue
            shape = dl.shape5(rgb, box)
            items.append((group_of(src, p), rgb, shape, dl.descriptor(rgb, shape), anon.detect([rgb])[0], p))
    groups = np.array([it[0] for it in items])
    names = sorted(set(groups))
    rows = []
    labelled: dict[tuple[str, str, int, int], bool] = {}  # (config, weights, seed, item) -> sex kept by the label
    for group in names:
        d = np.stack([it[3] for it in items if it[0] == group])
        pairs = np.linalg.norm(d[:, None] - d[None], axis=-1)[np.triu_indices(len(d), 1)]
        rows.append(
            [group, "chance (different originals)", "-", len(d), f"{100 * (pairs < SAME_PERSON_DISTANCE).mean():.1f} %"]
        )
    attributes = AttributeNet()
    main = [
        max((f for f in it[4] if f.landmarks is not None), key=lambda f: f.width * f.height, default=None)
        for it in items
    ]
    before = [attributes.estimate(it[1], [f.landmarks])[0] if f is not None else None for it, f in zip(items, main)]
    for weights in a.weights.split(","):
        for cfg in a.configs.split(","):
            psi, scale, *more = (float(v) for v in cfg.split(":"))
            settings = {} if weights == "shipped" else {"weights": weights}
            if more:
                settings["candidates"] = int(more[0])
            if len(more) > 1:
                settings["attribute_move"] = more[1]
            painter = GanPainter(device="cpu", truncation=psi, mask_scale=scale, **settings)
            dist = np.empty((a.seeds, len(items)))
            sex_kept = np.full((a.seeds, len(items)), np.nan)
            age_diff = np.full((a.seeds, len(items)), np.nan)
            for s in range(a.seeds):
                for i, (_, rgb, shape, desc, faces, _) in enumerate(items):
                    out = painter.paint_one(rgb, faces, [i * 7 + j + 1000 * s for j in range(len(faces))])
                    dist[s, i] = float(np.linalg.norm(dl.descriptor(out, shape) - desc))
                    if main[i] is not None:
                        after = attributes.estimate(out, [main[i].landmarks])[0]
                        sex_kept[s, i] = (after.male > 0.5) == (before[i].male > 0.5)
                        age_diff[s, i] = abs(after.age - before[i].age)
                        label_sex = utk_sex(items[i][5])
                        if label_sex is not None:
                            labelled[(cfg, weights, s, i)] = (after.male > 0.5) == label_sex
            label = f"psi {psi}, mask {scale}" + (f", {int(more[0])} candidates" if more else "")
            label += f", move {more[1]:g}" if len(more) > 1 else ""
            label += "" if weights == "shipped" else f", {Path(weights).parent.name}"
            for group in names:
                g = groups == group
                d = dist[:, g]
                same = 100 * (d < SAME_PERSON_DISTANCE).mean(axis=1)  # per seed
                spread_txt = f" ({same.min():.1f}-{same.max():.1f})" if a.seeds > 1 else ""
                by_label = [v for (c, w, _, i), v in labelled.items() if c == cfg and w == weights and g[i]]
                rows.append(
                    [
                        group,
                        label,
                        f"{d.mean():.3f}",
                        d.shape[1],
                        f"{same.mean():.1f} %{spread_txt}",
                        f"{100 * np.nanmean(sex_kept[:, g]):.1f} %",
                        f"{100 * np.mean(by_label):.1f} %" if by_label else "-",
                        f"{np.nanmean(age_diff[:, g]):.1f}",
                    ]
                )
            print(rows[-len(names) :], flush=True)
    header = ["group", "config", "mean distance", "faces", "still the same person", "sex kept", "sex kept (label)"]
    table = markdown_table([*header, "age difference (years)"], [r + ["-"] * (8 - len(r)) for r in rows])
    body = (
        "## Identity probe: where dlib still sees the same person (benchmarks/identity_probe.py)\n\n"
        f"GAN only; {a.per_source} held-out photos per source (spread over the split), faces >= 48 px (dlib HOG), "
        f"each repainted with {a.seeds} seed(s): still the same = mean over seeds (lowest-highest seed). "
        f"Default: psi {PainterConfig.truncation}, mask {PainterConfig.mask_scale}.\n\n" + table
    )
    publish(a.section, body, not a.no_write, shown=table)


if __name__ == "__main__":
    main()
