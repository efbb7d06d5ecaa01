"""``python -m engine plugins``: what is installed, what is configured, whether weights check out."""
from __future__ import annotations

from engine.registry import print_plugins


def add_parser(sub) -> None:
    parser = sub.add_parser("plugins", help="list installed plugins and the configured one per role")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=lambda args: print_plugins(as_json=args.json))
