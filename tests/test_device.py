"""Choosing the device: 'auto' on a machine without CUDA, and the blur path that never imports torch."""

from __future__ import annotations

import pytest

from deepanon import device
from tests.imports import imported_while_anonymizing


def test_no_nvidia_device_means_cpu_without_asking_torch(monkeypatch) -> None:
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.setattr(device.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(device, "resolve_device", lambda name: pytest.fail("torch was asked"))
    assert device.cuda_impossible()
    assert device.device_name("auto") == "cpu"
    assert device.device_name("cpu") == "cpu"


def test_a_device_node_leaves_the_answer_to_torch(monkeypatch) -> None:
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.setattr(device.glob, "glob", lambda pattern: ["/dev/nvidia0"] if "nvidia" in pattern else [])
    asked = []
    monkeypatch.setattr(device, "resolve_device", lambda name: asked.append(name) or "cuda")
    assert not device.cuda_impossible()
    assert device.device_name("auto") == "cuda" and asked == ["auto"]
    # asking for CUDA always goes to torch (which says so when there is none)
    assert device.device_name("cuda:1") == "cuda" and asked == ["auto", "cuda:1"]


def test_the_blur_method_never_imports_torch() -> None:
    loaded, treatments = imported_while_anonymizing("blur", ("torch",))
    assert loaded == [] and len(treatments) == 1
