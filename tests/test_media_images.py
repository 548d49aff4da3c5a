"""Image read/write: formats, modes, orientation, metadata policy, bad inputs, atomic writes."""

from __future__ import annotations

import functools
import hashlib
import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from deepanon.media.atomic import TMP_MARKER, atomic_output
from deepanon.media.errors import MediaError
from deepanon.media.images import LoadedImage, _jpeg_quality, is_image_path, read_image, write_image

RNG = np.random.default_rng(0)
BOX = (slice(8, 20), slice(10, 30))  # the "face" the fake anonymizer paints


def _noise(h: int = 40, w: int = 48, c: int | None = 3, dtype=np.uint8) -> np.ndarray:
    hi = 65536 if dtype == np.uint16 else 256
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, hi, shape).astype(dtype)


def _anonymize(loaded: LoadedImage) -> np.ndarray:
    out = loaded.rgb.copy()
    out[BOX] = (200, 30, 60)
    return out


def _unchanged(a: np.ndarray) -> np.ndarray:
    mask = np.ones(a.shape[:2], bool)
    mask[BOX] = False
    return a[mask]


@functools.cache  # the profile embeds its creation time: build it once so comparisons are stable
def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _make(path: Path, mode: str, fmt: str, **save) -> Path:
    """A noisy image of the given Pillow mode (or RGB16/RGBA16 via OpenCV)."""
    if mode in ("RGB16", "RGBA16"):
        arr = _noise(c=3 if mode == "RGB16" else 4, dtype=np.uint16)
        assert cv2.imwrite(str(path), arr)
        return path
    if mode == "I;16":
        im = Image.frombytes("I;16", (48, 40), _noise(c=None, dtype=np.uint16).astype("<u2").tobytes())
    elif mode == "1":
        im = Image.frombytes("L", (48, 40), _noise(c=None).tobytes()).convert("1")
    elif mode == "P":
        im = Image.frombytes("RGB", (48, 40), _noise().tobytes()).quantize(16)
        save.setdefault("transparency", 3)
    else:
        channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
        im = Image.frombytes(mode, (48, 40), _noise(c=channels).tobytes())
    im.save(path, format=fmt, **save)
    return path


LOSSLESS = [
    ("PNG", "L", "L"),
    ("PNG", "LA", "LA"),
    ("PNG", "RGB", "RGB"),
    ("PNG", "RGBA", "RGBA"),
    ("PNG", "P", "RGBA"),
    ("PNG", "1", "1"),
    ("PNG", "I;16", "L16"),
    ("PNG", "RGB16", "RGB16"),
    ("PNG", "RGBA16", "RGBA16"),
    ("TIFF", "L", "L"),
    ("TIFF", "RGB", "RGB"),
    ("TIFF", "RGBA", "RGBA"),
    ("TIFF", "CMYK", "CMYK"),
    ("TIFF", "I;16", "L16"),
    ("TIFF", "RGB16", "RGB16"),
    ("BMP", "RGB", "RGB"),
    ("BMP", "L", "L"),
    ("WEBP", "RGB", "RGB"),
    ("WEBP", "RGBA", "RGBA"),
]


@pytest.mark.parametrize(("fmt", "mode", "kind"), LOSSLESS, ids=[f"{f}-{m}" for f, m, _ in LOSSLESS])
def test_lossless_round_trip_keeps_unchanged_pixels_bit_exact(tmp_path: Path, fmt: str, mode: str, kind: str) -> None:
    ext = {"PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp"}[fmt]
    src = _make(tmp_path / f"in{ext}", mode, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    before = src.read_bytes()
    loaded = read_image(src)
    assert loaded.kind == kind and loaded.format == fmt
    assert loaded.rgb.shape == (40, 48, 3) and loaded.rgb.dtype == np.uint8 and loaded.rgb.flags.c_contiguous
    dst = tmp_path / f"out{ext}"
    write_image(dst, loaded, _anonymize(loaded))
    again = read_image(dst)
    assert again.kind == kind and again.format == fmt and again.native.dtype == loaded.native.dtype
    assert np.array_equal(_unchanged(again.native), _unchanged(loaded.native))
    if kind not in ("1",):  # the painted colour survives (within the mode's precision)
        assert not np.array_equal(again.native[BOX], loaded.native[BOX])
    assert src.read_bytes() == before  # inputs are never modified


def test_alpha_kept_under_painted_region(tmp_path: Path) -> None:
    loaded = read_image(_make(tmp_path / "a.png", "RGBA", "PNG"))
    write_image(tmp_path / "b.png", loaded, _anonymize(loaded))
    out = read_image(tmp_path / "b.png")
    assert np.array_equal(out.native[..., 3], loaded.native[..., 3])
    assert (out.native[BOX][..., :3] == (200, 30, 60)).all()


def test_sixteen_bit_painted_pixels_are_scaled(tmp_path: Path) -> None:
    loaded = read_image(_make(tmp_path / "a.png", "RGB16", "PNG"))
    write_image(tmp_path / "b.png", loaded, _anonymize(loaded))
    native = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    assert native.dtype == np.uint16
    assert (native[BOX][..., ::-1] == np.array([200, 30, 60]) * 257).all()


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_jpeg_round_trip_within_codec_noise(tmp_path: Path, mode: str) -> None:
    smooth = np.linspace(0, 255, 48 * 40 * 4).reshape(40, 48, 4).astype(np.uint8)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    src = tmp_path / "in.jpg"
    Image.frombytes(mode, (48, 40), np.ascontiguousarray(smooth[..., :channels]).tobytes()).save(src, quality=92)
    loaded = read_image(src)
    assert loaded.kind == mode and loaded.format == "JPEG"
    write_image(tmp_path / "out.jpg", loaded, _anonymize(loaded))
    again = read_image(tmp_path / "out.jpg")
    assert again.kind == mode
    diff = np.abs(_unchanged(again.rgb).astype(int) - _unchanged(loaded.rgb).astype(int))
    assert diff.mean() < 3


def test_jpeg_quality_never_below_90_and_kept_when_higher(tmp_path: Path) -> None:
    img = Image.frombytes("RGB", (48, 40), _noise().tobytes())
    for q_in, q_min in ((60, 90), (97, 96)):
        src = tmp_path / f"q{q_in}.jpg"
        img.save(src, quality=q_in, subsampling=1)
        loaded = read_image(src)
        assert abs(loaded.quality - q_in) <= 1
        write_image(tmp_path / "out.jpg", loaded, loaded.rgb)
        with Image.open(tmp_path / "out.jpg") as out:
            assert _jpeg_quality(out) >= q_min
            assert JpegImagePlugin.get_sampling(out) == 1  # the input's 4:2:2 is kept


def _exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "DeepanonCam"  # Make
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.0)})
    return exif


def test_exif_orientation_applied_and_reset(tmp_path: Path) -> None:
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :10] = 255  # top-left as stored
    src = tmp_path / "o6.jpg"
    Image.fromarray(stored).save(src, exif=_exif_with_gps(6), quality=95)
    loaded = read_image(src)
    assert loaded.rgb.shape == (60, 40, 3)  # 6 = rotate 90 clockwise to display
    assert loaded.rgb[:10, -10:].mean() > 200 and loaded.rgb[-10:, :10].mean() < 50
    for keep in (False, True):
        dst = tmp_path / f"out{keep}.jpg"
        write_image(dst, loaded, loaded.rgb, keep_metadata=keep)
        with Image.open(dst) as out:
            assert out.size == (40, 60)
            assert out.getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_pillow(tmp_path: Path, orientation: int) -> None:
    src = tmp_path / "o.png"
    Image.fromarray(_noise(5, 7)).save(src, exif=_exif_with_gps(orientation))
    with Image.open(src) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(read_image(src).rgb, expected)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_metadata_policy(tmp_path: Path, ext: str) -> None:
    src = tmp_path / f"in{ext}"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="3"/></x:xmpmeta>'
    extra = {"xmp": xmp, "comment": b"secret"} if ext == ".jpg" else {"xmp": xmp} if ext == ".webp" else {}
    Image.fromarray(_noise()).save(src, exif=_exif_with_gps(1), icc_profile=_icc(), **extra)
    loaded = read_image(src)

    write_image(tmp_path / f"strip{ext}", loaded, loaded.rgb)
    with Image.open(tmp_path / f"strip{ext}") as out:
        assert out.info.get("icc_profile") == _icc()  # colour kept
        assert not out.getexif() and "xmp" not in out.info and "comment" not in out.info

    write_image(tmp_path / f"keep{ext}", loaded, loaded.rgb, keep_metadata=True)
    with Image.open(tmp_path / f"keep{ext}") as out:
        exif = out.getexif()
        assert exif.get(0x010F) == "DeepanonCam"
        assert 0x8825 not in exif and not exif.get_ifd(0x8825)  # GPS always removed
        assert out.info.get("icc_profile") == _icc()
        if ext == ".jpg":
            assert out.info.get("comment") == b"secret"
        if ext != ".png":
            assert b'tiff:Orientation="1"' in out.info["xmp"]


def test_icc_kept_for_16_bit_png(tmp_path: Path) -> None:
    src = _make(tmp_path / "in.png", "RGB16", "PNG")
    loaded = read_image(src)
    loaded.icc_profile = _icc()
    write_image(tmp_path / "out.png", loaded, loaded.rgb)
    with Image.open(tmp_path / "out.png") as out:
        assert out.info.get("icc_profile") == _icc()
    assert read_image(tmp_path / "out.png").kind == "RGB16"


def test_format_decided_by_content(tmp_path: Path) -> None:
    src = _make(tmp_path / "really_png.jpg", "RGBA", "PNG")
    loaded = read_image(src)
    assert loaded.format == "PNG" and loaded.kind == "RGBA"
    write_image(tmp_path / "out.jpg", loaded, loaded.rgb)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.format == "PNG"
    assert np.array_equal(read_image(tmp_path / "out.jpg").native, loaded.native)


def test_decompression_bomb_checked_before_decoding(tmp_path: Path) -> None:
    src = _make(tmp_path / "big.png", "RGB", "PNG")
    with pytest.raises(MediaError, match=r"decompression bomb: 1920 pixels exceeds the limit of 1000"):
        read_image(src, max_pixels=1000)
    assert read_image(src, max_pixels=1920).rgb.shape == (40, 48, 3)


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_noise(64, 64)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"hello, I am not a picture\n" * 10, "unknown format"),
        ("truncated.jpg", _jpeg_bytes()[:600], "truncated"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "corrupt|unknown"),
        (
            "garbage.jpg",
            b"\xff\xd8\xff\xe0" + RNG.integers(0, 256, 300).astype(np.uint8).tobytes(),
            "corrupt|unknown|truncated",
        ),
    ],
)
def test_bad_inputs_raise_media_error(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MediaError, match=reason) as err:
        read_image(path)
    assert str(tmp_path) not in str(err.value) and "\n" not in str(err.value)


def test_missing_and_directory_raise_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(MediaError, match="directory"):
        read_image(tmp_path)


def test_multi_frame_images_are_refused(tmp_path: Path) -> None:
    frames = [Image.fromarray(_noise()) for _ in range(2)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for name in ("anim.png", "pages.tif"):
        with pytest.raises(MediaError, match="multi-frame"):
            read_image(tmp_path / name)


def test_write_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = read_image(_make(tmp_path / "in.png", "RGB", "PNG"))

    def boom(*args, **kwargs):
        raise RuntimeError("encoder died")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(RuntimeError):
        write_image(tmp_path / "sub" / "out.png", loaded, loaded.rgb)
    assert list((tmp_path / "sub").iterdir()) == []


def test_atomic_output_replaces_or_cleans_up(tmp_path: Path) -> None:
    dst = tmp_path / "deep" / "x.png"
    with atomic_output(dst) as tmp:
        assert tmp.parent == dst.parent and tmp.suffix == ".png" and tmp.name.startswith(".x" + TMP_MARKER)
        tmp.write_bytes(b"new")
    assert dst.read_bytes() == b"new" and oct(dst.stat().st_mode & 0o777) != oct(0o600)
    with pytest.raises(KeyboardInterrupt), atomic_output(dst) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert dst.read_bytes() == b"new"
    assert os.listdir(dst.parent) == ["x.png"]


def test_read_write_leaves_input_bytes_alone(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    Image.fromarray(_noise()).save(src, exif=_exif_with_gps(6))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    loaded = read_image(src)
    write_image(tmp_path / "out.jpg", loaded, _anonymize(loaded), keep_metadata=True)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest


def test_extensions() -> None:
    assert is_image_path("a/B.JPG") and is_image_path("x.tiff") and not is_image_path("x.mp4")


def test_lossy_webp_stays_lossy_and_close(tmp_path: Path) -> None:
    smooth = np.linspace(0, 255, 48 * 40 * 3).reshape(40, 48, 3).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "in.webp", quality=80)
    loaded = read_image(tmp_path / "in.webp")
    assert loaded.format == "WEBP" and not loaded.lossless
    write_image(tmp_path / "out.webp", loaded, _anonymize(loaded))
    again = read_image(tmp_path / "out.webp")
    assert not again.lossless
    assert np.abs(_unchanged(again.rgb).astype(int) - _unchanged(loaded.rgb).astype(int)).mean() < 3
