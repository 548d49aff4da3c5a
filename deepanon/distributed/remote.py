"""Inputs and outputs given as URLs (s3://, gs://, file://, ... any fsspec filesystem whose package is installed).

Planning lists them with fsspec by the same rules as local folders (recursive, media files only, hidden names
skipped, the tree mirrored under OUTPUT). A worker downloads each input to a local temporary file, anonymizes it
with the single-process code, and uploads the result under a hidden temporary name that is then moved onto the
output name, so readers never see half an object.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from deepanon.anonymize.pipeline import Anonymizer
from deepanon.batch import Outcome, Status, run_job
from deepanon.media.atomic import TMP_MARKER, is_temp_name
from deepanon.media.errors import os_reason
from deepanon.media.inputs import MEDIA_EXTENSIONS, Job, UsageError, drop_collisions

if TYPE_CHECKING:  # fsspec comes with the ray extra
    from fsspec import AbstractFileSystem

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")  # two letters at least: C:\ is a Windows path, not a URL


def is_url(path: str) -> bool:
    return bool(_URL.match(path))


def _fs(url: str) -> tuple[AbstractFileSystem, str]:  # (filesystem, path within it)
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # unknown protocol, or its package (s3fs, gcsfs, ...) not installed
        raise UsageError(f"cannot open {url}: {exc}") from None


@dataclass(frozen=True)
class Task:
    """One file for a worker: src and dst are absolute local paths or URLs; rel names it in seeds (as Job.rel)."""

    src: str
    dst: str
    rel: str


@dataclass
class UrlPlan:
    tasks: list[Task] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # non-media files (named in the report)


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel


def _norm(url: str) -> str:
    fs, path = _fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{path.rstrip('/')}"


def plan_urls(inputs: list[str], output: str) -> UrlPlan:
    """Like media.inputs.plan_jobs, for inputs or output given as URLs (local paths may be mixed in)."""
    if not inputs:
        raise UsageError("no INPUT given")
    plan = UrlPlan()
    out_norm = _norm(output)
    out_fs, out_path = _fs(output)
    single_file_target = (
        len(inputs) == 1 and posixpath.splitext(output.rstrip("/"))[1] != "" and not out_fs.isdir(out_path)
    )
    for inp in inputs:
        fs, path = _fs(inp)
        if fs.isdir(path):
            if (out_norm + "/").startswith(_norm(inp) + "/"):
                raise UsageError(f"output {output} is inside input folder {inp}: choose an output outside it")
            for found in sorted(fs.find(path)):
                rel = posixpath.relpath(found, path.rstrip("/"))
                if any(is_temp_name(part) for part in rel.split("/")):
                    continue  # our own temporary outputs (hidden files are pictures too: done)
                if posixpath.splitext(rel)[1].lower() not in MEDIA_EXTENSIONS:
                    plan.ignored.append(_join(inp, rel))
                    continue
                plan.tasks.append(Task(_join(inp, rel), _join(output, rel), rel))
        elif fs.isfile(path):
            name = posixpath.basename(path)
            if single_file_target:
                plan.tasks.append(Task(inp, output, posixpath.basename(output.rstrip("/"))))
            else:
                plan.tasks.append(Task(inp, _join(output, name), name))
        else:
            plan.errors.append((inp, "no such file or folder"))
    plan.tasks = drop_collisions(plan.tasks, _norm, plan.errors)
    return plan


def _transfer_reason(what: str, exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{what} failed ({os_reason(exc)})"
    return f"{what} failed ({type(exc).__name__}: {exc})"


def _upload(local: Path, fs: AbstractFileSystem, path: str) -> None:
    """Upload under a hidden temporary name, check its size, then move it onto `path` (a rename where the
    filesystem has one; on object stores a server-side copy, which is itself all-or-nothing)."""
    parent, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    tmp = posixpath.join(parent, f".{stem[:32]}{TMP_MARKER}{uuid.uuid4().hex[:8]}{ext[:10]}")
    try:
        fs.makedirs(parent, exist_ok=True)  # a no-op on object stores
        fs.put_file(str(local), tmp)
        if fs.size(tmp) != local.stat().st_size:
            raise OSError(f"uploaded size of {tmp} does not match")
        fs.mv(tmp, path)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except Exception:  # noqa: S110 - best effort: the original error matters more
            pass
        raise


def run_task(anon: Anonymizer, task: Task, *, overwrite: bool = False) -> Outcome:
    """One task with the single-process semantics (skip existing, atomic write), URLs staged through a temp dir."""
    src_url, dst_url = is_url(task.src), is_url(task.dst)
    if not (src_url or dst_url):
        return run_job(anon, Job(Path(task.src), Path(task.dst), task.rel), overwrite=overwrite)
    t0 = time.perf_counter()
    try:
        dst_fs, dst_path = _fs(task.dst) if dst_url else (None, task.dst)
        exists = dst_fs.exists(dst_path) if dst_fs is not None else Path(task.dst).exists()
        if exists and not overwrite:  # checked before downloading anything
            return Outcome(Status.skipped, seconds=time.perf_counter() - t0)
        with tempfile.TemporaryDirectory(prefix="deepanon-") as tmp:
            # the staged files keep the real names: formats are picked by extension
            local_src = Path(task.src)
            if src_url:
                src_fs, src_path = _fs(task.src)
                local_src = Path(tmp, "in", posixpath.basename(src_path))
                local_src.parent.mkdir()
                try:
                    src_fs.get_file(src_path, str(local_src))
                except Exception as exc:
                    return Outcome(Status.failed, time.perf_counter() - t0, _transfer_reason("download", exc))
            local_dst = Path(tmp, "out", posixpath.basename(dst_path)) if dst_fs is not None else Path(task.dst)
            outcome = run_job(anon, Job(local_src, local_dst, task.rel), overwrite=overwrite or dst_url)
            if outcome.status is Status.done and dst_fs is not None:
                try:
                    _upload(local_dst, dst_fs, dst_path)
                except Exception as exc:
                    outcome = Outcome(Status.failed, error=_transfer_reason("upload", exc))
    except UsageError as exc:
        return Outcome(Status.failed, time.perf_counter() - t0, str(exc))
    outcome.seconds = time.perf_counter() - t0
    return outcome


def absolute(path: str) -> str:
    """Local paths made absolute (workers may run in another directory); URLs unchanged."""
    return path if is_url(path) else os.path.abspath(path)
