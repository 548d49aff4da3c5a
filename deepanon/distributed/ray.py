"""The Ray engine (`--engine ray`): the job list as a Ray Dataset, anonymized by an actor pool, results streamed back.

Each actor builds one Anonymizer and runs every file it is given with the single-process code (batch.run_job,
through remote.run_task for URLs), so outputs, skips and atomic writes are exactly those of one process; seeds come
from (--seed, relative path, face or track), so which worker did a file does not change it. The driver turns the
result rows into the same progress bar, stderr lines, report lines, summary and exit code (batch.BatchReporter).
Ray is imported only here and only when this engine runs: it is an extra (pip install 'deepanon[ray]').
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from deepanon.batch import BatchReporter, Outcome, Status, Summary, internal_error
from deepanon.config import AnonymizerConfig, ConfigError
from deepanon.distributed.remote import Task, absolute, is_url, plan_urls, run_task
from deepanon.media.inputs import UsageError, plan_jobs

MAX_BLOCKS = 10_000  # one file per block up to this: fine progress and balancing; beyond, a few files per block


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray on this machine
    workers: int | None = None  # None: one per CPU (or per GPU / gpus_per_worker)
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs and --device is not cpu, else 0


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] part of the extra
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'deepanon[ray]' (or ./install.sh ray)") from None
    return ray


class AnonymizeFiles:
    """The actor: one Anonymizer per worker process, reused for every file it is given; one result row per file."""

    def __init__(self, config_json: str, overwrite: bool, threads: int) -> None:
        import torch

        from deepanon.anonymize.pipeline import Anonymizer

        # as many torch threads as CPUs reserved: no oversubscription, and GAN outputs depend on the thread count
        # (float summation order), so a given worker size always gives the same bytes
        torch.set_num_threads(threads)
        self.anon = Anonymizer(AnonymizerConfig.from_json(config_json))
        self.overwrite = overwrite

    def __call__(self, batch: dict) -> dict[str, list]:
        index, outcome = [], []
        for i, src, dst, rel in zip(batch["index"], batch["src"], batch["dst"], batch["rel"]):
            try:
                o = run_task(self.anon, Task(str(src), str(dst), str(rel)), overwrite=self.overwrite)
            except Exception as exc:  # run_task reports bad files itself; this is a last resort, not a crash
                o = Outcome(Status.failed, error=internal_error(exc))
            index.append(int(i))
            outcome.append(json.dumps(dataclasses.asdict(o)))  # a JSON string: no Arrow schema for nested fields
        return {"index": index, "outcome": outcome}


def _plan(inputs: list[str], output: str) -> tuple[list[Task], list[tuple[str, str]], list, list[str]]:
    """(tasks for workers with absolute paths, (input, output) as the user wrote them for messages, errors, ignored)."""
    if any(is_url(p) for p in [*inputs, output]):
        up = plan_urls(inputs, output)
        shown = [(t.src, t.dst) for t in up.tasks]
        tasks = [Task(absolute(t.src), absolute(t.dst), t.rel) for t in up.tasks]
        return tasks, shown, list(up.errors), list(up.ignored)
    plan = plan_jobs([Path(p) for p in inputs], Path(output))
    shown = [(str(j.src), str(j.dst)) for j in plan.jobs]
    tasks = [Task(os.path.abspath(j.src), os.path.abspath(j.dst), j.rel) for j in plan.jobs]
    return tasks, shown, list(plan.errors), [str(p) for p in plan.ignored]


def _init(ray: Any, address: str | None) -> bool:
    """Join the cluster at `address`, or start a quiet local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    kwargs: dict = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
    return True


def _quiet_ray_data() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False  # ours is the progress bar
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    # a file that kills its worker (segfault, out of memory) fails its block, not the run: its rows are missing
    # and reported as failed, the other files go on
    ctx.max_errored_blocks = -1
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # e.g. "progress bars disabled"


def _pool(ray: Any, device: str, opts: RayOptions, n_tasks: int) -> tuple[int, float, float]:
    """(workers, CPUs per worker, GPUs per worker) for this cluster."""
    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 1)), float(res.get("GPU", 0))
    g = opts.gpus_per_worker
    if g is None:
        g = 1.0 if gpus and device != "cpu" else 0.0
    if g > 0 and not gpus:
        raise UsageError("--gpus-per-worker: the Ray cluster has no GPUs")
    if g == 0 and device == "cuda":
        raise UsageError("--device cuda needs GPU workers: give --gpus-per-worker (the cluster must have GPUs)")
    if g > 0:
        workers = opts.workers or max(1, int(gpus // g))
        per_cpu = 1.0
    else:
        workers = opts.workers or max(1, int(cpus))
        node_cpus = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=cpus)
        # spread the CPUs over the workers (torch uses that many threads), never more than a node has
        per_cpu = min(cpus / workers, node_cpus)
        per_cpu = float(int(per_cpu)) if per_cpu >= 1 else per_cpu
    return max(1, min(workers, n_tasks)), per_cpu, g


def run_ray(
    inputs: list[str],
    output: str,
    config: AnonymizerConfig,
    ray_opts: RayOptions,
    *,
    overwrite: bool = False,
    report_path: Path | None = None,
    console: Console | None = None,
    show_progress: bool = True,
) -> tuple[Summary, list[str], str]:
    """Anonymize on Ray. Returns (summary, non-media files ignored, where it ran). Raises UsageError (exit 2)."""
    console = console or Console(stderr=True)
    ray = import_ray()
    from deepanon.anonymize.pipeline import check_config

    try:  # the same checks the single-process engine makes, before any worker starts
        check_config(config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if config.method == "gan" and not ray_opts.address:
        from deepanon.gan.weights import GENERATOR_PATH

        weights = Path(config.painter.weights) if config.painter.weights else GENERATOR_PATH
        if not weights.exists():
            raise UsageError(f"no GAN weights at {weights}: train and export them, or use --method blur")
    tasks, shown, errors, ignored = _plan(inputs, output)

    started = _init(ray, ray_opts.address)
    try:
        workers, cpus, gpus = _pool(ray, config.detector.device, ray_opts, len(tasks))
        where = f"ray, {workers} worker{'s' * (workers != 1)} × " + (f"{gpus:g} GPU" if gpus else f"{cpus:g} CPU")
        report = report_path.open("w", encoding="utf-8") if report_path else None
        try:
            reporter = BatchReporter(
                len(tasks),
                errors,
                config,
                report=report,
                console=console,
                show_progress=show_progress,
                ignored=ignored,
            )
            with reporter:
                if tasks:
                    _stream(ray, tasks, shown, reporter, config, overwrite, workers, cpus, gpus)
        finally:
            if report:
                report.close()
    finally:
        if started:
            ray.shutdown()
    return reporter.summary, ignored, where


def _stream(
    ray: Any,
    tasks: list[Task],
    shown: list[tuple[str, str]],
    reporter: BatchReporter,
    config: AnonymizerConfig,
    overwrite: bool,
    workers: int,
    cpus: float,
    gpus: float,
) -> None:
    """Run the tasks on an actor pool; every task gets exactly one outcome, even when Ray itself fails."""
    _quiet_ray_data()
    rows = [{"index": i, "src": t.src, "dst": t.dst, "rel": t.rel} for i, t in enumerate(tasks)]
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
    kwargs: dict = {
        "fn_constructor_kwargs": {
            "config_json": config.to_json(),  # plain JSON: the tree is rebuilt (and checked) in each worker
            "overwrite": overwrite,
            "threads": max(1, int(cpus)),
        },
        "batch_size": 1,
        "compute": ray.data.ActorPoolStrategy(size=workers),
        "num_cpus": cpus,
        "num_gpus": gpus,
    }
    try:
        with warnings.catch_warnings():  # extra remote args are deprecated (Ray 2.60) but the only way to set this
            warnings.simplefilter("ignore")
            # Ray Data's default retries forever: a file that crashes its worker would hang the run
            ds = ds.map_batches(AnonymizeFiles, max_task_retries=2, **kwargs)
    except TypeError:  # a Ray that no longer takes them
        ds = ds.map_batches(AnonymizeFiles, **kwargs)
    seen: set[int] = set()
    lost = "no result came back from the Ray workers"
    try:
        for row in ds.iter_rows():
            i = int(row["index"])
            if i in seen:  # a retried block may repeat rows: the file was done once
                continue
            seen.add(i)
            reporter.add(*shown[i], Outcome(**json.loads(row["outcome"])))
    except KeyboardInterrupt:
        reporter.console.print(
            f"[red]interrupted[/red] with {len(tasks) - len(seen)} files not done; "
            "finished outputs are complete, a re-run resumes",
            highlight=False,
        )
        raise
    except Exception as exc:  # the cluster or an actor failed for good: name the files it left undone
        lost = f"Ray failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
    for i in range(len(tasks)):  # never drop a file silently
        if i not in seen:
            reporter.add(*shown[i], Outcome(Status.failed, error=lost))
