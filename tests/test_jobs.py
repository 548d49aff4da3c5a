"""`--jobs N`: photos by N worker processes write the same files, report and resume as one process."""

import json
import os
import shutil
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from deepanon.anonymize.pipeline import Anonymizer
from deepanon.cli import app
from deepanon.config import AnonymizerConfig
from deepanon.media.inputs import Job
from deepanon.pool import MIN_IMAGES_PER_WORKER, parallel_outcomes, threads_per_job
from tests.faces import astronaut, scene

SAMPLES = Path(__file__).parents[1] / "samples"


def _folder(root: Path) -> Path:
    src = root / "photos"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(["astronaut.jpg", "cameraman.png", "crowd.png"] * 2):
        shutil.copy(SAMPLES / name, (src if i % 2 else src / "sub") / f"{i}_{name}")
    Image.fromarray(astronaut()).save(src / "a.png")
    Image.fromarray(scene(300, 500, [(40, 60, 0.6), (300, 100, 0.3)])).save(src / "b.jpg")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    return src


def _run(src: Path, out: Path, report: Path, jobs: int):
    args = ["anonymize", str(src), "-o", str(out), "-m", "blur", "--seed", "3", "--report", str(report)]
    return CliRunner().invoke(app, [*args, "--jobs", str(jobs), "-q"], catch_exceptions=False)


def _lines(report: Path) -> list[dict]:
    recs = [json.loads(line) for line in report.read_text().splitlines()]
    recs = [r for r in recs if "input" in r]  # the first line holds the run's settings
    for r in recs:
        r.pop("seconds")
        r["output"] = Path(r["output"]).name
    return recs


def test_two_jobs_write_what_one_process_writes(tmp_path):
    src = _folder(tmp_path)
    assert len(list(src.rglob("*.*"))) - 1 >= 2 * MIN_IMAGES_PER_WORKER  # enough photos for two workers
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = _run(src, one, tmp_path / "r1.jsonl", 1)
    r2 = _run(src, two, tmp_path / "r2.jsonl", 2)
    assert r1.exit_code == r2.exit_code == 1  # the broken file fails in both, the batch goes on
    files1 = {p.relative_to(one): p.read_bytes() for p in one.rglob("*") if p.is_file()}
    files2 = {p.relative_to(two): p.read_bytes() for p in two.rglob("*") if p.is_file()}
    assert len(files1) == 8 and files1 == files2
    assert _lines(tmp_path / "r1.jsonl") == _lines(tmp_path / "r2.jsonl")  # same lines, same order
    assert r1.output.split(";")[0] == r2.output.split(";")[0]  # "8 done, 0 skipped ..., 1 failed"
    again = _run(src, two, tmp_path / "r3.jsonl", 2)  # resume: everything done is skipped, the broken one retried
    assert again.exit_code == 1
    assert [r["status"] for r in _lines(tmp_path / "r3.jsonl")].count("skipped") == 8


def test_threads_are_divided_among_jobs():
    assert threads_per_job(2, cores=16) == 8
    assert threads_per_job(4, cores=2) == 1


def _worker_pid(anon, job: Job, overwrite: bool = False) -> tuple[str, int]:
    return job.rel, os.getpid()


def test_this_process_works_beside_the_workers_and_the_order_is_kept(tmp_path):
    jobs = [Job(tmp_path / f"{i}.png", tmp_path / "out" / f"{i}.png", f"{i}.png") for i in range(12)]
    jobs.insert(5, Job(tmp_path / "v.mp4", tmp_path / "out" / "v.mp4", "v.mp4"))  # a video: always here
    anon = Anonymizer(AnonymizerConfig(method="blur"))

    def here(job: Job) -> tuple[str, int]:
        return job.rel, os.getpid()

    def broken(job: Job) -> tuple[str, int]:
        raise AssertionError("no worker dies here")

    got = list(parallel_outcomes(jobs, anon, 2, here, broken, _worker_pid))
    assert [j.rel for j, _ in got] == [j.rel for j in jobs]  # the plan's order
    assert [rel for _, (rel, _) in got] == [j.rel for j in jobs]  # each outcome is its own job's, each once
    pids = [pid for _, (_, pid) in got]
    assert pids[5] == os.getpid()
    # the pool holds 1 worker beside this process; it begins the first photos, this process takes the last ones
    assert pids[0] != os.getpid() and pids[-1] == os.getpid()
