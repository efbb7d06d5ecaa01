"""The one training loop: AdamW + one-cycle schedule, per-epoch loss averages and validation."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm

# One epoch's batches, given the epoch number (1-based) and a seeded generator.
Batches = Callable[[int, torch.Generator], Iterable[dict]]
LossFn = Callable[[nn.Module, dict], "tuple[torch.Tensor, dict[str, float]]"]
Validate = Callable[[nn.Module], dict]


def named_validation(validation: dict | None, evaluate: Callable, device: str) -> Validate:
    """Score the model on each named set: {"<set>/<metric>": value}."""

    def validate(model: nn.Module) -> dict:
        return {
            f"{name}/{key}": value
            for name, data in (validation or {}).items()
            for key, value in evaluate(model, data, device).items()
        }

    return validate


def fit(
    model: nn.Module,
    batches: Batches,
    steps_per_epoch: int,
    loss_fn: LossFn,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
    validate: Validate | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train ``model`` in place; one history row per epoch (mean losses, then validation metrics)."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        totals: dict[str, float] = {}
        bar = tqdm(batches(epoch, generator), total=steps_per_epoch, desc=f"epoch {epoch}/{epochs}",
                   disable=not progress, leave=False)
        for batch in bar:
            loss, parts = loss_fn(model, batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + value / steps_per_epoch
            bar.set_postfix(loss=f"{parts['loss']:.3f}")
        row = {"epoch": epoch, **{k: round(v, 5) for k, v in totals.items()}}
        if validate is not None:
            row.update(validate(model))
        history.append(row)
        log("  ".join(f"{k}={v}" for k, v in row.items()))
    model.eval()
    return history
