"""Typer-compatible CLI functions: `deepanon prepare`, `deepanon train`, `deepanon export`.

Registered in deepanon/cli.py with app.command("prepare")(prepare_command) etc.; also runnable alone:
python -m deepanon.train.commands train --data datasets/faces --out runs/main
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from deepanon.gan.config import NetConfig
from deepanon.geometry.align import repaint_geometry
from deepanon.geometry.masks import DEFAULT_FEATHER, DEFAULT_MASK_SCALE
from deepanon.logs import setup_logging
from deepanon.train.config import DEFAULT_STATE_PATH, TrainConfig

if TYPE_CHECKING:  # torch loads when a command runs, not when the CLI starts
    from deepanon.gan.networks import Generator


def prepare_command(
    sources: list[Path] = typer.Argument(..., help="Folders (searched recursively) or image files with one face each."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (.npy memmaps + dataset.json)."),
    resolution: int = typer.Option(128, help="Stored crop size; a model at 64 downsamples, 128 needs no re-prepare."),
    val_fraction: float = typer.Option(0.02, help="Fraction held out for validation, fixed by a hash of the name."),
    min_face: int = typer.Option(48, help="Skip faces whose box is smaller than this (px, longest side)."),
    threads: int | None = typer.Option(None, help="CPU threads for torch/OpenCV (1 on a shared machine)."),
    device: str = typer.Option("cpu", help="Device for face detection: auto, cpu or cuda."),
    mask_scale: float = typer.Option(
        DEFAULT_MASK_SCALE, help="Region to repaint, x the face box: the size `anonymize --mask-scale` will use."
    ),
) -> None:
    """Detect, align and store the main face of every photo as GAN training crops (resumable: rerun to continue)."""
    setup_logging()
    from deepanon.train.prepare import prepare_dataset

    summary = prepare_dataset(
        sources, out, resolution, val_fraction, min_face, threads=threads, device=device, mask_scale=mask_scale
    )
    keys = ("files", "found", "not_found", "too_small", "unreadable", "train", "val", "seconds")
    typer.echo(json.dumps({k: summary[k] for k in keys}))


def train_command(
    data: Path = typer.Option(..., help="Dataset folder made by `deepanon prepare`."),
    out: Path = typer.Option(Path(TrainConfig.out), help="Run folder: checkpoint.pt, log.jsonl, losses.png, samples/."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run, with its own settings, from the later of OUT/checkpoint.pt (exact) and the --state "
        "file (on a fresh clone: the committed weights/train_state.safetensors).",
    ),
    resume_from: Path | None = typer.Option(
        None, help="Continue from a checkpoint.pt (exact) or a compact .safetensors state (Adam restarts)."
    ),
    resolution: int = typer.Option(NetConfig.resolution, help="Model resolution (<= the stored crop size)."),
    batch: int | None = typer.Option(
        None,
        help=f"Batch size (default {TrainConfig.batch}, or the resumed run's own; the shipped weights: 128 on a GPU). "
        "Also applies to a resumed run, e.g. a GPU run carried on on a CPU (the resume is then not step-exact).",
    ),
    kimg: float = typer.Option(TrainConfig.total_kimg, help="Train until this many thousand images have been seen."),
    lr: float = typer.Option(TrainConfig.g_lr, help="Adam learning rate of G and D."),
    r1_gamma: float = typer.Option(TrainConfig.r1_gamma, help="R1 penalty weight on D (lazy, every 16 steps)."),
    ada_target: float | None = typer.Option(
        None,
        help="Adaptive augmentation of D's inputs: raise its probability p while the mean sign of D on real crops "
        f"is above this (0 = off; default {TrainConfig.ada_target}, or the resumed run's own). Also applies to a "
        "resumed run.",
    ),
    source_weights: str | None = typer.Option(
        None,
        help="Share of each source folder in the batches, e.g. 'lfw-single=3,utkface=1' (default: equal shares). "
        "Also applies to a resumed run.",
    ),
    discriminator: str | None = typer.Option(
        None,
        help="classic (learned from scratch) or projected (light heads on a frozen ImageNet MobileNetV2; needs the "
        f"train extra). Default {TrainConfig.discriminator}, or the resumed run's own. Also applies to a resumed run: "
        "resuming a state of the other kind keeps its G and G_ema (and step) and starts a fresh D.",
    ),
    projected_input: int = typer.Option(
        TrainConfig.projected_input, help="Projected D: image size fed to its trunk (0 = the model's resolution)."
    ),
    init_generator: Path | None = typer.Option(
        None,
        help="Warm start of a fresh run: G and G_ema from an exported generator, e.g. weights/generator.safetensors "
        "(checked against its card; the architecture is the card's, the run counts on from its images and steps).",
    ),
    seed: int = typer.Option(TrainConfig.seed, help="Seed of weights, data order, flips and z."),
    device: str = typer.Option(TrainConfig.device, help="auto, cpu or cuda."),
    threads: int | None = typer.Option(TrainConfig.threads, help="CPU threads for torch (1 on a shared machine)."),
    amp: bool = typer.Option(
        TrainConfig.amp, help="bf16 autocast on CUDA, and on CPUs with native bf16 (AVX512-BF16, AMX: 2x faster there)."
    ),
    sample_every: int = typer.Option(TrainConfig.sample_every, help="Steps between sample grids."),
    checkpoint_every: int = typer.Option(
        TrainConfig.checkpoint_every,
        help="Steps between checkpoints (one is also written every --state-every-s and when the run is stopped).",
    ),
    state: Path | None = typer.Option(
        Path(DEFAULT_STATE_PATH), help="Compact resumable state, rewritten every --state-every-s."
    ),
    state_every_s: float = typer.Option(
        TrainConfig.state_every_s,
        help="Seconds between compact states (and checkpoints). SIGTERM or Ctrl-C also writes both, then stops.",
    ),
    export: bool = typer.Option(False, "--export", help="Export the EMA generator to weights/ when done."),
    g_cbase: int = typer.Option(NetConfig.g_cbase, help="Generator width: channels at res r = min(cbase/r, cmax)."),
    g_cmax: int = typer.Option(NetConfig.g_cmax, help="Generator channels at the low resolutions (most weights)."),
    d_cbase: int = typer.Option(NetConfig.d_cbase, help="Discriminator width, as --g-cbase."),
    d_cmax: int = typer.Option(NetConfig.d_cmax, help="Discriminator channels at the low resolutions."),
) -> None:
    """Train the conditional face GAN (NS loss + R1, EMA generator); exact resume with --resume."""
    setup_logging()
    from deepanon.train.training_loop import DISCRIMINATORS, StateConflictError, generator_card, resume_source, train

    if discriminator is not None and discriminator not in DISCRIMINATORS:
        choices = ", ".join(DISCRIMINATORS)
        raise typer.BadParameter(f"{discriminator!r}: use one of {choices}", param_hint="--discriminator")
    net = NetConfig(resolution=resolution, g_cbase=g_cbase, g_cmax=g_cmax, d_cbase=d_cbase, d_cmax=d_cmax)
    if init_generator is not None:
        if not init_generator.with_suffix(".json").is_file():
            raise typer.BadParameter(f"{init_generator}: no card next to it", param_hint="--init-generator")
        net = NetConfig.from_dict(generator_card(init_generator)["net"])  # G as exported; D widths from there too
    cfg = TrainConfig(
        data=str(data),
        out=str(out),
        net=net,
        batch=TrainConfig.batch if batch is None else batch,
        g_lr=lr,
        d_lr=lr,
        r1_gamma=r1_gamma,
        ada_target=TrainConfig.ada_target if ada_target is None else ada_target,
        total_kimg=kimg,
        seed=seed,
        device=device,
        threads=threads,
        amp=amp,
        sample_every=sample_every,
        checkpoint_every=checkpoint_every,
        state_path=str(state) if state else None,
        state_every_s=state_every_s,
        discriminator=discriminator or TrainConfig.discriminator,
        projected_input=projected_input,
        init_generator=str(init_generator) if init_generator is not None else None,
    )
    source = resume_source(cfg, resume, resume_from)
    saved = _saved_config(source) if source is not None else None
    if saved is not None:
        # A resumed run keeps its hyper-parameters and architecture; only length, device and output cadence change.
        keep = (
            "data",
            "out",
            "total_kimg",
            "device",
            "threads",
            "amp",
            "sample_every",
            "checkpoint_every",
            "state_path",
            "state_every_s",
        )
        cfg = TrainConfig.from_dict({**saved.to_dict(), **{k: getattr(cfg, k) for k in keep}})
    if source_weights:
        cfg.source_weights = parse_source_weights(source_weights)
    if ada_target is not None:
        cfg.ada_target = ada_target
    if batch is not None:
        cfg.batch = batch
    if discriminator is not None:
        cfg.discriminator, cfg.projected_input = discriminator, projected_input
    try:
        trainer = train(cfg, resume_from=source)
    except StateConflictError as exc:
        raise typer.BadParameter(str(exc), param_hint="--state") from None
    if export:
        _export(trainer.G_ema, cfg, trainer.cur_nimg, trainer.step_idx, None)


def parse_source_weights(text: str) -> dict[str, float]:
    """'lfw-single=3,utkface=1' -> {'lfw-single': 3.0, 'utkface': 1.0}."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name.strip() or weight < 0:
            raise typer.BadParameter(f"{part!r}: expected SOURCE=WEIGHT with a weight >= 0, e.g. lfw-single=3")
        out[name.strip()] = weight
    return out


def _saved_config(source: Path) -> TrainConfig:
    """The TrainConfig stored with what the run resumes from (a checkpoint.pt or a compact state)."""
    import torch

    if source.suffix == ".safetensors":
        from deepanon.gan.weights import load_train_state

        return TrainConfig.from_dict(load_train_state(source)[1]["config"])
    return TrainConfig.from_dict(json.loads(torch.load(source, map_location="cpu", weights_only=True)["config"]))


def _export(G_ema: Generator, cfg: TrainConfig, cur_nimg: int, step: int, path: Path | None) -> None:
    from deepanon.gan.weights import GENERATOR_PATH, export_generator

    card_source = Path(cfg.data) / "dataset.json"  # the weights' card names the training data
    if not card_source.exists():
        raise typer.BadParameter(f"{card_source} not found: name the run's dataset with --data")
    data_meta = json.loads(card_source.read_text())
    info = {
        "kimg": round(cur_nimg / 1000, 1),
        "steps": step,
        "batch": cfg.batch,
        "discriminator": cfg.discriminator,  # the D it was last trained against (train --discriminator)
        "training_data": {
            "sources": [Path(p).name for p in data_meta["config"]["sources"]],  # folder names, not local paths
            "train": data_meta["train"],
            "val": data_meta["val"],
            "mask_scale": data_meta["config"].get("mask_scale", DEFAULT_MASK_SCALE),
        },
        # The repainted region it learned to fill and the alignment that frames it: the painter checks its own
        # settings against these (anonymize.gan.check_repaint).
        "repaint": repaint_geometry(
            data_meta["config"].get("mask_scale", DEFAULT_MASK_SCALE),
            data_meta["config"].get("feather", DEFAULT_FEATHER),
        ),
    }
    card = export_generator(G_ema, path or GENERATOR_PATH, info)
    typer.echo(f"exported {path or GENERATOR_PATH} ({card['kimg']} kimg, sha256 {card['sha256'][:12]})")


def export_command(
    source: Path = typer.Argument(..., help="A run folder, its checkpoint.pt, or a compact .safetensors state."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write (default: weights/generator.*)."),
    data: Path | None = typer.Option(
        None, help="The run's dataset folder, if it is no longer where the run saw it (its card names it)."
    ),
) -> None:
    """Export the EMA generator of a run to deepanon/weights/generator.safetensors + .json (safetensors, SHA-256)."""
    setup_logging()
    import torch

    from deepanon.gan.networks import Generator
    from deepanon.gan.weights import load_train_state

    if source.is_dir():
        source = source / "checkpoint.pt"
    if source.suffix == ".safetensors":
        sds, info = load_train_state(source)
        cfg, ema, nimg, step = TrainConfig.from_dict(info["config"]), sds["G_ema"], info["cur_nimg"], info["step"]
    else:
        ck = torch.load(source, map_location="cpu", weights_only=True)
        cfg = TrainConfig.from_dict(json.loads(ck["config"]))
        ema, nimg, step = ck["G_ema"], ck["cur_nimg"], ck["step"]
    if data is not None:
        cfg.data = str(data)
    G = Generator(cfg.net)
    G.load_state_dict(ema)
    _export(G, cfg, nimg, step, out)


def main() -> None:
    app = typer.Typer(add_completion=False, help="deepanon GAN tools")
    app.command("prepare")(prepare_command)
    app.command("train")(train_command)
    app.command("export")(export_command)
    app()


if __name__ == "__main__":
    main()
