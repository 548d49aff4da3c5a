"""What a process of `deepanon anonymize --method blur` costs when it never imports torch (today: no NVIDIA
device node, so --device auto is the CPU without asking torch) against the same run with torch imported first
(what every process paid before 2026-12-03), alternating, side by side in one run.

    python benchmarks/blur_startup.py [--runs 6] [--no-write]

One photo (samples/astronaut.jpg) per process: a folder run pays this once, `--jobs N` once per worker, a
script that calls deepanon per file once per file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import markdown_table, publish

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "today (no torch)": "from deepanon.cli import main; main()",
    "torch imported first (before)": "import torch; from deepanon.cli import main; main()",
}


def one_run(code: str, out: Path) -> float:
    args = ["anonymize", str(ROOT / "samples" / "astronaut.jpg"), "--method", "blur", "-o", str(out), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):  # alternate, so load changes hit both alike
            for name, code in VARIANTS.items():
                times[name].append(one_run(code, Path(tmp) / f"{i}-{list(VARIANTS).index(name)}"))
    base = statistics.median(times["torch imported first (before)"])
    rows = [
        [name, f"{statistics.median(t):.2f}", f"{min(t):.2f}", f"{statistics.median(t) / base:.2f}"]
        for name, t in times.items()
    ]
    table = markdown_table(["process", "median s", "fastest s", "x before"], rows)
    body = (
        "## Blur start-up without torch (benchmarks/blur_startup.py)\n\n"
        f"`deepanon anonymize samples/astronaut.jpg --method blur` as one process, {a.runs} runs of each, "
        f"alternating; load average {os.getloadavg()[0]:.1f} at the end.\n\n" + table
    )
    publish("blur-startup", body, not a.no_write, shown=table)


if __name__ == "__main__":
    main()
