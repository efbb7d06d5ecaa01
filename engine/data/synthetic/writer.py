"""Generate the synthetic data set in DeepFashion's file formats (FLD and Consumer-to-shop).

Each image's random generator derives from (seed, kind, index) alone, so the
images can be made in any order by any number of worker processes and the
same seed always gives the same files.
"""
from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from engine.data.deepfashion import (
    SPLITS,
    Consumer2ShopImage,
    Consumer2ShopPair,
    LandmarkRecord,
    write_consumer2shop,
    write_fld,
)
from engine.data.synthetic.garments import ATTRIBUTE_NAMES, ATTRIBUTE_TYPES, CATEGORIES, random_item
from engine.data.synthetic.scenes import RenderedScene, render_shop, render_street
from engine.imageio import save_image
from engine.types import GarmentType

_FLD_STREAM = 1
_ITEM_STREAM = 2
_SHOP_STREAM = 3
_CONSUMER_STREAM = 4
_TYPE_CYCLE = (GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL)


def generate_fld(
    root: "str | Path", count: int, seed: int, workers: int = 2, progress: bool = True, split: str = "train"
) -> Path:
    """Write ``count`` street scenes as an FLD layout under ``root`` (img/, Anno/, Eval/).

    Record i targets one garment; types cycle upper, lower, full so they are balanced.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"split {split!r} must be one of {', '.join(SPLITS)}")
    (root / "img").mkdir(parents=True, exist_ok=True)
    jobs = [(str(root), seed, i) for i in range(count)]
    results = _run(_fld_job, jobs, workers, progress, "synthetic FLD")
    records = [
        LandmarkRecord(root / name, garment_type, variation, points, visibility, box, joints, split)
        for name, garment_type, variation, points, visibility, box, joints in results
    ]
    write_fld(root, records)
    return root


def render_fld_scene(seed: int, index: int) -> RenderedScene:
    """Scene ``index`` of ``generate_fld(seed=seed)``, with its garment mask (for checks and previews)."""
    rng = _rng(seed, _FLD_STREAM, index)
    item = random_item(rng, garment_type=_TYPE_CYCLE[index % 3])
    return render_street(rng, item)


def generate_consumer2shop(
    root: "str | Path",
    items: int,
    consumer_per_item: int = 2,
    seed: int = 0,
    workers: int = 2,
    split: str = "train",
    progress: bool = True,
) -> Path:
    """Write ``items`` items, each with one shop photo and ``consumer_per_item`` street photos.

    Files: Anno/list_bbox_consumer2shop.txt, Eval/list_eval_partition.txt (pairs),
    Anno/list_landmarks_consumer2shop.txt, Anno/list_category_{cloth,img}.txt,
    Anno/list_attr_{cloth,img}.txt. Images: img/<Category>/id_<item>/{shop,consumer}_NN.jpg.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"split {split!r} must be one of {', '.join(SPLITS)}")
    jobs = []
    for item in range(items):
        jobs.append((str(root), seed, item, "shop", 1))
        jobs += [(str(root), seed, item, "consumer", k + 1) for k in range(consumer_per_item)]
    results = _run(_c2s_job, jobs, workers, progress, "synthetic consumer-to-shop")
    images, pairs = [], []
    shop_of: dict[str, Path] = {}
    for name, source, item_id, scene_fields in results:
        garment_type, variation, points, visibility, box, category, attributes = scene_fields
        image = Consumer2ShopImage(
            image_path=root / name, garment_type=garment_type, source=source, box=box, item_id=item_id,
            split=split, variation=variation, points=points, visibility=visibility, category=category,
            attributes=attributes,
        )
        images.append(image)
        if source == "shop":
            shop_of[item_id] = image.image_path
        else:
            pairs.append(Consumer2ShopPair(image.image_path, shop_of[item_id], item_id, split))
    write_consumer2shop(
        root, images, pairs,
        category_names=[name for name, _ in CATEGORIES], category_types=[t for _, t in CATEGORIES],
        attribute_names=list(ATTRIBUTE_NAMES), attribute_types=list(ATTRIBUTE_TYPES),
    )
    return root


def c2s_item(seed: int, item: int):
    """The item (a GarmentSpec) number ``item`` of ``generate_consumer2shop(seed=seed)``."""
    rng = _rng(seed, _ITEM_STREAM, item)
    category = CATEGORIES[item % len(CATEGORIES)][0]
    return random_item(rng, category=category)


def render_c2s_scene(seed: int, item: int, source: str, number: int) -> RenderedScene:
    spec = c2s_item(seed, item)
    if source == "shop":
        return render_shop(_rng(seed, _SHOP_STREAM, item), spec)
    return render_street(_rng(seed, _CONSUMER_STREAM, item * 1000 + number), spec)


# --------------------------------------------------------------------------- jobs


def _fld_job(job):
    root, seed, index = job
    scene = render_fld_scene(seed, index)
    name = f"img/img_{index + 1:08d}.jpg"
    save_image(scene.image, Path(root) / name, quality=scene.jpeg_quality)
    return name, scene.garment_type, scene.variation, scene.points, scene.visibility, scene.box, scene.joints


def _c2s_job(job):
    root, seed, item, source, number = job
    scene = render_c2s_scene(seed, item, source, number)
    category = CATEGORIES[scene.category][0]
    item_id = f"id_{item + 1:08d}"
    name = f"img/{category}/{item_id}/{source}_{number:02d}.jpg"
    save_image(scene.image, Path(root) / name, quality=scene.jpeg_quality)
    fields = (scene.garment_type, scene.variation, scene.points, scene.visibility, scene.box, scene.category, scene.attributes)
    return name, source, item_id, fields


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream, int(index)]))


def _run(function: Callable, jobs: list, workers: int, progress: bool, description: str) -> list:
    """Map ``function`` over ``jobs`` in order, in ``workers`` spawned processes (1: in this one)."""
    bar = tqdm(total=len(jobs), desc=description, unit="img", disable=not progress)
    results: list = []
    try:
        if workers <= 1 or len(jobs) < 8:
            iterator: Iterable = map(function, jobs)
            for result in iterator:
                results.append(result)
                bar.update(1)
            return results
        # fork where there is one: it works from any caller (a notebook, ``python -``), and the
        # workers touch only numpy and PIL, never CUDA or torch's thread pools
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with context.Pool(workers) as pool:
            for result in pool.imap(function, jobs, chunksize=max(1, min(16, len(jobs) // (workers * 8)))):
                results.append(result)
                bar.update(1)
        return results
    finally:
        bar.close()
