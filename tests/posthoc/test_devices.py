"""Devices: "auto", "cpu", "cuda", "cuda:1" and "mps" are resolved or refused with a clear error
(CPU-only checks: the availability of CUDA and MPS is simulated where it matters)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import sine_data
from uqkit._data import resolve_device
from uqkit.exceptions import InvalidInputError
from uqkit.posthoc import MCDropoutRegressor, SWAGRegressor


def test_auto_is_cuda_when_present_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_cuda_index_beyond_the_visible_devices_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(InvalidInputError, match=r"'cuda:1'.*only 1 CUDA device"):
        resolve_device("cuda:1")


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:1"):
        with pytest.raises(InvalidInputError, match="CUDA is not available here"):
            resolve_device(device)


def test_mps_is_checked(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(InvalidInputError, match="MPS is not available here"):
        resolve_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")


def test_unavailable_devices_are_refused_at_fit(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    X, y = sine_data(30)
    for cls in (MCDropoutRegressor, SWAGRegressor):
        with pytest.raises(InvalidInputError, match="not a device torch knows"):
            cls(device="tpu", epochs=1).fit(X, y)
        with pytest.raises(InvalidInputError, match="MPS is not available"):
            cls(device="mps", epochs=1).fit(X, y)
