"""Phantom faces (faces invented where the original shows none), coverage and the largest faces, per method, with
deface beside: WIDER val photos, a crowded pan made from WIDER photos (as video_small_faces.py makes them) and the
hamilton clip. Every number comes from `deepanon evaluate` (deepanon/evaluate/phantoms.py defines a phantom).

    python benchmarks/phantom_faces.py --label before   # run, keep the numbers in /tmp/deepanon-phantoms/before.json
    python benchmarks/phantom_faces.py --label after --compare before,after --publish   # both runs in RESULTS.md
    python benchmarks/phantom_faces.py --label old --config old.toml --methods gan   # other settings (evaluate's)

WIDER pictures stay in the report folders under /tmp (never committed: a sheet of WIDER faces is a copy of data).
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image
from results import markdown_table, publish
from video_small_faces import crowded, pan

from deepanon.config import AnonymizerConfig, load_config
from deepanon.evaluate.runner import EvalOptions, run_evaluation
from deepanon.evaluate.wider import HEIGHT_CLASSES, read_wider

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORK = Path("/tmp/deepanon-phantoms")


def make_pan(data: Path, dst: Path, images: int, frames: int, travel: float = 0.15) -> Path:
    """Crowded WIDER photos as consecutive horizontal pans, one H.264 clip (CRF 12: the codec adds little)."""
    chosen = crowded(read_wider(data / "wider_face_val_bbx_gt.txt", data / "images"), images)
    clips = [pan(np.asarray(Image.open(im.path).convert("RGB")), im.boxes, frames, travel)[0] for im in chosen]
    h = min(c[0].shape[0] for c in clips) // 2 * 2
    w = min(c[0].shape[1] for c in clips) // 2 * 2
    with av.open(str(dst), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt, s.options = w, h, "yuv420p", {"crf": "12"}
        for clip in clips:
            for fr in clip:
                out.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr[:h, :w]), format="rgb24")))
        out.mux(s.encode())
    return dst


def summarize(report: Path) -> dict:
    data = json.loads((report.parent / "report.json").read_text())
    keep = (
        "method",
        "images",
        "frames_out",
        "phantoms",
        "phantoms_per_100",
        "phantoms_per_frame",
        "coverage",
        "ap_ratio",
        "largest",
        "painted",
        "filtered",
        "holes",
    )
    return {m["method"]: {k: m[k] for k in keep if k in m} for m in data["methods"]}


def run(args: argparse.Namespace) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    methods = tuple(args.methods.split(","))
    config = load_config(args.config) if args.config else AnonymizerConfig()
    out: dict = {"detector": repr(config.detector), "paint": repr(config.paint), "seconds": {}}
    sets = args.sets.split(",")
    jobs = [("wider", args.data, args.wider_limit)] if "wider" in sets else []
    if args.pan_images and "pan" in sets:
        jobs.append(("pan", make_pan(args.data, WORK / "pan.mp4", args.pan_images, args.pan_frames), 0))
    if args.clip_frames and "hamilton" in sets:
        jobs.append(("hamilton", args.clip, args.clip_frames))
    for name, src, limit in jobs:
        t0 = time.perf_counter()
        report, _ = run_evaluation(
            src,
            WORK / f"{args.label}-{name}",
            EvalOptions(methods, limit, "cpu", 0, config=config, mask_scale=config.painter.mask_scale),
            lambda m: print(m, end="\r"),
        )
        out[name] = summarize(report)
        out["seconds"][name] = round(time.perf_counter() - t0)
        print(f"{name}: {out['seconds'][name]} s")
    (WORK / f"{args.label}.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def _f(v: float | None, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{100 * v:.1f}" if pct else f"{v:.2f}"


def tables(runs: list[tuple[str, dict]]) -> str:
    classes = [c for c, _, _ in HEIGHT_CLASSES]
    rows = []
    for label, res in runs:
        for m, r in res.get("wider", {}).items():
            rows.append(
                [label, m, r["phantoms"], _f(r["phantoms_per_100"]), r.get("painted", 0), _reasons(r.get("filtered"))]
                + [_f(r["coverage"].get(c), True) for c in classes]
                + [_f(r["ap_ratio"], True)]
            )
    wider = markdown_table(
        ["run", "method", "phantoms", "per 100 images", "painted", "filtered"]
        + [f"covered {c} %" for c in classes]
        + ["AP ratio %"],
        rows,
    )
    vids = []
    for label, res in runs:
        for clip in ("pan", "hamilton"):
            for m, r in res.get(clip, {}).items():
                vids.append(
                    [label, clip, m, r["frames_out"], r["phantoms"], _f(r["phantoms_per_frame"])]
                    + [_f(r["coverage"], True), r["holes"], r.get("painted", 0), _reasons(r.get("filtered"))]
                )
    video = markdown_table(
        ["run", "clip", "method", "frames", "phantoms", "per frame", "covered %", "holes", "tracks painted",
         "tracks filtered"],
        vids,
    )  # fmt: skip
    big = []
    for label, res in runs:
        for m, r in res.get("wider", {}).items():
            lg = r.get("largest") or {}
            big.append(
                [label, m, int(lg.get("faces", 0)), _f(lg.get("min_height"))]
                + [_f(lg.get("ap_ratio"), True), _f(lg.get("identity_distance")), _f(lg.get("landmark_shift"))]
            )
    largest = markdown_table(
        ["run", "method", "faces", "smallest px", "AP ratio %", "id distance", "landmark shift"], big
    )
    return (
        f"WIDER val photos:\n\n{wider}\n\nVideo (pan: crowded WIDER photos panned; hamilton: the shared clip):\n\n"
        f"{video}\n\nThe largest WIDER faces of the set:\n\n{largest}"
    )


def _reasons(d: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((d or {}).items())) or "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", required=True)
    ap.add_argument("--data", type=Path, default=SHARED / "wider-val")
    ap.add_argument("--clip", type=Path, default=SHARED / "video" / "short_hamilton_clip.mp4")
    ap.add_argument("--wider-limit", type=int, default=100)
    ap.add_argument("--pan-images", type=int, default=2)
    ap.add_argument("--pan-frames", type=int, default=24)
    ap.add_argument("--clip-frames", type=int, default=90)
    ap.add_argument("--methods", default="gan,blur,deface-blur")
    ap.add_argument("--config", type=Path, help="deepanon's settings (a TOML or JSON file, as evaluate --config)")
    ap.add_argument("--sets", default="wider,pan,hamilton", help="which data sets to run (comma-separated)")
    ap.add_argument("--publish", action="store_true", help="write the tables (--compare, or this run) into RESULTS.md")
    ap.add_argument("--tables-only", action="store_true", help="no run: tables from the saved JSON")
    ap.add_argument("--compare", default="", help="runs (labels) side by side in the tables, e.g. before,after")
    args = ap.parse_args()
    if not args.tables_only:
        run(args)
    if args.publish or args.tables_only:
        labels = args.compare.split(",") if args.compare else [args.label]
        runs = [(name, json.loads((WORK / f"{name}.json").read_text())) for name in labels]
        last = runs[-1][1]
        body = (
            "## Phantom faces and the largest faces (benchmarks/phantom_faces.py)\n\n"
            f"Detector settings ({runs[-1][0]}): `{last['detector']}`. Runs: {', '.join(labels)}. Seconds per data "
            f"set ({runs[-1][0]}): "
            + ", ".join(f"{k} {v}" for k, v in last["seconds"].items())
            + ".\n\n"
            + tables(runs)
        )
        publish("phantom-faces", body, True)


if __name__ == "__main__":
    main()
