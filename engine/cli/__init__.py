"""The engine's command line: plugins, generate, train, evaluate, report, run, import-caffemodel.

Each sub-command lives in its own module and registers its arguments with
``add_parser``; ``main`` parses and dispatches. Errors a user can cause
(a missing folder, a broken photo, an unknown plugin) print one clear line
and exit with status 2 instead of a traceback.
"""
from __future__ import annotations

import argparse
import sys

from engine.cli import evaluate, generate, import_caffemodel, plugins, report, run, train
from engine.imageio import ImageError
from engine.registry import PluginError

COMMANDS = (plugins, generate, train, evaluate, report, run, import_caffemodel)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="StreetShop's vision engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (PluginError, ImageError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
