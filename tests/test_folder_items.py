"""Issue 19's items, one test each: what a folder can hold never crashes a batch, leaks a location or loses a frame."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from deepanon.anonymize.files import anonymize_file
from deepanon.anonymize.pipeline import Anonymizer
from deepanon.cli import app
from deepanon.media.atomic import TMP_MARKER, atomic_output, remove_stale, temp_prefix
from deepanon.media.images import read_animation, read_image, write_image
from deepanon.media.video import transcode_video
from tests.faces import scene
from tests.videos import make_test_video

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/" exif:GPSLatitude="48,51.5N" photoshop:City="Paris"'
    b' dc:format="image/jpeg"><exif:GPSLongitude>2,21.0E</exif:GPSLongitude>'
    b"<photoshop:Country>France</photoshop:Country><dc:creator>kept</dc:creator></rdf:Description>"
    b"</rdf:RDF></x:xmpmeta>"
)
LOCATION_WORDS = (b"GPSLatitude", b"GPSLongitude", b"Paris", b"France", b"48,51")


@pytest.fixture(scope="module")
def blur() -> Anonymizer:
    return Anonymizer(method="blur", device="cpu")


def _faces_frame(i: int = 0) -> np.ndarray:
    return scene(240, 320, [(20 + 4 * i, 10, 0.8)])


# 1: symlink loops (tests/test_inputs.py has the planner's side); here the whole CLI run
def test_symlink_loop_does_not_abort_the_batch(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_faces_frame()).save(src / "a.png")
    os.symlink("loop.jpg", src / "loop.jpg")
    res = CliRunner().invoke(app, ["anonymize", str(src), "-o", str(tmp_path / "out"), "--method", "blur", "-q"])
    assert res.exit_code == 1, res.output
    assert (tmp_path / "out" / "a.png").exists()
    assert f"{src / 'loop.jpg'}: broken symbolic link or symlink loop" in res.output
    assert "Traceback" not in res.output


def test_the_report_names_every_file_that_was_not_anonymized(tmp_path: Path) -> None:
    """A picture in a format deepanon does not read (by extension) is never silently left out of the report."""
    import json

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_faces_frame()).save(src / "a.png")
    (src / "holiday.heic").write_bytes(b"not read by deepanon")
    report = tmp_path / "run.jsonl"
    res = CliRunner().invoke(
        app, ["anonymize", str(src), "-o", str(tmp_path / "out"), "-m", "blur", "-q", "--report", str(report)]
    )
    assert res.exit_code == 0, res.output
    assert "1 non-media files ignored" in res.output
    lines = [json.loads(s) for s in report.read_text().splitlines()[1:]]  # after the settings line
    ignored = [r for r in lines if r["status"] == "ignored"]
    assert [r["input"] for r in ignored] == [str(src / "holiday.heic")]
    assert {r["status"] for r in lines} == {"done", "ignored"}


# 2: names are printed exactly, never as rich markup or emoji codes
def test_paths_with_markup_and_emoji_codes_are_printed_exactly(tmp_path: Path) -> None:
    src = tmp_path / "album["
    src.mkdir()
    (src / "[").mkdir()
    names = ["photo [edited].png", "party :tada: pic.png", "[/x.png", "[bold]b.png", "[/b.png"]
    for n in names:
        (src / n).write_bytes(b"not a png")
    res = CliRunner().invoke(app, ["anonymize", str(src), "-o", str(tmp_path / "out"), "--method", "blur", "-q"])
    assert res.exit_code == 1, res.output
    for n in names:
        assert f"{src / n}: " in res.output, n
    assert "0 done, 0 skipped (already there), 5 failed" in res.output


# 3: TIFF orientation applied once (Pillow already turns TIFFs upright while loading)
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation_applied_once(tmp_path: Path, orientation: int) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:5, :5] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif)
    Image.fromarray(stored).save(tmp_path / "o.tif", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        upright = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(read_image(tmp_path / "o.tif").rgb, upright)


# 4: --keep-metadata keeps no location: not in XMP, PNG text chunks or IPTC
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_keep_metadata_drops_location_in_xmp_and_text(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / f"in.{fmt.lower()}"
    img = Image.fromarray(_faces_frame())
    if fmt == "PNG":
        info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        info.add_text("GPSLatitude", "48,51.5N")
        info.add_text("Raw profile type exif", "exif\n 20\n" + b"Paris".hex())
        info.add_text("Comment", "kept")
        img.save(src, pnginfo=info)
    else:
        img.save(src, format=fmt, xmp=XMP)
    loaded = read_image(src)
    dst = tmp_path / f"out.{fmt.lower()}"
    write_image(dst, loaded, loaded.rgb, keep_metadata=True)
    data = dst.read_bytes()
    assert b"kept" in data  # the rest of the metadata is kept
    for word in LOCATION_WORDS:
        assert word not in data, word


def test_keep_metadata_drops_tiff_iptc(tmp_path: Path) -> None:
    iptc = b"\x1c\x02\x5a\x00\x05Paris\x1c\x02\x65\x00\x06France"  # IPTC City, Country
    Image.fromarray(_faces_frame()).save(tmp_path / "in.tif", tiffinfo={33723: iptc, 270: "kept"})
    loaded = read_image(tmp_path / "in.tif")
    write_image(tmp_path / "out.tif", loaded, loaded.rgb, keep_metadata=True)
    data = (tmp_path / "out.tif").read_bytes()
    assert b"kept" in data and b"Paris" not in data and b"France" not in data


# 5: temporary names fit the file-system limit whatever the output name
def test_longest_legal_output_name_is_written(tmp_path: Path) -> None:
    name = "é" * 120 + "abc.jpg"  # 247 bytes in UTF-8
    assert len(os.fsencode(name)) > 240
    dst = tmp_path / name
    with atomic_output(dst) as tmp:
        assert len(os.fsencode(tmp.name)) <= 255 and TMP_MARKER in tmp.name
        tmp.write_bytes(b"x")
    assert dst.read_bytes() == b"x"


# 6: legal extremes are processed (or refused with a reason), never an internal error
def test_extreme_sizes_are_processed(tmp_path: Path, blur: Anonymizer) -> None:
    Image.fromarray(np.full((2, 16383, 3), 128, np.uint8)).save(tmp_path / "wide.webp", lossless=True)
    Image.fromarray(np.full((16383, 1, 3), 128, np.uint8)).save(tmp_path / "tall.png")
    make_test_video(tmp_path / "tiny.mp4", [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(10)])
    for name in ("wide.webp", "tall.png", "tiny.mp4"):
        anonymize_file(blur, tmp_path / name, tmp_path / f"out-{name}", name)
        assert (tmp_path / f"out-{name}").exists()


def test_mtcnn_on_frames_smaller_than_min_face() -> None:
    from deepanon.detect import DetectorConfig, FaceDetector

    det = FaceDetector(DetectorConfig(detectors=("mtcnn",), device="cpu"))
    assert det.detect_batch([np.full((16, 16, 3), 99, np.uint8)] * 3) == [[], [], []]


# 7: MP3 is copied (FFmpeg's decoder is "mp3float"), the frames' timestamps are kept
@pytest.mark.parametrize("ext", ["mkv", "mp4", "avi"])
def test_mp3_audio_is_copied_not_reencoded(tmp_path: Path, ext: str) -> None:
    src = make_test_video(
        tmp_path / f"in.{ext}", [np.full((32, 32, 3), 5 * i, np.uint8) for i in range(25)], audio=["libmp3lame"]
    )
    transcode_video(src, tmp_path / f"out.{ext}", lambda f: f, preset="ultrafast")

    def read(p: Path) -> tuple[str, list[bytes], list[int]]:
        with av.open(str(p)) as c:
            a = c.streams.audio[0]
            codec = a.codec_context.codec.canonical_name
            packets = [bytes(pk) for pk in c.demux(a) if pk.size]
        with av.open(str(p)) as c:
            pts = [f.pts for f in c.decode(video=0)]
        return codec, packets, pts

    codec_in, packets_in, pts_in = read(src)
    codec_out, packets_out, pts_out = read(tmp_path / f"out.{ext}")
    assert codec_out == codec_in == "mp3"
    assert packets_out == packets_in  # copied: the same bytes, the same length
    steps = np.diff(pts_out)
    assert len(pts_out) == len(pts_in) and np.array_equal(steps, np.diff(pts_in))


# 8: a writer killed mid-write leaves a temporary; the next run on that output removes it
def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dst = tmp_path / "clip.mp4"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / (temp_prefix(dst).replace(f"-{os.getpid()}-", f"-{pid}-") + "abcd1234.mp4")
    stale.write_bytes(b"half a video")
    live = tmp_path / (temp_prefix(dst) + "live.mp4")  # this process: alive, left alone
    live.write_bytes(b"being written")
    other = tmp_path / (temp_prefix(tmp_path / "other.mp4").replace(f"-{os.getpid()}-", f"-{pid}-") + "x.mp4")
    other.write_bytes(b"another output's")
    assert remove_stale(dst) == [stale]
    assert live.exists() and other.exists()
    stale.write_bytes(b"half a video")
    with atomic_output(dst) as tmp:
        tmp.write_bytes(b"whole")
    assert not stale.exists() and dst.read_bytes() == b"whole"


# 9: animated images: every frame anonymized, written back in their format with timing and loop
@pytest.mark.parametrize("ext", ["gif", "png", "webp", "tif"])
def test_every_frame_of_an_animation_is_anonymized(tmp_path: Path, blur: Anonymizer, ext: str) -> None:
    frames = [Image.fromarray(_faces_frame(i)) for i in range(5)]
    durations = [100, 120, 80, 100, 200]
    src = tmp_path / f"in.{ext}"
    extra = {} if ext == "tif" else {"duration": durations, "loop": 0}
    if ext == "webp":
        extra["lossless"] = True
    frames[0].save(src, save_all=True, append_images=frames[1:], **extra)
    result = anonymize_file(blur, src, tmp_path / f"out.{ext}", f"out.{ext}")
    assert result.frames == 5 and result.face_count >= 5
    before, after = read_animation(src), read_animation(tmp_path / f"out.{ext}")
    assert len(after.frames) == 5 and after.format == before.format
    if ext != "tif":
        assert after.durations == durations and after.loop == 0
    box = (slice(25, 200), slice(40, 180))  # the head's middle, in every frame
    for a, b in zip(before.frames, after.frames):
        assert np.abs(a[box].astype(int) - b[box]).mean() > 3  # blurred in every frame, not just the first


def test_still_gif_is_anonymized(tmp_path: Path, blur: Anonymizer) -> None:
    Image.fromarray(_faces_frame()).save(tmp_path / "in.gif")
    result = anonymize_file(blur, tmp_path / "in.gif", tmp_path / "out.gif", "out.gif")
    assert len(result.faces) >= 1
    with Image.open(tmp_path / "out.gif") as im:
        assert im.format == "GIF"


def test_hidden_damage_is_warned(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_faces_frame()).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x5A
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    assert any("corrupt JPEG data" in w for w in read_image(tmp_path / "bad.jpg").warnings)
    (tmp_path / "good.jpg").write_bytes(buf.getvalue())
    assert read_image(tmp_path / "good.jpg").warnings == []
    buf = io.BytesIO()
    Image.fromarray(_faces_frame()).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    at = png.index(b"IDAT")
    crc_at = at + 4 + int.from_bytes(png[at - 4 : at], "big")
    png[crc_at] ^= 0xFF  # a bad CRC on good data
    (tmp_path / "crc.png").write_bytes(bytes(png))
    assert any("checksum" in w and "IDAT" in w for w in read_image(tmp_path / "crc.png").warnings)


def test_cli_names_and_counts_hidden_files_and_warnings(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_faces_frame()).save(src / ".hidden.png")
    Image.fromarray(_faces_frame()).save(src / "still.gif")
    res = CliRunner().invoke(app, ["anonymize", str(src), "-o", str(tmp_path / "out"), "--method", "blur", "-q"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / ".hidden.png").exists() and (tmp_path / "out" / "still.gif").exists()
    assert "2 done" in res.output


# issue 20: importing deepanon changes no process-wide state
def test_import_leaves_pillow_limit_and_umask_alone() -> None:
    code = (
        "import os, pkgutil, importlib, PIL.Image as I; os.umask(0o027); before = I.MAX_IMAGE_PIXELS\n"
        "import deepanon, deepanon.media\n"
        "for m in pkgutil.walk_packages(deepanon.media.__path__, 'deepanon.media.'): importlib.import_module(m.name)\n"
        "import deepanon.cli, deepanon.anonymize.files, deepanon.batch\n"
        "from deepanon.media.images import read_image\n"
        "mask = os.umask(0); print(I.MAX_IMAGE_PIXELS == before, oct(mask))"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "0o27"]


def test_file_mode_follows_the_umask_without_changing_it(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        with atomic_output(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"1")
        assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o600
        assert os.umask(0o077) == 0o077
    finally:
        os.umask(old)
