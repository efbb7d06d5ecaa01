"""Inference through a frozen TorchScript trace: the same numbers, less Python per call.

The heads are many small ops (1x1 projections, grid samples, small MLPs per
slot); at batch size 1 on a CPU, Python and the dispatcher cost about as much
as the arithmetic. A trace frozen with its weights runs the same graph without
them and folds batch norms into the convolutions: bench/engine_latency.py
measures the difference. ``torch.compile`` was tried too: minutes of
compilation per worker start for no gain on this CPU.

A trace is made on first use per input signature (how many tensors, their
dtypes and ranks: optional inputs given or not), holds for any batch size,
and is used only for inference (no gradients) on the CPU: on a GPU the
batches are large, Python's share is small, and autocast does not mix with
frozen traces.
``STREETSHOP_TRACE=0`` turns tracing off (eager modules, e.g. to debug).
"""
from __future__ import annotations

import os
import torch
from torch import nn


def tracing_enabled() -> bool:
    return os.environ.get("STREETSHOP_TRACE", "1") not in ("0", "false", "no")


class TracedInference:
    """Calls ``module(*tensors)`` (tensors in, tensors out) through a frozen trace cached per input signature."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module.eval()
        self._traces: dict[tuple, torch.jit.ScriptModule] = {}

    def __call__(self, *tensors: torch.Tensor):
        if not tracing_enabled() or (torch.is_grad_enabled() and not torch.is_inference_mode_enabled()):
            return self.module(*tensors)
        if any(t.device.type != "cpu" for t in tensors):
            return self.module(*tensors)
        key = tuple((t.dtype, t.dim()) for t in tensors)
        trace = self._traces.get(key)
        if trace is None:
            # One eager call first: values a module caches on first use (the sampling lattices of
            # engine.models.cascade) then enter the trace as constants, not as ops rerun per call.
            self.module(*tensors)
            with torch.jit.optimized_execution(True):
                trace = torch.jit.freeze(torch.jit.trace(self.module, tensors, check_trace=False))
            self._traces[key] = trace
        return trace(*tensors)
