"""Faults during a run: kill -9 at random points then resume, a full disk, a read-only output.

Each run is the real CLI in a subprocess (`--method blur`: the fault handling is the point, not the painter).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from deepanon.media.atomic import TMP_MARKER
from tests.faces import scene
from tests.videos import make_test_video

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
ARGS = ["--method", "blur", "--seed", "7", "-q", "--crf", "30"]


def cli(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "deepanon", "anonymize", str(src), "-o", str(out), *ARGS, *extra]


def make_folder(root: Path, n_images: int = 6, video_frames: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n_images):
        img = scene(240, 320, [(int(rng.integers(0, 150)), int(rng.integers(0, 40)), 0.7)])
        (root / f"sub{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / f"sub{i % 2}" / f"p{i}.png")
    make_test_video(root / "clip.mp4", lambda i: scene(96, 128, [(10 + i, 4, 0.3)]), n_frames=video_frames)
    return root


def files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def frames(path: Path) -> tuple[list[int], np.ndarray]:
    with av.open(str(path)) as c:
        decoded = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return [p for p, _ in decoded], np.stack([a for _, a in decoded]).astype(np.int16)


def assert_same_outputs(clean: Path, resumed: Path) -> None:
    a, b = files(clean), files(resumed)
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))  # nothing missing, nothing stale (no temporaries)
    for rel, p in a.items():
        if rel.endswith(".mp4"):  # identical frames reach the encoder; its bytes may differ (README)
            pts_a, px_a = frames(p)
            pts_b, px_b = frames(b[rel])
            assert pts_a == pts_b and np.abs(px_a - px_b).mean() < 1.0, rel
        else:
            assert p.read_bytes() == b[rel].read_bytes(), rel


def kill_when(cmd: list[str], ready, delay: float, timeout: float = 300) -> bool:
    """Start cmd, wait until ready() holds, then `delay` s more, and SIGKILL it. False if it finished first."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while not ready():
            if proc.poll() is not None:
                return False
            if time.monotonic() - t0 > timeout:
                raise AssertionError("the run never got to the point to kill it at")
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("faults")
    src = make_folder(base / "in")
    out = base / "clean"
    subprocess.run(cli(src, out), env=ENV, check=True, capture_output=True, timeout=600)
    return src, out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_a_random_point_of_a_folder_run_then_resume(tmp_path: Path, clean_run, seed: int) -> None:
    src, clean = clean_run
    out = tmp_path / "out"
    rng = np.random.default_rng(seed)
    wanted = int(rng.integers(1, 5))  # kill after this many outputs exist, plus a random fraction of a second

    def ready() -> bool:
        return out.exists() and sum(1 for p in out.rglob("*") if p.is_file()) >= wanted

    delay = float(rng.uniform(0, 0.6))
    while not kill_when(cli(src, out), ready, delay):  # a fast machine finished first: kill sooner
        assert delay > 0, "the run finished before it could be killed"
        shutil.rmtree(out)
        delay = 0.0
    subprocess.run(cli(src, out), env=ENV, check=True, capture_output=True, timeout=600)
    assert_same_outputs(clean, out)


@pytest.mark.slow
def test_kill_9_mid_video_leaves_a_temporary_the_resume_removes(tmp_path: Path, clean_run) -> None:
    src, clean = clean_run
    out = tmp_path / "out"

    def writing_video() -> bool:
        return out.exists() and any(TMP_MARKER in p.name and p.suffix == ".mp4" for p in out.iterdir())

    video_only = tmp_path / "in"
    video_only.mkdir()
    shutil.copy(src / "clip.mp4", video_only / "clip.mp4")

    def killed_mid_video(delay: float) -> bool:
        # A fast machine may finish the video (temporary renamed) within the delay, or even before the kill
        killed = kill_when(cli(video_only, out), writing_video, delay)
        return killed and any(TMP_MARKER in p.name for p in out.iterdir())

    delay = float(np.random.default_rng(3).uniform(0.2, 1.0))
    for _ in range(5):
        if killed_mid_video(delay):
            break
        shutil.rmtree(out, ignore_errors=True)
        delay = 0.0  # kill as soon as the temporary appears
    else:
        raise AssertionError("the video was done every time before it could be killed")
    assert any(TMP_MARKER in p.name for p in out.iterdir())  # the killed writer's temporary is there
    subprocess.run(cli(video_only, out), env=ENV, check=True, capture_output=True, timeout=600)
    assert [p.name for p in out.iterdir()] == ["clip.mp4"]  # the resume removed it
    pts_a, px_a = frames(clean / "clip.mp4")
    pts_b, px_b = frames(out / "clip.mp4")
    assert pts_a == pts_b and np.abs(px_a - px_b).mean() < 1.0


@contextlib.contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs at `where`; skips the test where mounting is not possible (not root, no mount)."""
    where.mkdir()
    opts = ",".join(("size=1m", *options))
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command")
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.decode(errors='replace').strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.slow
def test_full_disk_is_reported_per_file_and_finished_outputs_kept(tmp_path: Path, clean_run) -> None:
    src, clean = clean_run
    big = tmp_path / "in"
    shutil.copytree(src, big)
    rng = np.random.default_rng(5)
    for i in range(4):  # 4 incompressible PNGs of ~400 kB each: the 1 MB disk fills half-way
        Image.fromarray(rng.integers(0, 256, (240, 560, 3), dtype=np.uint8)).save(big / f"noise{i}.png")
    with tmpfs(tmp_path / "disk") as disk:
        out = disk / "out"
        res = subprocess.run(cli(big, out), env=ENV, capture_output=True, timeout=600)
        err = res.stderr.decode(errors="replace")
        assert res.returncode == 1 and "Traceback" not in err, err
        failed = [line for line in err.splitlines() if line.startswith("error ")]
        assert failed and all(line.endswith("no space left on device") for line in failed), err
        written = files(out)
        assert not [r for r in written if TMP_MARKER in r]  # no partial file left
        for rel, p in written.items():  # what was finished is complete and right
            if rel in files(clean) and not rel.endswith(".mp4"):
                assert p.read_bytes() == (clean / rel).read_bytes(), rel
            else:
                with Image.open(p) if not rel.endswith(".mp4") else av.open(str(p)) as f:
                    assert f is not None
        assert len(written) + len(failed) == len(files(big))


@pytest.mark.slow
def test_read_only_output_fails_each_file_cleanly(tmp_path: Path, clean_run) -> None:
    src, _ = clean_run
    with tmpfs(tmp_path / "ro", "ro") as ro:
        res = subprocess.run(cli(src, ro / "out"), env=ENV, capture_output=True, timeout=600)
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 1 and "Traceback" not in err, err
    failed = [line for line in err.splitlines() if line.startswith("error ")]
    assert len(failed) == len(files(src)) and all("read-only file system" in line for line in failed), err
