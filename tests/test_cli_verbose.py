"""--verbose: tracebacks and per-stage timings; without it an internal error is one line that says how to see more."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from deepanon.anonymize.pipeline import Anonymizer
from deepanon.cli import app

runner = CliRunner()


def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(src / "a.png")
    return src


def broken(self, rgb, key="image"):
    raise RuntimeError("a bug")


def test_internal_error_is_one_line_and_points_to_verbose(tmp_path, monkeypatch):
    monkeypatch.setattr(Anonymizer, "anonymize_image", broken)
    res = runner.invoke(app, ["anonymize", str(folder(tmp_path)), "-o", str(tmp_path / "o"), "-m", "blur", "-q"])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if "a.png" in ln]
    assert len(lines) == 1 and "internal error (RuntimeError: a bug" in lines[0] and "--verbose" in lines[0]
    assert "Traceback" not in res.output


def test_verbose_shows_the_traceback_and_the_stage_timings(tmp_path, monkeypatch):
    src = folder(tmp_path)
    res = runner.invoke(app, ["anonymize", str(src), "-o", str(tmp_path / "ok"), "-m", "blur", "-q", "--verbose"])
    assert res.exit_code == 0, res.output
    assert "seconds per stage: detect" in res.output and "paint" in res.output
    monkeypatch.setattr(Anonymizer, "anonymize_image", broken)
    res = runner.invoke(app, ["anonymize", str(src), "-o", str(tmp_path / "o"), "-m", "blur", "-q", "-v"])
    assert res.exit_code == 1
    assert "Traceback" in res.output and "RuntimeError: a bug" in res.output
    assert "rerun with --verbose" not in res.output


def test_importing_the_cli_configures_no_logging():
    import importlib

    import deepanon.cli

    before = list(logging.getLogger("deepanon").handlers), logging.getLogger().handlers[:]
    importlib.reload(deepanon.cli)
    assert (list(logging.getLogger("deepanon").handlers), logging.getLogger().handlers[:]) == before
