"""Model cards: a Markdown page beside each checkpoint, made from its metadata JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEEPFASHION_TERMS = (
    "These weights were trained partly on real photos of CUHK's DeepFashion (Fashion Landmark Detection "
    "benchmark test images, hand-labelled): DeepFashion's terms restrict their use to non-commercial "
    "research and education. A model fine-tuned on those photos must not be reported on FLD's test split."
)

VALIDATION_NOTE = (
    "The trainer's own figures after the last epoch, on its cached crops: the aligner's are given the "
    "data's labelled body joints where it has them. The evaluations below are the figures to quote."
)

EVALUATIONS_NOTE = (
    "Evaluations whose name ends in ', int8 layers' ran the heads' widest layers in int8 (engine/models/int8.py: "
    "the default on CPUs with AVX-512, `STREETSHOP_INT8=1` elsewhere). The others ran every layer in float32, "
    "which `STREETSHOP_INT8=0` before their command reproduces."
)


def record_evaluation(weights_path: "str | Path", name: str, metrics: dict[str, Any], command: str) -> None:
    """Add an evaluation to a checkpoint's metadata and rewrite its card (the .pt is untouched)."""
    meta_path = Path(weights_path).with_suffix(".json")
    metadata = json.loads(meta_path.read_text())
    metadata.setdefault("evaluations", {})[name] = {"metrics": metrics, "command": command}
    meta_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    write_model_card(weights_path, metadata)


def write_model_card(weights_path: "str | Path", metadata: dict[str, Any]) -> Path:
    path = Path(weights_path).with_name("MODEL_CARD.md")
    lines = [
        f"# {metadata.get('title', Path(weights_path).stem)}",
        "",
        metadata.get("description", ""),
        "",
        "| | |",
        "|---|---|",
        f"| weights | `{metadata.get('weights_file')}` ({metadata.get('size_bytes', 0) / 1e6:.2f} MB, float16 heads) |",
        f"| sha256 | `{metadata.get('sha256')}` |",
        f"| backbone | {metadata.get('backbone', '')} (frozen) |",
        f"| trained | {metadata.get('created')} with torch {metadata.get('torch')} on {metadata.get('device')} |",
        f"| epochs | {metadata.get('epochs')} |",
        f"| training time | {metadata.get('training_seconds', 0):.0f} s |",
        "",
        "## Data",
        "",
    ]
    lines += [_data_line(d) for d in metadata.get("data", [])]
    lines += ["", "## Command", "", "```", metadata.get("command", ""), "```", "", "## Validation during training", ""]
    lines += [VALIDATION_NOTE, ""]
    final = metadata.get("final_validation", {})
    lines += [f"- {k}: {v}" for k, v in final.items()] or ["- none"]
    evaluations = metadata.get("evaluations", {})
    if evaluations:
        lines += ["", "## Evaluations", "", EVALUATIONS_NOTE, ""]
        for name, entry in evaluations.items():
            lines += [f"### {name}", "", "```", entry["command"], "```", ""]
            lines += [f"- {k}: {v}" for k, v in entry["metrics"].items()] + [""]
    if metadata.get("trained_on_deepfashion"):
        lines += ["", "## Terms", "", DEEPFASHION_TERMS]
    path.write_text("\n".join(lines) + "\n")
    return path


def _data_line(entry: dict) -> str:
    """A data set (records x copies), or the checkpoint a run started from (its sha256)."""
    if "records" in entry:
        return f"- `{entry['path']}`: {entry['records']} records x {entry['copies']} copies ({entry.get('kind', '')})"
    return f"- `{entry['path']}` (sha256 `{entry.get('sha256', '?')[:12]}...`): {entry.get('kind', '')}"
