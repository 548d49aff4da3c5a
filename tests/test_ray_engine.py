"""--engine ray on a local 2-CPU Ray: the same outputs, report, errors and skips as the single-process engine."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from deepanon.cli import app
from deepanon.gan.weights import GENERATOR_PATH
from tests.faces import astronaut, scene
from tests.videos import make_test_video

ray = pytest.importorskip("ray")

runner = CliRunner()
METHODS = ["pixelate", "gan"] if GENERATOR_PATH.exists() else ["pixelate"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One Ray for the whole module (starting one takes seconds); the engine joins it instead of starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("ray") / "photos"
    (src / "trip ü").mkdir(parents=True)
    Image.fromarray(astronaut()).save(src / "astronaut.jpg", quality=95)
    Image.fromarray(scene(300, 500, [(40, 60, 0.8), (300, 100, 0.5)])).save(src / "trip ü" / "group.png")
    Image.fromarray(scene(240, 320, [(100, 10, 0.7)])).save(src / "trip ü" / "one.webp", lossless=True)
    frames = [scene(120, 160, [(10 + 4 * t, 5, 0.4)]) for t in range(6)]
    make_test_video(src / "clip.mp4", frames, fps=25)
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "notes.txt").write_text("not media")
    return src


def run(*args: str):
    return runner.invoke(app, ["anonymize", *args, "-q"], catch_exceptions=False)


def outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(int)


def assert_same_outputs(got_root: Path, want_root: Path) -> None:
    """Images byte-identical. Videos: same frames up to codec noise. A local run is byte-reproducible
    (test_video_identity.py), but a Ray worker's video differs slightly from the test process's; the cause
    (thread settings of the worker process) is not pinned down."""
    got, want = outputs(got_root), outputs(want_root)
    assert sorted(got) == sorted(want) == ["astronaut.jpg", "clip.mp4", "trip ü/group.png", "trip ü/one.webp"]
    for name in got:
        if name.endswith(".mp4"):
            a, b = decode(got_root / name), decode(want_root / name)
            assert a.shape == b.shape and np.abs(a - b).mean() < 1.0, name
        else:
            assert got[name] == want[name], name  # seeds depend on (seed, path, face), not on the worker


def report_lines(path: Path) -> dict[str, dict]:
    header, *lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert "config" in header  # the run's settings first
    by_input = {r["input"]: r for r in lines}
    assert len(by_input) == len(lines)  # one line per input
    return by_input


@pytest.fixture(scope="module", params=METHODS)
def both_engines(request, folder, tmp_path_factory):
    """The same command, single-process and on Ray; their outputs and reports."""
    method = request.param
    tmp = tmp_path_factory.mktemp(f"out-{method}")
    common = [str(folder), "--method", method, "--seed", "7"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the 2 workers on 2 CPUs: GAN pixels depend on the float summation order
    try:
        local = run(*common, "-o", str(tmp / "local"), "--report", str(tmp / "local.jsonl"))
    finally:
        torch.set_num_threads(threads)
    on_ray = run(*common, "-o", str(tmp / "ray"), "--report", str(tmp / "ray.jsonl"), "--engine", "ray")
    return tmp, local, on_ray


def test_ray_outputs_are_identical_to_single_process(both_engines):
    tmp, local, on_ray = both_engines
    assert local.exit_code == on_ray.exit_code == 1, on_ray.output  # the corrupt file failed, the rest were done
    assert_same_outputs(tmp / "ray", tmp / "local")
    assert "4 done, 0 skipped (already there), 1 failed, 1 non-media files ignored" in on_ray.output
    assert "on ray, 2 workers × 1 CPU" in on_ray.output


def test_corrupt_file_is_reported_and_the_report_matches(both_engines, folder):
    tmp, local, on_ray = both_engines
    bad = str(folder / "corrupt.jpg")
    assert f"error {bad}: " in on_ray.output
    err_line = next(ln for ln in on_ray.output.splitlines() if ln.startswith("error"))
    assert err_line in local.output  # the same stderr line
    ray_report, local_report = report_lines(tmp / "ray.jsonl"), report_lines(tmp / "local.jsonl")
    assert len(ray_report) == 6 and set(ray_report) == set(local_report)  # 5 media files + the ignored note
    for key, rec in ray_report.items():  # the same lines but for the time taken
        rec.pop("seconds", None), local_report[key].pop("seconds", None)
        if "output" in rec:
            rec["output"] = rec["output"].replace(str(tmp / "ray"), str(tmp / "local"))
        assert rec == local_report[key]
    assert ray_report[bad]["status"] == "failed" and ray_report[bad]["error"]
    assert ray_report[str(folder / "notes.txt")]["status"] == "ignored"


def test_rerun_skips_what_is_done_and_overwrite_redoes(both_engines, folder):
    tmp = both_engines[0]
    out = tmp / "ray"
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    res = run(str(folder), "-o", str(out), "--method", "pixelate", "--engine", "ray", "--workers", "1")
    assert "0 done, 4 skipped (already there), 1 failed" in res.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_urls_in_and_out_give_the_same_files(both_engines, folder):
    """file:// URLs take the fsspec path (download, anonymize, upload under a temp name, move): as s3:// would."""
    tmp, _, on_ray = both_engines
    method = "gan" if "method gan" in on_ray.output else "pixelate"
    res = run(folder.as_uri(), "-o", (tmp / "via-url").as_uri(), "--method", method, "--seed", "7", "--engine", "ray")
    assert res.exit_code == 1 and "4 done" in res.output, res.output
    assert_same_outputs(tmp / "via-url", tmp / "local")
    res = run(folder.as_uri(), "-o", (tmp / "via-url").as_uri(), "--method", method, "--engine", "ray")
    assert "0 done, 4 skipped" in res.output


def test_usage_errors_exit_2(folder, tmp_path):
    res = run(str(folder), "-o", str(tmp_path / "o"), "-m", "blur", "--engine", "ray", "--gpus-per-worker", "1")
    assert res.exit_code == 2 and "no GPUs" in res.output
    res = run(str(folder), "-o", str(folder / "o"), "-m", "blur", "--engine", "ray")
    assert res.exit_code == 2 and "inside input folder" in res.output


def test_base_install_does_not_import_ray():
    code = "import sys; from deepanon.cli import app; import deepanon.batch; assert 'ray' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
