"""The config tree: one source of defaults, JSON/TOML in and out, flags on top of a file, strict keys."""

from __future__ import annotations

import inspect
import json

import pytest
from typer.testing import CliRunner

from deepanon.cli import anonymize, app
from deepanon.config import SHORTCUTS, AnonymizerConfig, ConfigError, apply_shortcuts, field_default, load_config

runner = CliRunner()


def print_config(*args: str) -> dict:
    res = runner.invoke(app, ["anonymize", "--print-config", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_json_round_trip_keeps_every_field():
    c = apply_shortcuts(AnonymizerConfig(), {"seed": 4, "detector": "centerface", "tiles": False, "feather": 0.2})
    assert AnonymizerConfig.from_json(c.to_json()) == c
    assert c.detector.detectors == ("centerface",) and c.detector.tile == 0 and c.painter.feather == 0.2


def test_config_file_round_trips_print_config(tmp_path):
    printed = print_config("--seed", "11", "--method", "blur", "--no-tiles", "--crf", "23")
    path = tmp_path / "run.json"
    path.write_text(json.dumps(printed))
    assert print_config("--config", str(path)) == printed
    assert load_config(path) == AnonymizerConfig.from_dict(printed)


def test_flags_override_the_file_and_the_rest_of_the_file_stays(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('method = "pixelate"\nseed = 5\n\n[detector]\nthreshold = 0.45\n\n[painter]\nmask_scale = 1.7\n')
    got = print_config("--config", str(path), "--threshold", "0.8", "--seed", "6")
    assert got["detector"]["threshold"] == 0.8 and got["seed"] == 6  # flags win
    assert got["method"] == "pixelate" and got["painter"]["mask_scale"] == 1.7  # the file's other settings kept
    assert got["detector"]["centerface_threshold"] == field_default("detector.centerface_threshold")


@pytest.mark.parametrize(
    "text",
    ['{"detector": {"treshold": 0.5}}', '{"colour": 1}', '{"detector": {"threshold": "high"}}', '{"seed": 1.5}'],
)
def test_unknown_keys_and_wrong_types_are_a_one_line_usage_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    res = runner.invoke(app, ["anonymize", "--config", str(path), "--print-config"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("usage error:") and "Traceback" not in res.output


def test_unknown_key_names_the_key():
    with pytest.raises(ConfigError, match="detector.treshold"):
        AnonymizerConfig.from_dict({"detector": {"treshold": 0.5}})
    with pytest.raises(ConfigError, match="mask_scale"):
        AnonymizerConfig.from_dict({"painter": {"mask_scale": 0.5}})  # a range check of the tree


def test_every_shortcut_is_a_flag_of_anonymize_and_names_a_real_field():
    params = set(inspect.signature(anonymize).parameters)
    assert set(SHORTCUTS) <= params
    for name, s in SHORTCUTS.items():
        field_default(s.path)  # raises for a path that is not in the tree
        assert name in params


def test_flag_defaults_are_the_config_defaults():
    assert print_config() == json.loads(AnonymizerConfig().to_json())


def test_missing_inputs_without_print_config_are_a_usage_error(tmp_path):
    assert runner.invoke(app, ["anonymize", "-o", str(tmp_path / "o")]).exit_code == 2


@pytest.mark.parametrize(
    "values, message",
    [
        ({"painter.candidates": 0}, "candidates"),
        ({"painter.attribute_move": 1.5}, "attribute_move"),
        ({"painter.attribute_move": -0.1}, "attribute_move"),
        ({"detector.video_detect_every": 0}, "video_detect_every"),
        ({"detector.video_detect_every": 9}, "video_detect_every"),
    ],
)
def test_new_painter_and_video_settings_are_range_checked(values, message) -> None:
    with pytest.raises(ConfigError, match=message):
        AnonymizerConfig().with_values(values)
