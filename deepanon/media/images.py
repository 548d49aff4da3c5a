"""Read still images into upright RGB, write the anonymized result back in the input's own format, mode and bit depth.

Decisions:
- The format is decided by content, not by the name: a PNG named `x.jpg` is read as PNG and written back as PNG
  bytes under the same name (the output tree mirrors the input's names; the content keeps its true format, so no
  second lossy generation is added and alpha/16 bit survive).
- Formats: JPEG (and MPO, the JPEG variant phones write: only the primary image is written, the embedded previews,
  which would show the original faces, are dropped), PNG, WebP, BMP, TIFF. Anything else -> MediaError.
- GIF is read and written as GIF. Multi-frame files (animated GIF/PNG/WebP, multi-page TIFF) are read by
  `read_animation` into every frame (composited as displayed) with its duration and the loop count, and written
  back by `write_animation` in the same format: every frame is anonymized, none dropped. read_image raises
  MultiFrameImage (a MediaError) for them so a caller that only handles stills cannot write the first frame alone.
- Pixels the anonymizer did not change are copied from the native array (16 bit, CMYK, alpha, 1 bit...), so
  lossless outputs are bit-exact outside the changed region; only changed pixels are converted back from RGB.
- Metadata: by default only the ICC profile (colour, not personal) and DPI/transparency survive; EXIF (with GPS),
  XMP, comments, IPTC and text chunks are dropped. keep_metadata keeps EXIF minus GPS and the EXIF thumbnail (a
  picture of the original faces), XMP, comments and text; orientation is always reset to 1 since pixels are
  stored upright. Location never survives: the EXIF GPS IFD and MakerNote (vendor data, often with a position),
  XMP location properties (exif:GPS*, photoshop:City/State/Country, Iptc4xmp location, any *GPS*/*Location*
  name), PNG text chunks named for a location and raw EXIF/IPTC profiles stored as text. IPTC (JPEG APP13, TIFF
  tag 33723) is always dropped: it holds city/country fields.
- Damage that decoders paper over is reported in LoadedImage.warnings: corrupt JPEG entropy data (libjpeg-turbo
  via simplejpeg, strict mode) and PNG chunks whose CRC does not match.
- 16-bit RGB(A) PNG/TIFF are read and written with OpenCV (Pillow reduces them to 8 bit); for PNG the ICC profile
  (and text/EXIF with keep_metadata) are spliced in as chunks, 16-bit RGB TIFF outputs carry no metadata.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from deepanon.media.atomic import atomic_output
from deepanon.media.errors import MediaError, os_reason

DEFAULT_MAX_PIXELS = 100_000_000
# Pillow's bomb guard is one process-wide number (Image.MAX_IMAGE_PIXELS) that it checks inside Image.open. Our
# limit is per call: it is put in place for the open only, under a lock, and the host's value restored at once.
_PILLOW_LIMIT_LOCK = threading.Lock()

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
)
# Pillow format name -> the format we write. MPO is a JPEG with appended preview images.
_SUPPORTED = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WEBP",
    "BMP": "BMP",
    "DIB": "BMP",
    "TIFF": "TIFF",
    "GIF": "GIF",
}
_MIN_JPEG_QUALITY = 90
_LOSSY_WEBP_QUALITY = 95
_LOSSLESS_TIFF = {"raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}
# TIFF tags kept with keep_metadata: descriptive text, XMP, IPTC. No GPS, no EXIF sub-IFD (Pillow cannot rewrite
# it reliably in TIFF).
_TIFF_KEEP_TAGS = (270, 271, 272, 305, 306, 315, 700, 33432)
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_MAKER_NOTE = 0x927C
# XMP property (local) names that can locate a picture: exif:GPS*, photoshop:City, Iptc4xmpCore:Location,
# Iptc4xmpExt:LocationShown, drone-dji:GpsLatitude, ... Matched loosely on purpose: dropping an odd property
# costs nothing, keeping a location is the leak --keep-metadata promises not to make.
_LOCATION_NAME = (
    rb"[\w.-]+:\w*(?:GPS|Gps|gps|Latitude|Longitude|Altitude|Location|City|State|Country|Sublocation|WorldRegion)\w*"
)
_XMP_LOCATION = (
    re.compile(rb"<(" + _LOCATION_NAME + rb")\b[^>]*/>", re.S),
    re.compile(rb"<(" + _LOCATION_NAME + rb")\b[^>]*>.*?</\1\s*>", re.S),
    re.compile(rb"\s" + _LOCATION_NAME + rb"""\s*=\s*(?:"[^"]*"|'[^']*')""", re.S),
)
_TEXT_LOCATION = re.compile(r"gps|latitude|longitude|location|city|country|raw profile", re.I)
_JPEG_DAMAGE = ("corrupt", "premature", "huffman", "invalid", "bogus", "truncat")
_XMP_ORIENTATION = (
    re.compile(rb'(tiff:Orientation=")\d(")'),
    re.compile(rb"(<tiff:Orientation>)\d(</tiff:Orientation>)"),
)

# libjpeg's standard luminance table (natural order); quality scales it, so the ratio of sums gives the quality.
_STD_LUMA_SUM = sum(
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56)
    + (14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92)
    + (49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
)


@dataclass
class LoadedImage:
    """An upright image: `rgb` for the pipeline, `native` and the rest to write it back faithfully.

    kind is the native pixel layout: "1" (bool HxW), "L", "LA", "RGB", "RGBA", "CMYK" (uint8),
    "L16", "RGB16", "RGBA16" (uint16, RGB order).
    """

    rgb: np.ndarray  # HxWx3 uint8, upright, C-contiguous
    native: np.ndarray  # upright pixels in `kind` layout
    kind: str
    format: str  # what we write: JPEG, PNG, WEBP, BMP, TIFF
    orientation: int = 1  # the EXIF orientation that was applied to get upright pixels
    icc_profile: bytes | None = None
    exif: bytes | None = None  # raw EXIF (JPEG/PNG/WebP), used only with keep_metadata
    xmp: bytes | None = None
    comment: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)  # PNG text chunks
    tiff_tags: dict[int, object] = field(default_factory=dict)
    dpi: tuple[float, float] | None = None
    transparency: object = None  # PNG tRNS colour for L/RGB images
    quality: int | None = None  # estimated JPEG quality
    subsampling: int | None = None  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    progressive: bool = False
    lossless: bool = True  # WebP: lossless (VP8L) or lossy (VP8)
    compression: str | None = None  # TIFF compression
    warnings: list[str] = field(default_factory=list)  # damage the decoder papered over (the image was read)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


class MultiFrameImage(MediaError):
    """read_image's refusal of an animation or multi-page file: read it with read_animation instead."""


def is_image_path(path: Path | str) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


@contextlib.contextmanager
def _open_limited(path: Path, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """Image.open with `max_pixels` as Pillow's bomb limit for this call only (the global is restored before the
    file is decoded); Pillow's error above twice the limit becomes our MediaError."""
    with _PILLOW_LIMIT_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we refuse over the limit below
                im = Image.open(path)
        except Image.DecompressionBombError:
            raise MediaError(f"decompression bomb: more than twice the limit of {max_pixels} pixels") from None
        finally:
            Image.MAX_IMAGE_PIXELS = old
    with im:
        yield im


@contextlib.contextmanager
def _decode_errors() -> Iterator[None]:
    """Any failure of Pillow while decoding as a MediaError with a one-line, path-free reason."""
    try:
        yield
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError("not an image or video (unknown format)") from None
    except OSError as e:
        raise MediaError(_decode_reason(e)) from None
    except (ValueError, SyntaxError, struct.error, IndexError, KeyError, TypeError, zlib.error, EOFError) as e:
        # Pillow's plugins signal malformed headers with these.
        raise MediaError(f"corrupt image ({type(e).__name__})") from None


# ---------------------------------------------------------------- reading


def read_image(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode `path` (format by content) into a LoadedImage with upright pixels; MediaError for any bad input."""
    path = Path(path)
    with _decode_errors():
        if path.is_dir():
            raise MediaError("is a directory")
        if path.exists() and not path.is_file():  # never opened: reading a FIFO would wait forever
            raise MediaError("not a regular file (a FIFO, socket or device)")
        if path.stat().st_size == 0:
            raise MediaError("empty file")
        with _open_limited(path, max_pixels) as im:
            return _read_opened(path, im, max_pixels)


def _decode_reason(e: OSError) -> str:
    msg = str(e)
    if e.errno is not None:
        return os_reason(e)
    if any(s in msg.lower() for s in ("truncated", "broken data stream", "premature end")):
        return "truncated image file"
    return f"corrupt image ({msg.split(':')[0][:80]})" if msg else "corrupt image"


def _read_opened(path: Path, im: ImageFile.ImageFile, max_pixels: int) -> LoadedImage:
    fmt = _SUPPORTED.get(im.format or "")
    if fmt is None:
        raise MediaError(f"unsupported image format {im.format}")
    w, h = im.size
    if w * h > max_pixels:
        raise MediaError(f"decompression bomb: {w * h} pixels exceeds the limit of {max_pixels} (use --max-pixels)")
    n_frames = getattr(im, "n_frames", 1)
    if n_frames > 1 and im.format != "MPO":
        raise MultiFrameImage(f"multi-frame image ({n_frames} frames)")

    rawmode = _tile_rawmode(im)  # before getexif(): for PNG it may decode the image and clear the tile list
    info = im.info
    exif = im.getexif()
    orientation = int(exif.get(_ORIENTATION, 1) or 1)
    if orientation not in range(1, 9):
        orientation = 1
    loaded = LoadedImage(
        rgb=np.zeros((0, 0, 3), np.uint8),
        native=np.zeros((0, 0, 3), np.uint8),
        kind="RGB",
        format=fmt,
        orientation=orientation,
        icc_profile=info.get("icc_profile") or None,
        exif=info.get("exif") or None,
        xmp=_as_bytes(info.get("xmp") or info.get("XML:com.adobe.xmp")),
        comment=_as_bytes(info.get("comment")),
        dpi=_dpi(info.get("dpi")),
        transparency=info.get("transparency") if im.mode in ("L", "RGB", "I;16") else None,
        progressive=bool(info.get("progressive") or info.get("progression")),
        compression=info.get("compression"),
    )
    if fmt == "JPEG":
        loaded.quality = _jpeg_quality(im)
        sampling = JpegImagePlugin.get_sampling(im)
        loaded.subsampling = sampling if sampling in (0, 1, 2) else 0
    if fmt == "PNG":
        loaded.text = {k: v for k, v in getattr(im, "text", {}).items() if isinstance(v, str)}
    if fmt == "WEBP":
        loaded.lossless = _webp_is_lossless(path)
    if fmt == "TIFF":
        tags = getattr(im, "tag_v2", {})
        loaded.tiff_tags = {t: tags[t] for t in _TIFF_KEEP_TAGS if t in tags}
        loaded.xmp = _as_bytes(tags.get(700)) or loaded.xmp

    if im.mode in ("RGB", "RGBA") and ";16" in rawmode:
        native, kind = _read_16bit_color(path, im.mode)
    else:
        im.load()  # decodes now; truncated/corrupt data raises OSError here
        native, kind = _native_from_pil(im)
        # Pillow turns TIFFs upright itself while loading (and drops the tag): what is left is ours to apply.
        orientation = int(im.getexif().get(_ORIENTATION, 1) or 1) if fmt == "TIFF" else orientation
        orientation = orientation if orientation in range(1, 9) else 1
        loaded.orientation = orientation

    loaded.warnings = _hidden_damage(path, fmt)
    native = np.ascontiguousarray(_orient(native, orientation))
    loaded.native, loaded.kind = native, kind
    loaded.rgb = np.ascontiguousarray(_to_rgb8(native, kind))
    return loaded


def _hidden_damage(path: Path, fmt: str) -> list[str]:
    """Damage Pillow decodes through without a word: corrupt JPEG entropy data, PNG chunks with a bad CRC."""
    data = path.read_bytes()
    if fmt == "JPEG":
        try:  # entropy decoding at 1/8 scale: libjpeg-turbo's warnings, without the full-size IDCT
            simplejpeg.decode_jpeg(data, colorspace="gray", min_factor=8, strict=True)
        except ValueError as e:
            msg = str(e)
            if any(k in msg.lower() for k in _JPEG_DAMAGE):
                return [f"corrupt JPEG data, decoded with errors ({msg.strip()[:100]})"]
        return []
    if fmt == "PNG":
        bad = sorted(set(_png_bad_crc(data)))
        if bad:
            return [f"PNG checksum mismatch in {', '.join(bad)} chunk(s): the data may be damaged"]
    return []


def _png_bad_crc(data: bytes) -> Iterator[str]:
    pos = 8
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            return
        if zlib.crc32(data[pos + 4 : end]) & 0xFFFFFFFF != struct.unpack(">I", data[end : end + 4])[0]:
            yield kind.decode("latin-1", "replace")
        if kind == b"IEND":
            return
        pos = end + 4


def _as_bytes(v: object) -> bytes | None:
    if isinstance(v, bytes):
        return v or None
    if isinstance(v, str):
        return v.encode("utf-8") or None
    return None


def _dpi(v: object) -> tuple[float, float] | None:
    if isinstance(v, tuple) and len(v) == 2:
        return (float(v[0]), float(v[1]))
    return None


def _tile_rawmode(im: ImageFile.ImageFile) -> str:  # .tile: a file's decoder list
    if not im.tile:
        return ""
    args = im.tile[0].args
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _jpeg_quality(im: Image.Image) -> int | None:
    tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables:
        return None
    scale = 100.0 * sum(tables[0]) / _STD_LUMA_SUM  # libjpeg: table = std * scale / 100
    q = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return int(min(100, max(1, round(q))))


def _webp_is_lossless(path: Path) -> bool:
    """True when the bitstream chunk is VP8L (lossless); walks the RIFF chunks of extended (VP8X) files."""
    with open(path, "rb") as f:
        header = f.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
            return False
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return False
            fourcc, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if fourcc == b"VP8L":
                return True
            if fourcc in (b"VP8 ", b"ALPH"):
                return False
            f.seek(size + (size & 1), io.SEEK_CUR)


def _read_16bit_color(path: Path, mode: str) -> tuple[np.ndarray, str]:
    data = np.fromfile(path, np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise MediaError("corrupt 16-bit image")
    if arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., [2, 1, 0, 3]]), "RGBA16"
    return np.ascontiguousarray(arr[..., ::-1]), "RGB16"


def _native_from_pil(im: Image.Image) -> tuple[np.ndarray, str]:
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=bool), "1"
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return np.asarray(im), mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im).astype(np.uint16), "L16"
    if mode == "La":
        return np.asarray(im.convert("LA")), "LA"
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        target = "RGBA" if has_alpha else "RGB"
        return np.asarray(im.convert(target)), target
    if mode in ("RGBa", "RGBX", "YCbCr"):
        target = "RGBA" if mode == "RGBa" else "RGB"
        return np.asarray(im.convert(target)), target
    raise MediaError(f"unsupported pixel mode {mode}")


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an HxW[xC] array, as ImageOps.exif_transpose does."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return np.swapaxes(a, 0, 1)
    if orientation == 6:
        return np.rot90(a, -1)
    if orientation == 7:
        return np.swapaxes(a, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(a, 1)
    return a


def _to8(a: np.ndarray) -> np.ndarray:
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _to_rgb8(native: np.ndarray, kind: str) -> np.ndarray:
    if kind == "1":
        return np.repeat((native.astype(np.uint8) * 255)[..., None], 3, axis=2)
    if kind == "L":
        return np.repeat(native[..., None], 3, axis=2)
    if kind == "LA":
        return np.repeat(native[..., :1], 3, axis=2)
    if kind == "L16":
        return np.repeat(_to8(native)[..., None], 3, axis=2)
    if kind in ("RGB", "RGBA"):
        return native[..., :3]
    if kind in ("RGB16", "RGBA16"):
        return _to8(native[..., :3])
    if kind == "CMYK":
        return np.asarray(Image.frombytes("CMYK", native.shape[1::-1], native.tobytes()).convert("RGB"))
    raise AssertionError(kind)


# ---------------------------------------------------------------- writing


def write_image(dst: Path | str, loaded: LoadedImage, rgb: np.ndarray, keep_metadata: bool = False) -> None:
    """Write `rgb` (the anonymized loaded.rgb) to `dst` atomically, in loaded's format, mode and bit depth.

    Pixels equal to loaded.rgb are taken from loaded.native unchanged; only changed pixels are converted.
    """
    if rgb.shape != loaded.rgb.shape or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be {loaded.rgb.shape} uint8, got {rgb.shape} {rgb.dtype}")
    native = _merge_native(loaded, rgb)
    try:
        if loaded.kind in ("RGB16", "RGBA16"):
            data = _encode_16bit_color(native, loaded, keep_metadata)
            with atomic_output(Path(dst)) as tmp:
                tmp.write_bytes(data)
            return
        im = _pil_from_native(native, loaded.kind)
        kwargs = _save_kwargs(loaded, keep_metadata)
        with atomic_output(Path(dst)) as tmp:
            im.save(tmp, format=loaded.format, **kwargs)
    except OSError as e:
        raise MediaError(os_reason(e) if e.errno is not None else f"cannot encode image ({e})") from None


def _merge_native(loaded: LoadedImage, rgb: np.ndarray) -> np.ndarray:
    changed = np.any(rgb != loaded.rgb, axis=2)
    out = loaded.native.copy()
    if not changed.any():
        return out
    px = rgb[changed].astype(np.uint32)  # (N, 3)
    # ITU-R 601-2 luma, the formula Pillow's convert("L") uses.
    grey = ((px[:, 0] * 299 + px[:, 1] * 587 + px[:, 2] * 114 + 500) // 1000).astype(np.uint8)
    kind = loaded.kind
    if kind == "1":
        out[changed] = grey >= 128
    elif kind == "L":
        out[changed] = grey
    elif kind == "LA":
        out[changed, 0] = grey
    elif kind == "L16":
        out[changed] = grey.astype(np.uint16) * 257
    elif kind in ("RGB", "RGBA"):
        out[changed, :3] = px.astype(np.uint8)
    elif kind in ("RGB16", "RGBA16"):
        out[changed, :3] = px.astype(np.uint16) * 257
    elif kind == "CMYK":
        out[changed] = np.concatenate([255 - px.astype(np.uint8), np.zeros((len(px), 1), np.uint8)], axis=1)
    return out


def _pil_from_native(native: np.ndarray, kind: str) -> Image.Image:
    size = (native.shape[1], native.shape[0])
    if kind == "1":
        grey = Image.frombytes("L", size, (native.astype(np.uint8) * 255).tobytes())
        return grey.convert("1", dither=Image.Dither.NONE)
    if kind == "L16":
        return Image.frombytes("I;16", size, native.astype("<u2").tobytes())
    return Image.frombytes(kind, size, np.ascontiguousarray(native).tobytes())


def _upright_exif(raw: bytes) -> bytes:
    """EXIF for keep_metadata: GPS and the MakerNote removed, orientation 1, no IFD1 thumbnail (it shows the
    original faces)."""
    exif = Image.Exif()
    exif.load(raw)
    exif.get_ifd(_GPS_IFD)  # load it so that the deletion below also drops the cached IFD
    if _GPS_IFD in exif:
        del exif[_GPS_IFD]
    exif._ifds.pop(_GPS_IFD, None)  # Pillow caches loaded IFDs and would write them back
    exif.get_ifd(_EXIF_IFD).pop(_MAKER_NOTE, None)  # the cached sub-IFD is what tobytes writes
    exif[_ORIENTATION] = 1
    return exif.tobytes()


def _upright_xmp(xmp: bytes) -> bytes:
    """XMP for keep_metadata: orientation 1, every location property removed."""
    for pattern in _XMP_ORIENTATION:
        xmp = pattern.sub(rb"\g<1>1\g<2>", xmp)
    for pattern in _XMP_LOCATION:
        xmp = pattern.sub(b"", xmp)
    return xmp


def _kept_text(text: dict[str, str]) -> dict[str, str]:
    """PNG text chunks for keep_metadata: none named for a location or holding a raw EXIF/IPTC profile."""
    kept = {}
    for k, v in text.items():
        if k == "XML:com.adobe.xmp":
            kept[k] = _upright_xmp(v.encode("utf-8")).decode("utf-8", "replace")
        elif not _TEXT_LOCATION.search(k):
            kept[k] = v
    return kept


def _save_kwargs(loaded: LoadedImage, keep: bool) -> dict:
    kw: dict = {}
    if loaded.icc_profile and loaded.format != "BMP":
        kw["icc_profile"] = loaded.icc_profile
    if loaded.dpi and loaded.format in ("JPEG", "PNG", "TIFF", "BMP"):
        kw["dpi"] = loaded.dpi
    fmt = loaded.format
    if fmt == "JPEG":
        kw["quality"] = max(_MIN_JPEG_QUALITY, loaded.quality or _MIN_JPEG_QUALITY)
        kw["subsampling"] = loaded.subsampling if loaded.subsampling is not None else 0
        kw["progressive"] = loaded.progressive
        if keep and loaded.comment:
            kw["comment"] = loaded.comment
    elif fmt == "PNG":
        if loaded.transparency is not None:
            kw["transparency"] = loaded.transparency
        if keep and loaded.text:
            info = PngImagePlugin.PngInfo()
            for k, v in _kept_text(loaded.text).items():
                info.add_itxt(k, v)
            kw["pnginfo"] = info
    elif fmt == "WEBP":
        if loaded.lossless:
            kw.update(lossless=True, exact=True)
        else:
            kw["quality"] = _LOSSY_WEBP_QUALITY
    elif fmt == "TIFF":
        kw["compression"] = loaded.compression if loaded.compression in _LOSSLESS_TIFF else "tiff_adobe_deflate"
        if keep and loaded.tiff_tags:
            tags = dict(loaded.tiff_tags)
            if isinstance(tags.get(700), bytes | str):
                tags[700] = _upright_xmp(_as_bytes(tags[700]) or b"")
            kw["tiffinfo"] = tags
    if keep and fmt in ("JPEG", "PNG", "WEBP"):
        if loaded.exif:
            kw["exif"] = _upright_exif(loaded.exif)
        if loaded.xmp and fmt in ("JPEG", "WEBP"):
            kw["xmp"] = _upright_xmp(loaded.xmp)
    return kw


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode_16bit_color(native: np.ndarray, loaded: LoadedImage, keep: bool) -> bytes:
    order = [2, 1, 0, 3] if native.shape[2] == 4 else [2, 1, 0]
    bgr = np.ascontiguousarray(native[..., order])
    ext = ".png" if loaded.format == "PNG" else ".tiff"
    ok, buf = cv2.imencode(ext, bgr)
    if not ok:
        raise MediaError("cannot encode 16-bit image")
    data = buf.tobytes()
    if loaded.format != "PNG":
        return data
    # Splice ancillary chunks in right after IHDR (8-byte signature + 25-byte IHDR chunk).
    extra = b""
    if loaded.icc_profile:
        extra += _png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(loaded.icc_profile))
    if keep:
        if loaded.exif:
            raw = _upright_exif(loaded.exif)
            extra += _png_chunk(b"eXIf", raw[6:] if raw.startswith(b"Exif\0\0") else raw)
        for k, v in _kept_text(loaded.text).items():
            key = k.encode("latin-1", "replace")[:79]
            extra += _png_chunk(b"iTXt", key + b"\0\0\0\0\0" + v.encode("utf-8"))
    return data[:33] + extra + data[33:]


# ---------------------------------------------------------------- animations and multi-page files


@dataclass
class Animation:
    """Every frame of an animated GIF/PNG/WebP or multi-page TIFF, as displayed, upright RGB (alpha apart)."""

    frames: list[np.ndarray]  # HxWx3 uint8 each; TIFF pages may differ in size
    alpha: list[np.ndarray | None]  # HxW uint8 per frame, None where the frame is opaque
    durations: list[int]  # ms per frame (0 for TIFF pages)
    format: str  # GIF, PNG, WEBP or TIFF
    loop: int | None = None  # 0: forever; None: the format's default (play once)
    lossless: bool = True  # WebP
    compression: str | None = None  # TIFF
    icc_profile: bytes | None = None

    @property
    def same_size(self) -> bool:
        return len({f.shape for f in self.frames}) == 1


def read_animation(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Animation:
    """All frames of a multi-frame image; MediaError when bad or when all frames together exceed max_pixels (they
    are held in memory together, like a short video)."""
    path = Path(path)
    with _decode_errors(), _open_limited(path, max_pixels) as im:
        fmt = _SUPPORTED.get(im.format or "")
        if fmt not in ("GIF", "PNG", "WEBP", "TIFF"):
            raise MediaError(f"unsupported multi-frame format {im.format}")
        n = getattr(im, "n_frames", 1)
        w, h = im.size
        if n * w * h > max_pixels:
            raise MediaError(
                f"animation too large: {n} frames of {w}x{h} exceed the limit of {max_pixels} pixels in all "
                "(use --max-pixels)"
            )
        anim = Animation([], [], [], fmt, loop=im.info.get("loop"), icc_profile=im.info.get("icc_profile"))
        anim.compression = im.info.get("compression")
        if fmt == "WEBP":
            anim.lossless = _webp_is_lossless(path)
        for i in range(n):
            im.seek(i)
            im.load()
            native, kind = _native_from_pil(im)
            if fmt == "TIFF":
                orientation = int(im.getexif().get(_ORIENTATION, 1) or 1)
                native = _orient(native, orientation if orientation in range(1, 9) else 1)
            has_alpha = kind in ("LA", "RGBA", "RGBA16")
            anim.frames.append(np.ascontiguousarray(_to_rgb8(native, kind)))
            anim.alpha.append(np.ascontiguousarray(native[..., -1]).astype(np.uint8) if has_alpha else None)
            anim.durations.append(int(im.info.get("duration", 0) or 0))
        return anim


def write_animation(dst: Path | str, anim: Animation, frames: list[np.ndarray]) -> None:
    """Write the anonymized `frames` (one per anim frame, same sizes) to dst atomically, in anim's format with its
    durations and loop count. No metadata is carried over (only the colour profile)."""
    if len(frames) != len(anim.frames) or any(a.shape != b.shape for a, b in zip(frames, anim.frames)):
        raise ValueError("write_animation needs one frame of the original size per frame")
    images = []
    for rgb, alpha in zip(frames, anim.alpha):
        im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
        if alpha is not None:
            im.putalpha(Image.fromarray(alpha, "L"))
        images.append(im)
    kw: dict = {"save_all": True, "append_images": images[1:]}
    if anim.format != "TIFF":
        kw["duration"] = anim.durations
        if anim.loop is not None:
            kw["loop"] = anim.loop
    if anim.icc_profile and anim.format != "GIF":
        kw["icc_profile"] = anim.icc_profile
    if anim.format == "GIF" and any(a is not None for a in anim.alpha):
        kw["disposal"] = 2  # frames are whole canvases: clear before each, so transparency does not show the last
    if anim.format == "PNG":
        kw["default_image"] = False
    if anim.format == "WEBP":
        kw.update(lossless=True, exact=True) if anim.lossless else kw.update(quality=_LOSSY_WEBP_QUALITY)
    if anim.format == "TIFF":
        kw["compression"] = anim.compression if anim.compression in _LOSSLESS_TIFF else "tiff_adobe_deflate"
    try:
        with atomic_output(Path(dst)) as tmp:
            images[0].save(tmp, format=anim.format, **kw)
    except OSError as e:
        raise MediaError(os_reason(e) if e.errno is not None else f"cannot encode image ({e})") from None
