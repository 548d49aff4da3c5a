"""Bad input never stops a batch: one line on stderr naming the file and the reason, the rest goes on."""

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from deepanon.cli import app
from tests.faces import astronaut


def jpeg_bytes(img: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", **kw)
    return buf.getvalue()


def test_every_kind_of_bad_file_is_named_and_the_rest_is_done(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = jpeg_bytes(astronaut())
    (src / "good one.jpg").write_bytes(good)
    (src / "zero.jpg").write_bytes(b"")
    (src / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (src / "text.jpg").write_text("hello, I am not a picture")
    (src / "clip.mp4").write_bytes(b"not a video at all")
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, "PNG")
    (src / "really a png.jpg").write_bytes(buf.getvalue())  # wrong extension, valid content
    Image.new("RGB", (6000, 5000)).save(src / "bomb.png")  # 30 Mpx, over the limit we set below
    before = {p.name: p.read_bytes() for p in src.iterdir()}

    out = tmp_path / "out"
    report = tmp_path / "r.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "anonymize",
            str(src),
            "-o",
            str(out),
            "-m",
            "pixelate",
            "-q",
            "--max-pixels",
            "20000000",
            "--report",
            str(report),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 1
    failed = {"zero.jpg", "truncated.jpg", "corrupt.png", "text.jpg", "clip.mp4", "bomb.png"}
    error_lines = [ln for ln in res.output.splitlines() if ln.startswith("error ")]
    for name in failed:
        lines = [ln for ln in error_lines if name in ln]
        assert len(lines) == 1, (name, res.output)
        assert "Traceback" not in lines[0] and len(lines[0].split(": ", 1)[1]) > 3
    assert "limit" in next(ln for ln in error_lines if "bomb.png" in ln)
    assert sorted(p.name for p in out.iterdir()) == ["good one.jpg", "really a png.jpg"]
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    records = [json.loads(ln) for ln in report.read_text().splitlines()]
    assert "config" in records[0]  # the run's settings come first
    statuses = {Path(r["input"]).name: r["status"] for r in records[1:]}
    assert statuses == {**{n: "failed" for n in failed}, "good one.jpg": "done", "really a png.jpg": "done"}


def test_gps_stripped_and_output_upright_end_to_end(tmp_path):
    img = Image.fromarray(astronaut()).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (28.0, 31.0, 27.0)}
    exif[0x010F] = "cam"
    img.save(tmp_path / "p.jpg", exif=exif.tobytes(), quality=95)
    for keep in (False, True):
        out = tmp_path / f"o{keep}"
        args = ["anonymize", str(tmp_path / "p.jpg"), "-o", str(out), "-m", "blur", "-q"]
        res = CliRunner().invoke(app, args + (["--keep-metadata"] if keep else []), catch_exceptions=False)
        assert res.exit_code == 0, res.output
        with Image.open(out / "p.jpg") as im:
            assert im.size == (512, 512)  # stored upright
            ex = im.getexif()
            assert 0x8825 not in ex and not ex.get_ifd(0x8825)
            assert ex.get(0x0112, 1) == 1
            assert (ex.get(0x010F) == "cam") is keep
            rgb = np.asarray(im.convert("RGB")).astype(int)
        # upright: the background corner far from the face matches the upright original
        assert np.abs(rgb[450:, :60] - astronaut()[450:, :60]).mean() < 6


def test_explicit_non_media_file_is_an_error(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    res = CliRunner().invoke(app, ["anonymize", str(f), "-o", str(tmp_path / "o"), "-m", "blur", "-q"])
    assert res.exit_code == 1
    assert "notes.txt" in res.output
