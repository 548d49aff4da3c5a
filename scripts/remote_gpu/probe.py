"""Training images/s of the default networks on this GPU for a few batch sizes (real data, device cache included).

python scripts/remote_gpu/probe.py /tmp/faces [--batches 64,128]
"""

from __future__ import annotations

import argparse
import time

import torch

from deepanon.gan.config import NetConfig, TrainConfig
from deepanon.gan.training_loop import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--batches", default="64,128")
    ap.add_argument("--steps", type=int, default=48)
    a = ap.parse_args()
    t0 = time.time()
    tr = Trainer(TrainConfig(data=a.data, out="/tmp/probe", net=NetConfig(), state_path=None))
    print(f"trainer + device cache: {time.time() - t0:.1f} s", flush=True)
    for b in (int(x) for x in a.batches.split(",")):
        tr.cfg.batch = b
        for _ in range(20):  # warm-up: cuDNN picks its kernels per shape
            tr.step()
        torch.cuda.synchronize()
        t0 = time.time()
        for _ in range(a.steps):
            stats = tr.step()
        torch.cuda.synchronize()
        dt = time.time() - t0
        losses = " ".join(f"{k}={float(v):.3f}" for k, v in stats.items())
        print(f"batch {b}: {a.steps * b / dt:.0f} img/s, {dt / a.steps * 1000:.1f} ms/step, {losses}", flush=True)
    print(f"max GPU memory {torch.cuda.max_memory_allocated() / 1e9:.1f} GB")


if __name__ == "__main__":
    main()
