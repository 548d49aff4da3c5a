"""Method gan on video: what the paint decision and the rest's filter do to flicker, identity stability and phantom
faces on the hamilton clip (`deepanon evaluate`'s video metrics), one setting per run of this script.

    python benchmarks/video_paint_ab.py --rest-cells 3 --rest-grow 1.2 [--paint-threshold 0.9] [--frames 120]
        [--set painter.sharpen=0 ...]

Each run prints one row and keeps it in /tmp/deepanon-video-ab/rows.json; --publish writes every kept row into
RESULTS.md (run the settings to compare first).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from results import markdown_table, publish

from deepanon.config import AnonymizerConfig, PaintConfig
from deepanon.evaluate.runner import EvalOptions, run_evaluation

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORK = Path("/tmp/deepanon-video-ab")
KEYS = ("coverage", "holes", "flicker", "stability_within", "identity_distance", "phantoms", "painted")


def _value(text: str) -> object:
    """A --set value: JSON where it parses (0, 0.5, true, [..]), else the plain string (painter.rest=pixelate)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=SHARED / "video" / "short_hamilton_clip.mp4")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rest-cells", type=float, default=PaintConfig.rest_cells)
    ap.add_argument("--rest-grow", type=float, default=PaintConfig.rest_grow)
    ap.add_argument("--paint-threshold", type=float, default=PaintConfig.paint_threshold)
    ap.add_argument("--detectors", default="", help="e.g. mtcnn,centerface (default: today's)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="PATH=VALUE", help="any other setting, e.g. painter.sharpen=0"
    )
    ap.add_argument("--publish", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows_path = WORK / "rows.json"
    rows = json.loads(rows_path.read_text()) if rows_path.exists() else {}
    if not args.publish:
        base = AnonymizerConfig()
        det = replace(base.detector, detectors=tuple(args.detectors.split(","))) if args.detectors else base.detector
        paint = replace(
            base.paint, rest_cells=args.rest_cells, rest_grow=args.rest_grow, paint_threshold=args.paint_threshold
        )
        name = f"paint >= {args.paint_threshold:g}, rest blur {args.rest_cells:g} cells x{args.rest_grow:g}"
        name += f", {args.detectors}" if args.detectors else ""
        name += "".join(f", {s}" for s in args.set)
        config = replace(base, detector=det, paint=paint).with_values(
            {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
        )
        opts = EvalOptions(("gan",), args.frames, "cpu", 0, config=config)
        report, _ = run_evaluation(args.clip, WORK / name.replace(" ", "_"), opts, lambda m: None)
        res = json.loads((report.parent / "report.json").read_text())["methods"][0]
        rows[name] = {k: res.get(k) for k in KEYS}
        rows_path.write_text(json.dumps(rows, indent=1))
        print(name, rows[name])
        return
    table = markdown_table(
        ["method gan", *KEYS],
        [[n, *(f"{v:.3g}" if isinstance(v, float) else v for v in r.values())] for n, r in rows.items()],
    )
    body = (
        "## Video: the paint decision and the rest's filter (benchmarks/video_paint_ab.py)\n\n"
        f"The hamilton clip's first {args.frames} frames, method gan, seed 0, today's detector; one setting changed "
        "per row (paint >= 0: every track painted, as before the decision; a detector list: instead of CenterFace "
        "alone; PATH=VALUE: that setting). flicker: frame-to-frame change inside "
        "the faces / the original's; stability_within: dlib distance between samples of one track.\n\n" + table
    )
    publish("video-paint-ab", body, True)


if __name__ == "__main__":
    main()
