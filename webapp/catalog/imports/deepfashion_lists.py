"""DeepFashion's In-shop and Consumer-to-shop benchmarks as product rows: ``parse_deepfashion_shop_list``.

Only the SHOP images become products (one row per item, price unknown: None);
problems in the list files come back as RowErrors naming the file and line.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Literal

from engine.data.deepfashion import EVAL_PARTITION, read_consumer2shop
from engine.types import GarmentType
from webapp.catalog.imports.rows import (
    MAX_LENGTHS,
    CsvParseResult,
    ProductRow,
    RowError,
    _CellError,
    _text,
    garment_type_of_category,
    normalize_image_path,
)

INSHOP_PARTITION = "Eval/list_eval_partition.txt"
INSHOP_BBOX = "Anno/list_bbox_inshop.txt"
_INSHOP_PARTITION_HEADER = ("image_name", "item_id", "evaluation_status")
_INSHOP_BBOX_HEADER = ("image_name", "clothes_type", "pose_type", "x_1", "y_1", "x_2", "y_2")
_INSHOP_SPLITS = ("train", "query", "gallery")


def parse_deepfashion_shop_list(
    root: "str | os.PathLike",
    kind: Literal["inshop", "consumer2shop"],
    *,
    splits: Collection[str] | None = None,
) -> CsvParseResult:
    """One ProductRow per item of a DeepFashion benchmark, from its SHOP images.

    sku = item id; images = the item's shop images as written in the lists
    (relative to the folder holding ``img/``), deduplicated in file order;
    garment_type from clothes_type (most common over the item's images, else
    from the category folder); category = the folder above the item folder
    (``img/WOMEN/Dresses/id_00000002/..`` -> "Dresses"); title = category + id.
    price is None: the benchmarks have no prices (the one source where a row may
    lack one). ``splits`` keeps only those evaluation_status values (In-shop:
    train / query / gallery; Consumer-to-shop: train / val / test; None: all).

    In-shop: Eval/list_eval_partition.txt (or at the root) and, optional,
    Anno/list_bbox_inshop.txt (or at the root); every In-shop image is a shop
    image. Consumer-to-shop: read with engine.data.deepfashion.read_consumer2shop
    (the project's reader); the shop image of a pair is image_pair_name_2.
    """
    root = Path(root)
    if kind == "inshop":
        return _inshop_rows(root, splits)
    if kind == "consumer2shop":
        return _consumer2shop_rows(root, splits)
    raise ValueError(f"unknown DeepFashion list kind {kind!r}: expected 'inshop' or 'consumer2shop'")


# =========================================================================== helpers


def _inshop_rows(root: Path, splits: Collection[str] | None) -> CsvParseResult:
    """In-shop lists; no project reader exists for them, so a minimal tolerant one is here."""
    result = CsvParseResult()
    partition_path = _first_existing(root, INSHOP_PARTITION)
    bbox_path = _first_existing(root, INSHOP_BBOX)
    partition_label, bbox_label = _label(root, partition_path), _label(root, bbox_path)
    partition = _read_listing(root, partition_path, _INSHOP_PARTITION_HEADER, result.errors)
    types_by_image: dict[str, GarmentType] = {}
    if bbox_path.exists():
        for line, tokens in _read_listing(root, bbox_path, _INSHOP_BBOX_HEADER, result.errors):
            try:
                types_by_image[tokens[0]] = GarmentType.from_fld_code(int(tokens[1]))
            except ValueError:
                message = f"clothes_type {tokens[1]!r} must be 1 (upper), 2 (lower) or 3 (full)."
                result.errors.append(RowError(line, "clothes_type", message, bbox_label))
    else:
        result.warnings.append(f"{INSHOP_BBOX} is missing: garment types come from the category folders.")
    items: dict[str, _Item] = {}
    for line, (image_name, item_id, split) in partition:
        if split not in _INSHOP_SPLITS:
            message = f"evaluation_status {split!r} must be train, query or gallery."
            result.errors.append(RowError(line, "evaluation_status", message, partition_label))
        elif splits is None or split in splits:
            garment_type = types_by_image.get(image_name)
            _add_item_image(items, item_id, image_name, line, garment_type, partition_label, result)
    _finish_items(items, result)
    return result


def _consumer2shop_rows(root: Path, splits: Collection[str] | None) -> CsvParseResult:
    """Consumer-to-shop through the project's reader (it stops at the first malformed line,
    whose message names the file and line)."""
    result = CsvParseResult()
    try:
        dataset = read_consumer2shop(root)
    except (OSError, ValueError) as error:
        result.errors.append(RowError(None, None, f"{error}; nothing was imported."))
        return result
    items: dict[str, _Item] = {}
    for index, pair in enumerate(dataset.pairs):
        if splits is not None and pair.split not in splits:
            continue
        try:
            name = pair.shop.relative_to(root).as_posix()
        except ValueError:  # an absolute name in the file
            name = pair.shop.as_posix()
        try:
            image = dataset.image(pair.shop)
        except KeyError:
            image = None
        line = index + 3  # the pair's line; exact when the file has no blank lines (the reader skips them)
        if image is not None and image.source != "shop":
            message = f"{name} is the shop image of this pair but its bbox row has source_type 2 (consumer); left out."
            result.errors.append(RowError(line, "image_pair_name_2", message, EVAL_PARTITION))
            continue
        garment_type = image.garment_type if image else None
        _add_item_image(items, pair.item_id, name, line, garment_type, EVAL_PARTITION, result)
    _finish_items(items, result)
    return result


@dataclass
class _Item:
    """A DeepFashion item being gathered: its first line, shop images and their clothes types."""

    line: int
    file: str
    images: list[str] = field(default_factory=list)
    types: list[GarmentType] = field(default_factory=list)


def _add_item_image(items: dict[str, _Item], item_id: str, image_name: str, line: int,
                    garment_type: GarmentType | None, file: str, result: CsvParseResult) -> None:
    try:
        name = normalize_image_path(image_name)
    except ValueError as error:
        result.errors.append(RowError(line, "image_name", f"image {image_name!r} {error}.", file))
        return
    item = items.setdefault(item_id, _Item(line, file))
    if name not in item.images:
        item.images.append(name)
        if garment_type is not None:
            item.types.append(garment_type)


def _finish_items(items: dict[str, _Item], result: CsvParseResult) -> None:
    """One ProductRow per item: most common clothes type (ties: first seen), else the category's."""
    for item_id, item in items.items():
        parts = item.images[0].split("/")
        category = parts[-3] if len(parts) >= 3 else ""
        try:
            sku = _text(item_id, "sku", True)
        except _CellError as error:
            result.errors.append(RowError(item.line, "item_id", str(error), item.file))
            continue
        garment_type = Counter(item.types).most_common(1)[0][0] if item.types else garment_type_of_category(category)
        if garment_type is None:
            message = f"item {item_id}: no clothes_type for its images, and category {category!r} has no known garment type."
            result.errors.append(RowError(item.line, "clothes_type", message, item.file))
            continue
        title = f"{category.replace('_', ' ')} {item_id}".strip()
        result.rows.append(ProductRow(
            line=item.line, sku=sku, title=title, price=None, images=item.images,
            garment_type=garment_type, category=category[: MAX_LENGTHS["category"]],
        ))


def _first_existing(root: Path, relative: str) -> Path:
    """The published place (Eval/..., Anno/...) or, failing that, directly under root."""
    published = root / relative
    return published if published.exists() or not (root / Path(relative).name).exists() else root / Path(relative).name


def _label(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_listing(root: Path, path: Path, header: tuple[str, ...], errors: list[RowError]) -> list[tuple[int, list[str]]]:
    """DeepFashion's listing layout (line 1 a count, line 2 the header, whitespace-separated
    rows): the rows with the header's column count; every bad line becomes an error."""
    label = _label(root, path)
    if not path.exists():
        errors.append(RowError(None, None, f"missing; expected the DeepFashion list at {path}.", label))
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 2 or tuple(lines[1].split()) != header:
        errors.append(RowError(2, None, f"line 2 must be the header '{' '.join(header)}'; is this the right file?", label))
        return []
    rows, data_lines = [], 0
    for line, text in enumerate(lines[2:], start=3):
        tokens = text.split()
        if not tokens:
            continue
        data_lines += 1
        if len(tokens) != len(header):
            errors.append(RowError(line, None, f"expected {len(header)} columns ({' '.join(header)}), got {len(tokens)}.", label))
            continue
        rows.append((line, tokens))
    if lines[0].strip() != str(data_lines):
        errors.append(RowError(1, None, f"says {lines[0].strip()!r} rows but the file has {data_lines}; is it truncated?", label))
    return rows


__all__ = [
    "INSHOP_BBOX",
    "INSHOP_PARTITION",
    "parse_deepfashion_shop_list",
]
