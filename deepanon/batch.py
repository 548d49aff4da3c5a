"""Running a plan of jobs: skip what is done, anonymize the rest, report each file, summarize.

A bad file never stops the batch: it is named on stderr with the reason, and the run goes on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from deepanon.anonymize.files import FileOptions, FileResult, anonymize_file
from deepanon.anonymize.pipeline import Anonymizer
from deepanon.media.errors import MediaError
from deepanon.media.inputs import Job, Plan


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    faces: int = 0
    frames: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MediaError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"internal error ({type(exc).__name__}: {exc})"


def _record(job: Job, status: str, method: str, seconds: float, result: FileResult | None, error: str | None) -> dict:
    rec: dict = {"input": str(job.src), "output": str(job.dst), "status": status, "method": method}
    if result is not None:
        if result.frames is None:
            rec["faces"] = [f.to_json() for f in result.faces]
        else:
            rec["frames"] = result.frames
            rec["face_detections"] = result.face_count
        if result.warnings:
            rec["warnings"] = result.warnings
    if error is not None:
        rec["error"] = error
    rec["seconds"] = round(seconds, 3)
    return rec


def run_batch(
    plan: Plan,
    anon: Anonymizer,
    opts: FileOptions,
    *,
    overwrite: bool = False,
    report: IO[str] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
) -> Summary:
    console = console or Console(stderr=True)
    summary = Summary()
    t_start = time.perf_counter()
    for path, reason in plan.errors:
        console.print(f"[red]error[/red] {path}: {reason}", highlight=False, soft_wrap=True)
        summary.failed += 1
        summary.failures.append(f"{path}: {reason}")
        if report is not None:
            report.write(json.dumps({"input": str(path), "status": "failed", "error": reason}) + "\n")
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[frames]} frames, {task.fields[faces]} faces"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("anonymizing", total=len(plan.jobs), frames=0, faces=0, rate="")

        def on_frames(n_frames: int, n_faces: int) -> None:
            summary.frames += n_frames
            summary.faces += n_faces
            elapsed = max(time.perf_counter() - t_start, 1e-6)
            progress.update(
                task, frames=summary.frames, faces=summary.faces, rate=f"{summary.frames / elapsed:.1f} fps"
            )

        for job in plan.jobs:
            t0 = time.perf_counter()
            result: FileResult | None = None
            error: str | None = None
            if job.dst.exists() and not overwrite:
                status = "skipped"
                summary.skipped += 1
            else:
                try:
                    result = anonymize_file(anon, job.src, job.dst, job.rel, opts, on_frames)
                    status = "done"
                    summary.done += 1
                    if result.frames is None:
                        summary.faces += result.face_count
                    for w in result.warnings:
                        console.print(f"[yellow]warning[/yellow] {job.src}: {w}", highlight=False, soft_wrap=True)
                except KeyboardInterrupt:
                    console.print(
                        f"[red]interrupted[/red] while on {job.src}; no partial output was left", highlight=False
                    )
                    raise
                except Exception as exc:  # a bad file must not stop the batch
                    status = "failed"
                    error = _reason(exc)
                    summary.failed += 1
                    summary.failures.append(f"{job.src}: {error}")
                    console.print(f"[red]error[/red] {job.src}: {error}", highlight=False, soft_wrap=True)
            if report is not None:
                report.write(
                    json.dumps(_record(job, status, anon.config.method, time.perf_counter() - t0, result, error)) + "\n"
                )
                report.flush()
            elapsed = max(time.perf_counter() - t_start, 1e-6)
            done = summary.done + summary.skipped + summary.failed - len(plan.errors)
            progress.update(task, advance=1, faces=summary.faces, rate=f"{done / elapsed:.2f} files/s")
    summary.seconds = time.perf_counter() - t_start
    return summary
