"""The one configuration of an anonymization run: a tree of frozen dataclasses, serialisable to JSON and back.

    AnonymizerConfig(method, seed, detector, painter, paint, tracker, output)

Every default is written once, in the dataclass that owns it (with why it is what it is); the CLI maps its flags
onto fields (cli.ANONYMIZE_FLAGS), Ray workers receive the tree as JSON, the report records it, and
`deepanon anonymize --print-config` / `--config FILE` (TOML or JSON) make a run reproducible.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from deepanon.detect.detector import DetectorConfig
from deepanon.geometry.masks import DEFAULT_FEATHER, DEFAULT_MASK_SCALE
from deepanon.media.images import DEFAULT_MAX_PIXELS
from deepanon.media.video import DEFAULT_CRF, DEFAULT_VIDEO_BATCH
from deepanon.track import TrackerConfig

__all__ = [
    "AnonymizerConfig",
    "ConfigError",
    "DetectorConfig",
    "OutputConfig",
    "PaintConfig",
    "PainterConfig",
    "TrackerConfig",
    "load_config",
]


class ConfigError(ValueError):
    """A configuration that cannot be used: unknown key, wrong type, or a value out of range."""


@dataclass(frozen=True)
class PainterConfig:
    """How a face is replaced: the region (every method) and the GAN's settings (method gan)."""

    mask_scale: float = DEFAULT_MASK_SCALE  # the region's ellipse, x the face box (geometry.masks says why 1.5)
    feather: float = DEFAULT_FEATHER  # its soft rim, fraction of the radius, outside the ellipse
    # Truncation trick (StyleGAN): each new face's w is pulled this far towards the average w. On 100 held-out photos
    # (benchmarks/gan_refind.py --truncation) MTCNN re-finds 99 % of the faces at psi 1.0, 100 % at 0.7 and at 0.5
    # (128-px weights; the 64-px ones needed it more: 92 / 99 / 100 %); 0.7 keeps most of the variety between
    # identities.
    truncation: float = 0.7
    # The generator (2.8 M training images) leaves red/blue speckle on faces; the eye reads colour at a much lower
    # resolution than brightness (JPEG halves it), so the chroma of each painted crop is smoothed with this Gaussian
    # sigma (px at 128 px) and the brightness left sharp.
    chroma_sigma: float = 3.0
    colour_match: bool = True  # shift each painted crop's colours to match the rim it is blended into
    # Halo: the global colour match leaves the painted face's edge off where the light varies across the head (one
    # side lit, a coloured wall behind): a coloured ring at the seam. The remaining offset, measured on the rim
    # (outside the face, where both are seen), is spread inward as a smooth field (normalised convolution with this
    # sigma, share of the crop side) and added to the painted crop: colour and light only, no detail of the original
    # face. 0: off. Large faces of the samples (benchmarks/large_faces.py): seam difference 20.1 -> 15.9 grey levels.
    rim_sigma: float = 0.12
    # Large faces: the 128-px crop is enlarged (a 300-px face: 2.3x) and looks soft; cubic resampling and an unsharp
    # mask on the brightness, this much stronger per doubling (anonymize.gan.SHARPEN_MAX caps it). 0: off.
    # benchmarks/large_faces.py: sharpness relative to the original 0.15 -> 0.41.
    sharpen: float = 0.6
    # Large faces: the generator's faces are as often a man as a woman and mostly adults, whatever the person (held-out
    # UTKFace adults: the painted face had the original's apparent sex in 49 % of cases and was 13 years off; with 4
    # candidates 79 % and 10 years; dlib's "same person" rate unchanged for adults, for children 2 -> 10-12 %, under
    # their 55 % chance level; RESULTS.md identity_probe-candidates, identity_probe-17). A face
    # of at least candidates_min_face px gets `candidates` new faces and keeps the one whose apparent sex and age
    # (detect/attributes.py) are nearest the original's; in video each track chooses once. 1: off. Smaller faces
    # show too little of either to a viewer to be worth the extra generator passes.
    candidates: int = 4
    candidates_min_face: int = 64
    # With directions fitted for the generator (gan/directions.py), half as many draws are each moved in w by this
    # share of what they missed of the original's apparent sex and age, and painted again; 0: plain draws only.
    # Held-out faces, same draws (benchmarks/identity_probe.py, RESULTS.md identity_probe-move): sex kept for UTKFace
    # adults 79 % (0), 87 % (0.5), 95 % (1); dlib's "still the same person" 3.6, 5.2, 4.8 %; LFW 0.9, 0.9, 2.6 %. A
    # new face nearer the original's sex and age is nearer its identity too: privacy first, 0 by default.
    attribute_move: float = 0.0
    batch: int = 64  # faces through the generator at once (all faces of all frames of a call, in as few as this)
    half: bool | None = None  # fp16 generator; None: on CUDA
    # bf16 autocast on CPUs that compute it natively: 2x faster (75 -> 38 ms a face on one AMD EPYC core), a mean
    # change of 1 grey level; G was trained under bf16 autocast. None: where the CPU has it. (CUDA runs fp16.)
    bf16: bool | None = None
    weights: str | None = None  # generator .safetensors (its .json card beside it); None: the one shipped in deepanon

    def __post_init__(self) -> None:
        if self.mask_scale < 1.0:
            raise ConfigError("mask_scale must be at least 1.0 (the whole face box)")
        if self.feather < 0:
            raise ConfigError("feather must be 0 (a hard edge) or more")
        if not 0.0 <= self.truncation <= 1.0:
            raise ConfigError(f"truncation must be from 0 (the average face) to 1 (none), got {self.truncation}")
        if self.batch < 1:
            raise ConfigError("painter batch must be at least 1")
        if self.candidates < 1:
            raise ConfigError("painter candidates must be at least 1 (1: no choice)")
        if not 0.0 <= self.attribute_move <= 1.0:
            raise ConfigError(f"attribute_move must be from 0 (no move) to 1, got {self.attribute_move}")


@dataclass(frozen=True)
class PaintConfig:
    """Method gan: which detections are confidently faces and get a painted face; the rest get `rest`, a filter
    that invents nothing (every detection is anonymized either way)."""

    # O-Net's face probability (the higher of the box's and the landmarks' box's crop) from which a detection is
    # painted. On 50 WIDER val photos (benchmarks/paint_decision.py, RESULTS.md) 0.9 paints 82 / 89 / 70 % of the
    # true faces >= 64 / 32-63 / 16-31 px and 0 / 17 / 9 % of the false alarms (threshold 0: 100 % of both).
    paint_threshold: float = 0.9  # 0 (and min_paint_score 0): paint every detection (the old way)
    # The detector's own score from which a detection may be painted. O-Net passed a knee and a hand that
    # CenterFace scored 0.29 and 0.20 (a face painted on a knee: a phantom); on 233 WIDER val photos not used for
    # the phantom count, 0.4 paints 0.3-0.9 % fewer true faces and 2.6 % instead of 6.6 % of the 16-31 px false
    # alarms, most of which are unlabelled crowd faces (benchmarks/paint_decision.py, RESULTS.md).
    min_paint_score: float = 0.4
    min_paint_face: int = 12  # smaller faces (longest box side, px) get the filter: the generator's own limit
    # off: at O-Net >= 0.5 the landmark check filtered no false alarm O-Net let through and cost 1.5 % of the true
    # faces >= 64 px (benchmarks/paint_decision.py)
    check_landmarks: bool = False
    rest: str = "blur"  # the filter for the rest (anonymize/filters.py; anonymize.pipeline checks the name)
    # The rest's filter is coarser and reaches further than --method blur's (4 cells, the painter's region): a
    # painted face changes every pixel of its region, and at 3 cells on 1.2x the region the filtered detections
    # are covered as often as when every detection was painted, in every size class (benchmarks/rest_filter.py).
    rest_cells: float = 3.0
    rest_grow: float = 1.2
    # Video: a track is painted when more than this share of the frames it was judged in (up to the lookback's)
    # said "paint"; 0 = any one frame.
    track_paint_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.paint_threshold <= 1.0:
            raise ConfigError(f"paint_threshold must be from 0 to 1, got {self.paint_threshold}")
        if not 0.0 <= self.min_paint_score <= 1.0:
            raise ConfigError(f"min_paint_score must be from 0 to 1, got {self.min_paint_score}")
        if self.rest_cells <= 0 or self.rest_grow < 1.0:
            raise ConfigError(f"rest_cells must be > 0 and rest_grow >= 1, got {self.rest_cells}, {self.rest_grow}")
        if not 0.0 <= self.track_paint_share < 1.0:
            raise ConfigError(f"track_paint_share must be from 0 to below 1, got {self.track_paint_share}")


@dataclass(frozen=True)
class OutputConfig:
    """How files are read and written."""

    keep_metadata: bool = False  # keep EXIF/XMP, video container tags (never GPS or location)
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse larger images (decompression bombs)
    crf: int = DEFAULT_CRF  # video quality (H.264 CRF; media.video says why 18)
    video_batch: int = DEFAULT_VIDEO_BATCH  # video frames detected and anonymized together

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be from 0 to 51, got {self.crf}")
        if self.video_batch < 1 or self.max_pixels < 1:
            raise ConfigError("video_batch and max_pixels must be at least 1")


@dataclass(frozen=True)
class AnonymizerConfig:
    """Everything that decides what an anonymization run writes (not where, nor on how many workers)."""

    method: str = "gan"  # gan | blur | pixelate | solid (anonymize.pipeline.METHODS)
    seed: int | None = None  # None: new random identities every run
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    painter: PainterConfig = field(default_factory=PainterConfig)
    paint: PaintConfig = field(default_factory=PaintConfig)  # method gan: which detections get a painted face
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnonymizerConfig:
        """The tree from nested dicts (keys left out keep their defaults). Raises ConfigError."""
        return _build(cls, data, "")

    @classmethod
    def from_json(cls, text: str) -> AnonymizerConfig:
        return cls.from_dict(json.loads(text))

    def with_values(self, values: dict[str, Any]) -> AnonymizerConfig:
        """A copy with fields set by dotted path, e.g. {"detector.threshold": 0.5, "seed": 3}."""
        out = self
        for path, value in values.items():
            out = _set(out, path.split("."), value, path)
        return out


def field_default(path: str) -> Any:
    """The default of a field given by dotted path ("detector.threshold"), for help texts."""
    obj: Any = AnonymizerConfig()
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def load_config(path: Path) -> AnonymizerConfig:
    """An AnonymizerConfig from a TOML (.toml) or JSON file. Raises ConfigError (also for unreadable files)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if Path(path).suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if Path(path).suffix.lower() == ".toml" else "JSON"
        raise ConfigError(f"{path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings at the top")
    return AnonymizerConfig.from_dict(data)


def _set(obj: Any, names: list[str], value: Any, path: str) -> Any:
    known = {f.name: f for f in fields(obj)}
    if names[0] not in known:
        raise ConfigError(f"unknown config key {path!r}")
    if len(names) == 1:
        hint = typing.get_type_hints(type(obj))[names[0]]
        return _rebuild(obj, {names[0]: _convert(hint, value, path)})
    return _rebuild(obj, {names[0]: _set(getattr(obj, names[0]), names[1:], value, path)})


def _rebuild(obj: Any, changes: dict[str, Any]) -> Any:
    try:
        return replace(obj, **changes)
    except ConfigError:
        raise
    except ValueError as exc:  # a section's own range checks (DetectorConfig raises ValueError)
        raise ConfigError(str(exc)) from None


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config {where or 'root'}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown config key {where + unknown[0]!r} (known here: {', '.join(names)})")
    values = {k: _convert(hints[k], v, where + k) for k, v in data.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _convert(hint: Any, value: Any, path: str) -> Any:
    """value checked against (and shaped to) the field type: nested tables, tuples from lists, optionals."""
    if isinstance(hint, type) and is_dataclass(hint):  # a hint is a class, never a dataclass instance
        return value if isinstance(value, hint) else _build(hint, value, path + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config {path}: expected a list, got {value!r}")
        elem = args[0]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(elem, v, path) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"config {path}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, path) for a, v in zip(args, value))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (bool, str) and isinstance(value, hint):
        return value
    raise ConfigError(f"config {path}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


# The detector sets `--detector` (and Anonymizer(detector=...)) names.
DETECTOR_SETS = {"both": ("mtcnn", "centerface"), "mtcnn": ("mtcnn",), "centerface": ("centerface",)}


def _detector_set(name: str) -> tuple[str, ...]:
    if name not in DETECTOR_SETS:
        raise ConfigError(f"unknown detector set {name!r}: use {', '.join(DETECTOR_SETS)}")
    return DETECTOR_SETS[name]


def _tiles(on: bool) -> int:
    return DetectorConfig.tile if on else 0  # off: the overview alone


@dataclass(frozen=True)
class Shortcut:
    """A short name for a config field: the CLI flag (`--name`, dashes for underscores) and Anonymizer(name=...)."""

    path: str  # dotted field path in AnonymizerConfig
    convert: typing.Callable[[Any], Any] | None = None  # short value -> field value


# The one table from flags (and the Python API's keyword shortcuts) to config fields.
SHORTCUTS: dict[str, Shortcut] = {
    "method": Shortcut("method"),
    "seed": Shortcut("seed"),
    "device": Shortcut("detector.device"),
    "detector": Shortcut("detector.detectors", _detector_set),
    "threshold": Shortcut("detector.threshold"),
    "centerface_threshold": Shortcut("detector.centerface_threshold"),
    "small_face_threshold": Shortcut("detector.small_face_threshold"),
    "large_face_threshold": Shortcut("detector.large_face_threshold"),
    "min_face": Shortcut("detector.min_face"),
    "detect_size": Shortcut("detector.max_side"),
    "upscale": Shortcut("detector.upscale"),
    "upscale_every": Shortcut("detector.video_upscale_every"),
    "detect_every": Shortcut("detector.video_detect_every"),
    "tiles": Shortcut("detector.tile", _tiles),
    "mask_scale": Shortcut("painter.mask_scale"),
    "feather": Shortcut("painter.feather"),
    "truncation": Shortcut("painter.truncation"),
    "paint_threshold": Shortcut("paint.paint_threshold"),
    "paint_min_score": Shortcut("paint.min_paint_score"),
    "rest_filter": Shortcut("paint.rest"),
    "weights": Shortcut("painter.weights", lambda p: None if p is None else str(p)),
    "keep_metadata": Shortcut("output.keep_metadata"),
    "max_pixels": Shortcut("output.max_pixels"),
    "crf": Shortcut("output.crf"),
    "batch_size": Shortcut("output.video_batch"),
}


def apply_shortcuts(config: AnonymizerConfig, values: dict[str, Any]) -> AnonymizerConfig:
    """config with the given short names set (values of None are left out: not given). Raises ConfigError."""
    unknown = sorted(set(values) - set(SHORTCUTS))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}: use one of {', '.join(SHORTCUTS)}")
    paths = {}
    for name, value in values.items():
        if value is None:
            continue
        value = getattr(value, "value", value)  # an Enum member (typer's choices)
        s = SHORTCUTS[name]
        paths[s.path] = s.convert(value) if s.convert else value
    return config.with_values(paths)
