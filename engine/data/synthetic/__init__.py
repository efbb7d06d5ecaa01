"""The deterministic synthetic fashion data set, written in DeepFashion's file formats.

    generate_fld(root, count, seed, workers=2, progress=True, split="train") -> Path
    generate_consumer2shop(root, items, consumer_per_item=2, seed=0, workers=2, split="train") -> Path
    render_fld_scene(seed, index) -> RenderedScene  (image, garment_mask and labels of one scene)

Modules: figures (people, pose, joints), garments (items, shapes, landmarks,
categories, attributes), textures (colours, fabrics, shading), scenes
(camera, background, painting, occlusion, lighting), writer (the generators).
"""
from engine.data.synthetic.garments import ATTRIBUTE_NAMES, ATTRIBUTE_TYPES, CATEGORIES, CATEGORY_NAMES, GarmentSpec
from engine.data.synthetic.scenes import RenderedScene
from engine.data.synthetic.writer import (
    c2s_item,
    generate_consumer2shop,
    generate_fld,
    render_c2s_scene,
    render_fld_scene,
)

__all__ = [
    "ATTRIBUTE_NAMES",
    "ATTRIBUTE_TYPES",
    "CATEGORIES",
    "CATEGORY_NAMES",
    "GarmentSpec",
    "RenderedScene",
    "c2s_item",
    "generate_consumer2shop",
    "generate_fld",
    "render_c2s_scene",
    "render_fld_scene",
]
