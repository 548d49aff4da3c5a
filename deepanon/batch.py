"""Running a plan of jobs: skip what is done, anonymize the rest, report each file, summarize.

A bad file never stops the batch: it is named on stderr with the reason, and the run goes on.
`run_job` does one job and says what happened (an `Outcome`); `BatchReporter` turns outcomes into the progress
bar, stderr lines, report lines and the `Summary`. Both engines share them: `run_batch` here (one process) and
deepanon.distributed.ray (outcomes come back from Ray workers).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType
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
from rich.text import Text

from deepanon import __version__
from deepanon.anonymize.files import FileResult, anonymize_file
from deepanon.anonymize.pipeline import Anonymizer
from deepanon.config import AnonymizerConfig
from deepanon.media.atomic import remove_stale
from deepanon.media.errors import MediaError, os_reason
from deepanon.media.inputs import Job, Plan
from deepanon.pool import parallel_outcomes

log = logging.getLogger(__name__)


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    face_count: int = 0  # faces replaced (videos: detections over all frames)
    frames: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    treatments: dict[str, int] = field(default_factory=dict)  # method gan: regions painted / filtered, per reason

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


class Status(str, Enum):
    """What happened to one input (a str: JSON and the report write the plain word)."""

    done = "done"
    skipped = "skipped"
    failed = "failed"


@dataclass
class Outcome:
    """What happened to one job. Plain data (JSON-able), so it can come back from another process."""

    status: Status
    seconds: float = 0.0
    error: str | None = None
    face_count: int = 0  # images: faces replaced; videos: detections over all frames (also those before a failure)
    frames: int = 0
    warnings: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # the report's per-file fields (faces, or frames + face_detections)
    treatments: dict[str, int] = field(default_factory=dict)  # method gan: FileResult.treatments

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # also from the plain string of a JSON round trip (Ray)


def say(console: Console, label: str, style: str, message: str) -> None:
    """One stderr line: a coloured label, then `message` verbatim. Paths are never parsed as rich markup or
    emoji codes ("photo [edited].png", "album[/x", ":tada:" print as they are)."""
    console.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True, emoji=False)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MediaError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_reason(exc)  # path-free and lower case, as MediaError reasons are
    return internal_error(exc)


def internal_error(exc: BaseException) -> str:
    """One line for a bug (not bad input); its traceback goes to the debug log (--verbose)."""
    log.debug("internal error", exc_info=exc)
    hint = "" if log.isEnabledFor(logging.DEBUG) else "; rerun with --verbose for the traceback"
    return f"internal error ({type(exc).__name__}: {exc}{hint})"


def _details(result: FileResult) -> dict:
    rec: dict = {}
    if result.frames is None:
        rec["faces"] = [f.to_json() for f in result.faces]
    else:
        rec["frames"] = result.frames
        rec["face_detections"] = result.face_count
    if result.treatments:
        rec["treatments"] = dict(sorted(result.treatments.items()))
    if result.warnings:
        rec["warnings"] = result.warnings
    return rec


def run_job(
    anon: Anonymizer,
    job: Job,
    *,
    overwrite: bool = False,
    on_frames: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Skip (output exists), or anonymize job.src into job.dst. Never raises for a bad file (KeyboardInterrupt does)."""
    t0 = time.perf_counter()
    if job.dst.exists() and not overwrite:
        remove_stale(job.dst)  # a run killed during an --overwrite of this output left its temporary
        return Outcome(Status.skipped, seconds=time.perf_counter() - t0)
    streamed = [0, 0]  # video frames and faces so far: kept when the video fails half-way

    def count(n_frames: int, n_faces: int) -> None:
        streamed[0] += n_frames
        streamed[1] += n_faces
        if on_frames is not None:
            on_frames(n_frames, n_faces)

    try:
        result = anonymize_file(anon, job.src, job.dst, job.rel, count)
    except Exception as exc:  # a bad file must not stop the batch
        return Outcome(
            Status.failed, time.perf_counter() - t0, _reason(exc), face_count=streamed[1], frames=streamed[0]
        )
    return Outcome(
        Status.done,
        time.perf_counter() - t0,
        face_count=result.face_count,
        frames=result.frames or 0,
        warnings=list(result.warnings),
        details=_details(result),
        treatments=dict(result.treatments),
    )


class BatchReporter:
    """Progress bar, stderr lines, one report line per input and the Summary, from outcomes in any order.

    >>> with BatchReporter(len(plan.jobs), plan.errors, config) as rep:
    ...     rep.add(job.src, job.dst, outcome)
    >>> rep.summary
    """

    def __init__(
        self,
        total: int,
        errors: Sequence[tuple[Path | str, str]],
        config: AnonymizerConfig,
        *,
        report: IO[str] | None = None,
        console: Console | None = None,
        show_progress: bool = True,
        ignored: Sequence[Path | str] = (),
    ) -> None:
        self.console = console or Console(stderr=True)
        self._ignored = ignored  # non-media files of the input folders: one report line each
        self.summary = Summary()
        self._total, self._errors, self._report = total, errors, report
        self._config, self._method = config, config.method
        self._live = [0, 0]  # frames and faces streamed (on_frames) for the file in progress
        self._t_start = time.perf_counter()
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
        self._progress = Progress(*columns, console=self.console, disable=not show_progress, transient=False)

    def __enter__(self) -> BatchReporter:
        self._t_start = time.perf_counter()
        summary = self.summary
        # the report's first line: the whole configuration (deepanon anonymize --config takes it back)
        self._write({"deepanon": __version__, "config": self._config.to_dict()})
        for path, reason in self._errors:
            say(self.console, "error", "red", f"{path}: {reason}")
            summary.failed += 1
            summary.failures.append(f"{path}: {reason}")
            self._write({"input": str(path), "status": "failed", "error": reason})
        for path in self._ignored:  # so a report names every file that was not anonymized
            self._write({"input": str(path), "status": "ignored", "reason": "not an image or video (by extension)"})
        self._progress.__enter__()
        self._task = self._progress.add_task("anonymizing", total=self._total, frames=0, faces=0, rate="")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)
        self.summary.seconds = time.perf_counter() - self._t_start

    def _elapsed(self) -> float:
        return max(time.perf_counter() - self._t_start, 1e-6)

    def _write(self, rec: dict) -> None:
        if self._report is not None:
            self._report.write(json.dumps(rec) + "\n")
            self._report.flush()

    def on_frames(self, n_frames: int, n_faces: int) -> None:
        """Live progress inside one video (single-process engine)."""
        s = self.summary
        s.frames += n_frames
        s.face_count += n_faces
        self._live[0] += n_frames
        self._live[1] += n_faces
        self._progress.update(
            self._task, frames=s.frames, faces=s.face_count, rate=f"{s.frames / self._elapsed():.1f} fps"
        )

    def add(self, src: Path | str, dst: Path | str, outcome: Outcome) -> None:
        s = self.summary
        # what on_frames already counted for this file is not counted twice
        s.frames += outcome.frames - self._live[0]
        s.face_count += outcome.face_count - self._live[1]
        self._live = [0, 0]
        for k, v in outcome.treatments.items():
            s.treatments[k] = s.treatments.get(k, 0) + v
        if outcome.status is Status.done:
            s.done += 1
            for w in outcome.warnings:
                say(self.console, "warning", "yellow", f"{src}: {w}")
        elif outcome.status is Status.skipped:
            s.skipped += 1
        else:
            s.failed += 1
            s.failures.append(f"{src}: {outcome.error}")
            say(self.console, "error", "red", f"{src}: {outcome.error}")
        rec: dict = {"input": str(src), "output": str(dst), "status": outcome.status.value, "method": self._method}
        rec.update(outcome.details)
        if outcome.error is not None:
            rec["error"] = outcome.error
        rec["seconds"] = round(outcome.seconds, 3)
        self._write(rec)
        done = s.done + s.skipped + s.failed - len(self._errors)
        self._progress.update(
            self._task, advance=1, frames=s.frames, faces=s.face_count, rate=f"{done / self._elapsed():.2f} files/s"
        )


def run_batch(
    plan: Plan,
    anon: Anonymizer,
    *,
    overwrite: bool = False,
    report: IO[str] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    jobs: int = 1,
) -> Summary:
    """jobs > 1: images by that many worker processes (deepanon.pool); the same outputs, report and summary."""

    reporter = BatchReporter(
        len(plan.jobs),
        plan.errors,
        anon.config,
        report=report,
        console=console,
        show_progress=show_progress,
        ignored=plan.ignored,
    )

    def here(job: Job) -> Outcome:
        return run_job(anon, job, overwrite=overwrite, on_frames=reporter.on_frames)

    def broken(job: Job) -> Outcome:
        return Outcome(Status.failed, error="the worker process died on this file (out of memory?)")

    reported = 0
    with reporter:
        try:
            for job, outcome in parallel_outcomes(plan.jobs, anon, jobs, here, broken, run_job, overwrite=overwrite):
                reporter.add(job.src, job.dst, outcome)
                reported += 1
        except KeyboardInterrupt:
            say(
                reporter.console,
                "interrupted",
                "red",
                f"while on {plan.jobs[reported].src}; no partial output was left",
            )
            raise
    if log.isEnabledFor(logging.DEBUG):
        stages = ", ".join(f"{k} {v:.2f}" for k, v in anon.timer.seconds.items())
        rest = reporter.summary.seconds - anon.timer.total
        log.debug("seconds per stage: %s, the rest (reading, decoding, encoding, writing) %.2f", stages, rest)
    return reporter.summary
