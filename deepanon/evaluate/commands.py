"""`deepanon evaluate`: registered in cli.py as app.command("evaluate")(evaluate_command)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from deepanon.evaluate.peers import DEFAULT_METHODS
from deepanon.geometry.masks import DEFAULT_MASK_SCALE


class EvalDevice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def evaluate_command(
    data: Path = typer.Argument(
        ...,
        metavar="DATA",
        help="A WIDER-format folder (images/ + *_bbx_gt.txt), a folder of face photos (identity and realism only) "
        "or a video file.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Report folder: report.md, report.json, contact_<method>.png, charts.png."
    ),
    methods: str = typer.Option(
        ",".join(DEFAULT_METHODS),
        "--methods",
        "-m",
        help="Comma-separated methods to compare: gan, blur, pixelate, solid (deepanon), deface-blur, "
        "deface-mosaic (deface 1.5 with its defaults). gan is skipped with a note when it has no weights.",
    ),
    limit: int = typer.Option(
        0,
        "--limit",
        "-n",
        min=0,
        help="Use N images spread evenly over the data, or a video's first N frames (0: all).",
    ),
    device: EvalDevice = typer.Option(EvalDevice.auto, help="Where to run the networks (auto: CUDA when present)."),
    seed: int = typer.Option(0, help="Seed for the GAN's new identities, so reruns give the same numbers."),
    mask_scale: float | None = typer.Option(
        None,
        "--mask-scale",
        min=1.0,
        show_default=f"{DEFAULT_MASK_SCALE}, or --config's painter.mask_scale",
        help="deepanon's methods: size of the anonymized ellipse relative to the face box, as in anonymize.",
    ),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="deepanon's methods start from these settings (a TOML or JSON file, as anonymize --config takes; "
        "e.g. written by anonymize --print-config); recorded in the report. --mask-scale and --seed override it.",
    ),
    keep_videos: bool = typer.Option(False, "--keep-videos", help="Keep each method's anonymized video in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages."),
) -> None:
    """Compare anonymizers side by side: privacy (faces covered, recall), background kept, still a face (AP of an
    independent detector), identity gone (dlib descriptors), realism (Frechet distance, landmark shift) and speed.

    Needs the eval extra (./install.sh eval). Exit status: 0 done, 1 no method could run, 2 usage error.
    """
    from rich.console import Console

    from deepanon.evaluate.runner import EvalOptions, run_evaluation

    err = Console(stderr=True)
    names = tuple(m.strip() for m in methods.split(",") if m.strip())
    known = {*DEFAULT_METHODS, "solid"}
    bad = [m for m in names if m not in known]
    if bad or not names:
        listed = ", ".join(bad) or "(none)"
        err.print(f"[red]usage error:[/red] unknown method(s) {listed}: choose from {', '.join(sorted(known))}")
        raise typer.Exit(2)
    if not data.exists():
        err.print(f"[red]usage error:[/red] {data}: no such file or folder", highlight=False)
        raise typer.Exit(2)
    config = None
    if config_file is not None:
        from deepanon.config import ConfigError, load_config

        try:
            config = load_config(config_file)
        except ConfigError as exc:
            err.print(f"[red]usage error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
    if mask_scale is None:
        mask_scale = config.painter.mask_scale if config is not None else DEFAULT_MASK_SCALE
    opts = EvalOptions(names, limit, device.value, seed, keep_videos, mask_scale, config)
    try:
        report, notes = run_evaluation(
            data, out, opts, progress=(lambda _: None) if quiet else lambda m: err.print(m, highlight=False)
        )
    except (ValueError, FileNotFoundError) as exc:
        err.print(f"[red]usage error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except ImportError as exc:
        err.print(f"[red]missing package:[/red] {exc}; install the eval extra: ./install.sh eval", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(report.read_text())
    typer.echo(f"report written to {report.parent}")
    for n in notes:
        if "skipped" in n:
            err.print(n, highlight=False)
    raise typer.Exit(0 if "(no method could run)" not in report.read_text() else 1)
