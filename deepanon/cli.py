"""The `deepanon` command: anonymize (the main job), and the GAN's prepare / train / export, evaluate."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from deepanon.detect import DetectorConfig
from deepanon.detect.detector import MAX_UPSCALE as _MAX_UPSCALE
from deepanon.detect.detector import MAX_VIDEO_UPSCALE_EVERY as _MAX_UPSCALE_EVERY
from deepanon.geometry.masks import DEFAULT_MASK_SCALE

if TYPE_CHECKING:
    from deepanon.batch import Summary

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Face anonymization: every face found in photos and videos is replaced by a new one (or blurred).",
)


class Method(str, Enum):
    gan = "gan"
    blur = "blur"
    pixelate = "pixelate"
    solid = "solid"


class DetectorChoice(str, Enum):
    both = "both"
    centerface = "centerface"
    mtcnn = "mtcnn"


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


_DET = DetectorConfig()


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


@app.command()
def anonymize(
    inputs: list[str] = typer.Argument(  # str, not Path: Path folds the // of URLs (s3://...) for --engine ray
        ..., metavar="INPUT...", help="Image or video files and folders (searched recursively)."
    ),
    output: str = typer.Option(
        ...,
        "--output",
        "-o",
        help="Output folder: each input folder's tree is mirrored in it with the same names. "
        "A single input file may be given an output file name instead.",
    ),
    method: Method = typer.Option(
        Method.gan,
        "--method",
        "-m",
        help="gan: paint a new, realistic face (keeps pose and lighting). "
        "blur / pixelate / solid: classic filters over the face region.",
    ),
    detector: DetectorChoice = typer.Option(
        DetectorChoice.centerface,
        "--detector",
        help="centerface: CenterFace with its small-face pass (on WIDER val MTCNN added no face to it). "
        "both: a face that MTCNN or CenterFace finds is anonymized (about 2x slower). mtcnn: MTCNN alone.",
    ),
    threshold: float = typer.Option(
        _DET.threshold,
        min=0.0,
        max=1.0,
        help="MTCNN score above which a face is anonymized. Lower finds more faces (and more false alarms).",
    ),
    centerface_threshold: float = typer.Option(
        _DET.centerface_threshold,
        "--centerface-threshold",
        min=0.0,
        max=1.0,
        help="CenterFace score above which a face is anonymized (0.4 halves the false alarms but misses more small "
        "faces; see benchmarks/RESULTS.md).",
    ),
    small_face_threshold: float = typer.Option(
        _DET.small_face_threshold,
        "--small-threshold",
        min=0.0,
        max=1.0,
        help=f"CenterFace score above which a face under {_DET.small_face} px is anonymized: small faces score "
        "lower and are easily missed, so they get a lower bar. Set it to --centerface-threshold's value to treat "
        "all sizes alike.",
    ),
    min_face: int = typer.Option(
        _DET.min_face,
        "--min-face",
        min=4,
        help="Smallest face side in pixels to search for. Smaller finds tinier faces but is slower.",
    ),
    detect_size: int = typer.Option(
        _DET.max_side,
        "--detect-size",
        min=64,
        help="Images and frames larger than this (px, longest side) are searched as a downscaled overview of this "
        "size plus full-resolution tiles, so small faces are kept and memory stays bounded.",
    ),
    upscale: float = typer.Option(
        _DET.upscale,
        "--upscale",
        min=1.0,
        max=_MAX_UPSCALE,
        help="Small-face pass: CenterFace also searches every image enlarged this much, which finds most faces "
        "under 16 px that it misses otherwise (WIDER: 42 -> 79 %). 1 turns it off: detection twice as fast, "
        "tiny faces missed.",
    ),
    upscale_every: int = typer.Option(
        _DET.video_upscale_every,
        "--upscale-every",
        min=1,
        max=_MAX_UPSCALE_EVERY,
        help="Videos: the small-face pass runs on every N-th frame only; the faces it found are held in between, "
        "moving with the camera. 1: every frame (slowest).",
    ),
    tiles: bool = typer.Option(
        True,
        "--tiles/--no-tiles",
        help="Search large images on full-resolution tiles too (--no-tiles: faster, for 4K video "
        "where faces are large, but small faces may be missed).",
    ),
    mask_scale: float = typer.Option(
        DEFAULT_MASK_SCALE,
        "--mask-scale",
        min=1.0,
        help="Size of the anonymized ellipse relative to the face box (1.5 covers hairline and chin).",
    ),
    device: DeviceChoice = typer.Option(
        DeviceChoice.auto, help="Where to run the networks: auto uses a CUDA GPU when there is one."
    ),
    seed: int | None = typer.Option(None, help="Make the run reproducible: the same seed gives the same new faces."),
    keep_metadata: bool = typer.Option(
        False,
        "--keep-metadata",
        help="Keep EXIF/XMP/comments and video container tags (GPS and location are always removed). By default "
        "all is stripped but the colour profile.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Redo outputs that exist already (default: skip them, so a stopped run resumes)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write one JSON line per input (status, faces, seconds) to this file."
    ),
    max_pixels: int = typer.Option(
        100_000_000, "--max-pixels", help="Refuse images with more pixels than this (decompression bombs)."
    ),
    crf: int = typer.Option(
        18, min=0, max=51, help="Video quality (H.264 CRF): lower is better and larger; 18 looks lossless."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Video frames detected and anonymized together."),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        help="Photos anonymized in parallel by this many worker processes, the CPU threads shared among them "
        "(default: one per core on the CPU, 1 on a GPU). Same outputs and report as one process.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
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
    from deepanon.anonymize.files import FileOptions
    from deepanon.anonymize.pipeline import Anonymizer
    from deepanon.batch import run_batch
    from deepanon.media.inputs import UsageError, plan_jobs
    from deepanon.pool import cpu_cores

    err = Console(stderr=True)
    opts = FileOptions(keep_metadata=keep_metadata, max_pixels=max_pixels, crf=crf, batch_size=batch_size)
    anon_kwargs = dict(
        method=method.value,
        device=device.value,
        seed=seed,
        detector=detector.value,
        threshold=threshold,
        centerface_threshold=centerface_threshold,
        small_face_threshold=small_face_threshold,
        min_face=min_face,
        detect_size=detect_size,
        upscale=upscale,
        video_upscale_every=upscale_every,
        tiles=tiles,
        mask_scale=mask_scale,
    )
    if engine is Engine.ray:  # the same run on a Ray cluster (deepanon/distributed)
        from deepanon.distributed.ray import RayOptions, run_ray

        try:
            summary, ignored, where = run_ray(
                inputs,
                output,
                anon_kwargs,
                opts,
                RayOptions(ray_address, workers, gpus_per_worker),
                overwrite=overwrite,
                report_path=report,
                console=err,
                show_progress=not quiet,
            )
        except UsageError as exc:
            # exc passed as an object, not in the f-string: rich would take "[ray]" in its message for markup
            err.print("[red]usage error:[/red]", exc, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        typer.echo(_summary_line(summary, ignored, method.value, where))
        raise typer.Exit(summary.exit_code)
    try:
        plan = plan_jobs([Path(p) for p in inputs], Path(output))
        anon = Anonymizer(**anon_kwargs)
    except (UsageError, ValueError, FileNotFoundError, ImportError) as exc:  # ImportError: a detector not installed
        err.print("[red]usage error:[/red]", exc, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    report_file = report.open("w", encoding="utf-8") if report else None
    try:
        summary = run_batch(
            plan,
            anon,
            opts,
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
    typer.echo(_summary_line(summary, plan.ignored, method.value, anon.device))
    raise typer.Exit(summary.exit_code)


def _summary_line(summary: Summary, ignored: int, method: str, where: str) -> str:
    ignored_note = f", {ignored} non-media files ignored" if ignored else ""
    video = f" (video: counted per frame, {summary.frames} frames)" if summary.frames else ""
    return (
        f"{summary.done} done, {summary.skipped} skipped (already there), {summary.failed} failed{ignored_note}; "
        f"{summary.faces} faces replaced{video}, {summary.seconds:.1f} s, method {method} on {where}"
    )


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
    app(prog_name="deepanon")


if __name__ == "__main__":
    sys.exit(main())
