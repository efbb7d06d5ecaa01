"""CPU latency of the engine: one garment crop through aligner + extractor, one full photo through
detector + aligner + extractor, and the backbone alone as the baseline, all measured in this run.

    .venv/bin/python bench/engine_latency.py [--runs 30] [--threads N] [--against-float32]
        [--against-aligner OLD.pt] [--against-extractor OLD.pt]

Prints medians (and p90) in milliseconds and the ratio to the backbone-only time. With --against-*,
the crop is also described by the same plugins loaded with those checkpoints (e.g. the previous
weights, kept aside), or with every layer in float32 (STREETSHOP_INT8=0, engine.models.int8), timed
in the same rounds: a fair A/B on a noisy machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from skimage import data as skimage_data

from engine.contracts import GarmentCrops, Role
from engine.pipeline import Pipeline
from engine.registry import plugin_class
from engine.training.features import encode_canvases
from engine.types import Box, Detection, GarmentType


def measure(fns: list, runs: int, warmup: int = 3) -> list[list[float]]:
    """Times of each function, run in turn within every round: a shared, noisy machine slows them
    alike, so their ratio stays fair (timing one after the other compared different moments)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, column in zip(fns, times):
            start = time.perf_counter()
            fn()
            column.append((time.perf_counter() - start) * 1000)
    return times


def summary(name: str, times: list[float], baseline: float | None = None) -> str:
    median = statistics.median(times)
    p90 = float(np.percentile(times, 90))
    ratio = f"  {median / baseline:.2f}x backbone" if baseline else ""
    return f"{name:<44} median {median:7.1f} ms   p90 {p90:7.1f} ms{ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--against-aligner", default=None, metavar="CHECKPOINT",
                        help="also time the aligner plugin loaded with these weights")
    parser.add_argument("--against-extractor", default=None, metavar="CHECKPOINT",
                        help="also time the extractor plugin loaded with these weights")
    parser.add_argument("--against-float32", action="store_true",
                        help="also time the plugins with every layer in float32 (STREETSHOP_INT8=0)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    photo = skimage_data.astronaut()
    pipeline = Pipeline.from_config(detector="pose", aligner="cascade_cnn", extractor="fashionnet")
    crop = GarmentCrops.from_detections(photo, [Detection(Box(120, 180, 400, 512), GarmentType.UPPER, 1.0)])

    def backbone_only():
        # The backbone exactly as the pipeline runs it (the same frozen trace), so the ratio is the heads' cost.
        encode_canvases(crop.canvases)

    fns = [backbone_only, lambda: pipeline.describe_crops(crop), lambda: pipeline.run(photo)]
    others = {"--against weights": against(pipeline, args.against_aligner, args.against_extractor)}
    if args.against_float32:
        others["float32 layers"] = in_float32(pipeline)
    others = {label: other for label, other in others.items() if other is not None}
    fns += [lambda other=other: other.describe_crops(crop) for other in others.values()]
    baseline, crop_times, photo_times, *other_times = measure(fns, args.runs)
    garments = len(pipeline.run(photo).garments)
    base = statistics.median(baseline)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.runs} runs each")
    print(summary("backbone only (1 crop, baseline)", baseline))
    print(summary("aligner + extractor (1 crop)", crop_times, base))
    print(summary(f"detector + aligner + extractor (photo, {garments} garment(s))", photo_times, base))
    for label, times in zip(others, other_times):
        print(summary(f"aligner + extractor (1 crop), {label}", times, base))


def against(pipeline: Pipeline, aligner_weights: str | None, extractor_weights: str | None) -> Pipeline | None:
    """The pipeline's aligner and extractor loaded with other weights (None when none are given)."""
    if aligner_weights is None and extractor_weights is None:
        return None

    def load(plugin, role: Role, weights: str | None):
        return plugin if weights is None else plugin_class(plugin.info.name, role)(device="cpu", weights=weights)

    return Pipeline(
        detector=None,
        aligner=load(pipeline.aligner, Role.ALIGNER, aligner_weights),
        extractor=load(pipeline.extractor, Role.EXTRACTOR, extractor_weights),
    )


def in_float32(pipeline: Pipeline) -> Pipeline:
    """The pipeline's aligner and extractor loaded again with every layer in float32."""
    previous = os.environ.get("STREETSHOP_INT8")
    os.environ["STREETSHOP_INT8"] = "0"
    try:
        return Pipeline(detector=None, aligner=type(pipeline.aligner)(device="cpu"),
                        extractor=type(pipeline.extractor)(device="cpu"))
    finally:
        if previous is None:
            del os.environ["STREETSHOP_INT8"]
        else:
            os.environ["STREETSHOP_INT8"] = previous


if __name__ == "__main__":
    main()
