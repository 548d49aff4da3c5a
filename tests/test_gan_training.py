"""GAN training on a tiny synthetic dataset: losses, gradients, composite, checkpoints and exact resume."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deepanon.gan.config import NetConfig
from deepanon.gan.networks import Discriminator, Generator
from deepanon.geometry.align import TEMPLATE, alignment_matrix, crop, face_crop_mask, transform_points
from deepanon.geometry.masks import face_ellipse
from deepanon.train.config import TrainConfig
from deepanon.train.dataset import FaceCrops
from deepanon.train.loss import discriminator_loss, generator_loss
from deepanon.train.training_loop import (
    StateConflictError,
    Trainer,
    resume_source,
    saved_step,
    stop_on_signals,
    train,
)
from deepanon.types import Face

TINY = NetConfig(resolution=16, z_dim=8, w_dim=8, map_layers=1, g_cbase=64, g_cmax=16, d_cbase=64, d_cmax=16)


def synthetic_dataset(root: Path, n: int = 12, stored: int = 32) -> Path:
    """The files prepare.py writes, made from smooth noise with a plausible face geometry (no real photos)."""
    rng = np.random.default_rng(0)
    rec: dict[str, list] = {k: [] for k in ("images", "masks", "landmarks", "matrices", "ellipses", "is_val")}
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (0, 0), 2)
        size = 30 + 4 * (i % 3)
        lm = ((TEMPLATE - 0.5) * size * 2.2 + 48).astype(np.float32)
        face = Face((48 - size / 2, 48 - size * 0.45, 48 + size / 2, 48 + size * 0.6), 0.99, lm)
        M = alignment_matrix(face, stored)
        e = face_ellipse(face)
        rec["images"].append(crop(img, M, stored))
        rec["masks"].append(np.rint(face_crop_mask(face, M, stored) * 255).astype(np.uint8))
        rec["landmarks"].append(transform_points(M, lm))
        rec["matrices"].append(M.astype(np.float32))
        rec["ellipses"].append(np.array([e.cx, e.cy, e.ax, e.ay], np.float32))
        rec["is_val"].append(np.uint8(i % 4 == 0))
    root.mkdir(parents=True, exist_ok=True)
    for k, v in rec.items():
        np.save(root / f"{k}.npy", np.stack(v))
    (root / "dataset.json").write_text(
        json.dumps({"resolution": stored, "count": n, "train": n - 3, "val": 3, "config": {"sources": ["synthetic"]}})
    )
    return root


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    data = synthetic_dataset(tmp_path / "data")
    base = dict(
        data=str(data),
        out=str(tmp_path / "run"),
        net=TINY,
        batch=4,
        device="cpu",
        threads=1,
        r1_interval=2,
        sample_every=3,
        checkpoint_every=3,
        log_every=1,
        num_samples=2,
        sample_z=2,
        state_path=str(tmp_path / "state.safetensors"),
        state_every_s=0.0,
    )
    base.update(kw)
    return TrainConfig(**base)


def batch(cfg: TrainConfig, n: int = 4):
    ds = FaceCrops(cfg.data, cfg.net.resolution)
    return ds.batch(np.arange(n), np.array([0, 1] * (n // 2), bool))


def test_dataset_shapes_and_ranges(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    x, m, lm = batch(cfg)
    assert x.shape == (4, 3, 16, 16) and m.shape == (4, 1, 16, 16) and lm.shape == (4, 5, 16, 16)
    assert x.min() >= -1 and x.max() <= 1 and m.max() == 1 and m.min() == 0
    assert len(FaceCrops(cfg.data, 16, "val")) == 3


def gan_step(G: Generator, D: torch.nn.Module, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """One G loss and one D loss (with R1) on a batch, each backpropagated; G's gradients checked on the way (D's
    are fresh: zeroed between). D's loss stats come back."""
    x, m, lm = batch(cfg)
    loss_g, fake, _ = generator_loss(G, D, x, m, lm, torch.randn(4, TINY.z_dim))
    loss_g.backward()
    assert torch.isfinite(loss_g)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    D.zero_grad()
    loss_d, stats = discriminator_loss(D, x, fake, m, lm, r1_gamma=1.0, r1_scale=2.0)
    loss_d.backward()
    assert torch.isfinite(loss_d) and torch.isfinite(stats["r1"])
    return stats


def test_losses_finite_and_both_networks_get_gradients(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    torch.manual_seed(0)
    G, D = Generator(TINY), Discriminator(TINY)
    stats = gan_step(G, D, cfg)
    assert stats["r1"] >= 0
    assert -1 <= stats["d_real_sign"] <= 1
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())


def test_composite_keeps_pixels_outside_mask(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    x, m, lm = batch(cfg)
    with torch.no_grad():
        y = Generator(TINY)(x, m, lm, torch.randn(4, TINY.z_dim))
    outside = (m == 0).expand_as(x)
    assert torch.equal(y[outside], x[outside])


def test_different_z_give_different_faces(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    x, m, lm = batch(cfg, 2)
    G = Generator(TINY).eval()
    with torch.no_grad():
        a = G(x, m, lm, torch.randn(2, TINY.z_dim, generator=torch.Generator().manual_seed(1)))
        b = G(x, m, lm, torch.randn(2, TINY.z_dim, generator=torch.Generator().manual_seed(2)))
    inside = (m == 1).expand_as(x)
    assert (a - b)[inside].abs().mean() > 1e-3


def test_generator_does_not_see_the_face(tmp_path: Path) -> None:
    """Changing the original inside the mask must not change the output at all (privacy)."""
    cfg = tiny_config(tmp_path)
    x, m, lm = batch(cfg, 2)
    x2 = torch.where(m > 0, torch.rand_like(x) * 2 - 1, x)
    G = Generator(TINY).eval()
    z = torch.randn(2, TINY.z_dim)
    with torch.no_grad():
        assert torch.equal(G(x, m, lm, z, raw=True), G(x2, m, lm, z, raw=True))


def params(m: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in m.state_dict().values()])


def test_resume_reproduces_next_step_exactly(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    a = Trainer(cfg)
    for _ in range(3):
        a.step()
    ck = tmp_path / "ck.pt"
    a.save_checkpoint(ck)
    a.step()
    a.step()  # step index 4 includes the lazy R1 (r1_interval=2)
    b = Trainer(cfg)
    b.load_checkpoint(ck)
    assert b.step_idx == 3
    b.step()
    b.step()
    for name in ("G", "D", "G_ema"):
        assert torch.equal(params(getattr(a, name)), params(getattr(b, name))), name
    assert a.opt_d.state_dict()["state"][0]["exp_avg"].equal(b.opt_d.state_dict()["state"][0]["exp_avg"])


def test_compact_state_round_trip(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    a = Trainer(cfg)
    a.step()
    path = tmp_path / "compact.safetensors"
    a.save_compact(path)
    b = Trainer(cfg)
    b.load_compact(path)
    assert b.step_idx == 1 and b.cur_nimg == cfg.batch
    for name in ("G", "D", "G_ema"):
        torch.testing.assert_close(params(getattr(a, name)), params(getattr(b, name)), atol=2e-3, rtol=1e-3)
    b.step()  # trains on from it (fresh Adam)


@pytest.mark.slow
def test_train_writes_run_folder_and_resumes(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, total_kimg=0.024)  # 6 steps of 4
    train(cfg)
    run = Path(cfg.out)
    for f in ("checkpoint.pt", "log.jsonl", "losses.png", "config.json", "samples/latest.png"):
        assert (run / f).exists(), f
    assert Path(cfg.state_path).exists()
    rows = [json.loads(r) for r in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(np.isfinite(r["g_adv"]) and np.isfinite(r["d_loss"]) for r in rows)
    cfg.total_kimg = 0.032
    tr = train(cfg, resume=True)
    assert tr.step_idx == 8
    tr2 = train(tiny_config(tmp_path, out=str(tmp_path / "run2"), total_kimg=0.036), resume_from=cfg.state_path)
    assert tr2.step_idx == 9


@pytest.mark.slow
def test_resume_takes_the_later_of_checkpoint_and_state_and_never_overwrites_a_later_state(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, total_kimg=0.016)  # 4 steps; the state is written at every step (state_every_s 0)
    train(cfg)
    state = Path(cfg.state_path)
    # A fresh clone has no run folder, only the committed state: --resume continues it.
    clone = train(tiny_config(tmp_path, out=str(tmp_path / "clone"), total_kimg=0.024), resume=True)
    assert clone.step_idx == 6 and saved_step(state) == 6
    # The first machine's checkpoint (step 4) is now older than the state: resuming there takes the state.
    assert saved_step(Path(cfg.out) / "checkpoint.pt") == 4
    assert resume_source(cfg, resume=True) == state
    # A fresh run, or one from an older checkpoint, with the same --state would replace 6 steps: refused untouched.
    before = state.read_bytes()
    with pytest.raises(StateConflictError, match="step 6"):
        train(tiny_config(tmp_path, out=str(tmp_path / "fresh")))
    with pytest.raises(StateConflictError, match="starts at step 4"):
        train(cfg, resume_from=Path(cfg.out) / "checkpoint.pt")
    assert state.read_bytes() == before and not (tmp_path / "fresh").exists()
    assert train(cfg, resume=True).step_idx == 6  # nothing left to train to 0.016 kimg: it stops where it is


def test_sigterm_stops_run_with_checkpoint_and_state(tmp_path: Path) -> None:
    """A killed background run keeps every finished step: SIGTERM ends the loop after the step in progress and
    writes checkpoint.pt and the compact state at that step; the handler is removed afterwards."""
    cfg = tiny_config(tmp_path, total_kimg=100.0, checkpoint_every=10_000, state_every_s=10_000.0)
    log = Path(cfg.out) / "log.jsonl"

    def kill_after_two_rows() -> None:
        for _ in range(6000):  # the tiny run logs a row per step; give up after a minute
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    before = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=kill_after_two_rows)
    killer.start()
    tr = train(cfg)
    killer.join()
    assert signal.getsignal(signal.SIGTERM) is before
    assert 2 <= tr.step_idx < 25_000  # stopped long before total_kimg
    ck = torch.load(Path(cfg.out) / "checkpoint.pt", weights_only=True)
    assert ck["step"] == tr.step_idx
    b = Trainer(cfg)
    b.load_compact(Path(cfg.state_path))
    assert b.step_idx == tr.step_idx
    resumed = train(tiny_config(tmp_path, total_kimg=(tr.cur_nimg + 4) / 1000), resume=True)
    assert resumed.step_idx == tr.step_idx + 1


def test_second_signal_quits_at_once() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises in this thread while it waits
    assert signal.getsignal(signal.SIGINT) is before


def test_stop_on_signals_outside_the_main_thread_installs_nothing() -> None:
    """signal.signal raises outside the main thread: training driven from a worker thread must still run."""
    before, seen = signal.getsignal(signal.SIGTERM), []

    def worker() -> None:
        with stop_on_signals() as stop:
            seen.append((stop.is_set(), signal.getsignal(signal.SIGTERM) is before))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [(False, True)]


def test_balanced_sampling_draws_sources_equally(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    names = [("big" if i < 10 else "small") + f"/{i}.jpg" for i in range(12)]
    (Path(cfg.data) / "names.txt").write_text("\n".join(names) + "\n")
    ds = FaceCrops(cfg.data, 16, "train", balance=True)
    pos, _ = ds.sample(4000, torch.Generator().manual_seed(0), flip=False)
    small = np.isin(ds.indices[pos], [10, 11]).mean()
    assert 0.45 < small < 0.55
    weighted = FaceCrops(cfg.data, 16, "train", source_weights={"big": 3.0})  # small keeps weight 1
    pos, _ = weighted.sample(4000, torch.Generator().manual_seed(0), flip=False)
    assert 0.2 < np.isin(weighted.indices[pos], [10, 11]).mean() < 0.3
    with pytest.raises(ValueError, match="lfw"):
        FaceCrops(cfg.data, 16, "train", source_weights={"lfw": 2.0})


def test_source_weights_option_parses() -> None:
    import typer

    from deepanon.train.commands import parse_source_weights

    assert parse_source_weights("lfw-single=3, utkface=0.5") == {"lfw-single": 3.0, "utkface": 0.5}
    for bad in ("lfw-single", "lfw-single=x", "=2", "utkface=-1"):
        with pytest.raises(typer.BadParameter):
            parse_source_weights(bad)


@pytest.mark.parametrize("resolution", [16, 32])  # 16: downsampled from the stored 32 (rounded to uint8)
def test_device_cache_matches_cpu_batches(tmp_path: Path, resolution: int) -> None:
    """The GPU cache (exercised here on the CPU) gives the batches FaceCrops makes, flips included."""
    from deepanon.train.dataset import DeviceCrops

    cfg = tiny_config(tmp_path)
    ds = FaceCrops(cfg.data, resolution)
    cache = DeviceCrops(ds, torch.device("cpu"), chunk=4)  # several chunks
    pos = np.array([0, 3, 5, 5, 8, 1])
    flips = np.array([0, 1, 0, 1, 1, 0], bool)
    for a, b in zip(ds.batch(pos, flips), cache.batch(pos, flips), strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1 / 127.5 if resolution == 16 else 1e-3)
    # A flipped crop is not the unflipped one (the faces are symmetric, the noise is not): the check can fail.
    x_flip = cache.batch(pos[:1], np.array([True]))[0]
    x_keep = cache.batch(pos[:1], np.array([False]))[0]
    assert not torch.allclose(x_flip, x_keep, atol=0.1)


def test_cpu_bf16_autocast_where_the_cpu_has_it(tmp_path: Path, monkeypatch) -> None:
    from deepanon import device
    from deepanon.train import training_loop

    assert device.cpu_has_native_bf16("processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n")
    assert device.cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not device.cpu_has_native_bf16("flags : fpu sse2 avx2 avx512f avx512bw\n")  # bf16 only emulated: slower
    assert not device.cpu_has_native_bf16("")
    for native in (False, True):
        monkeypatch.setattr(training_loop, "cpu_has_native_bf16", lambda native=native: native)
        tr = Trainer(tiny_config(tmp_path / str(native)))
        assert tr.amp is native
        assert Trainer(tiny_config(tmp_path / f"off{native}", amp=False)).amp is False  # --no-amp: fp32
        before = tr.G.to_rgb.weight.detach().clone()
        stats = [tr.step() for _ in range(2)]  # a bf16 step trains: finite losses, weights move
        assert all(torch.isfinite(v).all() for s in stats for v in s.values())
        assert not torch.equal(before, tr.G.to_rgb.weight)
