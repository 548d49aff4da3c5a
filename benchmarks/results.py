"""Writing a benchmark's table into benchmarks/RESULTS.md, replacing that benchmark's previous section."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Measured results\n\n"
    "Each section is written by the script it names; re-run it to refresh. Numbers, date and machine are as measured.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section `name` of RESULTS.md with body, stamped with date and machine."""
    text = path.read_text() if path.exists() else HEADER
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    stamp = f"_{dt.datetime.now().strftime('%Y-%m-%d %H:%M')} · {machine()} · load average {load:.1f} when written_"
    block = f"<!-- section:{name} -->\n{body.strip()}\n\n{stamp}\n<!-- /section:{name} -->"
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def publish(name: str, body: str, write: bool = True, shown: str | None = None, path: Path = RESULTS) -> None:
    """Print `shown` (default: the body) and, unless the user asked for print only, write the section."""
    print(body if shown is None else shown)
    if write:
        write_section(name, body, path)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
