"""Find out what a data folder holds and read it with the right reader.

Landmarks (the aligner): FLD and DeepFashion-C folders (Anno/list_landmarks.txt),
In-shop (Anno/list_landmarks_inshop.txt), consumer-to-shop with landmarks,
and hand-labelled crops (labels_*.json). Retrieval (the extractor):
consumer-to-shop, and In-shop seen the same way (query images play the
consumer photos, gallery images the shop photos).
"""
from __future__ import annotations

from pathlib import Path

from engine.data.deepfashion import Consumer2ShopImage, Consumer2ShopSet, LandmarkRecord, read_consumer2shop, read_fld
from engine.data.fld_dev import read_fld_dev
from engine.data.inshop import INSHOP_BBOX, InShopSet, read_inshop
from engine.types import Box

#: In-shop's splits in consumer-to-shop terms: (split, source).
INSHOP_AS_C2S = {"train": ("train", "shop"), "query": ("test", "consumer"), "gallery": ("test", "shop")}


def landmark_records(root: "str | Path", split: str | None = None) -> list[LandmarkRecord]:
    """Landmark-labelled garments of a DeepFashion folder or a hand-labelled crops folder (fld_dev)."""
    root = Path(root)
    if (root / "Anno" / "list_landmarks.txt").exists():
        return read_fld(root, split)
    if any((root / f"labels_{t}.json").exists() for t in ("upper", "lower", "full")):
        return read_fld_dev(root, split)
    if (root / INSHOP_BBOX).exists() or (root / "Anno" / "list_landmarks_consumer2shop.txt").exists():
        data = retrieval_set(root)
        return [
            LandmarkRecord(i.image_path, i.garment_type, i.variation or 1, i.points, i.visibility, i.box, None, i.split or "train")
            for i in data.images
            if i.points is not None and (split is None or i.split == split)
        ]
    raise FileNotFoundError(
        f"{root}: no landmark labels found; expected an FLD or DeepFashion-C folder (Anno/list_landmarks.txt), "
        "an In-shop folder (Anno/list_bbox_inshop.txt), a consumer-to-shop folder with "
        "Anno/list_landmarks_consumer2shop.txt, or labels_{upper,lower,full}.json"
    )


def retrieval_set(root: "str | Path") -> Consumer2ShopSet:
    """A consumer-to-shop folder, or an In-shop folder in the same terms (train; test = query vs gallery)."""
    root = Path(root)
    if (root / "Anno" / "list_bbox_consumer2shop.txt").exists():
        return read_consumer2shop(root)
    if (root / INSHOP_BBOX).exists():
        return inshop_as_consumer2shop(read_inshop(root))
    raise FileNotFoundError(
        f"{root}: not a retrieval folder: expected Anno/list_bbox_consumer2shop.txt (consumer-to-shop) "
        f"or {INSHOP_BBOX} (In-shop)"
    )


def inshop_as_consumer2shop(data: InShopSet) -> Consumer2ShopSet:
    images = []
    for image in data.images:
        split, source = INSHOP_AS_C2S[image.split]
        images.append(
            Consumer2ShopImage(
                image_path=image.image_path,
                garment_type=image.landmark_type or image.garment_type,
                source=source,
                box=image.box,
                item_id=image.item_id,
                split=split,
                variation=image.variation,
                points=image.points,
                visibility=image.visibility,
            )
        )
    return Consumer2ShopSet(root=data.root, images=images, pairs=[])


def crop_box(record, image) -> Box:
    """The record's garment box, or the whole image for crops that have none (hand-labelled crops)."""
    return record.box or Box(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
