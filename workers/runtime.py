"""What a worker process keeps between tasks: the engine pipelines, loaded once, on first use.

Loading happens in the process that runs tasks (after the pool forked), never
in the parent, so CUDA is initialised only where it is used.
"""
from __future__ import annotations

import functools

import torch
from django.conf import settings

from engine.pipeline import Pipeline


@functools.lru_cache(maxsize=None)
def pipeline(purpose: str) -> Pipeline:
    """``"query"`` for shoppers' street photos, ``"catalog"`` for shop images."""
    detector = settings.STREETSHOP_QUERY_DETECTOR if purpose == "query" else settings.STREETSHOP_CATALOG_DETECTOR
    device = settings.STREETSHOP_DEVICE
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Pipeline.from_config(
        detector=detector, aligner=settings.STREETSHOP_ALIGNER, extractor=settings.STREETSHOP_EXTRACTOR, device=device
    )
