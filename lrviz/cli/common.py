"""What every sub-command shares: the one-line error (exit 2), flags made from settings, and
:func:`plain`, which every text read from a run folder goes through before it is printed."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lrviz.errors import FieldError
from lrviz.settings import Setting
from lrviz.text import one_line as plain  # every text read from a run folder, before it is printed

__all__ = ["UsageError", "Parser", "positive_int", "add_setting_flags", "flags_into", "plain", "warn"]

def warn(message: str) -> None:
    """One line ``lrviz: warning: ...`` on stderr (``message`` made :func:`plain`)."""
    sys.stderr.write(f"lrviz: warning: {plain(message)}\n")
    sys.stderr.flush()


class UsageError(ValueError):
    """A user error: printed as one line ``lrviz: error: ...``, exit code 2. The message may
    quote a run folder, so it is made :func:`plain`."""

    def __init__(self, message: object = "") -> None:
        super().__init__(plain(message))


class Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401
        # "argument --epochs: Argument `epochs` must be ...": the message names the field already
        message = re.sub(r"\Aargument [^:]+: (?=Argument `)", "", message)
        sys.stderr.write(f"lrviz: error: {message}\n")
        raise SystemExit(2)


def _flag_type(s: Setting) -> Any:
    def parse(text: str) -> Any:
        try:
            return s.parse_flag(text)
        except FieldError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = s.name  # argparse names the type in some messages
    return parse


def positive_int(name: str) -> Any:
    """An argparse type: an integer >= 1, the error naming ``name``."""
    return _flag_type(Setting(name, 1, "", kind="int", low=1))


def add_setting_flags(parser: argparse.ArgumentParser, settings: Iterable[Setting]) -> None:
    """One flag per setting (``--batch-size``), default None (= the job's default); its help is
    :meth:`Setting.cli_help` (description, rule, default). Booleans get ``--x/--no-x``; mappings
    (a schedule) and settings marked ``cli=False`` get none."""
    for s in settings:
        if not s.cli or s.kind == "mapping":
            continue
        if s.kind == "bool":
            parser.add_argument(s.flag, action=argparse.BooleanOptionalAction, default=None, help=s.cli_help())
        elif s.kind == "choice":
            parser.add_argument(s.flag, choices=s.choices, default=None, help=s.cli_help())
        elif s.kind == "path":
            parser.add_argument(s.flag, metavar=s.metavar or "PATH", default=None, help=s.cli_help())
        else:
            parser.add_argument(s.flag, type=_flag_type(s), default=None, metavar=s.metavar or s.kind.upper(),
                                help=s.cli_help())


def flags_into(config: dict[str, Any], args: argparse.Namespace, names: Iterable[str]) -> None:
    """Copy the flags the user gave (not None) into ``config``; an archive implies cifar10,
    ``--data`` your own data."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            config[name] = value
    if getattr(args, "cifar_archive", None) and "dataset" not in config:
        config["dataset"] = "cifar10"
    if getattr(args, "data", None) and config.get("dataset", "own") == "own":
        config["dataset"] = "own"


def add_runs_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default=None, help="where runs are stored (default $LRVIZ_RUNS_DIR or runs)")


def runs_dir_of(args: argparse.Namespace) -> Path:
    """``--runs-dir``, else the store's default ($LRVIZ_RUNS_DIR or ``runs``)."""
    from lrviz.runs import DEFAULT_RUNS_DIR

    return Path(args.runs_dir) if args.runs_dir else DEFAULT_RUNS_DIR

