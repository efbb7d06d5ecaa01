"""``python -m engine run photo.jpg --overlay out.png --json out.json``: the whole pipeline on one photo."""
from __future__ import annotations

import json
from pathlib import Path

from engine.cli.common import resolve_device


def add_parser(sub) -> None:
    parser = sub.add_parser("run", help="detect, align and embed the garments of a photo")
    parser.add_argument("photo", type=Path)
    parser.add_argument("--overlay", type=Path, default=None, help="write the photo with boxes and landmarks here")
    parser.add_argument("--json", type=Path, default=None, help="write the result (schema-versioned JSON) here")
    parser.add_argument("--hint", choices=("upper", "lower", "full"), default=None, help="garment type, if known")
    parser.add_argument("--detector", default=None)
    parser.add_argument("--aligner", default=None)
    parser.add_argument("--extractor", default=None)
    parser.add_argument("--device", default="auto")
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    from engine.imageio import load_image, save_image
    from engine.overlay import draw_overlay
    from engine.pipeline import Pipeline
    from engine.types import GarmentType

    image = load_image(args.photo)
    pipeline = Pipeline.from_config(args.detector, args.aligner, args.extractor, device=resolve_device(args.device))
    result = pipeline.run(image, GarmentType(args.hint) if args.hint else None)
    for index, garment in enumerate(result.garments, start=1):
        embedding = garment.embedding
        category = f"{embedding.category} ({embedding.category_scores.get(embedding.category, 0):.2f})" if embedding else "-"
        attributes = ", ".join(list(embedding.attributes)[:4]) if embedding else ""
        box = ", ".join(f"{v:.0f}" for v in garment.detection.box.as_tuple())
        print(f"garment {index}: {garment.detection.garment_type.value} box ({box}) score {garment.detection.score:.2f} "
              f"category {category} {attributes}")
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
    print(f"{len(result.garments)} garment(s); {timings}")
    if args.overlay:
        save_image(draw_overlay(image, result.garments), args.overlay)
        print(f"overlay: {args.overlay}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"json: {args.json}")
    return 0
