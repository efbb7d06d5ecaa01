"""``python -m engine report aligner|extractor DATA --out DIR``: a Markdown report with PNG figures.

    python -m engine report aligner data/fld --split test --out reports/aligner
    python -m engine report extractor data/c2s --split test --index milvus --out reports/extractor
    python -m engine report extractor data/inshop --out reports/inshop

The aligner report holds NE overall, per landmark, per garment type and per
variation type, visibility accuracy, the detection-rate curve and overlays of
the best and worst garments; the extractor report the consumer-to-shop and
in-shop top-k curves (an In-shop folder: its query split against its gallery) and, when the data is labelled, category top-3/5
accuracy and attribute top-3/5 recall (engine.evaluation.report).
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from engine.cli.common import command_line, crop_pipeline, resolve_device


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="write a Markdown report with figures for a model on a labelled folder")
    models = parser.add_subparsers(dest="model", required=True)
    aligner = models.add_parser("aligner", help="NE tables, detection-rate curve, best/worst overlays")
    aligner.add_argument("data", type=Path, help="FLD-format, consumer-to-shop (with landmarks) or hand-labelled folder")
    aligner.add_argument("--aligner", default=None, help="plugin name (default: the configured one)")
    aligner.add_argument("--with-joints", action="store_true", help="give the aligner the labelled body joints")
    aligner.add_argument("--examples", type=int, default=3, help="how many best and worst garments to draw (default 3)")
    _common(aligner)
    aligner.set_defaults(handler=_report_aligner)
    extractor = models.add_parser("extractor", help="top-k curves, category and attribute top-k")
    extractor.add_argument("data", type=Path, help="consumer-to-shop or In-shop folder")
    extractor.add_argument("--index", choices=("exact", "milvus"), default="exact",
                           help="search by exact cosine similarity or through the product's Milvus index")
    extractor.add_argument("--milvus-uri", default=None,
                           help="Milvus server for --index milvus (default: a Milvus Lite server started for the run)")
    extractor.add_argument("--landmarks", choices=("aligner", "labels"), default="aligner",
                           help="landmarks given to the extractor (default: the aligner's)")
    extractor.add_argument("--aligner", default=None)
    extractor.add_argument("--extractor", default=None)
    _common(extractor)
    extractor.set_defaults(handler=_report_extractor)


def _common(parser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for report.md, metrics.json and the PNGs")
    parser.add_argument("--split", default=None, help="only this split (default: everything)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N records / images (a quick look)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true")


def _report_aligner(args) -> int:
    from engine import registry
    from engine.data.sources import landmark_records
    from engine.evaluation.aligner import predict_landmarks
    from engine.evaluation.report import Provenance, write_aligner_report

    records = landmark_records(args.data, args.split)
    if args.limit is not None:
        records = records[: max(0, args.limit)]
    if not records:
        raise ValueError(f"{args.data}: no labelled garments" + (f" in split {args.split!r}" if args.split else ""))
    aligner = registry.load_plugin("aligner", args.aligner, device=resolve_device(args.device))
    predictions = predict_landmarks(aligner, records, use_joints=args.with_joints, progress=not args.quiet)
    provenance = Provenance(
        command=_command(args), data=args.data.resolve(), split=args.split,
        plugins={"aligner": aligner.info.key},
        details={"Body joints given to the aligner": "yes" if args.with_joints else "no"},
    )
    figures = write_aligner_report(args.out, predictions, provenance, examples=args.examples)
    _done(args.out, f"NE {figures['ne']}, visibility accuracy {figures['visibility_accuracy']}")
    return 0


def _report_extractor(args) -> int:
    from engine.data.sources import retrieval_set
    from engine.evaluation.extractor import score_extractor
    from engine.evaluation.report import Provenance, write_extractor_report

    pipeline = crop_pipeline(args)
    from engine.data.inshop import INSHOP_BBOX, read_inshop
    from engine.evaluation.extractor import score_inshop
    from engine.milvus_server import MilvusServerError
    from engine.vector_index import VectorIndexError

    try:
        if (args.data / INSHOP_BBOX).exists():
            if args.split is not None:
                raise ValueError("--split does not apply to an In-shop folder: its query and gallery splits are used")
            scores = score_inshop(
                pipeline, read_inshop(args.data), args.landmarks, backend=args.index,
                milvus_uri=args.milvus_uri, limit=args.limit, progress=not args.quiet,
            )
        else:
            scores = score_extractor(
                pipeline, retrieval_set(args.data), args.split, args.landmarks, backend=args.index,
                milvus_uri=args.milvus_uri, limit=args.limit, progress=not args.quiet,
            )
    except (MilvusServerError, VectorIndexError) as error:  # one clear line (main prints ValueErrors)
        raise ValueError(f"the search through Milvus failed: {error}") from error
    search = "exact cosine" if args.index == "exact" else f"Milvus ({args.milvus_uri or 'Milvus Lite, started for this run'})"
    provenance = Provenance(
        command=_command(args), data=args.data.resolve(), split=args.split,
        plugins={"aligner": pipeline.aligner.info.key, "extractor": pipeline.extractor.info.key},
        details={"Search": search, "Landmarks from": args.landmarks},
    )
    figures = write_extractor_report(args.out, scores, provenance)
    summary = ", ".join(f"{k} {figures[k]}" for k in ("c2s_top1", "c2s_top20", "inshop_top1") if k in figures)
    _done(args.out, summary or "no retrieval queries")
    return 0


def _command(args) -> str:
    """The command line as typed; rebuilt from the parsed options when run in-process (``main([...])``)."""
    if sys.argv[1:3] == ["report", args.model]:
        return command_line()
    skip = {"command", "model", "handler", "data"}
    parts = ["python -m engine report", args.model, shlex.quote(str(args.data))]
    for name, value in sorted(vars(args).items()):
        if name in skip or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        parts.append(flag if value is True else f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def _done(out: Path, summary: str) -> None:
    print(f"report written to {out / 'report.md'}: {summary}")
