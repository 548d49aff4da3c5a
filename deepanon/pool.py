"""Photos in parallel (`--jobs N`): this process and N - 1 worker processes, each with its own Anonymizer, the CPU
threads divided among them. Outcomes come back in the plan's order, so the report, the summary and resuming (a file
whose output exists is skipped) are those of one process; each output is written atomically by the one that made it.

Videos stay in the calling process (their frames are batched already, and the progress bar follows them live).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from deepanon.anonymize.pipeline import Anonymizer, AnonymizerConfig
from deepanon.media.inputs import Job

_worker: Anonymizer | None = None  # one per worker process, built by _init
# A worker costs a few seconds to start (torch import, the models' weights): each gets at least this many photos.
MIN_IMAGES_PER_WORKER = 4
OutcomeT = TypeVar("OutcomeT")  # what a job gives: the batch runner's Outcome


def cpu_cores() -> int:
    """Cores this process may run on (the default --jobs)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Each of `jobs` workers gets an equal share of the cores, at least one thread."""
    return max(1, (cores or cpu_cores()) // max(jobs, 1))


def _init(config: AnonymizerConfig, threads: int) -> None:
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    global _worker
    _worker = Anonymizer(config=config)


def _run(work: Callable[..., OutcomeT], job: Job, overwrite: bool) -> OutcomeT:
    assert _worker is not None, "the pool's initializer builds the worker's Anonymizer"
    return work(_worker, job, overwrite=overwrite)


def parallel_outcomes(
    jobs: list[Job],
    anon: Anonymizer,
    n_workers: int,
    run_here: Callable[[Job], OutcomeT],
    broken: Callable[[Job], OutcomeT],
    work: Callable[..., OutcomeT],
    *,
    overwrite: bool = False,
) -> Iterator[tuple[Job, OutcomeT]]:
    """(job, Outcome) in the order of `jobs`: images by `n_workers` processes, videos by `run_here` in this
    process (while the workers go on with the images). A worker that dies (killed, out of memory) fails the job it
    was on with `broken(job)`'s outcome; the rest then run here. `work(anonymizer, job, overwrite=...)`, a
    module-level function (workers receive it by name), runs one job in a worker: the batch runner's run_job (this
    module sits below the batch runner and does not import it)."""
    images = [j for j in jobs if not j.is_video]
    n_workers = min(n_workers, len(images) // MIN_IMAGES_PER_WORKER)
    if n_workers <= 1:
        for job in jobs:
            yield job, run_here(job)
        return
    # This process is one of the n: it works from the first second (its Anonymizer is built) while the n - 1
    # workers start, taking the last photos not yet begun; so a pool never costs more than one process.
    # spawn: a forked copy of a process that already runs torch's thread pools can hang
    ctx = multiprocessing.get_context("spawn")
    threads = threads_per_job(n_workers)
    with (
        _threads(threads),
        ProcessPoolExecutor(n_workers - 1, ctx, initializer=_init, initargs=(anon.config, threads)) as pool,
    ):
        futures: dict[int, Future[OutcomeT]] = {
            i: pool.submit(_run, work, job, overwrite) for i, job in enumerate(jobs) if not job.is_video
        }
        stolen: dict[int, OutcomeT] = {}
        # photos this process may still take, last on top; one a worker began never becomes free again
        free = sorted(futures)
        pool_ok = True
        try:
            for i, job in enumerate(jobs):
                if i not in futures or not pool_ok:
                    yield job, stolen.pop(i) if i in stolen else run_here(job)
                    continue
                while i not in stolen and not futures[i].done():
                    j = _take_last_free(futures, free)
                    if j is None:
                        break  # every photo left has begun: wait for its worker
                    stolen[j] = run_here(jobs[j])
                if i in stolen:
                    yield job, stolen.pop(i)
                    continue
                try:
                    outcome = futures[i].result()
                except BrokenProcessPool:
                    pool_ok = False
                    outcome = broken(job)
                yield job, outcome
        except BaseException:  # KeyboardInterrupt included: stop the workers, never leave them running
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _take_last_free(futures: dict[int, Future], free: list[int]) -> int | None:
    """The index of the last photo no worker has begun, now taken from the pool (its future cancelled) and from
    `free`; the ones passed over on the way had begun and leave `free` too (each index is looked at once)."""
    while free:
        j = free.pop()
        if futures[j].cancel():
            return j
    return None


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """This process's torch and OpenCV threads set to n for the pool's run (it works beside the workers)."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
