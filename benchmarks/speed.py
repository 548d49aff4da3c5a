"""deepanon (default settings: gan and blur) against deface, side by side in ONE run: images/s on WIDER val photos,
frames/s on a crowded 1280x720 pan made from a WIDER photo and on the hamilton clip, recall per face-height class.

    python benchmarks/speed.py [--data ../shared/data/wider-val] [--images 60] [--rounds 2] [--pan-frames 48]
        [--variant "NAME=settings.toml" ...]   (another deepanon run: anonymize --config FILE)

Every tool runs as a user runs it (its CLI, a fresh process: start-up counted), on the same files, interleaved
round by round (the order rotated each round) so the machine's load falls on all alike; the table gives ratios to
deface and the load averages seen. Recall: deepanon's from the faces its --report lists (what it anonymized);
deface's from its CenterFace at its default threshold (0.2) on the same images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from detection import score_row
from PIL import Image
from results import markdown_table, publish
from video_small_faces import crowded, pan

from deepanon.evaluate.wider import HEIGHT_CLASSES, WiderImage, read_wider

ROOT = Path(__file__).resolve().parents[1]
DEFACE = Path(sys.executable).with_name("deface")
TOOLS = ("deepanon gan", "deepanon blur", "deface")


def command(
    tool: str, src: Path, out: Path, report: Path | None = None, configs: dict[str, str] | None = None
) -> list[str]:
    """The command line; deface writes <name>_anonymized.<ext> next to each input (src: a folder or a file)."""
    if tool == "deface":
        return [str(DEFACE), str(src)] + (["-o", str(out)] if src.is_file() else [])
    cmd = [sys.executable, "-m", "deepanon", "anonymize", str(src), "-o", str(out), "-q", "--overwrite"]
    if configs and tool in configs:
        cmd += ["--config", configs[tool]]  # its method and every other setting from the file
    elif tool.endswith("blur"):
        cmd += ["-m", "blur"]
    return cmd + (["--report", str(report)] if report else [])


def timed(cmd: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def write_video(frames: list[np.ndarray], path: Path, fps: int = 25) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def pan_720p(im: WiderImage, n: int, travel: float = 0.15) -> list[np.ndarray]:
    rgb = np.asarray(Image.open(im.path).convert("RGB"))
    h, w = rgb.shape[:2]
    s = max(720 / h, 1280 / (w * (1 - travel)))
    big = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    frames, _ = pan(big, np.zeros((0, 4), np.float32), n, travel)
    return [np.ascontiguousarray(f[:720, :1280]) for f in frames]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/wider-val")
    ap.add_argument("--clip", type=Path, default=ROOT.parent / "shared/data/video/short_hamilton_clip.mp4")
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pan-frames", type=int, default=48)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=CONFIG", help="another deepanon run")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    configs = {f"deepanon {n}": str(Path(c).resolve()) for n, c in (v.split("=", 1) for v in args.variant)}
    tools = (*TOOLS[:2], *configs, "deface")
    wider = read_wider(args.data / "wider_face_val_bbx_gt.txt", args.data / "images")
    images = wider[: args.images]
    loads = [os.getloadavg()[0]]
    secs = {(t, k): 0.0 for t in tools for k in ("photos", "pan", "clip")}
    found: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pan_path = tmp / "pan720.mp4"
        pan_frames = pan_720p(crowded(wider, 1)[0], args.pan_frames)
        write_video(pan_frames, pan_path)
        reports: dict[str, list[Path]] = {t: [] for t in tools}
        chunks = [images[r :: args.rounds] for r in range(args.rounds)]
        for r, chunk in enumerate(chunks):
            order = tools[r % len(tools) :] + tools[: r % len(tools)]
            for tool in order:
                src = tmp / f"in-{r}-{tool.replace(' ', '_')}"
                src.mkdir()
                for im in chunk:  # links: the data is read, never copied
                    (src / f"{len(list(src.iterdir())):03d}{im.path.suffix}").symlink_to(im.path)
                report = tmp / f"report-{r}-{tool.replace(' ', '_')}.jsonl"
                secs[(tool, "photos")] += timed(command(tool, src, tmp / f"out-{r}", report, configs))
                reports[tool].append(report)
                loads.append(os.getloadavg()[0])
                print(f"round {r + 1}: {tool} photos done", flush=True)
            for kind, video in (("pan", pan_path), ("clip", args.clip)) if r == 0 else ():  # videos: one round
                for tool in order:
                    dst = tmp / f"{tool.replace(' ', '_')}-{kind}.mp4"
                    secs[(tool, kind)] += timed(command(tool, video, dst, None, configs))
                    loads.append(os.getloadavg()[0])
                    print(f"round {r + 1}: {tool} {kind} done", flush=True)
        print("seconds:", {f"{t} {k}": round(v, 1) for (t, k), v in secs.items()}, flush=True)
        for tool in tools[:-1]:  # deepanon's: faces anonymized, per image in the order of `images`
            by_name: dict[str, list] = {}
            for r, report in enumerate(reports[tool]):
                for rec in map(json.loads, report.read_text().splitlines()):
                    if "input" not in rec:  # the first line holds the run's settings
                        continue
                    by_name[f"{r}/{Path(rec['input']).name}"] = [f["box"] for f in rec.get("faces", [])]
            found[tool] = [
                by_name[f"{r}/{i:03d}{im.path.suffix}"] for r, chunk in enumerate(chunks) for i, im in enumerate(chunk)
            ]
    from deface.centerface import CenterFace

    net = CenterFace(in_shape=None, backend="opencv")
    ordered = [im for chunk in chunks for im in chunk]
    found["deface"] = [
        net(np.asarray(Image.open(im.path).convert("RGB")), threshold=0.2)[0][:, :4].tolist() for im in ordered
    ]
    n_clip = av.open(str(args.clip)).streams.video[0].frames
    rows, recall_rows = [], []
    for tool in tools:
        ips = len(images) / secs[(tool, "photos")]
        pan_fps = len(pan_frames) / secs[(tool, "pan")]
        clip_fps = n_clip / secs[(tool, "clip")]
        ref = [secs[("deface", k)] / secs[(tool, k)] for k in ("photos", "pan", "clip")]
        rows.append(
            [tool, f"{ips:.2f}", f"{ref[0]:.2f}", f"{pan_fps:.2f}", f"{ref[1]:.2f}", f"{clip_fps:.2f}", f"{ref[2]:.2f}"]
        )
        faces = [[_Box(b) for b in boxes] for boxes in found[tool]]
        recall_rows.append([tool, *score_row(ordered, faces)])
        print(rows[-1], recall_rows[-1], flush=True)
    header = ["tool", "photos images/s", "x deface", "720p pan fps", "x deface", "hamilton fps", "x deface"]
    rheader = ["tool", *[f"recall {label} %" for label, _, _ in HEIGHT_CLASSES]]
    rheader += ["recall >=32 %", "false alarms", "false alarms >= 48 px"]
    body = (
        "## Speed: deepanon vs deface, one run (benchmarks/speed.py)\n\n"
        f"{len(images)} WIDER val photos (the first), a {len(pan_frames)}-frame 1280x720 pan over a crowded WIDER "
        f"photo (enlarged to 720 px high) and the hamilton clip ({n_clip} frames, 640x360), each tool's CLI in a "
        f"fresh process (start-up counted), photos in {args.rounds} interleaved rounds, videos in one. deepanon: "
        "default settings (CenterFace + cascade small-face pass, --jobs = the cores for photos); "
        + "".join(f"{t}: `--config` {Path(c).name}; " for t, c in configs.items())
        + "deface 1.5: default (CenterFace via onnxruntime at 0.2, blur). x deface: deface's time / the tool's "
        f"(above 1: faster). Load average during the run: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} "
        "cores.\n\n"
        + markdown_table(header, rows)
        + "\n\nRecall on the same photos (found: IoU >= 0.4; deepanon: the faces it anonymized):\n\n"
        + markdown_table(rheader, recall_rows)
    )
    publish("speed", body, not args.no_write)


class _Box:
    """What score_row reads of a face: its box."""

    def __init__(self, box: list[float]) -> None:
        self.box = tuple(box)


if __name__ == "__main__":
    main()
