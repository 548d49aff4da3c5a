"""The `deepanon` command: anonymize (the main job), and the GAN's prepare / train / export, evaluate."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from deepanon.anonymize.pipeline import METHODS
from deepanon.config import DETECTOR_SETS, SHORTCUTS, field_default
from deepanon.detect.detector import MAX_UPSCALE as _MAX_UPSCALE
from deepanon.detect.detector import MAX_VIDEO_EVERY as _MAX_VIDEO_EVERY
from deepanon.logs import setup_logging

if TYPE_CHECKING:
    from deepanon.batch import Summary

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Face anonymization: every face found in photos and videos is replaced by a new one (or blurred).",
)


# the choices come from where they are defined: the methods from the pipeline, the detector sets from the config
# (type: ignore: mypy reads an Enum's members only from a literal; typer needs an Enum class for its choices)
Method = Enum("Method", {m: m for m in METHODS}, type=str)  # type: ignore[misc]
DetectorChoice = Enum("DetectorChoice", {name: name for name in DETECTOR_SETS}, type=str)  # type: ignore[misc]
# the filters a detection that is not painted may get (all methods but gan)
RestFilter = Enum("RestFilter", {m: m for m in METHODS if m != "gan"}, type=str)  # type: ignore[misc]


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


def _flag(name: str, *decls: str, help: str, **kwargs: Any) -> Any:  # noqa: A002 - typer's own name
    """The typer option of config.SHORTCUTS[name] (--name unless decls are given): None unless given (then it
    overrides --config and the defaults), the config's default shown in --help."""
    if not any(d.startswith("--") for d in decls):
        decls = ("--" + name.replace("_", "-"), *decls)
    default = field_default(SHORTCUTS[name].path)
    if name == "detector":
        default = next(k for k, v in DETECTOR_SETS.items() if v == default)
    elif name == "tiles":
        default = "tiles" if default else "no-tiles"
    elif name == "keep_metadata":
        default = "keep-metadata" if default else "strip-metadata"
    return typer.Option(None, *decls, help=help, show_default=str(default), **kwargs)


def _version(value: bool) -> None:
    if value:
        from deepanon import __version__

        typer.echo(f"deepanon {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """deepanon: every face in photos and videos replaced by a new one."""
    setup_logging()


@app.command()
def anonymize(
    inputs: list[str] | None = typer.Argument(  # str, not Path: Path folds the // of URLs (s3://...) for --engine ray
        None, metavar="INPUT...", help="Image or video files and folders (searched recursively)."
    ),
    output: str | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output folder: each input folder's tree is mirrored in it with the same names. "
        "A single input file may be given an output file name instead.",
    ),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="Settings from a TOML or JSON file (the --print-config tree, any part of it); flags given as well "
        "override it.",
    ),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the settings this run would use as JSON and exit (nothing is read)."
    ),
    method: Method | None = _flag(
        "method",
        "-m",
        help="gan: paint a new, realistic face (keeps pose and lighting). "
        "blur / pixelate / solid: classic filters over the face region.",
    ),
    detector: DetectorChoice | None = _flag(
        "detector",
        help="centerface: CenterFace with its small-face pass (on WIDER val MTCNN added no face to it). "
        "both: a face that MTCNN or CenterFace finds is anonymized (about 2x slower). mtcnn: MTCNN alone.",
    ),
    threshold: float | None = _flag(
        "threshold",
        min=0.0,
        max=1.0,
        help="MTCNN score above which a face is anonymized. Lower finds more faces (and more false alarms).",
    ),
    centerface_threshold: float | None = _flag(
        "centerface_threshold",
        min=0.0,
        max=1.0,
        help="CenterFace score above which a face is anonymized (0.4 halves the false alarms but misses more small "
        "faces; see benchmarks/RESULTS.md).",
    ),
    small_face_threshold: float | None = _flag(
        "small_face_threshold",
        "--small-threshold",
        min=0.0,
        max=1.0,
        help=f"CenterFace score above which a face under {field_default('detector.small_face')} px is anonymized: "
        "small faces score lower and are easily missed, so they get a lower bar. Set it to --centerface-threshold's "
        "value to treat all sizes alike.",
    ),
    large_face_threshold: float | None = _flag(
        "large_face_threshold",
        "--large-threshold",
        min=0.0,
        max=1.0,
        help=f"CenterFace score above which a face of {field_default('detector.large_face')} px or more is "
        "anonymized: a large face in shadow, turned or blurred scores low, and missing one is the worst miss. Such "
        "weak detections are blurred, not painted (--paint-min-score).",
    ),
    min_face: int | None = _flag(
        "min_face",
        min=4,
        help="Smallest face side in pixels to search for. Smaller finds tinier faces but is slower.",
    ),
    detect_size: int | None = _flag(
        "detect_size",
        min=64,
        help="Images and frames larger than this (px, longest side) are searched as a downscaled overview of this "
        "size plus full-resolution tiles, so small faces are kept and memory stays bounded.",
    ),
    upscale: float | None = _flag(
        "upscale",
        min=1.0,
        max=_MAX_UPSCALE,
        help="Small-face pass: CenterFace also searches every image enlarged this much, which finds most faces "
        "under 16 px that it misses otherwise (WIDER: 42 -> 79 %). 1 turns it off: detection twice as fast, "
        "tiny faces missed.",
    ),
    upscale_every: int | None = _flag(
        "upscale_every",
        min=1,
        max=_MAX_VIDEO_EVERY,
        help="Videos: the small-face pass runs on every N-th frame only; the faces it found are held in between, "
        "moving with the camera. 1: every frame (slowest).",
    ),
    detect_every: int | None = _flag(
        "detect_every",
        min=1,
        max=_MAX_VIDEO_EVERY,
        help="Videos: search only every N-th frame (and every frame of the small-face pass, and every cut); the "
        "tracker carries each face in between and a face found late is carried back. 2 takes 0.74x the detection "
        "time and covered as many faces on crowded pans, slow and fast, within 0.2 points (benchmarks/RESULTS.md, "
        "video_small_faces); 1 (every frame) is the safe default.",
    ),
    tiles: bool | None = _flag(
        "tiles",
        "--tiles/--no-tiles",
        help="Search large images on full-resolution tiles too (--no-tiles: faster, for 4K video "
        "where faces are large, but small faces may be missed).",
    ),
    paint_threshold: float | None = _flag(
        "paint_threshold",
        min=0.0,
        max=1.0,
        help="--method gan: a detection gets a painted face only when it is confidently a face (this score of a "
        "second detector, MTCNN's O-Net, on its crop); the others get --rest-filter, so a false alarm on a wall "
        "is never given a face. 0 (with --paint-min-score 0): paint every detection.",
    ),
    paint_min_score: float | None = _flag(
        "paint_min_score",
        min=0.0,
        max=1.0,
        help="--method gan: nor is a detection painted that the face detector itself scored below this (O-Net "
        "alone now and then takes a knee or a hand for a face); it gets --rest-filter.",
    ),
    rest_filter: RestFilter | None = _flag(
        "rest_filter",
        help="--method gan: the filter for detections that are not painted (too small, or not confidently a face).",
    ),
    mask_scale: float | None = _flag(
        "mask_scale",
        min=1.0,
        help=f"Size of the anonymized ellipse relative to the face box ({field_default('painter.mask_scale')} covers "
        "hairline and chin). The GAN was "
        "trained with one value (its card says which): another one is painted with a warning.",
    ),
    feather: float | None = _flag(
        "feather",
        min=0.0,
        help="Soft rim around the ellipse, as a fraction of its radius, blended into the picture (inside it "
        "everything is replaced). The GAN was trained with one value: another one is painted with a warning.",
    ),
    weights: Path | None = _flag(
        "weights",
        help="GAN: generator weights (.safetensors with its .json card beside it) instead of the shipped ones.",
    ),
    truncation: float | None = _flag(
        "truncation",
        min=0.0,
        max=1.0,
        help="GAN: how far each new face is pulled towards the average face (StyleGAN's psi; 1: not at all, more "
        "varied and less often a clean face).",
    ),
    device: DeviceChoice | None = _flag(
        "device", help="Where to run the networks: auto uses a CUDA GPU when there is one."
    ),
    seed: int | None = _flag("seed", help="Make the run reproducible: the same seed gives the same new faces."),
    keep_metadata: bool | None = _flag(
        "keep_metadata",
        "--keep-metadata/--strip-metadata",
        help="Keep EXIF/XMP/comments and video container tags (GPS and location are always removed). By default "
        "all is stripped but the colour profile.",
    ),
    max_pixels: int | None = _flag(
        "max_pixels", min=1, help="Refuse images with more pixels than this (decompression bombs)."
    ),
    crf: int | None = _flag(
        "crf",
        min=0,
        max=51,
        help=f"Video quality (H.264 CRF): lower is better and larger; {field_default('output.crf')} looks lossless.",
    ),
    batch_size: int | None = _flag("batch_size", min=1, help="Video frames detected and anonymized together."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Redo outputs that exist already (default: skip them, so a stopped run resumes)."
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Write JSON lines to this file: the run's settings first, then one line per input (status, faces, "
        "seconds).",
    ),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        help="Photos anonymized in parallel by this many worker processes, the CPU threads shared among them "
        "(default: one per core on the CPU, 1 on a GPU). Same outputs and report as one process.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Tracebacks of internal errors and the seconds spent in each stage."
    ),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="local: this process. ray: a Ray cluster (needs the ray extra); INPUT and -o may then be URLs "
        "(s3://..., any fsspec filesystem installed).",
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="--engine ray: the cluster to join (default: start a local Ray on this machine)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="--engine ray: number of workers (default: one per CPU, or per GPU)."
    ),
    gpus_per_worker: float | None = typer.Option(
        None,
        "--gpus-per-worker",
        min=0.0,
        help="--engine ray: GPUs per worker, may be fractional (default: 1 when the cluster has GPUs, else 0).",
    ),
) -> None:
    """Anonymize every face in images (JPEG, PNG, WebP, BMP, TIFF) and videos (mp4, mov, mkv, avi, webm).

    Exit status: 0 when every file was done (or skipped as already done), 1 when some failed
    (each is named on stderr with the reason), 2 on usage errors.
    """
    from deepanon.config import AnonymizerConfig, ConfigError, apply_shortcuts, load_config

    setup_logging(verbose)
    err = Console(stderr=True)
    given = {name: value for name, value in locals().items() if name in SHORTCUTS}
    try:
        config = apply_shortcuts(load_config(config_file) if config_file else AnonymizerConfig(), given)
    except ConfigError as exc:
        _usage_error(err, exc)
    if print_config:
        typer.echo(config.to_json(indent=2))
        raise typer.Exit(0)
    if not inputs:
        _usage_error(err, "no INPUT given (files or folders to anonymize)")
    if not output:
        _usage_error(err, "missing option --output / -o (where the anonymized files go)")

    from deepanon.anonymize.pipeline import Anonymizer
    from deepanon.batch import run_batch
    from deepanon.media.inputs import UsageError, plan_jobs
    from deepanon.pool import cpu_cores

    if engine is Engine.ray:  # the same run on a Ray cluster (deepanon/distributed)
        from deepanon.distributed.ray import RayOptions, run_ray

        try:
            summary, ignored, where = run_ray(
                inputs,
                output,
                config,
                RayOptions(ray_address, workers, gpus_per_worker),
                overwrite=overwrite,
                report_path=report,
                console=err,
                show_progress=not quiet,
            )
        except UsageError as exc:
            _usage_error(err, exc)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        typer.echo(_summary_line(summary, len(ignored), config.method, where))
        raise typer.Exit(summary.exit_code)
    try:
        plan = plan_jobs([Path(p) for p in inputs], Path(output))
        anon = Anonymizer(config)
    except (UsageError, ValueError, FileNotFoundError, ImportError) as exc:  # ImportError: a detector not installed
        _usage_error(err, exc)
    report_file = report.open("w", encoding="utf-8") if report else None
    try:
        summary = run_batch(
            plan,
            anon,
            overwrite=overwrite,
            report=report_file,
            console=err,
            show_progress=not quiet,
            jobs=jobs or (cpu_cores() if anon.device == "cpu" else 1),
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        if report_file:
            report_file.close()
    typer.echo(_summary_line(summary, len(plan.ignored), config.method, anon.device))
    raise typer.Exit(summary.exit_code)


def _usage_error(err: Console, exc: object) -> NoReturn:
    # exc passed as an object, not in an f-string: rich would take "[ray]" in its message for markup
    err.print("[red]usage error:[/red]", exc, highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


def _summary_line(summary: Summary, ignored: int, method: str, where: str) -> str:
    ignored_note = f", {ignored} non-media files ignored" if ignored else ""
    video = f" (video: counted per frame, {summary.frames} frames)" if summary.frames else ""
    return (
        f"{summary.done} done, {summary.skipped} skipped (already there), {summary.failed} failed{ignored_note}; "
        f"{summary.face_count} faces replaced{video}{_treatments(summary.treatments)}, {summary.seconds:.1f} s, "
        f"method {method} on {where}"
    )


def _treatments(counts: dict[str, int]) -> str:
    """' (N painted, M filtered: reason k, ...)' for method gan; '' otherwise."""
    if not counts:
        return ""
    rest = {k: v for k, v in sorted(counts.items()) if k != "painted"}
    why = ", ".join(f"{k} {v}" for k, v in rest.items())
    return f" ({counts.get('painted', 0)} painted, {sum(rest.values())} filtered{': ' + why if why else ''})"


def _register_gan_commands() -> None:
    from deepanon.train.commands import export_command, prepare_command, train_command

    app.command("prepare")(prepare_command)
    app.command("train")(train_command)
    app.command("export")(export_command)


def _register_evaluate_command() -> None:
    from deepanon.evaluate.commands import evaluate_command

    app.command("evaluate")(evaluate_command)


_register_gan_commands()
_register_evaluate_command()


def main() -> None:
    # file names that are not UTF-8 are printed as their own bytes, not as \udcxx escapes
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    app(prog_name="deepanon")


if __name__ == "__main__":
    main()
