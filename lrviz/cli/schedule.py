"""``python -m lrviz schedule``, and the schedule flags every command shares.

Schedule flags are generated from :data:`lrviz.schedules.REGISTRY` (``--factor``,
``--drop-every``, ...). Bad values print one line ``lrviz: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import csv
import sys

from lrviz.cli.common import UsageError, positive_int
from lrviz.errors import keras_message
from lrviz.schedules import FLAG_HELP, REGISTRY, WARMUP_PARAMS, Schedule, steps_per_epoch_for

__all__ = ["add_schedule_flags", "schedule_from_args", "register", "cmd_schedule"]


def _schedule_help() -> str:
    lines = ["schedules and their parameters (flag: default):"]
    for spec in REGISTRY.values():
        flags = ", ".join(f"{p.flag} {p.format(p.default)}" for p in spec.params)
        flags += "".join(f", --{f.replace('_', '-')}" for f in spec.flags)
        lines.append(f"  {spec.name:16s} {spec.title}: {flags}")
    return "\n".join(lines)


def _grouped_help(entries: list[tuple[str, str]]) -> str:
    """One flag's help over the schedules that take it: ``(schedule, help)`` pairs, the
    schedules with the same help text named together (``--lr`` is the initial LR of nine
    schedules and the peak LR of cosine)."""
    groups: dict[str, list[str]] = {}
    for schedule, text in entries:
        groups.setdefault(text, []).append(schedule)
    if len(groups) == 1:
        ((text, names),) = groups.items()
        return f"{text} Schedules: {', '.join(names)}."
    return " | ".join(f"{', '.join(names)}: {text}" for text, names in groups.items())


def add_schedule_flags(parser: argparse.ArgumentParser, default_schedule: str | None = "step",
                       default_words: str | None = None) -> None:
    """Add ``--schedule`` plus one flag per registry parameter (union over all schedules), each
    with its parameter's help, rule and default (:meth:`Param.cli_help`).

    Values are kept as strings and validated by :meth:`Schedule.create`, so the error
    message is the registry's (it names the field, the rule and the value). ``default_words``
    says what no ``--schedule`` means where the default is not a fixed name (``train``: step
    decay, or the parent's schedule with ``--resume``).
    """
    g = parser.add_argument_group("schedule", "flags of the chosen schedule; others are rejected")
    g.add_argument("--schedule", default=default_schedule, choices=None, metavar="NAME",
                   help=f"One of: {', '.join(REGISTRY)}. Default: {default_words or default_schedule}.")
    entries: dict[str, list[tuple[str, str]]] = {}
    for spec in REGISTRY.values():
        for p in spec.params:
            entries.setdefault(p.name, []).append((spec.name, p.cli_help()))
        for f in spec.flags:
            entries.setdefault(f, []).append((spec.name, f"{FLAG_HELP.get(f, '')} Default: off.".strip()))
    flags = {f for s in REGISTRY.values() for f in s.flags}
    for name, found in entries.items():
        if name in flags:
            g.add_argument("--" + name.replace("_", "-"), dest=f"sp_{name}", action="store_const", const=True,
                           default=None, help=_grouped_help(found))
        else:
            g.add_argument("--" + name.replace("_", "-"), dest=f"sp_{name}", default=None, metavar="V",
                           help=_grouped_help(found))
    for p in WARMUP_PARAMS:
        g.add_argument(p.flag, dest=f"wu_{p.name}", default=None, metavar="V", help=f"{p.cli_help()} Any schedule.")


def schedule_from_args(args: argparse.Namespace) -> Schedule:
    """Build the :class:`Schedule` the flags describe; ``UsageError`` on bad input."""
    name = args.schedule
    if name not in REGISTRY:
        raise UsageError(keras_message("schedule", f"one of {', '.join(REGISTRY)}", name))
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


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("schedule", help="print a schedule as CSV epoch,lr (1-based epochs)",
                        description="Print the LR of a schedule per epoch (1-based, as Keras prints "
                                    "'Epoch 15/40') or per batch, as CSV.",
                        epilog=_schedule_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_schedule_flags(sp)
    sp.add_argument("--epochs", type=positive_int("epochs"), default=40, help="epochs to print (default 40)")
    sp.add_argument("--train-size", type=positive_int("train_size"), default=50_000,
                    help="training images, for steps per epoch (default 50000, CIFAR-10)")
    sp.add_argument("--batch-size", type=positive_int("batch_size"), default=64, help="batch size (default 64)")
    sp.add_argument("--per-batch", action="store_true", help="one row per batch: epoch,batch,step,lr")
    sp.add_argument("--keras-code", action="store_true", help="print the Keras 3 code instead of the table")
    sp.set_defaults(func=cmd_schedule)


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
