"""How strong must `--method blur` be? Cells across the face against identity and detectability on held-out photos.

    python benchmarks/filter_strength.py [--limit 150] [--cells 8,6,5,4] [--no-write]

The blur's strength is tied to the detected face's size (anonymize/filters.py: the face is averaged down to about
`cells` cells across, then smoothed back up). CenterFace, the default detector since issue 17, gives tighter boxes
than the MTCNN + CenterFace union it replaced, and a face that fills the frame (a close-up, UTKFace's crops) gets a
box cut at the image's edge: the same cell count then blurs less. Per setting, `deepanon evaluate` on the validation
split of LFW and UTKFace (never trained on; --limit photos spread over it): AP kept of the independent detector,
dlib "still the same person" and identity distance; the old detector at 8 cells as the reference it was tuned on,
and deface's blur beside. Writes RESULTS.md's section `filter-strength`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from evaluate_faces import link_validation
from results import markdown_table, publish

from deepanon.anonymize import filters
from deepanon.config import AnonymizerConfig
from deepanon.evaluate.runner import EvalOptions, run_evaluation

KEYS = ("ap_ratio", "still_same", "identity_distance", "coverage")


def at_cells(fn: filters.Filter, n: float) -> filters.Filter:
    """`fn` at n cells across the face, whatever its caller asks."""
    return lambda roi, size, _cells: fn(roi, size, n)


def measure(photos: Path, limit: int, method: str, cells: float | None, config: AnonymizerConfig, out: Path) -> dict:
    """One evaluation of `method` with the blur at `cells` cells across the face (None: as shipped)."""
    shipped = filters.FILTERS["blur"]
    if cells is not None:
        filters.FILTERS["blur"] = at_cells(shipped, cells)
    try:
        run_evaluation(photos, out, EvalOptions((method,), limit, "cpu", 0, config=config))
    finally:
        filters.FILTERS["blur"] = shipped
    r = json.loads((out / "report.json").read_text())["methods"][0]
    return {k: r[k] for k in KEYS if k in r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--cells", default="8,6,5,4")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="deepanon-filter-strength-"))
    photos = link_validation(work / "validation", 0)
    default = AnonymizerConfig()
    old = replace(default, detector=replace(default.detector, detectors=("mtcnn", "centerface")))
    runs: list[tuple[str, str, str, float | None, AnonymizerConfig]] = [
        ("MTCNN + CenterFace (before issue 17)", "blur", "8", 8.0, old)
    ]
    runs += [("CenterFace (default)", "blur", c, float(c), default) for c in a.cells.split(",")]
    runs += [("deface", "deface-blur", "-", None, default)]
    rows = []
    for i, (detector, method, cells, n, config) in enumerate(runs):
        m = measure(photos, a.limit, method, n, config, work / f"run{i}")
        rows.append(
            [detector, method, cells, f"{100 * m['ap_ratio']:.1f}", f"{100 * m['still_same']:.1f}"]
            + [f"{m['identity_distance']:.3f}"]
        )
        print(rows[-1], flush=True)
    header = ["detector", "method", "cells across the face", "AP kept %", "dlib same person %", "id distance"]
    body = (
        "## Blur strength against the detector's boxes (benchmarks/filter_strength.py)\n\n"
        f"{a.limit} validation photos of LFW and UTKFace (spread over the split, never trained on), one face each, "
        "seed 0; AP kept of the independent detector (CenterFace at deface's settings) and dlib's 'still the same "
        f"person' at the original's landmarks, as `deepanon evaluate` reports them. Run "
        f"{(time.perf_counter() - t0) / 60:.1f} min.\n\n" + markdown_table(header, rows)
    )
    publish("filter-strength", body, not a.no_write)


if __name__ == "__main__":
    main()
