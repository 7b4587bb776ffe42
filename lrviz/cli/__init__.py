"""Command line: ``lrviz`` (installed by ``pip install .``) or ``python -m lrviz``, with
``{schedule,train,lr-find,runs,stop,set-lr,tournament,...}``.

One module per group of sub-commands, each with a ``register(subparsers)``:
:mod:`lrviz.cli.schedule` (schedules, no TensorFlow) and :mod:`lrviz.cli.engine` (runs).
Bad input prints one line ``lrviz: error: ...`` and exits with code 2 (:mod:`lrviz.cli.common`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from lrviz.cli import engine, schedule, tournament
from lrviz.cli.common import Parser, UsageError

__all__ = ["build_parser", "main", "UsageError"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=_prog(), description="See, run and compare Keras learning-rate schedules.",
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    schedule.register(sub)
    engine.register(sub)
    tournament.register(sub)
    return parser


def _prog() -> str:
    """``lrviz`` when run as the installed command, ``python -m lrviz`` otherwise."""
    import os

    return "lrviz" if os.path.basename(sys.argv[0] or "") == "lrviz" else "python -m lrviz"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a bad flag (already printed as one line) or --help
        return e.code if isinstance(e.code, int) else 2
    try:
        result: Any = args.func(args)
    except UsageError as e:
        sys.stderr.write(f"lrviz: error: {e}\n")
        return 2
    except BrokenPipeError:  # `... | head`
        return 0
    return int(result or 0)
