"""The one training loop: AdamW + one-cycle schedule, per-epoch loss averages and validation.

Long runs (real DeepFashion, a GPU) need three more things, all in ``RunControl``:
a state file written after every epoch (model, optimiser, schedule, shuffling
generator, history) so a stopped run resumes where it stopped and ends exactly
as an uninterrupted one; bfloat16 mixed precision (on by default on CUDA: no
loss scaling needed, unlike float16); and a JSON-lines log with one row per
epoch that can be followed while the run goes on.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm

# One epoch's batches, given the epoch number (1-based) and a seeded generator.
Batches = Callable[[int, torch.Generator], Iterable[dict]]
LossFn = Callable[[nn.Module, dict], "tuple[torch.Tensor, dict[str, float]]"]
Validate = Callable[[nn.Module], dict]


@dataclass
class RunControl:
    state_path: Path | None = None  # written after every epoch (resume point)
    resume: bool = False  # continue from state_path when it exists
    amp: bool = False  # bfloat16 autocast for the forward pass and the loss
    log_path: Path | None = None  # one JSON row per epoch, appended


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
    control: RunControl | None = None,
) -> list[dict]:
    """Train ``model`` in place; one history row per epoch (mean losses, then validation metrics)."""
    control = control or RunControl()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(seed)
    plan = {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "lr": lr, "weight_decay": weight_decay, "seed": seed}
    history: list[dict] = []
    if control.resume and control.state_path is not None and Path(control.state_path).exists():
        history = _load_state(control.state_path, plan, model, optimiser, scheduler, generator)
        log(f"resumed from {control.state_path} after epoch {len(history)} of {epochs}")
    device_type = next(model.parameters()).device.type
    for epoch in range(len(history) + 1, epochs + 1):
        model.train()
        totals: dict[str, float] = {}
        bar = tqdm(batches(epoch, generator), total=steps_per_epoch, desc=f"epoch {epoch}/{epochs}",
                   disable=not progress, leave=False)
        for batch in bar:
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=control.amp):
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
            model.eval()
            row.update(validate(model))
        history.append(row)
        log("  ".join(f"{k}={v}" for k, v in row.items()))
        _record_epoch(control, plan, row, history, model, optimiser, scheduler, generator)
    model.eval()
    return history


def _record_epoch(control: RunControl, plan, row, history, model, optimiser, scheduler, generator) -> None:
    if control.log_path is not None:
        Path(control.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(control.log_path, "a") as stream:
            stream.write(json.dumps(row) + "\n")
    if control.state_path is not None:
        state = {
            "plan": plan,
            "history": history,
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
        }
        path = Path(control.state_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(state, partial)
        os.replace(partial, path)  # a run killed while saving keeps the previous epoch's state


def _load_state(path, plan, model, optimiser, scheduler, generator) -> list[dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["plan"] != plan:
        changed = {k: (state["plan"].get(k), v) for k, v in plan.items() if state["plan"].get(k) != v}
        raise ValueError(
            f"{path} was saved by a run with other settings ({changed}, saved vs now): "
            "resume with the same settings, or delete the file to start again"
        )
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    return list(state["history"])
