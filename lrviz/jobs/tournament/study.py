"""One study, one tournament: the settings a study records (:func:`study_settings`, user attr
``lrviz_settings``) and the check that refuses another experiment (:func:`check_study`); the
study's trials as the leaderboard sees them (:func:`trial_records`, the rows of ``trials.csv``);
and which (schedule, seed) pairs still need a trial (:func:`enqueue_missing`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from lrviz.errors import FieldError, shown
from lrviz.jobs import common
from lrviz.jobs.tournament.config import seeds_of
from lrviz.jobs.tournament.storage import claim_lock, enqueue_many, hide_password
from lrviz.tournament import TrialRecord, schedule_labels, trial_pairs

__all__ = ["STUDY_SETTINGS_ATTR", "EPOCH_TIMES_ATTR", "TRIAL_COLUMNS", "study_settings", "check_study",
           "record_settings", "trial_params", "trial_records", "epoch_times", "trial_rows", "missing_pairs",
           "enqueue_missing", "make_pruner"]

STUDY_SETTINGS_ATTR = "lrviz_settings"
EPOCH_TIMES_ATTR = "epoch_time_s"  # a trial's seconds per epoch, 1-based order (the worker sets it)
TRIAL_COLUMNS = ["number", "schedule", "seed", "state", "value", "epochs_done", "duration_s", "retry", "run_id"]
_STATES = {"COMPLETE": "complete", "RUNNING": "running", "WAITING": "waiting", "PRUNED": "pruned", "FAIL": "failed"}


# --------------------------------------------------------------------------- the settings a study records


def study_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two tournaments the same experiment (recorded in the study as user attr
    ``lrviz_settings``): schedules (configs), seeds, epochs, the data settings, prune."""
    out: dict[str, Any] = {"schedules": list(config["schedules"]), "seeds": seeds_of(config),
                           "epochs": config["epochs"], "prune": config["prune"]}
    out.update({k: config[k] for k in common.DATA_KEYS if k != "seed"})
    return json.loads(json.dumps(out))  # as the study will hand it back


def check_study(study: Any, config: Mapping[str, Any], url: str) -> None:
    """Refuse (``FieldError("study", ...)``) a study that holds another experiment: another
    tournament's settings (the first difference named), or trials of something else than an
    lrviz tournament. Reads only (:func:`record_settings` writes)."""
    attrs = study.user_attrs
    mine = study_settings(config)
    recorded = attrs.get(STUDY_SETTINGS_ATTR)
    where = f"Study {study.study_name!r} in {hide_password(url)}"
    if not isinstance(recorded, dict):  # lrviz before lrviz_settings kept these four
        recorded = {k: attrs[k] for k in ("seeds", "epochs", "dataset") if k in attrs}
        if "schedules" in attrs:
            recorded["schedule labels"] = attrs["schedules"]
        if not recorded and "lrviz_tournament" not in attrs and study.get_trials(deepcopy=False):
            raise FieldError("study", "a new study or one of an lrviz tournament", study.study_name,
                             hint=f"{where} holds trials of something else")
    theirs_mine = {**mine, "schedule labels": schedule_labels(config["schedules"])}
    for key, value in recorded.items():
        if key in theirs_mine and json.dumps(value, sort_keys=True) != json.dumps(theirs_mine[key], sort_keys=True):
            raise FieldError("study", "a new study or one of a tournament with the same settings", study.study_name,
                             hint=f"{where} holds a tournament with {key}={shown(value)}, not "
                                  f"{key}={shown(theirs_mine[key])}")


def record_settings(study: Any, config: Mapping[str, Any]) -> None:
    """Record the tournament's settings in a study that has none (after :func:`check_study`);
    ``schedules`` (labels), ``seeds``, ``epochs`` and ``dataset`` as well, as lrviz always did."""
    if isinstance(study.user_attrs.get(STUDY_SETTINGS_ATTR), dict):
        return
    mine = study_settings(config)
    study.set_user_attr(STUDY_SETTINGS_ATTR, mine)
    study.set_user_attr("schedules", schedule_labels(config["schedules"]))
    study.set_user_attr("seeds", mine["seeds"])
    study.set_user_attr("epochs", mine["epochs"])
    study.set_user_attr("dataset", mine["dataset"])


def make_pruner(config: Mapping[str, Any]) -> Any:
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner() if config.get("prune") else optuna.pruners.NopPruner()


# --------------------------------------------------------------------------- the study's trials


def trial_params(trial: Any) -> dict[str, Any]:
    """A trial's params; for a waiting one, those it was enqueued with (Optuna keeps them in
    ``system_attrs["fixed_params"]`` until a worker suggests them)."""
    return trial.params or trial.system_attrs.get("fixed_params") or {}


def trial_records(trials: list[Any]) -> list[TrialRecord]:
    """Optuna trials as :class:`lrviz.tournament.TrialRecord` (trials without our params skipped)."""
    out = []
    for t in trials:
        params = trial_params(t)
        if "schedule" not in params or "seed" not in params:
            continue
        state = _STATES.get(t.state.name, t.state.name.lower())
        if state == "failed" and t.user_attrs.get("stopped"):
            state = "stopped"
        duration = t.duration.total_seconds() if t.duration is not None else None
        out.append(TrialRecord(t.number, params["schedule"], int(params["seed"]), state,
                               t.value if state == "complete" else None,
                               {int(k): float(v) for k, v in t.intermediate_values.items()}, duration,
                               "failed_trial" in t.system_attrs, t.user_attrs.get("run_id"),
                               epoch_times(t.user_attrs.get(EPOCH_TIMES_ATTR)), _worker(t.user_attrs.get("worker"))))
    return out


def _worker(name: Any) -> str | None:
    """The user attr ``worker`` (``host:pid``, set by the worker that took the trial) or None."""
    return name if isinstance(name, str) and name else None


def epoch_times(seconds: Any) -> dict[int, float]:
    """The user attr ``epoch_time_s`` (seconds of epochs 1, 2, ... as a list) as ``{epoch: s}``;
    anything that is not a finite number >= 0 is left out (a worker of an older lrviz sets none)."""
    if not isinstance(seconds, list):
        return {}
    return {e: float(v) for e, v in enumerate(seconds, start=1)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0}


def trial_rows(records: list[TrialRecord]) -> list[dict[str, Any]]:
    """The rows of ``trials.csv`` (:data:`TRIAL_COLUMNS`)."""
    return [{"number": r.number, "schedule": r.schedule, "seed": r.seed, "state": r.state, "value": r.value,
             "epochs_done": len(r.curve), "duration_s": r.duration_s, "retry": r.retry, "run_id": r.run_id}
            for r in records]


# --------------------------------------------------------------------------- what is left to run


def missing_pairs(trials: list[Any], labels: list[str], seeds: list[int]) -> list[tuple[int, int, Any]]:
    """``(schedule index, seed, last attempt or None)`` of every pair with no completed, pruned,
    waiting or running trial."""
    from optuna.trial import TrialState

    settled = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
    by_pair: dict[tuple[str, int], list[Any]] = {}
    for t in trials:
        params = trial_params(t)
        if set(params) == {"schedule", "seed"}:
            by_pair.setdefault((params["schedule"], params["seed"]), []).append(t)
    out = []
    for i, seed in trial_pairs(len(labels), seeds):
        mine = by_pair.get((labels[i], seed), [])
        if any(t.state in settled for t in mine):
            continue
        out.append((i, seed, max((t for t in mine if t.user_attrs.get("run_id")), key=lambda t: t.number,
                                 default=None)))
    return out


def enqueue_missing(study: Any, storage: Any, url: str, schedules: list[dict], labels: list[str],
                    seeds: list[int]) -> int:
    """Enqueue one trial for every (schedule, seed) that has none completed, pruned, waiting or
    running; return how many. A new study gets them all; a resumed one the rest, each a retry
    of its last attempt: a stopped run with a saved model continues from it (user attr
    ``resume_run``). Optuna's ``skip_if_exists`` would skip failed pairs too."""
    items = []
    for i, seed, last in missing_pairs(study.get_trials(deepcopy=False), labels, seeds):
        attrs: dict[str, Any] = {"schedule_index": i, "schedule_config": schedules[i]}
        if last is not None:
            attrs["resume_run"] = last.user_attrs["run_id"]
        items.append(({"schedule": labels[i], "seed": seed}, attrs))
    with claim_lock(url):  # the retry callback numbers new trials too (under this lock on SQLite)
        enqueue_many(study, storage, items)
    return len(items)
