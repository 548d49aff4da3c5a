"""The discriminator A/B of issue 18, measured on data neither training used.

    python benchmarks/discriminator_ab.py --data datasets/faces --gen start=weights/train_state.safetensors \
        --gen classic=/tmp/ab/classic/state.safetensors --gen projected=/tmp/ab/projected/state.safetensors \
        [--gen shipped=deepanon/weights/generator.safetensors] [--photos 0] [--wider 20] [--no-write]

Each --gen is a compact training state (its EMA generator is exported to a temporary folder) or an exported
generator. Per generator, on the held-out validation split (`deepanon prepare`'s hash-fixed 2 %, never trained on):
  - Frechet distance in EfficientNet-Lite1's space (the ImageNet network the projected D does not use) between the
    validation crops and the same crops inpainted (one fixed z per crop, the same for every generator);
  - on the validation photos (method gan, seed 0, today's defaults otherwise; `deepanon evaluate`'s runner):
    Frechet distance of dlib descriptors, AP kept of the independent detector (CenterFace), landmark and pose
    shift, dlib identity distance and "same person" rate; MTCNN's re-find rate of the painted faces;
  - on WIDER val (the first --wider photos spread over the set): AP kept.
A generator trained at another repaint geometry (its card's mask_scale, e.g. 1.7) is measured at that geometry:
its Lite1 distance against the crops of a --data prepared with it (give --data once per geometry), the photos
painted with its ellipse; NAME=PATH@1.7 measures it at another geometry instead (the shipped generator at 1.7,
say, to tell what training at 1.7 adds from what the larger region does). Plus a grid of the same validation
crops and z through every generator (`benchmarks/discriminator_ab.png`) and, for the states, what each trained
(images, discriminator). Writes RESULTS.md's section `discriminator-ab` (or --section).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from evaluate_common import SHARED
from evaluate_faces import SOURCES, link_validation
from PIL import Image
from results import markdown_table, publish

from deepanon.anonymize.pipeline import Anonymizer
from deepanon.config import AnonymizerConfig, apply_shortcuts
from deepanon.evaluate.identity import frechet_distance
from deepanon.evaluate.refind import mtcnn_detector, refind, validation_photos
from deepanon.evaluate.runner import EvalOptions, run_evaluation
from deepanon.gan.weights import load_card, load_generator, load_train_state
from deepanon.geometry.masks import DEFAULT_MASK_SCALE
from deepanon.train.compare import grid, lite1_features, load_ema, training_speed

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "benchmarks" / "discriminator_ab.png"
TITLES = {"discriminator-ab": "Discriminator A/B on held-out data", "geometry-ab": "Repaint geometry: 1.5x vs 1.7x"}


def exported(name: str, path: Path, data: Path, work: Path) -> Path:
    """An exported generator for `path`: itself, or a state's EMA generator exported into `work`."""
    if path.suffix == ".safetensors" and (path.with_suffix(".json")).exists():
        return path  # an exported generator with its card
    out = work / name / "generator.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "deepanon", "export", str(path), "-o", str(out), "--data", str(data)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def dataset_mask_scale(data: Path) -> float:
    """The repaint geometry a prepared dataset was cut with."""
    return float(json.loads((data / "dataset.json").read_text())["config"].get("mask_scale", DEFAULT_MASK_SCALE))


def trained_on(info: dict, datas: dict[float, Path]) -> Path:
    """The --data a state trained on (same folder name as its config's data), else the smallest geometry's: the
    export writes that data's repaint geometry into the card, and the generator is measured at it."""
    trained = Path(info.get("config", {}).get("data") or "").name
    return next((d for d in datas.values() if trained and d.name == trained), datas[min(datas)])


def mask_scale_of(card: dict) -> float:
    """The repaint ellipse (x the face box) a generator was trained with."""
    return float(card.get("repaint", {}).get("mask_scale", DEFAULT_MASK_SCALE))


def photo_metrics(
    weights: Path, scale: float, photos: Path, per_source: int, wider: Path | None, n_wider: int, work: Path
) -> dict[str, float]:
    config = apply_shortcuts(AnonymizerConfig(), {"weights": str(weights), "mask_scale": scale})
    out: dict[str, float] = {}
    report_dir = work / "eval-faces"
    run_evaluation(photos, report_dir, EvalOptions(("gan",), 0, "cpu", 0, mask_scale=scale, config=config))
    r = json.loads((report_dir / "report.json").read_text())["methods"][0]
    for key in ("frechet", "ap_ratio", "landmark_shift", "pose_shift", "identity_distance", "still_same"):
        out[key] = r[key]
    anon = Anonymizer(config, method="gan", device="cpu", seed=0)
    judge = mtcnn_detector()
    res = refind(validation_photos([SHARED / s for s in SOURCES], per_source), anon, judge)
    out["refind"] = res.rate_after / max(res.rate_before, 1e-9)
    if wider is not None and n_wider:
        report_dir = work / "eval-wider"
        run_evaluation(wider, report_dir, EvalOptions(("gan",), n_wider, "cpu", 0, mask_scale=scale, config=config))
        out["wider_ap_ratio"] = json.loads((report_dir / "report.json").read_text())["methods"][0]["ap_ratio"]
    return out


def parse_gen(spec: str) -> tuple[str, Path, float | None]:
    """NAME=PATH[@MASK_SCALE] -> (name, path, the repaint geometry to measure it at, or None: its card's)."""
    name, rest = spec.split("=", 1)
    path, _, at = rest.partition("@")
    return name, Path(path), float(at) if at else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, action="append", help="prepared dataset(s) (val split), one per repaint geometry"
    )
    ap.add_argument(
        "--gen",
        action="append",
        required=True,
        help="NAME=STATE_OR_GENERATOR[@MASK_SCALE] (first: the start); @1.7 measures it at another repaint geometry",
    )
    ap.add_argument("--wider", type=int, default=20, help="WIDER val photos for AP kept (0: skip)")
    ap.add_argument("--crops", type=int, default=0, help="validation crops for the Lite1 distance (0: all)")
    ap.add_argument("--photos", type=int, default=0, help="validation photos per source (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--note", default="", help="a line about how the arms were trained, for RESULTS.md")
    ap.add_argument(
        "--section",
        default="discriminator-ab",
        help="RESULTS.md section (and benchmarks/SECTION.png) to write: another name keeps the A/B already there",
    )
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    datas = {dataset_mask_scale(d): d for d in (a.data or [ROOT / "datasets" / "faces"])}
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    gens = [parse_gen(s) for s in a.gen]
    work = Path(tempfile.mkdtemp(prefix="deepanon-ab-"))
    photos = link_validation(work / "validation", a.photos)
    wider = SHARED / "wider-val" if (SHARED / "wider-val").exists() else None
    device = torch.device("cpu")
    nets, rows, trained = [], [], []
    for name, path, at in gens:
        is_state = not path.with_suffix(".json").exists()  # an exported generator has its card beside it
        info = load_train_state(path)[1] if is_state else {}
        weights = exported(name, path, trained_on(info, datas), work)
        card = load_card(weights)
        if at is not None:  # measured at a geometry it did not learn (the painter warns: it extrapolates there)
            card = {**card, "repaint": {**card.get("repaint", {}), "mask_scale": at}}
        G = load_ema(path, device)[0] if is_state else load_generator(weights, device).eval()
        nets.append((name, G, weights, card, info))
    fakes, reals = [], {}
    for scale, data in datas.items():  # each generator on the crops of its own geometry
        mine = [i for i, n in enumerate(nets) if mask_scale_of(n[3]) == scale]
        if mine:
            reals[scale], got = lite1_features(data, [nets[i][1] for i in mine], device, a.crops)
            fakes += list(zip(mine, got))
    missing = [n[0] for i, n in enumerate(nets) if i not in dict(fakes)]
    if missing:
        raise SystemExit(f"no --data prepared at the repaint geometry of {', '.join(missing)}")
    fakes = [f for _, f in sorted(fakes, key=lambda t: t[0])]
    start_nimg = nets[0][4].get("cur_nimg") if nets[0][4] else None
    for (name, _, weights, card, info), (_, path, _), fake in zip(nets, gens, fakes):
        print(f"{name}: photos ...", flush=True)
        scale = mask_scale_of(card)
        m = photo_metrics(weights, scale, photos, a.photos, wider, a.wider, work / name)
        fd_lite = frechet_distance(reals[scale], fake)
        kind = info.get("config", {}).get("discriminator", "classic") if info else "-"
        images = card.get("kimg", float("nan"))
        rows.append(
            [
                name,
                kind,
                f"{images:.1f}",
                f"{scale:g}",
                f"{fd_lite:.1f}",
                f"{m['frechet']:.4f}",
                f"{100 * m['ap_ratio']:.1f}",
            ]
            + [f"{100 * m.get('wider_ap_ratio', float('nan')):.1f}", f"{100 * m['refind']:.1f}"]
            + [f"{m['landmark_shift']:.3f}", f"{m['pose_shift']:.3f}", f"{m['identity_distance']:.3f}"]
            + [f"{100 * m['still_same']:.1f}"]
        )
        if info and start_nimg is not None and info["cur_nimg"] > start_nimg:
            speed = training_speed(path.parent)
            trained.append(
                f"{name}: {info['cur_nimg'] - start_nimg} images after the start ({kind} D, batch "
                f"{info['config'].get('batch')}), median {speed:.2f} img/s in training"
            )
        print(rows[-1], flush=True)
    picture = PICTURE.with_name(f"{a.section.replace('-', '_')}.png")
    picture = picture if not a.no_write else work / picture.name  # --no-write leaves the committed picture alone
    first = mask_scale_of(nets[0][3])  # the grid shows the start's crops (another geometry frames them wider)
    Image.fromarray(grid(datas[first], [G for _, G, *_ in nets], 8, 2, device)).save(picture)
    n_crops = len(next(iter(reals.values())))
    header = ["generator", "D", "kimg", "mask", "Frechet Lite1", "Frechet dlib", "AP kept val %", "AP kept WIDER %"]
    header += ["MTCNN re-find kept %", "landmark shift", "pose shift", "id distance", "dlib same %"]
    table = markdown_table(header, rows)
    cols = ", ".join(["original", "masked"] + [n for n, *_ in nets] * 2)
    body = (
        f"## {TITLES.get(a.section, 'Generators compared on held-out data')} (benchmarks/discriminator_ab.py)\n\n"
        f"Validation split of {', '.join(SOURCES)} ({n_crops} crops for Lite1: one fixed z per crop, the same "
        f"for every generator; {len(list((photos).rglob('*.*')))} photos for the rest, method gan, seed 0, "
        f"default settings); WIDER val: {a.wider} photos spread over the set. Frechet Lite1: FID's formula on "
        "EfficientNet-Lite1's 1280 pooled features (more dimensions than crops: biased up, compare rows only). "
        f"Run {(time.perf_counter() - t0) / 60:.1f} min.\n\n"
        + (a.note + "\n\n" if a.note else "")
        + "\n".join(f"- {t}" for t in trained)
        + f"\n\n{table}\n\n`benchmarks/{picture.name}`: rows = validation crops; columns: {cols} (2 z)."
    )
    publish(a.section, body, not a.no_write, shown=table)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
