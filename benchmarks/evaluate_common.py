"""Shared by the evaluate_* benchmarks: run `deepanon evaluate`'s runner and put its report into RESULTS.md."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results import publish

from deepanon.evaluate.peers import DEFAULT_METHODS
from deepanon.evaluate.runner import EvalOptions, run_evaluation
from deepanon.geometry.masks import DEFAULT_MASK_SCALE

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def parser(doc: str, data: Path, limit: int) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data)
    ap.add_argument("--limit", type=int, default=limit, help=f"items, spread over the data (default {limit})")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--out", type=Path, default=Path("/tmp") / f"deepanon-{data.stem}-report")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mask-scale", type=float, default=DEFAULT_MASK_SCALE, help="deepanon's methods (as anonymize)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    return ap


def run(section: str, title: str, args: argparse.Namespace) -> None:
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found (the shared data sits beside the repository)")
    t0 = time.perf_counter()
    opts = EvalOptions(tuple(args.methods.split(",")), args.limit, args.device, args.seed, mask_scale=args.mask_scale)
    report, _ = run_evaluation(args.data, args.out, opts, progress=lambda m: print(m, end="\r", flush=True))
    minutes = (time.perf_counter() - t0) / 60
    text = report.read_text().split("\n", 1)[1].strip()  # drop the report's own title
    text = text.replace("\nPictures:", f"\nPictures (in {args.out}):")
    body = f"## {title}\n\nWhole run {minutes:.1f} min.\n\n{text}"
    publish(section, body, not args.no_write)
