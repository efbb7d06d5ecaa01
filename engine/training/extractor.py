"""Training of the FashionNet heads on cached backbone features.

Losses: batch-hard triplet on consumer/shop images of the same item (cosine
distance), a softmax contrastive term over the batch (the same signal, smoother
gradients), category cross-entropy and attribute binary cross-entropy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.evaluation.retrieval import top_k_hit_rates
from engine.models.fashionnet import FashionNetConfig, FashionNetHeads
from engine.training.features import FeatureMaps, encode_canvases, select
from engine.training.loop import RunControl, fit, named_validation
from engine.training.samples import Augmentation, record_samples
from engine.types import Visibility

TRIPLET_MARGIN = 0.2
CONTRASTIVE_TEMPERATURE = 0.07
LANDMARK_NOISE = 0.02  # the aligner's typical error, so the extractor is trained on landmarks like its own


@dataclass
class EmbeddingSet:
    features: FeatureMaps
    points: torch.Tensor  # (N, 8, 2) normalised canvas coordinates
    visible: torch.Tensor  # (N, 8) bool
    garment_types: torch.Tensor  # (N,)
    items: torch.Tensor  # (N,) item index
    sources: np.ndarray  # (N,) "shop" / "consumer"
    categories: torch.Tensor  # (N,) category index, -1 unknown
    attributes: torch.Tensor  # (N, A) 0/1, or (N, 0)

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, index, device: str = "cpu") -> dict:
        return {
            "features": select(self.features, index, device),
            "points": self.points[index].to(device),
            "visible": self.visible[index].to(device),
            "garment_types": self.garment_types[index].to(device),
            "items": self.items[index].to(device),
            "categories": self.categories[index].to(device),
            "attributes": self.attributes[index].to(device),
        }


@dataclass
class ExtractorTrainingConfig:
    epochs: int = 25
    items_per_batch: int = 48
    lr: float = 1e-3
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "cpu"
    category_weight: float = 0.5
    attribute_weight: float = 0.5
    model: FashionNetConfig = field(default_factory=FashionNetConfig)


def build_embedding_set(
    records: Sequence,
    copies: int = 1,
    augmentation: Augmentation | None = None,
    landmark_noise: float = 0.0,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> EmbeddingSet:
    """Records of a consumer-to-shop reader (with landmarks) -> crops encoded once."""
    rng = np.random.default_rng(seed)
    canvases, points, visible, types, items, sources, categories, attributes = [], [], [], [], [], [], [], []
    item_index: dict = {}
    for record, sample in record_samples(records, copies, augmentation, rng, use_joints=False, progress=progress):
        noisy = sample.points + rng.normal(0, landmark_noise, sample.points.shape).astype(np.float32)
        canvases.append(sample.canvas)
        points.append(noisy)
        visible.append(sample.visibility == Visibility.VISIBLE)
        types.append(sample.garment_type)
        items.append(item_index.setdefault(record.item_id, len(item_index)))
        sources.append(record.source)
        categories.append(-1 if record.category is None else int(record.category))
        attributes.append(np.zeros(0, np.float32) if record.attributes is None else np.asarray(record.attributes, np.float32))
    features = encode_canvases(np.stack(canvases), device=device, dtype=torch.float16, progress=progress)
    return EmbeddingSet(
        features=features,
        points=torch.from_numpy(np.stack(points)),
        visible=torch.from_numpy(np.stack(visible)),
        garment_types=torch.tensor(types),
        items=torch.tensor(items),
        sources=np.asarray(sources),
        categories=torch.tensor(categories),
        attributes=torch.from_numpy(np.stack(attributes)),
    )


def extractor_loss(output, batch: dict, config: ExtractorTrainingConfig) -> tuple[torch.Tensor, dict[str, float]]:
    embedding, items = output.embedding, batch["items"]
    similarity = embedding @ embedding.T
    same = items[:, None] == items[None, :]
    eye = torch.eye(len(items), dtype=torch.bool, device=items.device)
    positives = same & ~eye
    # Batch-hard triplet: the farthest positive against the closest negative, per anchor.
    hardest_positive = torch.where(positives, similarity, torch.full_like(similarity, 2.0)).min(dim=1).values
    hardest_negative = torch.where(~same, similarity, torch.full_like(similarity, -2.0)).max(dim=1).values
    has_positive = positives.any(dim=1)
    triplet = F.relu(hardest_negative - hardest_positive + TRIPLET_MARGIN)[has_positive].mean()
    # Supervised contrastive: every positive against the whole batch.
    logits = (similarity / CONTRASTIVE_TEMPERATURE).masked_fill(eye, -1e9)
    log_probs = logits.log_softmax(dim=1)
    contrastive = -(log_probs * positives).sum(1)[has_positive] / positives.sum(1)[has_positive]
    contrastive = contrastive.mean()
    total = triplet + contrastive
    parts = {"triplet": float(triplet.detach()), "contrastive": float(contrastive.detach())}
    known = batch["categories"] >= 0
    if known.any():
        category = F.cross_entropy(output.category_logits[known], batch["categories"][known])
        total = total + config.category_weight * category
        parts["category_ce"] = float(category.detach())
    if batch["attributes"].shape[1]:
        attribute = F.binary_cross_entropy_with_logits(output.attribute_logits, batch["attributes"])
        total = total + config.attribute_weight * attribute
        parts["attribute_bce"] = float(attribute.detach())
    parts["loss"] = float(total.detach())
    return total, parts


def train_extractor(
    train_set: EmbeddingSet,
    config: ExtractorTrainingConfig,
    validation: dict[str, EmbeddingSet] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    control: RunControl | None = None,
) -> tuple[FashionNetHeads, list[dict]]:
    torch.manual_seed(config.seed)
    heads = FashionNetHeads(config.model).to(config.device)
    item_ids = torch.unique(train_set.items)
    images_of_item = {int(i): torch.nonzero(train_set.items == i).flatten() for i in item_ids}
    steps_per_epoch = max(1, math.ceil(len(item_ids) / config.items_per_batch))

    def batches(epoch: int, generator: torch.Generator):
        # P items per batch with all their images: every anchor has its positives in the batch.
        order = item_ids[torch.randperm(len(item_ids), generator=generator)]
        for step in range(steps_per_epoch):
            chosen = order[step * config.items_per_batch : (step + 1) * config.items_per_batch]
            yield train_set.batch(torch.cat([images_of_item[int(i)] for i in chosen]), config.device)

    def loss_fn(model: FashionNetHeads, batch: dict):
        output = model(batch["features"], batch["points"], batch["visible"], batch["garment_types"])
        return extractor_loss(output, batch, config)

    validate = named_validation(validation, evaluate_embedding_set, config.device)
    history = fit(heads, batches, steps_per_epoch, loss_fn, config.epochs, config.lr, config.weight_decay,
                  config.seed, validate, progress, log, control)
    return heads, history


@torch.inference_mode()
def embed_set(heads: FashionNetHeads, data: EmbeddingSet, device: str = "cpu", batch_size: int = 256):
    heads.eval()
    vectors, category_logits = [], []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(index, device)
        output = heads(batch["features"], batch["points"], batch["visible"], batch["garment_types"])
        vectors.append(output.embedding.cpu())
        category_logits.append(output.category_logits.cpu())
    return torch.cat(vectors).numpy(), torch.cat(category_logits)


def evaluate_embedding_set(heads: FashionNetHeads, data: EmbeddingSet, device: str = "cpu") -> dict:
    """Consumer-to-shop top-k with the shop images as gallery, plus category accuracy."""
    vectors, category_logits = embed_set(heads, data, device)
    items = data.items.numpy()
    is_shop = data.sources == "shop"
    metrics = top_k_hit_rates(vectors[~is_shop], items[~is_shop], vectors[is_shop], items[is_shop])
    known = data.categories >= 0
    if known.any():
        accuracy = (category_logits.argmax(1)[known] == data.categories[known]).float().mean()
        metrics["category_accuracy"] = round(float(accuracy), 5)
    return metrics
