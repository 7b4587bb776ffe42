"""Logic behind the Schedule Explorer page (no Streamlit here, no math in the page).

* :class:`ExplorerState` -- what the page shows, and its round trip through the URL
  query string (``?c=step;factor=0.5;drop_every=5&c=time_keras2&epochs=40``), so a
  copied link reproduces the view. Garbage in the URL gives warnings and defaults.
* Readouts: LR at a 1-based epoch, first epoch where the LR is <= a threshold, the
  epochs where a stair-shaped schedule drops, and the table of LR per epoch.
* What the page shows while a value is bad: a curve keeps its place with its last valid
  version (:func:`keep_last_valid`), and the readout epoch says which epoch it reads when
  the typed one can't be used (:func:`resolve_readout_epoch`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lrviz.errors import shown
from lrviz.fields import Field
from lrviz.schedules import (
    CIFAR10_TRAIN_SIZE,
    KERAS2_STEPS_PER_EPOCH,
    REGISTRY,
    TUTORIAL_BATCH_SIZE,
    Schedule,
    distinct_labels,
    steps_per_epoch_for,
)

if TYPE_CHECKING:  # pandas is imported where a table is built: the page's first paint needs none
    import pandas as pd

MAX_CURVES = 6
MAX_EPOCHS = 1000
LINK_SAFE = ";=,:"  # kept as they are in a shared link's query values (see ExplorerState.share_link)


def default_curves() -> list[Schedule]:
    """The tutorial's comparison: Keras 2 time-based decay (0.01/40) vs step decay F=0.5, D=5."""
    return [
        Schedule.create("time_keras2", {"lr": 0.01, "decay": 0.01 / 40}),
        Schedule.create("step", {"lr": 0.01, "factor": 0.5, "drop_every": 5}),
    ]


# The explorer's own inputs, described once (lrviz.fields): they read text, as a shared link
# carries them; their defaults are ExplorerState's.
FIELDS = {
    "epochs": Field("epochs", 40, "Epochs drawn.", kind="int", low=1, high=MAX_EPOCHS, reads_text=True),
    "train_size": Field("train_size", CIFAR10_TRAIN_SIZE, "Training images per epoch.", kind="int", low=1,
                        high=100_000_000, reads_text=True),
    "batch_size": Field("batch_size", TUTORIAL_BATCH_SIZE, "Images per batch.", kind="int", low=1, high=1_000_000,
                        reads_text=True),
    "readout_epoch": Field("readout_epoch", 15, "Epoch to read the LR at (1-based).", kind="int", low=1,
                           high=MAX_EPOCHS, reads_text=True),
    "threshold": Field("threshold", 0.001, "LR to find the first epoch at or below.", low=0, low_open=True,
                       reads_text=True),
}


def validate_epochs(value: Any) -> int:
    return FIELDS["epochs"].parse(value)


def validate_train_size(value: Any) -> int:
    return FIELDS["train_size"].parse(value)


def validate_batch_size(value: Any) -> int:
    return FIELDS["batch_size"].parse(value)


def validate_readout_epoch(value: Any, epochs: int) -> int:
    """A 1-based epoch of the ``epochs`` drawn."""
    return dataclasses.replace(FIELDS["readout_epoch"], high=epochs).parse(value)


def validate_threshold(value: Any) -> float:
    return FIELDS["threshold"].parse(value)


@dataclass
class ExplorerState:
    """Everything the explorer shows; epochs are 1-based where people see them."""

    curves: list[Schedule] = field(default_factory=default_curves)
    epochs: int = 40
    train_size: int = CIFAR10_TRAIN_SIZE
    batch_size: int = TUTORIAL_BATCH_SIZE
    readout_epoch: int = 15  # 1-based, as Keras prints "Epoch 15/40"
    threshold: float = 0.001
    log_y: bool = False
    per_batch: bool = False

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch_for(self.train_size, self.batch_size)

    # -- URL round trip --------------------------------------------------------------------

    def to_query(self) -> dict[str, str | list[str]]:
        """Query-string parameters (only those that differ from the defaults, plus curves)."""
        q: dict[str, str | list[str]] = {"c": [encode_curve(c) for c in self.curves]}
        d = ExplorerState()
        for key in ("epochs", "train_size", "batch_size", "readout_epoch", "threshold"):
            if getattr(self, key) != getattr(d, key):
                q[key] = f"{getattr(self, key):g}"
        for key in ("log_y", "per_batch"):
            if getattr(self, key):
                q[key] = "1"
        return q

    def share_link(self, page_url: str | None) -> str:
        """The absolute link that reopens this view (``page_url`` without its query; relative if unknown),
        readable as typed: ``?c=step;factor=0.25&c=time_keras2&epochs=30``. ``;``, ``=``, ``,`` and ``:``
        mean nothing special inside a query value (RFC 3986 allows them there), so they stay as they
        are; ``&``, ``+``, ``#``, ``%`` and spaces, which would change what the link says, are escaped."""
        from urllib.parse import quote, urlencode

        query = urlencode(self.to_query(), doseq=True, quote_via=quote, safe=LINK_SAFE)
        return f"{(page_url or '').split('?')[0]}?{query}"

    @classmethod
    def from_query(cls, query: Mapping[str, Sequence[str]]) -> tuple[ExplorerState, list[str]]:
        """Parse a query (values as lists, like ``st.query_params.to_dict`` with get_all).

        Never raises: each bad piece becomes a warning and its default is used.
        """
        state, warnings = cls(), []
        raw_curves = list(query.get("c", []))
        if raw_curves:
            curves = []
            for text in raw_curves[:MAX_CURVES]:
                try:
                    curves.append(decode_curve(text))
                except ValueError as e:
                    warnings.append(f"Ignored schedule `{text}` from the link: {e}")
            if len(raw_curves) > MAX_CURVES:
                warnings.append(f"The link has {len(raw_curves)} schedules; showing the first {MAX_CURVES}.")
            state.curves = curves or default_curves()
        checks = {
            "epochs": validate_epochs,
            "train_size": validate_train_size,
            "batch_size": validate_batch_size,
            "threshold": validate_threshold,
        }
        for key, check in checks.items():
            if key in query and query[key]:
                try:
                    setattr(state, key, check(query[key][-1]))
                except ValueError as e:
                    warnings.append(f"Ignored `{key}` from the link: {e}")
        if "readout_epoch" in query and query["readout_epoch"]:
            try:
                state.readout_epoch = validate_readout_epoch(query["readout_epoch"][-1], state.epochs)
            except ValueError as e:
                warnings.append(f"Ignored `readout_epoch` from the link: {e}")
        state.readout_epoch = min(state.readout_epoch, state.epochs)
        for key in ("log_y", "per_batch"):
            if key in query and query[key]:
                v = str(query[key][-1]).lower()
                if v in ("1", "true", "0", "false"):
                    setattr(state, key, v in ("1", "true"))
                else:
                    warnings.append(f"Ignored `{key}` from the link: must be 1 or 0. Received: {key}={v}")
        return state, warnings


def encode_curve(schedule: Schedule) -> str:
    """``step;lr=0.01;factor=0.5;drop_every=5`` (only non-default values are written)."""
    spec = schedule.spec
    parts = [spec.name]
    for p in spec.params:
        v = schedule.params[p.name]
        if v != p.parse(p.default):
            parts.append(f"{p.name}={p.format(v)}")
    parts += [f"{f}=1" for f in spec.flags if schedule.params.get(f)]
    if schedule.warmup > 0:
        parts.append(f"warmup={schedule.warmup:g}")
        parts.append(f"warmup_start_factor={schedule.warmup_start_factor:g}")
    return ";".join(parts)


def decode_curve(text: str) -> Schedule:
    """Inverse of :func:`encode_curve`; ``ValueError`` with the registry's message."""
    name, *pairs = str(text).split(";")
    params: dict[str, str] = {}
    warm: dict[str, str] = {}
    for pair in pairs:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got `{pair}`")
        (warm if key in ("warmup", "warmup_start_factor") else params)[key] = value
    return Schedule.create(name.strip(), params, **warm)


# --------------------------------------------------------------------------- while a value is bad


def keep_last_valid(parsed: Sequence[Schedule | None],
                    last_valid: Sequence[Schedule]) -> tuple[list[Schedule], list[bool]]:
    """The curves to show, one per editor, in the editors' order, and which are stale.

    An editor whose values are bad (``None`` in ``parsed``) keeps its place with its last valid
    schedule, so a typo neither drops a curve nor shifts the others' colours (a curve's colour
    is its position), and the share link still carries it.
    """
    curves = [p if p is not None else last for p, last in zip(parsed, last_valid, strict=True)]
    return curves, [p is None for p in parsed]


def stale_note(title: str) -> str:
    """What a readout says while its editor has an error (the error itself is at the input)."""
    return f"{title} has an error: showing its last valid values."


@dataclass(frozen=True)
class ReadoutEpoch:
    """The 1-based epoch the readout shows, and a note when it is not the one typed."""

    epoch: int
    note: str = ""


def resolve_readout_epoch(typed: Any, epochs: int, last_shown: int) -> ReadoutEpoch:
    """Which 1-based epoch to read out when the box holds ``typed``.

    A valid epoch is read as typed. One past the end (Epochs was lowered below it) reads the
    last epoch, and says so; anything else bad keeps the last epoch shown (within ``epochs``).
    The box keeps what was typed, with its error: the page never changes a typed value.
    """
    try:
        return ReadoutEpoch(validate_readout_epoch(typed, epochs))
    except ValueError:
        pass
    try:
        past_end = float(typed) > epochs
    except (TypeError, ValueError):
        past_end = False
    if past_end:
        return ReadoutEpoch(epochs, f"epoch {shown(typed, as_typed=True)} is past the last epoch; "
                                    f"showing epoch {epochs}, the last one")
    epoch = min(max(int(last_shown), 1), epochs)
    return ReadoutEpoch(epoch, f"the readout epoch {shown(typed, as_typed=True)} is not valid; showing epoch {epoch}")


# --------------------------------------------------------------------------- readouts


def format_lr(value: float) -> str:
    """The one way the explorer writes an LR: 6 significant digits (``0.00125``, ``0.00267594``)."""
    return f"{value:.6g}"


def lr_at(schedule: Schedule, epoch_1based: int, steps_per_epoch: int) -> float:
    """LR used during the 1-based ``epoch_1based`` (at its first batch)."""
    return schedule.at_epoch(epoch_1based - 1, steps_per_epoch)


def first_epoch_at_or_below(schedule: Schedule, threshold: float, epochs: int, steps_per_epoch: int) -> int | None:
    """First 1-based epoch, from the schedule's peak on, whose LR (at its first batch) is
    <= ``threshold``; None if none. Searching from the peak keeps a warmup's low start
    from counting as "already decayed"."""
    lrs = schedule.per_epoch(epochs, steps_per_epoch)
    peak = int(np.argmax(lrs))
    hits = np.flatnonzero(lrs[peak:] <= threshold * (1 + 1e-12))
    return int(hits[0]) + peak + 1 if hits.size else None


def threshold_readout(schedule: Schedule, threshold: float, epochs: int, steps_per_epoch: int) -> str:
    """What the readout says about ``threshold``, true for every shape of schedule (LR at each
    1-based epoch's first batch):

    * ``LR ≤ 0.001 from epoch 9 on`` only when it stays at or below from there to the last
      epoch (a warmup's low start before the peak is not what the question is about, so a
      decay after a warmup reads the same);
    * ``LR ≤ 0.001 only at epochs 1, 9, 17, 25 and 33`` for a schedule that rises above it
      again (cyclical, restarts), or with more stretches than that ``only at 10 of 40 epochs
      (first 1, last 40)``;
    * ``LR stays above 0.001 for all 40 epochs`` (or ``from epoch 3 on`` after a warmup that
      started below it).
    """
    lrs = schedule.per_epoch(epochs, steps_per_epoch)
    below = lrs <= threshold * (1 + 1e-12)
    t = format_lr(threshold)
    if not below.any():
        return f"LR stays above {t} for all {epochs} epochs"
    first = first_epoch_at_or_below(schedule, threshold, epochs, steps_per_epoch)
    if first is None:  # only before the peak (a warmup's start)
        return f"LR stays above {t} from epoch {int(np.flatnonzero(below)[-1]) + 2} on"
    if below[first - 1:].all():
        return f"LR ≤ {t} from epoch {first} on"
    return f"LR ≤ {t} only at {_stretches(below)}"


def _stretches(mask: np.ndarray, most: int = 5) -> str:
    """The 1-based epochs where ``mask`` holds, in words: ``epochs 1–2, 9 and from epoch 17 on``
    (up to ``most`` stretches), else ``10 of 40 epochs (first 1, last 40)``."""
    idx = np.flatnonzero(mask)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts, ends = idx[np.r_[0, breaks + 1]] + 1, idx[np.r_[breaks, idx.size - 1]] + 1
    if len(starts) > most:
        return f"{idx.size} of {mask.size} epochs (first {idx[0] + 1}, last {idx[-1] + 1})"
    words = [f"{a}" if a == b else f"{a}–{b}" for a, b in zip(starts, ends)]
    if ends[-1] == mask.size and starts[-1] < ends[-1]:
        words[-1] = f"from epoch {starts[-1]} on"
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return ("epochs " if "–" in words[0] or len(words) > 1 else "epoch ") + text


def drop_epochs(values: np.ndarray) -> np.ndarray:
    """1-based epochs whose LR is lower than the previous epoch's (for stair markers)."""
    v = np.asarray(values, dtype=np.float64)
    return np.flatnonzero(v[1:] < v[:-1] * (1 - 1e-12)) + 2


def curve_labels(curves: Sequence[Schedule]) -> list[str]:
    """Unique, readable legend labels: a schedule's title, and for two of one kind what differs
    (``Step decay (factor=0.25)`` and ``Step decay (factor=0.5)``; see
    :func:`lrviz.schedules.distinct_labels`)."""
    return distinct_labels(curves)


def lr_table(curves: Sequence[Schedule], epochs: int, steps_per_epoch: int) -> pd.DataFrame:
    """One row per 1-based epoch, one column per curve: the LR at the epoch's first batch."""
    import pandas as pd

    data = {"epoch": np.arange(1, epochs + 1)}
    for label, c in zip(curve_labels(curves), curves):
        data[label] = c.per_epoch(epochs, steps_per_epoch)
    return pd.DataFrame(data)


def legacy_decay_readings(lr: float = 0.01, decay: float = 0.01 / 40, epochs: int = 40,
                          steps_per_epoch: int | None = None) -> pd.DataFrame:
    """The three readings of Keras 2's ``decay`` side by side, LR at the last epoch and after it."""
    import pandas as pd

    spe = steps_per_epoch or steps_per_epoch_for(CIFAR10_TRAIN_SIZE, TUTORIAL_BATCH_SIZE)
    rows = []
    for name in ("time_keras2", "time_epoch", "time_recursive"):
        s = Schedule.create(name, {"lr": lr, "decay": decay})
        rows.append({  # the LRs next to the reading: at 800 px a long text column pushed them out of view
            "reading": REGISTRY[name].title,
            f"LR in epoch {epochs}": s.at_step((epochs - 1) * spe, spe),
            f"LR after {epochs} epochs": s.at_step(epochs * spe, spe),
            "what it is": REGISTRY[name].summary,
        })
    return pd.DataFrame(rows)


def per_batch_decay_note(schedule: Schedule, epochs: int, steps_per_epoch: int) -> str | None:
    """For a schedule that counts batches (Keras 2's ``decay``): how far it falls in this run, next
    to how far it falls on the tutorial's CIFAR-10 (782 batches per epoch), and the decay that
    would give the tutorial's curve here. None for every other schedule.

    On digits (1,347 training images, batch 64: 22 batches per epoch) ``decay=0.00025`` takes
    0.01 only to 0.0082 in 40 epochs, where CIFAR-10 reaches 0.00113: the same number barely moves.
    """
    if schedule.spec.time != "step" or "decay" not in schedule.params:
        return None
    cifar = KERAS2_STEPS_PER_EPOCH
    if steps_per_epoch >= cifar:
        return None
    lr0 = schedule.initial_lr()
    here = schedule.at_step(epochs * steps_per_epoch, steps_per_epoch)
    there = schedule.at_step(epochs * cifar, cifar)
    same = schedule.params["decay"] * cifar / steps_per_epoch
    return (f"Keras 2's decay counts batches: with {steps_per_epoch} batches per epoch here, the LR goes from "
            f"{format_lr(lr0)} to {format_lr(here)} in {epochs} epochs, where the tutorial's CIFAR-10 ({cifar:,} "
            f"batches per epoch) reaches {format_lr(there)}. decay = {format_lr(same)} gives the tutorial's curve, "
            "epoch by epoch, on this data.")


def with_param(schedule: Schedule, **changes: Any) -> Schedule:
    """A copy of ``schedule`` with some parameters changed (validated)."""
    params = dict(schedule.params)
    warm = {"warmup": schedule.warmup, "warmup_start_factor": schedule.warmup_start_factor}
    for k, v in changes.items():
        (warm if k in warm else params)[k] = v
    return Schedule.create(schedule.name, params, **warm)


def same_lr_groups(schedules: Sequence[Schedule], epochs: int, steps_per_epoch: int = 10,
                   horizon: int = 1000) -> list[tuple[list[int], int | None]]:
    """Schedules that set the same LR at every batch of ``epochs`` epochs (so a run of that length
    cannot tell them apart: a step decay with D=5 is constant for 4 epochs), as groups of indices of
    two or more, each with the 1-based epoch where its curves first part (None: not within
    ``horizon`` epochs)."""
    n = max(int(epochs), 1)
    steps = np.arange(n * steps_per_epoch)
    curves = [s.at_steps(steps, steps_per_epoch) for s in schedules]
    groups: list[list[int]] = []
    for i, curve in enumerate(curves):
        for g in groups:
            if np.allclose(curves[g[0]], curve, rtol=1e-12, atol=0):
                g.append(i)
                break
        else:
            groups.append([i])
    out = []
    long = np.arange(horizon * steps_per_epoch)
    for g in (g for g in groups if len(g) > 1):
        longer = np.array([schedules[i].at_steps(long, steps_per_epoch) for i in g])
        differ = np.flatnonzero(~np.all(np.isclose(longer, longer[0], rtol=1e-12, atol=0), axis=0))
        out.append((g, int(differ[0] // steps_per_epoch) + 1 if len(differ) else None))
    return out


__all__ = [
    "same_lr_groups", "ExplorerState", "default_curves", "encode_curve", "decode_curve", "lr_at", "FIELDS",
    "first_epoch_at_or_below",
    "threshold_readout", "per_batch_decay_note",
    "drop_epochs", "curve_labels", "lr_table", "legacy_decay_readings", "with_param", "keep_last_valid",
    "stale_note", "ReadoutEpoch", "resolve_readout_epoch", "format_lr",
]
