"""``python -m engine import-caffemodel DIR``: the DFA authors' .caffemodel files -> ``dfa_vgg16`` weights."""
from __future__ import annotations

from pathlib import Path

from engine.dfa_weights import MANIFEST, default_weights_dir, import_caffemodels


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "import-caffemodel",
        help="import the published DFA models (FLD_upper / FLD_lower / FLD_full) for the dfa_vgg16 aligner",
        description="Reads DIR/FLD_{upper,lower,full}/{stage1,stage2,stage3_easy,stage3_hard}.caffemodel "
        "(or one such folder), checks every layer's name and shape against the DFA network, and writes "
        "the dfa_vgg16 plugin's weights and manifest. No Caffe install is needed.",
    )
    parser.add_argument("source", type=Path, help="folder holding FLD_upper, FLD_lower and/or FLD_full")
    parser.add_argument(
        "--out", type=Path, default=None,
        help=f"weights folder (default: $STREETSHOP_DFA_WEIGHTS or {default_weights_dir()})",
    )
    parser.set_defaults(handler=_import)


def _import(args) -> int:
    imported = import_caffemodels(args.source, args.out)
    out = args.out or default_weights_dir()
    for entry in imported:
        print(f"{entry.garment_type}: {entry.weights_file} (sha256 {entry.sha256[:12]})")
    print(f"manifest: {out / MANIFEST}")
    if args.out is not None and Path(args.out).resolve() != default_weights_dir().resolve():
        print(f"the plugin reads {default_weights_dir()} by default: set STREETSHOP_DFA_WEIGHTS={out} to use these")
    print("select the aligner with STREETSHOP_ALIGNER=dfa_vgg16 (python -m engine run PHOTO --aligner dfa_vgg16)")
    return 0
