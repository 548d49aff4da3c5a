"""The CLI over a folder of everything a folder can hold (tests/corpus.py), checked as a new user would check it."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from deepanon.media.atomic import TMP_MARKER
from tests.corpus import LOCATION_WORDS, MAX_PIXELS, build

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], **kw) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "deepanon", "anonymize", *args], capture_output=True, env=env, **kw)


def digests(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if stat.S_ISREG(os.lstat(p).st_mode):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def video_facts(path: Path) -> tuple[list[int], list[float]]:
    """Video frame pts, and each audio stream's length in seconds (sum of packet durations)."""
    with av.open(str(path)) as c:
        pts = [f.pts for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        lengths = []
        for a in c.streams.audio:
            lengths.append(float(sum(p.duration or 0 for p in c.demux(a)) * a.time_base))
    return pts, lengths


def fs(p: Path) -> bytes:
    return os.fsencode(p)


@pytest.mark.slow
def test_corpus_through_the_cli(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    entries = build(src)
    before = digests(src)
    res = run_cli(
        [
            str(src),
            "-o",
            str(out),
            "--method",
            "blur",
            "--keep-metadata",
            "--seed",
            "1",
            "-q",
            "--max-pixels",
            str(MAX_PIXELS),
            "--report",
            str(tmp_path / "r.jsonl"),
        ],
        timeout=900,
    )
    err = res.stderr
    assert b"Traceback" not in err and b"internal error" not in err, err.decode(errors="replace")
    bad = [e for e in entries if e.expect == "fail"]
    assert res.returncode == 1  # only for the bad ones' sake: every other file is written below
    for e in entries:
        dst = out / e.path.relative_to(src)
        line = b"error " + fs(e.path) + b": "
        if e.expect in ("ok", "warn"):
            assert dst.is_file(), e.path
            assert line not in err, e.path
        else:
            assert not os.path.lexists(dst) or dst.is_dir(), e.path
        if e.expect == "fail":
            assert line in err, e.path  # named with its exact path (bytes, markup and newlines as they are)
        if e.expect == "warn":
            assert b"warning " + fs(e.path) + b": " in err, e.path
    n_ok = sum(e.expect in ("ok", "warn") for e in entries)
    n_ignored = sum(e.expect == "ignored" for e in entries)
    summary = res.stdout.decode(errors="replace")
    assert f"{n_ok} done, 0 skipped (already there), {len(bad)} failed, {n_ignored} non-media files ignored" in summary
    assert not [n for _d, _s, files in os.walk(out) for n in files if TMP_MARKER in n]  # no temporary left
    assert digests(src) == before  # inputs byte-identical

    for e in entries:
        dst = out / e.path.relative_to(src)
        if e.expect not in ("ok", "warn"):
            continue
        data = dst.read_bytes()
        for word in LOCATION_WORDS:
            assert word not in data, (e.path, word)
        if e.kind == "image":
            with Image.open(dst) as im:
                assert not im.getexif().get_ifd(0x8825), e.path  # no GPS IFD
                assert im.getexif().get(0x0112, 1) == 1
        if e.kind == "video":
            pts_in, audio_in = video_facts(e.path)
            pts_out, audio_out = video_facts(dst)
            assert len(pts_out) == len(pts_in), e.path  # frame count
            if e.path.suffix == ".avi":  # AVI stores no pts: the demuxer's start offset may differ, steps may not
                assert np.array_equal(np.diff(pts_out), np.diff(pts_in)), e.path
            else:
                assert pts_out == pts_in, e.path  # timestamps
            assert len(audio_out) == len(audio_in) and np.allclose(audio_out, audio_in, atol=0.03), e.path

    # upright: the orientation-6 JPEG and TIFF come out turned like Pillow's exif_transpose of the input
    for rel in ("jpeg/orientation 6.jpg", "tiff/orientation 6.tif"):
        with Image.open(out / rel) as im:
            assert im.size == (240, 320), rel

    # a re-run skips every output, leaves everything as it was
    again = run_cli([str(src), "-o", str(out), "--method", "blur", "-q", "--max-pixels", str(MAX_PIXELS)], timeout=600)
    assert f"0 done, {n_ok} skipped".encode() in again.stdout
