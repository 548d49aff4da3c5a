"""The evaluation report: markdown tables, JSON, a before/after contact sheet per method and bar charts."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import overload

import cv2
import numpy as np

from deepanon.evaluate.still import MethodResult, face_crop
from deepanon.evaluate.timing import STAGES
from deepanon.evaluate.video_eval import VideoResult
from deepanon.evaluate.wider import HEIGHT_CLASSES

SHEET_HEIGHT = 240  # px per row of a contact sheet


def fmt(v: object, pct: bool = False) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{100 * v:.1f}" if pct else f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def markdown_table(header: list[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def still_tables(results: Sequence[MethodResult]) -> str:
    classes = [label for label, _, _ in HEIGHT_CLASSES]
    privacy = markdown_table(
        ["method", "faces"]
        + [f"covered {c} %" for c in classes]
        + ["covered all %", "recall all %", "background MAD", "background kept %"],
        [
            [r.method, r.faces]
            + [fmt(r.coverage.get(c, float("nan")), True) for c in classes]
            + [fmt(r.coverage.get("all"), True), fmt(r.recall.get("all"), True)]
            + [fmt(r.background_mad), fmt(r.background_kept, True)]
            for r in results
        ],
    )
    utility = markdown_table(
        ["method", "AP orig", "AP anon", "AP ratio %", "id faces", "still same %", "same if covered %",
         "id distance", "Frechet", "landmark shift", "pose shift"],
        [
            [r.method, fmt(r.ap_original), fmt(r.ap_anonymized), fmt(r.ap_ratio, True), r.identity_faces,
             fmt(r.still_same, True), fmt(r.still_same_covered, True), fmt(r.identity_distance), fmt(r.frechet),
             fmt(r.landmark_shift), fmt(r.pose_shift)]
            for r in results
        ],
    )  # fmt: skip
    by_height = markdown_table(
        ["method"] + [f"AP ratio {c} %" for c in classes],
        [[r.method] + [fmt(r.ap_ratio_by_height.get(c, float("nan")), True) for c in classes] for r in results],
    )
    phantoms = markdown_table(
        ["method", "images", "phantom faces", "per 100 images", "painted", "filtered (reason: count)"],
        [[r.method, r.images, r.phantoms, fmt(r.phantoms_per_100), r.painted, _reasons(r.filtered)] for r in results],
    )
    largest = markdown_table(
        ["method", "faces", "smallest px", "AP ratio %", "id distance", "landmark shift", "sex kept %", "age diff"],
        [
            [r.method, int(r.largest.get("faces", 0)), fmt(r.largest.get("min_height", float("nan"))),
             fmt(r.largest.get("ap_ratio", float("nan")), True), fmt(r.largest.get("identity_distance", float("nan"))),
             fmt(r.largest.get("landmark_shift", float("nan"))), fmt(r.largest.get("sex_kept", float("nan")), True),
             fmt(r.largest.get("age_difference", float("nan")))]
            for r in results
        ],
    )  # fmt: skip
    speed = _speed_table([(r.method, r.images_per_s, r.stage_ms) for r in results], "images/s", "ms")
    return (
        f"### Privacy\n\n{privacy}\n\n### Still a face, identity gone, realism\n\n{utility}\n\n"
        f"AP kept per face height (faces of the other heights ignored):\n\n{by_height}\n\n"
        f"### Phantom faces\n\n{phantoms}\n\n### The largest faces (largest_faces.png)\n\n{largest}\n\n"
        f"### Speed\n\n{speed}"
    )


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"


def _speed_table(rows: Sequence[tuple[str, float, dict[str, float]]], rate: str, unit: str) -> str:
    """method, rate, then each stage's time: (method, rate, stage times) per method."""
    stages = sorted({k for _, _, ms in rows for k in ms}, key=_stage_order)
    return markdown_table(
        ["method", rate] + [f"{s} {unit}" for s in stages],
        [[m, fmt(v)] + [fmt(ms.get(s, float("nan"))) for s in stages] for m, v, ms in rows],
    )


def _stage_order(name: str) -> int:
    order = list(STAGES)
    return order.index(name) if name in order else len(order)


def video_tables(results: Sequence[VideoResult]) -> str:
    kept = markdown_table(
        ["method", "frames in/out", "fps in/out", "audio in/out", "covered %", "recall %", "holes",
         "background MAD", "still same %", "id distance", "track within", "between tracks", "flicker",
         "phantoms", "phantoms/frame"],
        [
            [r.method, f"{r.frames_in}/{r.frames_out}", f"{r.fps_in:.3g}/{r.fps_out:.3g}",
             f"{r.audio_in}/{r.audio_out}", fmt(r.coverage, True), fmt(r.recall, True), r.holes,
             fmt(r.background_mad), fmt(r.still_same, True), fmt(r.identity_distance), fmt(r.stability_within),
             fmt(r.stability_between), fmt(r.flicker), r.phantoms, fmt(r.phantoms_per_frame)]
            for r in results
        ],
    )  # fmt: skip
    speed = _speed_table([(r.method, r.frames_per_s, r.stage_ms) for r in results], "frames/s", "ms/frame")
    decided = markdown_table(
        ["method", "tracks painted", "tracks filtered (reason: count)"],
        [[r.method, r.painted, _reasons(r.filtered)] for r in results],
    )
    return f"### Video\n\n{kept}\n\n{decided}\n\n### Speed\n\n{speed}"


# NaN -> None, tuples -> lists, all the way down; a dict stays a dict
@overload
def _jsonable(obj: dict) -> dict: ...
@overload
def _jsonable(obj: object) -> object: ...
def _jsonable(obj: object) -> object:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def result_dict(r: MethodResult | VideoResult) -> dict:
    skip = {"samples", "sample", "largest_crops", "phantom_crops"}
    return _jsonable({f.name: getattr(r, f.name) for f in fields(r) if f.name not in skip})


def write_json(path: Path, meta: dict, results: Sequence[MethodResult | VideoResult]) -> None:
    path.write_text(json.dumps({**_jsonable(meta), "methods": [result_dict(r) for r in results]}, indent=2) + "\n")


def _fit(img: np.ndarray, h: int) -> np.ndarray:
    w = max(1, round(img.shape[1] * h / img.shape[0]))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR)


def contact_sheet(
    samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], height: int = SHEET_HEIGHT
) -> np.ndarray:
    """One row per sample: original | anonymized | largest face before | after (RGB uint8)."""
    rows = []
    for orig, anon, boxes in samples:
        cells = [_fit(orig, height), _fit(anon, height)]
        if len(boxes):
            big = boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]
            cells += [_fit(face_crop(orig, big), height), _fit(face_crop(anon, big), height)]
        rows.append(np.concatenate([np.pad(c, ((0, 0), (0, 4), (0, 0)), constant_values=255) for c in cells], 1))
    if not rows:
        return np.full((height, height, 3), 255, np.uint8)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, 0)


def grid_sheet(rows: Sequence[Sequence[np.ndarray]], cell: int = 160, per_line: int = 2) -> np.ndarray:
    """Rows of equal-size square cells (each crop resized to `cell`), `per_line` rows side by side: for the
    largest-faces sheet (original | method | method ...) and the phantom sheet (original | output)."""
    if not rows:
        return np.full((cell, cell, 3), 255, np.uint8)
    lines = [
        np.concatenate(
            [np.pad(cv2.resize(c, (cell, cell), interpolation=cv2.INTER_AREA), ((2, 2), (2, 2), (0, 0)),
                    constant_values=255) for c in row], 1)
        for row in rows
    ]  # fmt: skip
    width = max(x.shape[1] for x in lines)
    lines = [np.pad(x, ((0, 0), (0, width - x.shape[1] + 12), (0, 0)), constant_values=255) for x in lines]
    while len(lines) % per_line:
        lines.append(np.full_like(lines[0], 255))
    blocks = [np.concatenate(lines[k : k + per_line], 1) for k in range(0, len(lines), per_line)]
    return np.concatenate(blocks, 0)


def save_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def bar_charts(path: Path, results: Sequence[MethodResult | VideoResult], metrics: Sequence[tuple[str, str]]) -> None:
    """One bar chart per (attribute, title), methods side by side, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    cols = 3
    n_rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.2 * cols, 3.2 * n_rows), squeeze=False)
    names = [r.method for r in results]
    for ax, (attr, title) in zip(axes.flat, metrics):
        vals = [_value(r, attr) for r in results]
        ax.bar(names, [0 if math.isnan(v) else v for v in vals], color="#4a7ab5")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _value(r: object, attr: str) -> float:
    """attr is a field name or 'field.key' for a dict field."""
    name, _, key = attr.partition(".")
    v = getattr(r, name)
    v = v.get(key, float("nan")) if key else v
    return float(v) if v is not None else float("nan")


STILL_CHARTS = (
    ("coverage.all", "faces covered (share)"),
    ("recall.all", "faces detected (share)"),
    ("background_mad", "background change (MAD, grey levels)"),
    ("ap_ratio", "independent detector AP, anon / orig"),
    ("still_same", "faces still the same person (share)"),
    ("identity_distance", "identity distance (dlib, >0.6 = other)"),
    ("frechet", "Frechet distance of descriptors"),
    ("landmark_shift", "landmark shift / eye distance"),
    ("images_per_s", "images per second"),
)
VIDEO_CHARTS = (
    ("coverage", "reference faces covered (share)"),
    ("holes", "holes (frames)"),
    ("still_same", "faces still the same person (share)"),
    ("stability_within", "identity change within a track"),
    ("flicker", "flicker in faces (anon / orig)"),
    ("background_mad", "background change (MAD)"),
    ("frames_per_s", "frames per second"),
)


def write_report(
    out: Path,
    meta: dict,
    results: Sequence[MethodResult | VideoResult],
    notes: Sequence[str],
    largest_originals: Sequence[np.ndarray] | None = None,
) -> Path:
    """report.md, report.json, contact_<method>.png and charts.png in `out`; returns report.md's path."""
    out.mkdir(parents=True, exist_ok=True)
    video = bool(results) and isinstance(results[0], VideoResult)
    for r in results:
        samples = [r.sample] if isinstance(r, VideoResult) and r.sample else getattr(r, "samples", [])
        save_png(out / f"contact_{r.method}.png", contact_sheet(samples))
    pictures = [f"contact_{r.method}.png" for r in results]
    still = [r for r in results if isinstance(r, MethodResult)]
    if still and still[0].largest_crops and largest_originals is not None:
        # one row per face, largest first: original | each method
        rows = [[o, *(r.largest_crops[k] for r in still)] for k, o in enumerate(largest_originals)]
        save_png(out / "largest_faces.png", grid_sheet(rows, per_line=1 if len(still) > 3 else 2))
        pictures.append("largest_faces.png (original | " + " | ".join(r.method for r in still) + ")")
    for r in results:
        if r.phantom_crops:
            save_png(out / f"phantoms_{r.method}.png", grid_sheet([list(p) for p in r.phantom_crops], 96, 4))
            pictures.append(f"phantoms_{r.method}.png (original | output)")
    if results:
        bar_charts(out / "charts.png", results, VIDEO_CHARTS if video else STILL_CHARTS)
    write_json(out / "report.json", {**meta, "notes": list(notes)}, results)
    tables = (video_tables(results) if video else still_tables(results)) if results else "(no method could run)"  # type: ignore[arg-type]
    head = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    text = f"# deepanon evaluate\n\n{head}\n\n{tables}\n\n" + "".join(f"- {n}\n" for n in notes)
    text += "\nPictures: " + ", ".join(pictures) + ", charts.png\n"
    (out / "report.md").write_text(text)
    return out / "report.md"
