"""`--jobs N`: photos by N worker processes write the same files, report and resume as one process."""

import json
import shutil
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from deepanon.cli import app
from deepanon.pool import MIN_IMAGES_PER_WORKER, threads_per_job
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
