"""Int8 layers compute what their float32 originals compute, to about 1%, and replace only what they should."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.models.int8 import MIN_WEIGHTS, Int8Linear, int8_enabled, with_int8_layers


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("shape", [(1, 2051), (8, 3, 2051)])
def test_int8_linear_is_the_linear_layer_to_about_one_percent(shape):
    torch.manual_seed(0)
    linear = nn.Linear(2051, 512)
    x = torch.relu(torch.randn(*shape))  # the heads feed their wide layers ReLU outputs
    with torch.no_grad():
        expected, got = linear(x), Int8Linear(linear)(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert relative_error(got, expected) < 0.02
    assert not torch.equal(got, expected)  # it really is a different (int8) computation


@pytest.mark.parametrize("channels_last", [False, True])
def test_int8_pointwise_convolution_is_the_convolution(channels_last):
    torch.manual_seed(0)
    conv = nn.Conv2d(320, 512, 1, bias=False)
    x = torch.randn(2, 320, 7, 7)
    if channels_last:  # the backbone's maps come channels-last
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected, got = conv(x), Int8Linear(conv)(x)
    assert got.shape == expected.shape
    assert relative_error(got, expected) < 0.02


def test_only_products_of_matrices_become_int8():
    with pytest.raises(ValueError, match="1x1 convolutions"):
        Int8Linear(nn.Conv2d(64, 64, 3, padding=1))


class _Heads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Sequential(nn.Linear(1024, 512), nn.ReLU())
        self.narrow = nn.Linear(64, 8)  # below MIN_WEIGHTS
        self.kept = nn.Sequential(nn.Linear(1024, 256))
        self.reduce = nn.Sequential(nn.Conv2d(112, 256, 1), nn.ReLU())


def test_with_int8_layers_replaces_the_wide_layers_and_the_named_convolutions_in_a_copy():
    heads = _Heads()
    assert heads.narrow.weight.numel() < MIN_WEIGHTS <= heads.wide[0].weight.numel()
    converted = with_int8_layers(heads, skip=("kept",), convolutions=("reduce.0",))
    assert isinstance(converted.wide[0], Int8Linear)
    assert isinstance(converted.reduce[0], Int8Linear)
    assert isinstance(converted.narrow, nn.Linear) and isinstance(converted.kept[0], nn.Linear)
    assert not converted.training
    # the original stays float32 and trainable
    assert isinstance(heads.wide[0], nn.Linear) and isinstance(heads.reduce[0], nn.Conv2d)
    assert heads.wide[0].weight.requires_grad


def test_an_unknown_convolution_name_is_an_error():
    with pytest.raises(ValueError, match="no such convolution to make int8: reduce.9"):
        with_int8_layers(_Heads(), convolutions=("reduce.9",))


def test_int8_by_default_only_on_cpus_with_avx512(monkeypatch):
    monkeypatch.delenv("STREETSHOP_INT8", raising=False)
    for capability, expected in (("AVX512", True), ("AVX2", False), ("DEFAULT", False)):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert int8_enabled("cpu") is expected
    assert not int8_enabled("cuda:0")


def test_the_environment_decides_over_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setenv("STREETSHOP_INT8", "1")
    assert int8_enabled("cpu") and not int8_enabled("cuda")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setenv("STREETSHOP_INT8", "0")
    assert not int8_enabled("cpu")
