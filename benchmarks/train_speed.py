"""GAN training speed (images/s): the real Trainer on the prepared dataset, per resolution and batch size.

    python benchmarks/train_speed.py [--data datasets/faces] [--resolutions 64,128] [--batches 32] [--threads 1]
                                     [--device cpu] [--steps 6] [--augment-p 0,0.3]
                                     [--discriminators classic,projected] [--rounds 2]
    python benchmarks/train_speed.py --device cuda --batches 64,128 --steps 48   # a GPU: AMP, cache, cuDNN
    python benchmarks/train_speed.py --from-log runs/main/log.jsonl   # summarize a real run instead

One step = G step (NS loss) + D step, data included, exactly as `deepanon train` runs it (on CUDA: bf16, channels-
last, samples cached on the GPU). Lazy R1 (every 16 steps) is timed in its own block and amortized, as in training.
Several discriminators (classic, projected) are measured in turn for each setting, `--rounds` times, so that their
ratio is taken side by side under the same load. On a shared machine the numbers are lower bounds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from results import markdown_table, publish

from deepanon.gan.config import NetConfig
from deepanon.gan.networks import num_params
from deepanon.train.config import TrainConfig
from deepanon.train.training_loop import Trainer


def _block(tr: Trainer, steps: int) -> float:
    """Seconds per step over `steps` consecutive steps (the GPU is waited for once, at the end)."""
    sync = torch.cuda.synchronize if tr.cuda else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        tr.step()
    sync()
    return (time.perf_counter() - t) / steps


def measure(
    data: str,
    res: int,
    batch: int,
    device: str,
    steps: int,
    augment_p: float,
    threads: int,
    amp: bool = True,
    discriminator: str = "classic",
) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            data=data,
            out=out,
            net=NetConfig(resolution=res),
            batch=batch,
            device=device,
            threads=threads,
            state_path=None,
            ada_target=0.0,  # p held fixed: its cost is what is measured
            augment_p=augment_p,
            amp=amp,
            discriminator=discriminator,
        )
        tr = Trainer(cfg)
        interval, gamma = cfg.r1_interval, cfg.r1_gamma
        cfg.r1_gamma = 0.0
        _block(tr, 20 if tr.cuda else 1)  # warm-up: cuDNN picks its kernels per shape
        plain = _block(tr, steps)
        cfg.r1_gamma, cfg.r1_interval = gamma, 1  # every step with R1
        r1 = _block(tr, max(2, steps // 8))
        cfg.r1_interval = interval
        per_step = plain + (r1 - plain) / interval
        peak = torch.cuda.max_memory_allocated() / 1e9 if tr.cuda else float("nan")
        return {
            "res": res,
            "batch": batch,
            "G": num_params(tr.G),
            "D": num_params(tr.D),  # trained parameters (the projected D's frozen trunk is not among them)
            "img_s": batch / per_step,
            "plain_s": plain,
            "r1_s": r1,
            "device": tr.device.type,
            "gpu_gb": peak,
            "bf16": tr.amp,
        }


def compare_kinds(rows: list[list], kinds: list[str]) -> str:
    """Per setting: each D kind's best and median img/s over the rounds, and their ratios to the first kind's.
    Rows: resolution, D, round, G, D params, batch, p, bf16, img/s, ... (as main() builds them)."""
    import numpy as np

    out = []
    for setting in sorted({(r[0], *r[5:8]) for r in rows}, key=str):
        speeds = {k: [float(r[8]) for r in rows if r[1] == k and (r[0], *r[5:8]) == setting] for k in kinds}
        best = {k: max(v) for k, v in speeds.items() if v}
        med = {k: float(np.median(v)) for k, v in speeds.items() if v}
        base = kinds[0]
        out.append(
            [*setting]
            + [f"{best[k]:.2f} / {med[k]:.2f}" for k in kinds]
            + [f"{best[k] / best[base]:.2f}x / {med[k] / med[base]:.2f}x" for k in kinds[1:]]
        )
    header = ["resolution", "batch", "augment p", "bf16"] + [f"{k} img/s best / median" for k in kinds]
    header += [f"{k} / {kinds[0]} best / median" for k in kinds[1:]]
    return markdown_table(header, out)


def from_log(path: str) -> tuple[str, str]:
    """Speed of a real training run, from its log.jsonl (img/s per logged window); returns (section, body)."""
    import json

    import numpy as np

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    run = Path(path).parent / "config.json"
    cfg = TrainConfig.from_dict(json.loads(run.read_text())) if run.exists() else TrainConfig()
    speeds = np.array([r["img_s"] for r in rows[1:]])  # the first window includes start-up
    hours = (rows[-1]["time"] - rows[0]["time"]) / 3600
    table = markdown_table(
        ["run", "steps", "kimg", "hours", "img/s median", "img/s p90", "img/s min"],
        [
            [
                path,
                rows[-1]["step"],
                rows[-1]["kimg"],
                f"{hours:.2f}",
                f"{np.median(speeds):.1f}",
                f"{np.percentile(speeds, 90):.1f}",
                f"{speeds.min():.1f}",
            ]
        ],
    )
    section = "train_speed-run" + ("-cuda" if cfg.device.startswith("cuda") else "")
    return section, (
        f"## GAN training run speed (benchmarks/train_speed.py --from-log, {cfg.device})\n\nReal training (data "
        f"loading, samples and checkpoints included) at {cfg.net.resolution} px, batch {cfg.batch}, G cbase/cmax "
        f"{cfg.net.g_cbase}/{cfg.net.g_cmax}, D {cfg.net.d_cbase}/{cfg.net.d_cmax}, threads {cfg.threads}. "
        f"The speeds are the run's own log, measured where it ran (device {cfg.device}); the stamp below says "
        f"where this summary was written. On a shared CPU the spread is other people's load.\n\n{table}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="datasets/faces", help="dataset made by `deepanon prepare`")
    ap.add_argument("--resolutions", default="64,128")
    ap.add_argument("--batches", default="32", help="comma-separated batch sizes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--augment-p", default="0", help="comma-separated fixed augmentation probabilities of D's inputs")
    ap.add_argument("--amp", default="1", help="comma-separated 0/1: bf16 autocast asked for (used where supported)")
    ap.add_argument("--discriminators", default="classic", help="comma-separated: classic, projected")
    ap.add_argument("--rounds", type=int, default=1, help="measure every setting this many times, interleaved")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    ap.add_argument("--from-log", help="summarize a run's log.jsonl instead of measuring")
    a = ap.parse_args()
    if a.from_log:
        section, body = from_log(a.from_log)
        publish(section, body, not a.no_write)
        return
    if not (Path(a.data) / "dataset.json").exists():
        raise SystemExit(f"no dataset at {a.data}: make one with `deepanon prepare ... -o {a.data}` (or pass --data)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    device = a.device
    for res in (int(r) for r in a.resolutions.split(",")):
        grid = [(int(b), float(p), m == "1", d, k) for b in a.batches.split(",") for p in a.augment_p.split(",")
                for m in a.amp.split(",") for k in range(a.rounds) for d in a.discriminators.split(",")]  # fmt: skip
        for batch, p, amp, disc, k in grid:
            r = measure(a.data, res, batch, a.device, a.steps, p, a.threads, amp, disc)
            device = r["device"]
            rows.append(
                [
                    res,
                    disc,
                    k + 1,
                    f"{r['G'] / 1e6:.2f} M",
                    f"{r['D'] / 1e6:.2f} M",
                    batch,
                    p,
                    "yes" if r["bf16"] else "no",
                    f"{r['img_s']:.1f}",
                    f"{r['plain_s']:.3f}",
                    f"{r['r1_s']:.3f}",
                    "-" if r["gpu_gb"] != r["gpu_gb"] else f"{r['gpu_gb']:.1f}",
                ]
            )
            print(rows[-1], flush=True)
    header = ["resolution", "D", "round", "G params", "D params trained", "batch", "augment p", "bf16", "img/s"]
    header += ["s/step", "s/step with R1"]
    header.append("GPU GB")
    table = markdown_table(header, rows)
    kinds = a.discriminators.split(",")
    if len(kinds) > 1:  # per D kind and setting, over the interleaved rounds: the best is the least disturbed
        table += "\n\n" + compare_kinds(rows, kinds)
    body = (
        f"## GAN training speed (benchmarks/train_speed.py)\n\n{device.upper()}, {a.threads} thread(s), default "
        f"NetConfig, the real Trainer on {a.data} (data included), NS loss + lazy R1 (amortized), D's inputs "
        f"augmented with a fixed p; load average at start {load:.1f}.\n\n{table}"
    )
    section = f"train_speed-{device}" + ("-" + "-".join(kinds) if len(kinds) > 1 else "")
    publish(section, body, not a.no_write, shown=table)


if __name__ == "__main__":
    main()
