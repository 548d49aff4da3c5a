"""Still a face? MTCNN's re-find rate of anonymized faces on the held-out validation photos, gan vs blur vs pixelate.

    python benchmarks/gan_refind.py [--data ../shared/data] [--threads 1] [--no-write]

Every validation photo of UTKFace and LFW (the split `deepanon prepare` never trains on) is anonymized with seed 0;
MTCNN alone then searches the result (deepanon/evaluate/refind.py). Writes the table to RESULTS.md and, for the
GAN, weights/refind.json: the rate of the shipped weights (tied to their SHA-256) on the whole split and on the
fixed subset tests/test_gan_refind.py re-measures, so weights that paint fewer findable faces fail the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import cv2
import torch
from results import markdown_table, publish, write_section

from deepanon.anonymize.gan import GanPainter
from deepanon.anonymize.pipeline import Anonymizer
from deepanon.config import PainterConfig
from deepanon.detect import FaceDetector
from deepanon.evaluate.refind import RefindResult, mtcnn_detector, refind, validation_photos
from deepanon.gan.weights import GENERATOR_PATH, sha256

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "weights" / "refind.json"
SOURCES = ("lfw-single", "utkface")
TEST_PER_SOURCE = 20  # the subset the test re-measures: the first 20 validation photos of each source
SEED = 0


def record(full: RefindResult, subset: RefindResult) -> dict:
    weights = GENERATOR_PATH
    return {
        "weights_sha256": sha256(weights),
        "measured": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "judge": "MTCNN alone at the run-time threshold; found = IoU >= 0.4 with the anonymized face's box",
        "seed": SEED,
        "sources": list(SOURCES),
        "full": {"faces": full.faces, "found_before": full.found_before, "found_after": full.found_after},
        "subset": {
            "per_source": TEST_PER_SOURCE,
            "faces": subset.faces,
            "found_before": subset.found_before,
            "found_after": subset.found_after,
        },
    }


def sweep(sources: list[Path], judge: FaceDetector, psis: list[float], no_write: bool) -> None:
    """MTCNN re-find rate of the GAN per truncation psi (the choice behind PainterConfig.truncation)."""
    photos = validation_photos(sources, per_source=50)
    anon = Anonymizer(method="gan", device="cpu", seed=SEED)
    rows = []
    for psi in psis:
        anon.painter = GanPainter(device="cpu", truncation=psi)
        res = refind(photos, anon, judge)
        rows.append([psi, res.faces, f"{100 * res.rate_after:.1f} %"])
        print(rows[-1], flush=True)
    table = markdown_table(["truncation psi", "faces", "MTCNN finds anonymized"], rows)
    body = (
        "## GAN truncation: MTCNN re-find rate per psi (benchmarks/gan_refind.py --truncation)\n\n"
        f"First 50 held-out photos of each of {', '.join(SOURCES)}, seed 0. psi 1 = no truncation; the default is "
        f"{PainterConfig.truncation}.\n\n{table}"
    )
    publish("gan_refind-truncation", body, not no_write, shown=table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", default="gan,blur,pixelate")
    ap.add_argument(
        "--truncation",
        default="",
        help="instead: compare truncation psi values (e.g. 1.0,0.7,0.5) for the GAN on 50 photos per source",
    )
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md or weights/")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    sources = [a.data / s for s in SOURCES]
    photos = validation_photos(sources)
    subset = validation_photos(sources, per_source=TEST_PER_SOURCE)
    judge = mtcnn_detector()
    if a.truncation:
        sweep(sources, judge, [float(v) for v in a.truncation.split(",")], a.no_write)
        return
    rows, gan = [], None
    for method in a.methods.split(","):
        anon = Anonymizer(method=method, device="cpu", seed=SEED)
        res = refind(photos, anon, judge)
        rows.append(
            [method, res.faces, f"{100 * res.rate_before:.1f} %", f"{100 * res.rate_after:.1f} %"]
            + [f"{100 * res.rate_after / max(res.rate_before, 1e-9):.1f} %"]
        )
        print(rows[-1], flush=True)
        if method == "gan":
            gan = (res, refind(subset, anon, judge))
    table = markdown_table(["method", "faces", "MTCNN finds original", "finds anonymized", "kept"], rows)
    gan_card = json.loads(GENERATOR_PATH.with_suffix(".json").read_text())
    body = (
        "## Still a face: MTCNN re-find rate (benchmarks/gan_refind.py)\n\n"
        f"The main face of every held-out validation photo ({len(photos)} photos of {', '.join(SOURCES)}; never "
        "trained on) anonymized with seed 0, then searched by MTCNN alone; found = IoU >= 0.4 with the face's box. "
        f"GAN weights: {gan_card.get('kimg')} kimg at {gan_card.get('resolution')} px.\n\n{table}"
    )
    print(table)
    if a.no_write:
        return
    write_section("gan_refind", body)
    if gan is not None:
        RECORD.write_text(json.dumps(record(*gan), indent=2) + "\n")
        print(f"wrote {RECORD}")


if __name__ == "__main__":
    main()
