"""``python -m engine evaluate aligner|extractor``: the figures, through the installed plugins."""
from __future__ import annotations

import json
from pathlib import Path

from engine.cli.common import command_line, crop_pipeline, resolve_device


def add_parser(sub) -> None:
    parser = sub.add_parser("evaluate", help="score a model on a labelled folder")
    models = parser.add_subparsers(dest="model", required=True)
    aligner = models.add_parser("aligner", help="NE per cascade stage and visibility accuracy")
    aligner.add_argument("data", type=Path, help="FLD-format or hand-labelled folder")
    aligner.add_argument("--split", default=None, help="only this split (default: all records)")
    aligner.add_argument("--aligner", default=None, help="plugin name (default: the configured one)")
    aligner.add_argument("--with-joints", action="store_true", help="give the aligner the labelled body joints")
    _common(aligner)
    aligner.set_defaults(handler=_evaluate_aligner)
    extractor = models.add_parser("extractor", help="consumer-to-shop top-1/5/20 hit rates")
    extractor.add_argument("data", type=Path, help="consumer-to-shop folder")
    extractor.add_argument("--split", default=None, help="only this split (default: all images)")
    extractor.add_argument("--landmarks", choices=("aligner", "labels"), default="aligner")
    extractor.add_argument("--aligner", default=None)
    extractor.add_argument("--extractor", default=None)
    _common(extractor)
    extractor.set_defaults(handler=_evaluate_extractor)


def _common(parser) -> None:
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--record", action="store_true",
                        help="add the figures to the plugin's model card (built-in weights only)")
    parser.add_argument("--quiet", action="store_true")


def _evaluate_aligner(args) -> int:
    from engine import registry
    from engine.data.sources import landmark_records
    from engine.evaluation.aligner import evaluate_aligner

    records = landmark_records(args.data, args.split)
    aligner = registry.load_plugin("aligner", args.aligner, device=resolve_device(args.device))
    metrics = evaluate_aligner(aligner, records, use_joints=args.with_joints, progress=not args.quiet)
    name = f"aligner on {args.data}" + (f" ({args.split})" if args.split else "")
    name += ", with labelled joints" if args.with_joints else ", no joints"
    return _report(args, aligner, name, metrics)


def _evaluate_extractor(args) -> int:
    from engine.data.sources import retrieval_set
    from engine.evaluation.extractor import evaluate_extractor

    pipeline = crop_pipeline(args)
    metrics = evaluate_extractor(pipeline, retrieval_set(args.data), args.split, args.landmarks, progress=not args.quiet)
    source = pipeline.aligner.info.key if args.landmarks == "aligner" else "labels"
    name = f"extractor on {args.data}" + (f" ({args.split})" if args.split else "") + f", landmarks from {source}"
    return _report(args, pipeline.extractor, name, metrics)


def _report(args, plugin, name: str, metrics: dict) -> int:
    if plugin.precision != "float32":  # float32 runs keep the plain name their earlier records have
        name += f", {plugin.precision} layers"
    print(f"{plugin.info.key}: {name}")
    for key, value in metrics.items():
        print(f"  {key:>22}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"plugin": plugin.info.key, "evaluation": name, "metrics": metrics}, indent=2) + "\n")
    if args.record:
        from engine import registry
        from engine.training.model_card import record_evaluation

        record_evaluation(registry.weights_path(type(plugin)), name, metrics, command_line())
    return 0
