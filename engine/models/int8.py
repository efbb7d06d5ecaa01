"""Int8 inference for the heads' widest linear layers, on the CPU.

At batch size 1 a linear layer reads every weight once per crop and does
little else with it: its time is the time to fetch its weights. The heads'
widest layers hold most of their 16 MB of float32 weights, which the backbone
(run just before) has pushed out of the cache, so each query fetches them from
memory. Stored as int8 (one scale per output), they are a quarter of the bytes,
and the product runs on the CPU's int8 dot-product instructions.

The activations are quantised per call (one scale per row, "dynamic"
quantisation) and the product is accumulated in int32, then rescaled to
float32: a relative error of about 1% on a layer's outputs, which the heads'
later layers and the evaluation absorb (the model cards give the figures both
ways). Training never sees this: it runs on the float32 modules.

Where it pays: on a CPU with AVX-512, int8 products beat float32 ones here
(``bench/engine_latency.py --against-float32``: 1.43-1.47x the backbone against
1.51-1.53x); with oneDNN held to AVX2 they were slower (1.66x against 1.55x), so
other CPUs keep float32. ``STREETSHOP_INT8=1`` or ``0`` decides instead.
"""
from __future__ import annotations

import copy
import os

import torch
from torch import nn

#: Layers with fewer weights stay in float32: quantising their inputs costs more than their weights.
MIN_WEIGHTS = 100_000


def int8_enabled(device: str) -> bool:
    """Int8 layers on a CPU with AVX-512, unless ``STREETSHOP_INT8`` says otherwise; a GPU keeps float32
    (its batches are large: the arithmetic, not fetching the weights, is the work there)."""
    if device.split(":")[0] != "cpu":
        return False
    choice = os.environ.get("STREETSHOP_INT8", "auto").lower()
    if choice in ("0", "false", "no"):
        return False
    if choice in ("1", "true", "yes"):
        return True
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


class Int8Linear(nn.Module):
    """``nn.Linear`` (or a 1x1 ``nn.Conv2d``) for inference, with int8 weights (one scale per output)
    and int8 inputs (one scale per row: per pixel for a convolution)."""

    def __init__(self, layer: nn.Linear | nn.Conv2d) -> None:
        super().__init__()
        self.pointwise = isinstance(layer, nn.Conv2d)
        if self.pointwise and (layer.kernel_size != (1, 1) or layer.stride != (1, 1) or layer.groups != 1):
            raise ValueError(f"only 1x1 convolutions with stride 1 and one group are products of matrices: {layer}")
        weight = layer.weight.detach().float().flatten(1)
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
        self.register_buffer("weight_t", torch.round(weight / scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale)
        bias = layer.bias.detach().float().clone() if layer.bias is not None else torch.zeros(len(scale))
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pointwise:  # (N, C, H, W) -> rows of channels (a view for the backbone's channels-last maps)
            n, _, h, w = x.shape
            return self._rows(x.permute(0, 2, 3, 1)).view(n, h, w, -1).permute(0, 3, 1, 2)
        return self._rows(x)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        row_scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
        quantised = torch.round(rows / row_scale).to(torch.int8)
        out = torch._int_mm(quantised, self.weight_t).float() * (row_scale * self.weight_scale) + self.bias
        return out.view(*x.shape[:-1], out.shape[-1])


def with_int8_layers(module: nn.Module, skip: tuple[str, ...] = (), convolutions: tuple[str, ...] = ()) -> nn.Module:
    """A copy of ``module`` in eval mode whose linear layers of at least ``MIN_WEIGHTS`` weights, and
    the 1x1 convolutions named in ``convolutions``, are ``Int8Linear``; submodules named in ``skip``
    (and everything under them) keep float32.

    Convolutions are named, not found: a head may read a convolution's weights itself (as
    engine.models.cascade's ``project`` does) instead of calling it.
    """
    module = copy.deepcopy(module).eval()
    for name, child in list(module.named_modules()):
        if any(name == s or name.startswith(s + ".") for s in skip):
            continue
        for child_name, layer in list(child.named_children()):
            full_name = f"{name}.{child_name}" if name else child_name
            if (isinstance(layer, nn.Linear) and layer.weight.numel() >= MIN_WEIGHTS) or full_name in convolutions:
                setattr(child, child_name, Int8Linear(layer))
    missing = set(convolutions) - {n for n, m in module.named_modules() if isinstance(m, Int8Linear)}
    if missing:
        raise ValueError(f"no such convolution to make int8: {', '.join(sorted(missing))}")
    return module
