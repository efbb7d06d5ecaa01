"""Small helpers shared by the sub-commands."""
from __future__ import annotations

import shlex
import sys

import torch


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no GPU; use --device cpu")
    return name


def command_line() -> str:
    """The command as the user typed it, for checkpoints and model cards."""
    return "python -m engine " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def crop_pipeline(args):
    """The aligner and extractor the arguments name (or the configured ones), for ready garment crops."""
    from engine import registry
    from engine.pipeline import Pipeline

    device = resolve_device(args.device)
    return Pipeline(
        detector=None,
        aligner=registry.load_plugin("aligner", args.aligner, device=device),
        extractor=registry.load_plugin("extractor", args.extractor, device=device),
    )
