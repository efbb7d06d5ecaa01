"""The ``dfa_vgg16`` weights folder: imported from the authors' .caffemodel files, checked when loaded.

The DFA authors publish one folder per clothes type, each with four files::

    FLD_upper/stage1.caffemodel  stage2.caffemodel  stage3_easy.caffemodel  stage3_hard.caffemodel
    FLD_lower/...
    FLD_full/...

``import_caffemodels`` turns whichever of those folders it finds into
``dfa_upper.pt`` / ``dfa_lower.pt`` / ``dfa_full.pt`` (torch state dicts,
float32, as published) and a manifest ``dfa_vgg16.json`` with each file's
sha256 and the caffemodels it came from. The weights are not shipped (about
2 GB per clothes type): ``python -m engine import-caffemodel DIR`` makes them.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.caffemodel import read_caffemodel
from engine.models.dfa_vgg16 import (
    NUM_LANDMARKS,
    STAGES,
    CaffeImportError,
    DfaCascade,
    DfaConfig,
    label_classes_in,
    state_dict_from_caffe,
)
from engine.registry import sha256_file

MANIFEST = "dfa_vgg16.json"
FORMAT_VERSION = 1


def default_weights_dir() -> Path:
    """$STREETSHOP_DFA_WEIGHTS, else <var dir>/weights/dfa_vgg16 (var dir: $STREETSHOP_VAR_DIR or the repo's var/)."""
    if os.environ.get("STREETSHOP_DFA_WEIGHTS"):
        return Path(os.environ["STREETSHOP_DFA_WEIGHTS"]).expanduser()
    var_dir = os.environ.get("STREETSHOP_VAR_DIR") or Path(__file__).resolve().parents[1] / "var"
    return Path(var_dir).expanduser() / "weights" / "dfa_vgg16"


@dataclass
class ImportedType:
    garment_type: str
    weights_file: Path
    sha256: str
    sources: dict[str, str]  # stage -> the caffemodel's sha256


def find_type_folders(root: "str | Path") -> dict[str, Path]:
    """{clothes type: folder} for FLD_upper / FLD_lower / FLD_full under ``root`` (or ``root`` itself)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder; give the folder that holds FLD_upper, FLD_lower, FLD_full")
    folders = {t: root / f"FLD_{t}" for t in NUM_LANDMARKS if (root / f"FLD_{t}").is_dir()}
    if not folders:
        for garment_type in NUM_LANDMARKS:
            if root.name in (f"FLD_{garment_type}", garment_type):
                folders[garment_type] = root
    if not folders:
        raise FileNotFoundError(
            f"{root}: found no FLD_upper, FLD_lower or FLD_full folder; each holds "
            + ", ".join(f"{s}.caffemodel" for s in STAGES)
        )
    return folders


def import_caffemodels(
    source: "str | Path", out_dir: "str | Path | None" = None, config: DfaConfig | None = None, progress=print
) -> list[ImportedType]:
    """Convert every clothes type found under ``source``; write the weights and the manifest into ``out_dir``."""
    out_dir = Path(out_dir) if out_dir else default_weights_dir()
    base_config = config or DfaConfig()
    imported = []
    for garment_type, folder in find_type_folders(source).items():
        imported.append(_import_type(garment_type, folder, out_dir, base_config, progress))
    _write_manifest(out_dir, base_config, imported)
    return imported


def _import_type(garment_type: str, folder: Path, out_dir: Path, base_config: DfaConfig, progress) -> ImportedType:
    paths = {stage: folder / f"{stage}.caffemodel" for stage in STAGES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"clothes type {garment_type}: missing {', '.join(missing)}")
    nets = {}
    for stage, path in paths.items():
        progress(f"reading {path}")
        nets[stage] = read_caffemodel(path)
        _check_net_name(nets[stage], garment_type, stage)
    config = DfaConfig.from_dict({**base_config.to_dict(), "hardlabel_classes": label_classes_in(nets["stage2"], "fc8_hardlabel")})
    cascade = DfaCascade(config, garment_type)
    state = {}
    for stage, net in nets.items():
        for key, value in state_dict_from_caffe(getattr(cascade, stage), net).items():
            state[f"{stage}.{key}"] = value
    cascade.load_state_dict(state)  # strict: every parameter came from a file
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_file = out_dir / f"dfa_{garment_type}.pt"
    torch.save({"garment_type": garment_type, "config": config.to_dict(), "state_dict": state}, weights_file)
    progress(f"wrote {weights_file}")
    return ImportedType(garment_type, weights_file, sha256_file(weights_file), {s: sha256_file(p) for s, p in paths.items()})


def _check_net_name(net, garment_type: str, stage: str) -> None:
    """Catch swapped files: a net named DFA_lower_stage2 must not be imported as the upper stage 1."""
    name = net.name.lower()
    for other in NUM_LANDMARKS:
        if other != garment_type and f"_{other}_" in f"_{name}_":
            raise CaffeImportError(f"{net.path}: the network is named {net.name!r}, not a {garment_type} model")


def _write_manifest(out_dir: Path, config: DfaConfig, imported: list[ImportedType]) -> None:
    path = out_dir / MANIFEST
    manifest = json.loads(path.read_text()) if path.exists() else {"types": {}}
    manifest.update(format=FORMAT_VERSION, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    for entry in imported:
        manifest["types"][entry.garment_type] = {
            "weights_file": entry.weights_file.name,
            "sha256": entry.sha256,
            "caffemodel_sha256": entry.sources,
        }
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(weights_dir: "str | Path | None" = None) -> dict:
    path = Path(weights_dir or default_weights_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def load_cascade(weights_dir: "str | Path", garment_type: str, device: str = "cpu") -> DfaCascade:
    """One clothes type's cascade, after checking its file against the manifest's sha256."""
    weights_dir = Path(weights_dir)
    entry = read_manifest(weights_dir).get("types", {}).get(garment_type)
    if entry is None:
        raise FileNotFoundError(
            f"no DFA {garment_type} model in {weights_dir}: import FLD_{garment_type} with "
            f"'python -m engine import-caffemodel DIR --out {weights_dir}'"
        )
    path = weights_dir / entry["weights_file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is listed in {weights_dir / MANIFEST} but missing: import it again")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ValueError(f"{path} has sha256 {actual}, the manifest says {entry['sha256']}: import it again")
    payload = torch.load(path, map_location=device, weights_only=True)
    cascade = DfaCascade(DfaConfig.from_dict(payload["config"]), garment_type)
    cascade.load_state_dict(payload["state_dict"])
    return cascade.to(device).eval()
