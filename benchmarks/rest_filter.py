"""Method gan's filter for the detections it does not paint (false alarms, tiny and doubtful faces): which filter
keeps coverage per size class where painting every detection had it (issue 16: privacy must not go down).

Each photo is detected and judged once with the default settings (anonymize/decide.py); the confident faces are
painted once; then every variant filters the rest of the same painted picture. "paint all" paints every detection
of at least min_paint_face px (paint threshold 0: the behaviour before the decision). Coverage as in `deepanon
evaluate`: a ground-truth face counts when >= 50 % of its box's pixels changed by more than 4 grey levels.

    python benchmarks/rest_filter.py --limit 50 [--publish]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from results import markdown_table, publish

from deepanon.anonymize.decide import PAINTED
from deepanon.anonymize.filters import apply_filter
from deepanon.anonymize.pipeline import Anonymizer
from deepanon.config import AnonymizerConfig, PaintConfig
from deepanon.evaluate.ap import average_precision
from deepanon.evaluate.coverage import background_score, changed_mask, changed_share, covered
from deepanon.evaluate.data import spread
from deepanon.evaluate.detectors import independent_detector
from deepanon.evaluate.wider import HEIGHT_CLASSES, height_class, read_wider

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# name: (filter, cells across the face, region size x the painter's mask scale)
VARIANTS: dict[str, tuple[str, float, float]] = {
    "blur 8 cells": ("blur", 8, 1.0),
    "blur 6 cells": ("blur", 6, 1.0),
    "blur 4 cells": ("blur", 4, 1.0),
    "blur 3 cells": ("blur", 3, 1.0),
    "blur 2 cells": ("blur", 2, 1.0),
    "blur 8 cells, region x1.2": ("blur", 8, 1.2),
    "blur 4 cells, region x1.2": ("blur", 4, 1.2),
    "blur 3 cells, region x1.2": ("blur", 3, 1.2),
    "blur 2 cells, region x1.2": ("blur", 2, 1.2),
    "blur 3 cells, region x1.4": ("blur", 3, 1.4),
    "pixelate 8 cells": ("pixelate", 8, 1.0),
    "pixelate 4 cells": ("pixelate", 4, 1.0),
    "pixelate 3 cells, region x1.2": ("pixelate", 3, 1.2),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "wider-val")
    ap.add_argument("--limit", type=int, default=50, help="WIDER val photos, spread over the events")
    ap.add_argument("--publish", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = ap.parse_args()
    images = read_wider(args.data / "wider_face_val_bbx_gt.txt", args.data / "images")
    images = [images[i] for i in spread(len(images), args.limit)]
    anon = Anonymizer(AnonymizerConfig(method="gan", seed=0), device="cpu")
    p = anon.config.painter
    classes = [c for c, _, _ in HEIGHT_CLASSES]
    hits: dict[str, dict[str, list[bool]]] = {}
    kept: dict[str, list[float]] = {}  # per image: share of the background (far from every face) unchanged
    counts = {"painted": 0, "filtered": 0}
    detector = independent_detector("cpu")  # AP kept: does the output still detect like faces (evaluate's)
    gts: list[np.ndarray] = []
    dets: dict[str, list[np.ndarray]] = {"original": []}
    t0 = time.perf_counter()
    for n, im in enumerate(images, 1):
        rgb = np.asarray(Image.open(im.path).convert("RGB"))
        found = anon.detect([rgb])[0]
        judged = anon.treat([rgb], [found])[0]
        seeds = anon.face_seeds(im.path.name, judged)
        painted = [(f, s) for f, s in zip(judged, seeds, strict=True) if f.treatment == PAINTED]
        rest = [f for f in judged if f.treatment != PAINTED]
        counts["painted"] += len(painted)
        counts["filtered"] += len(rest)
        base = anon.painter.paint([rgb], [[f for f, _ in painted]], [[s for _, s in painted]])[0]
        # paint all: every detection the generator can take (>= min_paint_face) painted, the tiny ones blurred
        # as --method blur does: the behaviour before the decision
        big = [(f, s) for f, s in zip(judged, seeds) if max(f.width, f.height) >= PaintConfig.min_paint_face]
        tiny = [f for f in judged if max(f.width, f.height) < PaintConfig.min_paint_face]
        everyone = anon.painter.paint([rgb], [[replace(f, treatment=PAINTED) for f, _ in big]], [[s for _, s in big]])
        outs = {"paint all (threshold 0)": apply_filter(everyone[0], tiny, "blur", p.mask_scale, p.feather)}
        for name, (method, cells, grow) in VARIANTS.items():
            outs[f"decision + {name}"] = apply_filter(base, rest, method, p.mask_scale * grow, p.feather, cells)
        near = np.concatenate([im.boxes, np.array([f.box for f in judged], np.float64).reshape(-1, 4)])
        gts.append(np.asarray(im.boxes, np.float32).reshape(-1, 4))
        dets["original"].append(detector(rgb))
        for name, out in outs.items():
            share = changed_share(changed_mask(rgb, out), im.boxes)
            per = hits.setdefault(name, {c: [] for c in classes})
            for box, ok in zip(im.boxes, covered(share)):
                per[height_class(box[3] - box[1])].append(bool(ok))
            kept.setdefault(name, []).append(background_score(rgb, out, near).kept)
            dets.setdefault(name, []).append(detector(out))
        print(f"{n}/{len(images)}  {time.perf_counter() - t0:.0f} s", end="\r", flush=True)
    print()
    ap0 = average_precision(gts, dets["original"])
    rows = [
        [name]
        + [f"{100 * np.mean(per[c]):.1f}" for c in classes]
        + [f"{100 * np.mean(kept[name]):.2f}", f"{100 * average_precision(gts, dets[name]) / ap0:.1f}"]
        for name, per in hits.items()
    ]
    n_gt = hits[next(iter(hits))]
    header = [f"covered {c} % (n={len(n_gt[c])})" for c in classes]
    table = markdown_table(["treatment of the rest", *header, "background kept %", "AP kept %"], rows)
    text = (
        f"{len(images)} WIDER val photos (spread over the events), default detector and paint decision "
        f"(O-Net >= {PaintConfig.paint_threshold}, under {PaintConfig.min_paint_face} px filtered): "
        f"{counts['painted']} detections painted, {counts['filtered']} filtered (the default for them: "
        f"{PaintConfig.rest} at {PaintConfig.rest_cells:g} cells, region x{PaintConfig.rest_grow:g}). Covered: >= 50 % "
        "of the ground-truth box changed by > 4 grey levels; background kept: pixels outside every ground-truth box "
        "and detection grown 2x that did not change; AP kept: the independent detector's AP (deepanon evaluate's) on "
        f"the output / on the original. Run {(time.perf_counter() - t0) / 60:.1f} min.\n\n{table}\n"
    )
    body = f"## Method gan: the filter for the detections it does not paint (benchmarks/rest_filter.py)\n\n{text}"
    publish("rest-filter", body, args.publish)


if __name__ == "__main__":
    main()
