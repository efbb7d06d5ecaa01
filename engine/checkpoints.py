"""Model checkpoints with their metadata, and the model card written beside them.

A checkpoint is ``NAME.pt`` (state dict + config) and ``NAME.json`` (what it
was trained on, how, its metrics and the .pt file's sha256). Plugins read the
JSON to declare ``weights_sha256`` and a version that names the weights, so
vectors from two different trainings never share a Milvus collection.
"""
from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any

import torch

from engine.registry import sha256_file


def save_checkpoint(path: "str | Path", state_dict: dict, config: dict, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``path`` (.pt) and its metadata ``path.with_suffix('.json')``; return the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Half precision halves the committed size; heads are evaluated in float32 after loading.
    compact = {k: (v.half() if v.is_floating_point() else v) for k, v in state_dict.items()}
    torch.save({"state_dict": compact, "config": config}, path)
    metadata = {
        **meta,
        "weights_file": path.name,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    path.with_suffix(".json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return metadata


def load_checkpoint(path: "str | Path", device: str = "cpu") -> tuple[dict, dict]:
    """(state_dict in float32, config) of a checkpoint written by ``save_checkpoint``."""
    payload = torch.load(Path(path), map_location=device, weights_only=True)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    return state, payload["config"]


def read_metadata(weights_path: "str | Path") -> dict[str, Any]:
    """The JSON beside a checkpoint, or {} when it has not been trained yet."""
    meta_path = Path(weights_path).with_suffix(".json")
    if not meta_path.exists():
        return {}
    return json.loads(meta_path.read_text())


def weights_version(base_version: str, metadata: dict[str, Any]) -> str:
    """``1.0+1a2b3c4d``: the code's version plus the weights' digest prefix."""
    sha = metadata.get("sha256")
    return f"{base_version}+{sha[:8]}" if sha else base_version
