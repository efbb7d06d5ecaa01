"""``python -m engine generate``: the synthetic data sets, in DeepFashion's file formats."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("generate", help="write a synthetic data set (deterministic for a seed)")
    kinds = parser.add_subparsers(dest="kind", required=True)
    fld = kinds.add_parser("fld", help="street scenes with landmark labels (FLD layout)")
    fld.add_argument("out", type=Path)
    fld.add_argument("--count", type=int, default=1000)
    _common(fld)
    fld.set_defaults(handler=_generate_fld)
    c2s = kinds.add_parser("consumer2shop", help="items seen in street scenes and in shop photos")
    c2s.add_argument("out", type=Path)
    c2s.add_argument("--items", type=int, default=500)
    c2s.add_argument("--consumer-per-item", type=int, default=2)
    _common(c2s)
    c2s.set_defaults(handler=_generate_consumer2shop)


def _common(parser) -> None:
    parser.add_argument("--seed", type=int, required=True, help="evaluation sets must use seeds training never used")
    parser.add_argument("--split", default="train", choices=("train", "val", "test"))
    parser.add_argument("--workers", type=int, default=2)


def _generate_fld(args) -> int:
    from engine.data.synthetic import generate_fld

    root = generate_fld(args.out, args.count, seed=args.seed, workers=args.workers, split=args.split)
    print(f"wrote {args.count} FLD records to {root}")
    return 0


def _generate_consumer2shop(args) -> int:
    from engine.data.synthetic import generate_consumer2shop

    root = generate_consumer2shop(
        args.out, args.items, consumer_per_item=args.consumer_per_item, seed=args.seed, workers=args.workers, split=args.split
    )
    print(f"wrote {args.items} items ({args.consumer_per_item} consumer photos each) to {root}")
    return 0
