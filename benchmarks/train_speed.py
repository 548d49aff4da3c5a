"""GAN training speed (images/s) of the default networks, per resolution, on synthetic batches.

    python benchmarks/train_speed.py [--resolutions 64,128] [--batch 32] [--threads 1] [--device cpu] [--steps 6]
    python benchmarks/train_speed.py --from-log runs/main/log.jsonl   # summarize a real run instead

One step = G step (NS loss) + D step; lazy R1 (every 16 steps) is timed separately and amortized, as in training.
Data loading is excluded (it is a few % of a step on CPU). On a shared machine the numbers are lower bounds.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from results import markdown_table, write_section

from deepanon.device import resolve_device
from deepanon.gan.config import NetConfig, TrainConfig
from deepanon.gan.loss import discriminator_loss, generator_loss
from deepanon.gan.networks import Discriminator, Generator, num_params


def measure(res: int, batch: int, device: torch.device, steps: int) -> dict:
    cfg = TrainConfig(net=NetConfig(resolution=res))
    G, D = Generator(cfg.net).to(device), Discriminator(cfg.net).to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.g_lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), cfg.d_lr, betas=cfg.betas)
    x = torch.rand(batch, 3, res, res, device=device) * 2 - 1
    m = torch.rand(batch, 1, res, res, device=device).round()
    lm = torch.rand(batch, 5, res, res, device=device)

    def step(r1: bool) -> float:
        t = time.perf_counter()
        z = torch.randn(batch, cfg.net.z_dim, device=device)
        D.requires_grad_(False)
        loss_g, fake, _ = generator_loss(G, D, x, m, lm, z)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        loss_d, _ = discriminator_loss(D, x, fake, m, lm, cfg.r1_gamma if r1 else 0.0, cfg.r1_interval)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    step(False)  # warm-up
    plain = sorted(step(False) for _ in range(steps))[steps // 2]
    r1 = step(True)
    per_step = plain + (r1 - plain) / cfg.r1_interval
    return {"res": res, "G": num_params(G), "D": num_params(D), "img_s": batch / per_step, "plain_s": plain, "r1_s": r1}


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
    ap.add_argument("--resolutions", default="64,128")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    ap.add_argument("--from-log", help="summarize a run's log.jsonl instead of measuring")
    a = ap.parse_args()
    if a.from_log:
        section, body = from_log(a.from_log)
        print(body)
        if not a.no_write:
            write_section(section, body)
        return
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    rows = []
    for res in (int(r) for r in a.resolutions.split(",")):
        r = measure(res, a.batch, device, a.steps)
        rows.append(
            [
                res,
                f"{r['G'] / 1e6:.2f} M",
                f"{r['D'] / 1e6:.2f} M",
                a.batch,
                f"{r['img_s']:.1f}",
                f"{r['plain_s']:.2f}",
                f"{r['r1_s']:.2f}",
            ]
        )
        print(rows[-1], flush=True)
    table = markdown_table(["resolution", "G params", "D params", "batch", "img/s", "s/step", "s/step with R1"], rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = (
        f"## GAN training speed (benchmarks/train_speed.py)\n\n{device.type.upper()}, {a.threads} thread(s), "
        f"default NetConfig, NS loss + lazy R1 (amortized), synthetic batches; load average at start "
        f"{load:.1f}.\n\n{table}"
    )
    print(table)
    if not a.no_write:
        write_section(f"train_speed-{device.type}", body)


if __name__ == "__main__":
    main()
