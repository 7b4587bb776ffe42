"""Command line: ``python -m lrviz {schedule,train,...}``.

Schedule flags are generated from :data:`lrviz.schedules.REGISTRY` (``--factor``,
``--drop-every``, ...). Bad values print one line ``lrviz: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from typing import Any

from lrviz.schedules import REGISTRY, WARMUP_PARAMS, Schedule, steps_per_epoch_for


class UsageError(ValueError):
    """A user error: printed as one line, exit code 2."""


def _schedule_help() -> str:
    lines = ["schedules and their parameters (flag: default):"]
    for spec in REGISTRY.values():
        flags = ", ".join(f"{p.flag} {p.format(p.default)}" for p in spec.params)
        flags += "".join(f", --{f.replace('_', '-')}" for f in spec.flags)
        lines.append(f"  {spec.name:16s} {spec.title}: {flags}")
    return "\n".join(lines)


def add_schedule_flags(parser: argparse.ArgumentParser, default_schedule: str | None = "step") -> None:
    """Add ``--schedule`` plus one flag per registry parameter (union over all schedules).

    Values are kept as strings and validated by :meth:`Schedule.create`, so the error
    message is the registry's (it names the field, the rule and the value).
    """
    g = parser.add_argument_group("schedule", "flags of the chosen schedule; others are rejected")
    g.add_argument("--schedule", default=default_schedule, choices=None, metavar="NAME",
                   help=f"one of: {', '.join(REGISTRY)} (default: {default_schedule})")
    seen: dict[str, str] = {}
    for spec in REGISTRY.values():
        for p in spec.params:
            if p.name in seen:
                seen[p.name] += f", {spec.name}"
                continue
            seen[p.name] = spec.name
        for f in spec.flags:
            seen.setdefault(f, spec.name)
    for name in seen:
        is_flag = any(name in s.flags for s in REGISTRY.values())
        if is_flag:
            g.add_argument("--" + name.replace("_", "-"), dest=f"sp_{name}", action="store_const", const=True,
                           default=None, help=f"(schedules: {seen[name]})")
        else:
            g.add_argument("--" + name.replace("_", "-"), dest=f"sp_{name}", default=None, metavar="V",
                           help=f"(schedules: {seen[name]})")
    for p in WARMUP_PARAMS:
        g.add_argument(p.flag, dest=f"wu_{p.name}", default=None, metavar="V", help=p.help)


def schedule_from_args(args: argparse.Namespace) -> Schedule:
    """Build the :class:`Schedule` the flags describe; ``UsageError`` on bad input."""
    name = args.schedule
    if name not in REGISTRY:
        raise UsageError(f"Argument `schedule` must be one of {', '.join(REGISTRY)}. Received: schedule={name!r}")
    spec = REGISTRY[name]
    own = {p.name for p in spec.params} | set(spec.flags)
    given = {k[3:]: v for k, v in vars(args).items() if k.startswith("sp_") and v is not None}
    foreign = sorted(set(given) - own)
    if foreign:
        raise UsageError(
            f"Flag --{foreign[0].replace('_', '-')} does not belong to schedule `{name}` "
            f"(its flags: {', '.join('--' + n.replace('_', '-') for n in sorted(own))})."
        )
    warm = {k[3:]: v for k, v in vars(args).items() if k.startswith("wu_") and v is not None}
    try:
        return Schedule.create(name, given, **warm)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < 1:
            raise argparse.ArgumentTypeError(f"Argument `{name}` must be an integer >= 1. Received: {name}={text!r}")
        return v

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401
        sys.stderr.write(f"lrviz: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lrviz", description="See, run and compare Keras learning-rate schedules.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sp = sub.add_parser("schedule", help="print a schedule as CSV epoch,lr (1-based epochs)",
                        description="Print the LR of a schedule per epoch (1-based, as Keras prints "
                                    "'Epoch 15/40') or per batch, as CSV.",
                        epilog=_schedule_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_schedule_flags(sp)
    sp.add_argument("--epochs", type=_positive_int("epochs"), default=40, help="epochs to print (default 40)")
    sp.add_argument("--train-size", type=_positive_int("train_size"), default=50_000,
                    help="training images, for steps per epoch (default 50000, CIFAR-10)")
    sp.add_argument("--batch-size", type=_positive_int("batch_size"), default=64, help="batch size (default 64)")
    sp.add_argument("--per-batch", action="store_true", help="one row per batch: epoch,batch,step,lr")
    sp.add_argument("--keras-code", action="store_true", help="print the Keras 3 code instead of the table")
    sp.set_defaults(func=cmd_schedule)

    try:  # the training engine registers its own sub-commands
        from lrviz import cli_train
    except ImportError:  # pragma: no cover - only while the engine is being built
        pass
    else:
        cli_train.register(sub)
    return parser


def cmd_schedule(args: argparse.Namespace) -> int:
    schedule = schedule_from_args(args)
    spe = steps_per_epoch_for(args.train_size, args.batch_size)
    if args.keras_code:
        sys.stdout.write(schedule.keras_code(spe))
        return 0
    out = csv.writer(sys.stdout, lineterminator="\n")
    if args.per_batch:
        lrs = schedule.per_step(args.epochs, spe)
        out.writerow(["epoch", "batch", "step", "lr"])
        for step, lr in enumerate(lrs):
            out.writerow([step // spe + 1, step % spe + 1, step, f"{lr:.10g}"])
    else:
        out.writerow(["epoch", "lr"])
        for i, lr in enumerate(schedule.per_epoch(args.epochs, spe)):
            out.writerow([i + 1, f"{lr:.10g}"])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: Any = args.func(args)
    except UsageError as e:
        sys.stderr.write(f"lrviz: error: {e}\n")
        return 2
    except BrokenPipeError:  # `... | head`
        return 0
    return int(result or 0)
