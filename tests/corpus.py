"""A folder of everything a user's folder can hold, made at test time from scikit-image's astronaut (tests/faces.py)
or synthesised: each entry with its expected outcome. Used by tests/test_corpus.py (`slow`) and the fault tests.

Expectations: "ok" (an output is written, no warning needed), "warn" (written, with a warning on stderr naming it),
"fail" (named on stderr with a reason, no output), "ignored" (not media: counted in the summary, no output).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from tests.faces import scene
from tests.videos import make_test_video

# Location markers planted in metadata: none may appear in any output, even with --keep-metadata.
LOCATION_WORDS = (b"GPSLatitude", b"GPSLongitude", b"Paris", b"France", b"48,51.5N")
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    b' exif:GPSLatitude="48,51.5N" photoshop:City="Paris"><exif:GPSLongitude>2,21.0E</exif:GPSLongitude>'
    b"<photoshop:Country>France</photoshop:Country></rdf:Description></rdf:RDF></x:xmpmeta>"
)
MAX_PIXELS = 20_000_000  # the corpus run's --max-pixels: the bomb below exceeds it


@dataclass(frozen=True)
class Entry:
    path: Path
    expect: str  # ok | warn | fail | ignored
    kind: str = "image"  # image | video | other


def _gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Camera Maker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 30.0)
    gps[3], gps[4] = "E", (2.0, 21.0, 0.0)
    return exif


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def build(root: Path) -> list[Entry]:
    """Write the corpus under root (which must not exist yet) and return its entries."""
    root.mkdir(parents=True)
    entries: list[Entry] = []
    face = scene(240, 320, [(40, 20, 0.8)])
    pic = Image.fromarray(face)

    def add(rel: str | bytes, data: bytes, expect: str = "ok", kind: str = "image") -> Path:
        p = Path(os.fsdecode(os.path.join(os.fsencode(root), os.fsencode(rel))))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        entries.append(Entry(p, expect, kind))
        return p

    # every format and mode
    add("jpeg/baseline.jpg", _encoded(pic, "JPEG", quality=92))
    add("jpeg/progressive.jpg", _encoded(pic, "JPEG", progressive=True))
    add("jpeg/grey.jpg", _encoded(pic.convert("L"), "JPEG"))
    add("jpeg/cmyk.jpg", _encoded(pic.convert("CMYK"), "JPEG"))
    for o in range(1, 9):
        add(f"jpeg/orientation {o}.jpg", _encoded(pic, "JPEG", exif=_gps_exif(o)))
    for mode in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        img = pic.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(pic.convert("L")).astype("<u2") * 257)
        add(f"png/{mode.replace(';', '')}.png", _encoded(img, "PNG"))
    add("png/rgb16.png", _encoded_16bit(face))
    add("webp/lossy.webp", _encoded(pic, "WEBP", quality=80))
    add("webp/lossless alpha.webp", _encoded(pic.convert("RGBA"), "WEBP", lossless=True))
    add("bmp/x.bmp", _encoded(pic, "BMP"))
    add("tiff/lzw.tif", _encoded(pic, "TIFF", compression="tiff_lzw"))
    add("tiff/cmyk.tiff", _encoded(pic.convert("CMYK"), "TIFF"))
    add("tiff/orientation 6.tif", _encoded(pic, "TIFF", exif=_gps_exif(6)))
    add("gif/still.gif", _encoded(pic, "GIF"))
    frames = [Image.fromarray(scene(240, 320, [(30 + 6 * i, 20, 0.8)])) for i in range(4)]
    anim = {"save_all": True, "append_images": frames[1:], "duration": [90, 110, 90, 200], "loop": 0}
    add("gif/animated.gif", _encoded(frames[0], "GIF", **anim))
    add("png/animated.png", _encoded(frames[0], "PNG", **anim))
    add("webp/animated.webp", _encoded(frames[0], "WEBP", lossless=True, **anim))
    add("tiff/pages.tif", _encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]))

    # location in every place it can live
    add("location/exif gps.jpg", _encoded(pic, "JPEG", exif=_gps_exif(), xmp=XMP))
    add("location/xmp.webp", _encoded(pic, "WEBP", exif=_gps_exif(), xmp=XMP))
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("GPSLatitude", "48,51.5N")
    add("location/text.png", _encoded(pic, "PNG", pnginfo=info, exif=_gps_exif()))
    iptc = b"\x1c\x02\x5a\x00\x05Paris\x1c\x02\x65\x00\x06France"
    add("location/iptc.tif", _encoded(pic, "TIFF", tiffinfo={33723: iptc}))

    # names: markup, emoji codes, spaces, a newline, other alphabets, bytes that are not UTF-8, 244 bytes, hidden
    jpg = _encoded(pic, "JPEG")
    for name in (
        "photo [edited].jpg",
        "party :tada: pic.jpg",
        "album[/x.jpg",
        "new\nline.jpg",
        "Ελληνικά 中文 عربي.jpg",
    ):
        add(f"names/{name}", jpg)
    add(b"names/caf\xe9 latin-1.jpg", jpg)
    add("names/" + "n" * 240 + ".jpg", jpg)  # 244 bytes: the temporary name must still fit
    add("names/.hidden.jpg", jpg)
    add(".hidden folder/x.png", _encoded(pic, "PNG"))

    # extreme sizes
    add("sizes/wide.webp", _encoded(Image.new("RGB", (16383, 2), (90, 90, 90)), "WEBP", lossless=True))
    add("sizes/one.png", _encoded(Image.new("RGB", (1, 1)), "PNG"))

    # damaged but readable: written, with a warning
    bad_entropy = bytearray(_encoded(pic, "JPEG", quality=90))
    for i in range(len(bad_entropy) // 2, len(bad_entropy) // 2 + 40):
        bad_entropy[i] ^= 0x5A
    add("damaged/entropy.jpg", bytes(bad_entropy), "warn")
    png = bytearray(_encoded(pic, "PNG"))
    at = png.index(b"IDAT")
    png[at + 4 + int.from_bytes(png[at - 4 : at], "big")] ^= 0xFF  # the IDAT CRC
    add("damaged/crc.png", bytes(png), "warn")

    # bad: named with a reason, no output
    add("bad/empty.jpg", b"", "fail")
    add("bad/truncated.jpg", jpg[: len(jpg) // 3], "fail")
    add("bad/header.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "fail")
    add("bad/text.jpg", b"hello, I am not a picture", "fail")
    add("bad/not a video.mp4", b"not a video at all", "fail", "video")
    add("bad/bomb.png", _encoded(Image.new("1", (5000, 5000)), "PNG"), "fail")  # 25 Mpx > MAX_PIXELS
    add("bad/float.tif", _encoded(Image.fromarray(np.zeros((8, 8), np.float32)), "TIFF"), "fail")
    for name, target in (("bad/loop.jpg", "loop.jpg"), ("bad/broken.png", "missing.png")):
        os.symlink(target, root / name)
        entries.append(Entry(root / name, "fail"))
    os.mkfifo(root / "bad" / "fifo.jpg")
    entries.append(Entry(root / "bad" / "fifo.jpg", "fail", "other"))
    os.symlink("..", root / "bad" / "up")  # a folder loop: named, not followed
    entries.append(Entry(root / "bad" / "up", "fail", "other"))

    # not media: counted as ignored
    add("notes.txt", b"hello", "ignored", "other")
    add("names/._x.jpg", b"\x00\x05\x16\x07" + b"\x00" * 60, "ignored", "other")

    # videos: each container with its usual audio codec, rotation, variable frame rate, a 16x16 one
    def clip(i: int) -> np.ndarray:
        return scene(96, 128, [(10 + 2 * i, 4, 0.3)])

    (root / "video").mkdir()
    containers = (("mp4", "aac"), ("mkv", "libmp3lame"), ("avi", "libmp3lame"), ("mov", "aac"), ("webm", "libopus"))
    for ext, audio in containers:
        entries.append(
            Entry(make_test_video(root / "video" / f"clip.{ext}", clip, n_frames=10, audio=[audio]), "ok", "video")
        )
    entries.append(Entry(make_test_video(root / "video" / "rotated.mp4", clip, n_frames=8, rotation=90), "ok", "video"))
    vfr = [0, 1, 2, 4, 7, 8, 12, 13]
    entries.append(
        Entry(make_test_video(root / "video" / "vfr.mp4", clip, n_frames=8, pts=vfr, fps=Fraction(25)), "ok", "video")
    )
    # An edit list: the video starts 5 frames after the file's time 0 (an empty edit in the mp4's elst), with audio
    # from 0; its timestamps must come out as they went in.
    late = [5 + i for i in range(8)]
    entries.append(
        Entry(
            make_test_video(root / "video" / "editlist.mp4", clip, n_frames=8, pts=late, fps=Fraction(25), audio=1),
            "ok",
            "video",
        )
    )
    tiny = make_test_video(root / "video" / "tiny.mp4", [np.full((16, 16, 3), 9 * i, np.uint8) for i in range(6)])
    entries.append(Entry(tiny, "ok", "video"))
    return entries


def _encoded_16bit(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", (rgb[..., ::-1].astype(np.uint16) * 257))
    assert ok
    return buf.tobytes()
