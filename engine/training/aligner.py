"""Training of the cascade aligner's heads on cached backbone features."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from engine.models.cascade import CascadeConfig, CascadeHeads, CascadeOutput
from engine.training.landmark_set import LandmarkSet, normalised_errors
from engine.training.loop import RunControl, fit, named_validation
from engine.types import Visibility

# Occluded slots have labelled positions too, but estimated ones: they count, with less weight.
OCCLUDED_WEIGHT = 0.5
COORDINATE_WEIGHT = 10.0
VISIBILITY_WEIGHT = 1.0


@dataclass
class AlignerTrainingConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    model: CascadeConfig = field(default_factory=CascadeConfig)
    # Start from trained heads (a state dict) instead of fresh ones ...
    init_state: dict | None = None
    # ... and train only their visibility head, on top of the frozen cascade (the cascade's points
    # are then what the head sees at inference, also on scenes the cascade never trained on).
    visibility_only: bool = False


def aligner_loss(output: CascadeOutput, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Coordinate L1 on visible (and, weighted, occluded) slots for every stage + visibility CE."""
    visibility = batch["visibility"]
    weights = (visibility == Visibility.VISIBLE).float() + OCCLUDED_WEIGHT * (visibility == Visibility.OCCLUDED).float()
    denominator = weights.sum().clamp(min=1.0)
    parts = {}
    total = torch.zeros((), device=visibility.device)
    for stage, points in enumerate(output.stage_points, start=1):
        l1 = ((points - batch["points"]).abs().sum(-1) * weights).sum() / denominator
        parts[f"stage{stage}_l1"] = float(l1.detach())
        total = total + COORDINATE_WEIGHT * l1
    has_slot = _has_slot(batch["garment_types"])
    ce = F.cross_entropy(output.visibility_logits[has_slot], visibility[has_slot])
    parts["visibility_ce"] = float(ce.detach())
    total = total + VISIBILITY_WEIGHT * ce
    parts["loss"] = float(total.detach())
    return total, parts


def train_aligner(
    train_set: LandmarkSet,
    config: AlignerTrainingConfig,
    validation: dict[str, LandmarkSet] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    control: RunControl | None = None,
) -> tuple[CascadeHeads, list[dict]]:
    """Train fresh heads; returns them (eval mode) and one history row per epoch."""
    torch.manual_seed(config.seed)
    heads = CascadeHeads(config.model)
    if config.init_state is not None:
        heads.load_state_dict(config.init_state)  # copied into the float32 parameters whatever its dtype
    if config.visibility_only:
        heads.freeze_landmarks()
    heads.to(config.device)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)

    def batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(len(train_set), generator=generator)
        for step in range(steps_per_epoch):
            yield train_set.batch(order[step * config.batch_size : (step + 1) * config.batch_size], config.device)

    def loss_fn(model: CascadeHeads, batch: dict):
        return aligner_loss(model(batch["features"], batch["garment_types"], batch["joints"], batch["edges"]), batch)

    validate = named_validation(validation, evaluate_landmark_set, config.device)
    history = fit(heads, batches, steps_per_epoch, loss_fn, config.epochs, config.lr, config.weight_decay,
                  config.seed, validate, progress, log, control)
    return heads, history


@torch.inference_mode()
def evaluate_landmark_set(heads: CascadeHeads, data: LandmarkSet, device: str = "cpu", batch_size: int = 128) -> dict:
    """NE per stage (visible slots, box-normalised) and visibility accuracy on the type's slots."""
    heads.eval()
    errors_per_stage: list[list[torch.Tensor]] = []
    correct = total = 0
    visible_masks = []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(index, device)
        output = heads(batch["features"], batch["garment_types"], batch["joints"], batch["edges"])
        for stage, points in enumerate(output.stage_points):
            if len(errors_per_stage) <= stage:
                errors_per_stage.append([])
            errors_per_stage[stage].append(normalised_errors(points, batch["points"], batch["box_sizes"]).cpu())
        visible_masks.append((batch["visibility"] == Visibility.VISIBLE).cpu())
        has_slot = _has_slot(batch["garment_types"])
        predicted = output.visibility_logits.argmax(-1)
        correct += int((predicted == batch["visibility"])[has_slot].sum())
        total += int(has_slot.sum())
    visible = torch.cat(visible_masks)
    metrics = {}
    for stage, chunks in enumerate(errors_per_stage, start=1):
        errors = torch.cat(chunks)
        metrics[f"ne_stage{stage}"] = round(float(_per_image_mean(errors, visible).nanmean()), 5)
    metrics["ne"] = metrics[f"ne_stage{len(errors_per_stage)}"]
    metrics["visibility_accuracy"] = round(correct / max(total, 1), 5)
    return metrics


def _per_image_mean(errors: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """DFA averages over visible landmarks of each image, then over images."""
    counts = visible.sum(1)
    sums = (errors * visible).sum(1)
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.full_like(sums, float("nan")))


def _has_slot(garment_types: torch.Tensor) -> torch.Tensor:
    from engine.types import GARMENT_TYPES, slot_mask

    masks = torch.stack([torch.from_numpy(slot_mask(t)) for t in GARMENT_TYPES]).to(garment_types.device)
    return masks[garment_types]
