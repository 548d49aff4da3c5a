"""The discriminator A/B side by side: the same validation crops and the same z through the start state's G_ema and
each arm's, plus what each arm trained (images, speed, last losses).

    python scripts/remote_gpu/compare.py --data /tmp/ab/faces --start weights/train_state.safetensors \
        --arm projected=/tmp/ab/projected --arm classic=/tmp/ab/classic --out /tmp/ab/compare

Writes grid.png (rows: crops; columns: original, masked input, then per z: start | arm 1 | arm 2 ...) and
summary.json. The held-out measurements (Frechet distances, AP kept, re-find, identity) are taken from the states
afterwards, with `deepanon export` and the evaluation tools, where those run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepanon.gan.weights import load_train_state
from deepanon.train.compare import grid, load_ema, training_speed


def arm_summary(folder: Path, start_nimg: int) -> dict:
    _, info = load_train_state(folder / "state.safetensors")
    rows = [json.loads(r) for r in (folder / "log.jsonl").read_text().splitlines() if r.strip()]
    last = rows[-10:]
    keys = ("g_adv", "d_loss", "d_real", "d_fake", "d_real_sign", "augment_p")
    return {
        "discriminator": info["config"].get("discriminator", "classic"),
        "step": info["step"],
        "cur_nimg": info["cur_nimg"],
        "images_trained": info["cur_nimg"] - start_nimg,
        "batch": info["config"].get("batch"),
        "img_s_median": training_speed(folder),
        "last_rows_mean": {k: float(np.mean([r[k] for r in last if k in r])) for k in keys if k in last[-1]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", type=Path, required=True, help="the compact state both arms went on from")
    ap.add_argument("--arm", action="append", required=True, help="NAME=RUN_FOLDER (with state.safetensors)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=8, help="validation crops")
    ap.add_argument("--z", type=int, default=3, help="z per crop")
    a = ap.parse_args()
    device = torch.device(a.device)
    arms = [tuple(s.split("=", 1)) for s in a.arm]
    start_G, start_info = load_ema(a.start, device)
    gens = [start_G] + [load_ema(Path(f) / "state.safetensors", device)[0] for _, f in arms]
    a.out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(a.data, gens, a.n, a.z, device)).save(a.out / "grid.png")
    summary = {
        "start": {"state": str(a.start), "step": start_info["step"], "cur_nimg": start_info["cur_nimg"]},
        "grid_columns": ["original", "masked"] + [c for _ in range(a.z) for c in ["start"] + [n for n, _ in arms]],
        "arms": {name: arm_summary(Path(f), start_info["cur_nimg"]) for name, f in arms},
    }
    (a.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
