"""--engine ray when a file kills its worker process: the batch ends, the file is reported failed, nothing is
dropped silently and no partial output is left. A worker setup hook (Ray runtime_env) makes one file fatal."""

import logging
import re
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from deepanon.cli import app
from tests.faces import astronaut

ray = pytest.importorskip("ray")

FATAL = "kills-the-worker"


def make_one_file_fatal() -> None:
    """Runs in every Ray worker process: the file named FATAL ends the process, as a native crash would."""
    import os

    import deepanon.distributed.ray as engine

    run_task = engine.run_task

    def dying(anon, task, *args, **kwargs):
        if FATAL in task.src:
            os._exit(1)
        return run_task(anon, task, *args, **kwargs)

    engine.run_task = dying


@pytest.fixture(scope="module")
def crashing_ray():
    # the workers cannot import this test module: send the hook's code itself
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        runtime_env={"worker_process_setup_hook": make_one_file_fatal},
    )
    yield
    ray.shutdown()


def test_a_file_that_kills_its_worker_is_reported_and_nothing_is_lost(crashing_ray, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    for name in ("a.jpg", f"{FATAL}.jpg", "b.jpg"):
        Image.fromarray(astronaut()).save(src / name, quality=90)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["anonymize", str(src), "-o", str(out), "--method", "pixelate", "--engine", "ray", "--workers", "1", "-q"],
        catch_exceptions=False,
    )
    assert res.exit_code == 1, res.output  # some failed, and the command still ended
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error")]
    assert any(f"{FATAL}.jpg" in ln for ln in errors), res.output  # the fatal file is named
    assert not (out / f"{FATAL}.jpg").exists()
    written = sorted(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else []
    assert not [n for n in written if n.startswith(".")], written  # no temporary or half-written files
    for name in ("a.jpg", "b.jpg"):  # every other file is either done or named as failed: none dropped silently
        assert name in written or any(name in ln for ln in errors), (name, res.output)
    done, failed = map(int, re.search(r"(\d+) done, 0 skipped \(already there\), (\d+) failed", res.output).groups())
    assert done + failed == 3 and failed >= 1 and done == len(written), res.output
