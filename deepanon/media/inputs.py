"""Turning the user's INPUT... and -o OUTPUT into a list of jobs: which file goes where.

A folder's tree is mirrored under OUTPUT (same relative paths, names and extensions); a file
goes to OUTPUT/<name>, or to OUTPUT itself when it is the only input and OUTPUT names a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from deepanon.media.atomic import is_temp_name
from deepanon.media.errors import os_reason
from deepanon.media.images import IMAGE_EXTENSIONS
from deepanon.media.video import VIDEO_EXTENSIONS

MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


class _SrcDst(Protocol):
    """What drop_collisions reads of a job: its input and its output (paths or URLs)."""

    @property
    def src(self) -> object: ...
    @property
    def dst(self) -> object: ...


J = TypeVar("J", bound=_SrcDst)


class UsageError(Exception):
    """The command line cannot be carried out as given (exit code 2)."""


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    rel: str  # the output path relative to OUTPUT: names the file in reports and seeds its faces

    @property
    def is_video(self) -> bool:
        return self.src.suffix.lower() in VIDEO_EXTENSIONS


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)  # inputs that cannot even be listed
    # files in input folders that are not images or videos (named in the report, counted in the summary)
    ignored: list[Path] = field(default_factory=list)


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


_APPLE_DOUBLE = b"\x00\x05\x16\x07"  # macOS "._name" resource-fork files: metadata, not a picture


def real_path(path: Path) -> Path:
    """The absolute path with links resolved as far as they go; never raises on a symlink loop (Path.resolve does)."""
    return Path(os.path.realpath(path))


def _is_apple_double(path: Path) -> bool:
    if not path.name.startswith("._"):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == _APPLE_DOUBLE
    except OSError:
        return False


def _walk(root: Path, plan: Plan) -> list[Path]:
    """Media files under root, sorted, following symlinked folders once (a loop is reported, not followed).

    Hidden files and folders are searched too: a hidden picture still shows people. Only deepanon's own
    temporaries and macOS AppleDouble files (resource forks named like the picture) are passed over."""
    found: list[Path] = []
    seen: set[str] = set()

    def on_error(err: OSError) -> None:
        plan.errors.append((Path(err.filename or root), os_reason(err)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            plan.errors.append((Path(dirpath), "symlink loop (folder already visited), not followed"))
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(dirnames)
        for name in sorted(filenames):
            if is_temp_name(name):
                continue  # our own temporary outputs
            path = Path(dirpath) / name
            if path.suffix.lower() not in MEDIA_EXTENSIONS or _is_apple_double(path):
                plan.ignored.append(path)
            elif path.is_symlink() and not path.exists():
                plan.errors.append((path, "broken symbolic link or symlink loop"))
            else:
                found.append(path)
    return found


def plan_jobs(inputs: list[Path], output: Path) -> Plan:
    """Raises UsageError when OUTPUT would land inside an input folder or on an input file."""
    if not inputs:
        raise UsageError("no INPUT given")
    out_abs = real_path(output)
    plan = Plan()
    single_file_target = len(inputs) == 1 and not inputs[0].is_dir() and output.suffix != "" and not output.is_dir()
    for inp in inputs:
        if not inp.exists():
            reason = "broken symbolic link or symlink loop" if inp.is_symlink() else "no such file or folder"
            plan.errors.append((inp, reason))
            continue
        inp_abs = real_path(inp)
        if inp.is_dir():
            if _is_inside(out_abs, inp_abs):
                raise UsageError(f"output {output} is inside input folder {inp}: choose an output outside it")
            for path in _walk(inp, plan):
                rel = path.relative_to(inp)
                plan.jobs.append(Job(path, output / rel, rel.as_posix()))
        elif single_file_target:
            plan.jobs.append(Job(inp, output, output.name))
        else:
            plan.jobs.append(Job(inp, output / inp.name, inp.name))
    plan.jobs = drop_collisions(plan.jobs, real_path, plan.errors)
    return plan


def drop_collisions(jobs: list[J], norm: Callable[[Any], Hashable], errors: list) -> list[J]:
    """Jobs (with .src and .dst) whose outputs are distinct and overwrite no input; a second job writing the same
    output is reported in `errors` and left out. `norm` makes paths (or URLs) comparable."""
    targets: dict[Hashable, J] = {}
    kept: list[J] = []
    sources = {norm(job.src) for job in jobs}
    for job in jobs:
        dst = norm(job.dst)
        if dst in sources:
            raise UsageError(f"output {job.dst} would overwrite an input")
        if dst in targets:
            errors.append((job.src, f"its output {job.dst} is also the output of {targets[dst].src}; skipped"))
            continue
        targets[dst] = job
        kept.append(job)
    return kept
