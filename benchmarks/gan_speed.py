"""Time to paint one face with the shipped generator: per batch size and memory layout (the network alone).

    python benchmarks/gan_speed.py [--device cpu] [--threads 1] [--batches 1,8,32] [--reps 5]

The painter (deepanon/anonymize/gan.py) runs the generator channels-last; the contiguous rows show what that buys.
On CUDA the generator runs in fp16, as the painter does. Alignment, colour matching and blending are not included
(the evaluate_* benchmarks time the whole pipeline).
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch
from results import markdown_table, publish

from deepanon.device import cpu_has_native_bf16, resolve_device
from deepanon.gan.weights import load_generator


def inputs(
    n: int, res: int, z_dim: int, device: torch.device, dtype: torch.dtype, fmt: torch.memory_format
) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, res, res, generator=g) * 2 - 1
    m = torch.zeros(n, 1, res, res)
    m[:, :, res // 5 : res * 4 // 5, res // 5 : res * 4 // 5] = 1
    lm = torch.rand(n, 5, res, res, generator=g)
    z = torch.randn(n, z_dim, generator=g)
    x, m, lm = (t.to(device, dtype).contiguous(memory_format=fmt) for t in (x, m, lm))
    return x, m, lm, z.to(device, dtype)


@torch.inference_mode()
def ms_per_face(G: torch.nn.Module, n: int, fmt: torch.memory_format, reps: int, bf16: bool = False) -> float:
    """bf16: under CPU bf16 autocast, as the painter runs where the CPU computes bf16 natively."""
    p = next(G.parameters())
    args = inputs(n, G.cfg.resolution, G.cfg.z_dim, p.device, p.dtype, fmt)
    sync = torch.cuda.synchronize if p.device.type == "cuda" else (lambda: None)

    def forward() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            G(*args, raw=True)

    for _ in range(3 if p.device.type == "cuda" else 1):  # warm-up (oneDNN / cuDNN pick kernels per shape)
        forward()
    sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        forward()
        sync()
        times.append(time.perf_counter() - t)
    return sorted(times)[reps // 2] / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    G = load_generator(device=device)
    if device.type == "cuda":
        G = G.half()
    layouts = {  # name: (generator, layout of its inputs)
        "contiguous": (G, torch.contiguous_format),
        "channels-last": (copy.deepcopy(G).to(memory_format=torch.channels_last), torch.channels_last),
    }
    bf16 = device.type == "cpu" and cpu_has_native_bf16()  # the painter's CPU autocast
    rows = []
    for n in (int(b) for b in a.batches.split(",")):
        ms = {name: ms_per_face(g, n, fmt, a.reps) for name, (g, fmt) in layouts.items()}
        row = [
            n,
            f"{ms['contiguous']:.1f}",
            f"{ms['channels-last']:.1f}",
            f"{ms['contiguous'] / ms['channels-last']:.2f}",
        ]
        if bf16:
            fast = ms_per_face(layouts["channels-last"][0], n, torch.channels_last, a.reps, bf16=True)
            row += [f"{fast:.1f}", f"{ms['channels-last'] / fast:.2f}"]
        rows.append(row)
        print(rows[-1], flush=True)
    header = ["faces per batch", "contiguous ms/face", "channels-last ms/face", "speed-up"]
    header += ["channels-last bf16 ms/face", "bf16 speed-up"] if bf16 else []
    table = markdown_table(header, rows)
    dtype = "fp16" if device.type == "cuda" else "fp32"
    body = (
        f"## Generator speed per face (benchmarks/gan_speed.py, {device.type})\n\nThe shipped generator "
        f"({G.cfg.resolution} px, {dtype}), {a.threads} thread(s), median of {a.reps} runs, network only; load "
        f"average at start {load:.1f}. The painter uses channels-last"
        + (", and bf16 autocast on this CPU (it computes bf16 natively)" if bf16 else "")
        + f".\n\n{table}"
    )
    publish(f"gan_speed-{device.type}", body, not a.no_write, shown=table)


if __name__ == "__main__":
    main()
