"""The prepare/train/export CLI functions, mounted on a throwaway typer app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from deepanon.gan.weights import load_generator
from deepanon.geometry.masks import DEFAULT_FEATHER, DEFAULT_MASK_SCALE
from deepanon.train.commands import export_command, prepare_command, train_command

app = typer.Typer()
app.command("prepare")(prepare_command)
app.command("train")(train_command)
app.command("export")(export_command)


def test_help_texts() -> None:
    runner = CliRunner()
    for cmd, words in (("prepare", "--out"), ("train", "--resume"), ("export", "--out")):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and words in res.output, res.output


@pytest.mark.slow
def test_train_resume_and_export(tmp_path: Path) -> None:
    from tests.test_gan_training import synthetic_dataset

    data = synthetic_dataset(tmp_path / "data")
    run, state = tmp_path / "run", tmp_path / "state.safetensors"
    common = [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--resolution",
        "16",
        "--batch",
        "4",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--state",
        str(state),
        "--g-cbase",
        "64",
        "--d-cbase",
        "64",
    ]
    runner = CliRunner()
    res = runner.invoke(app, [*common, "--kimg", "0.008"])
    assert res.exit_code == 0, res.output
    # A fresh run elsewhere with the same --state would overwrite those steps: refused, naming --state.
    fresh = [*common, "--kimg", "0.008"]
    fresh[fresh.index(str(run))] = str(tmp_path / "fresh")
    res = runner.invoke(app, fresh)
    assert res.exit_code == 2 and "--state" in res.output and "step 2" in res.output, res.output
    res = runner.invoke(app, [*common, "--kimg", "0.016", "--resume"])
    assert res.exit_code == 0 and "resumed" in res.output, res.output
    import torch

    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 4
    assert json.loads((run / "config.json").read_text())["ada_target"] == 0.6  # the run's own setting, kept
    res = runner.invoke(app, [*common, "--kimg", "0.020", "--resume", "--ada-target", "0.8"])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "config.json").read_text())["ada_target"] == 0.8  # given again: it applies
    # A run carried on with a smaller batch (a GPU run on a CPU): --batch applies to the resumed run
    smaller = [*common, "--kimg", "0.024", "--resume"]
    smaller[smaller.index("--batch") + 1] = "2"
    res = runner.invoke(app, smaller)
    assert res.exit_code == 0, res.output
    assert json.loads((run / "config.json").read_text())["batch"] == 2
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 7  # 20 images at 4, then 2 steps of 2
    out = tmp_path / "w" / "generator.safetensors"
    for source in (run, state):
        res = runner.invoke(app, ["export", str(source), "--out", str(out)])
        assert res.exit_code == 0, res.output
        G = load_generator(out)
        assert G.cfg.resolution == 16
        card = json.loads(out.with_suffix(".json").read_text())
        assert card["kimg"] == pytest.approx(0.016, abs=0.1) and np.isfinite(card["params"])
        assert card["training_data"]["mask_scale"] == DEFAULT_MASK_SCALE  # the data's (synthetic: no record, default)
        assert card["repaint"]["mask_scale"] == DEFAULT_MASK_SCALE and card["repaint"]["feather"] == DEFAULT_FEATHER
    # The dataset moved (a state trained on another machine): a clear error, then --data names where it is now.
    moved = data.rename(tmp_path / "elsewhere")
    res = runner.invoke(app, ["export", str(state), "--out", str(out)])
    assert res.exit_code != 0 and "--data" in res.output
    res = runner.invoke(app, ["export", str(state), "--out", str(out), "--data", str(moved)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.with_suffix(".json").read_text())["training_data"]["sources"] == ["synthetic"]
