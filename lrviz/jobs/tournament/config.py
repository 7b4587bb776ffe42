"""What a tournament is: its settings (:class:`TournamentConfig`, described once with
:func:`lrviz.settings.setting`) and their rules (:func:`validate`), the same for a new
tournament, a resume's inherited settings and a folder read from disk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lrviz.errors import FieldError
from lrviz.jobs import common
from lrviz.jobs.base import META_KEYS
from lrviz.jobs.tournament.pool import GPU_HEADROOM, MAX_DEFAULT_WORKERS, WORKER_GPU_MIB
from lrviz.jobs.tournament.storage import STORAGE_RULE, normalize_storage
from lrviz.schedules import Schedule
from lrviz.settings import Setting, setting, settings_of, validate_settings
from lrviz.tournament import MAX_TRIALS, TARGET_ACCURACY, default_target, preset, schedule_labels

__all__ = ["TournamentConfig", "KIND", "SETTING_NOUN", "TOURNAMENT_META_KEYS", "SEED_MAX", "settings", "validate",
           "tournament_config", "seeds_of", "study_name_of"]

KIND = "tournament"
SETTING_NOUN = "a tournament setting"  # "Argument `x` is not a tournament setting"
TOURNAMENT_META_KEYS = (*META_KEYS, "preset")  # what the engine writes besides the settings
SEED_MAX = 2**32 - 1  # numpy's and keras.utils.set_random_seed's largest seed
_TUTORIAL = preset("tutorial")


@dataclass
class TournamentConfig(common.DataSettings):
    """A training run's data and optimizer settings, and what the tournament compares."""

    seed: int = setting(1, "First seed: trials use seeds seed, seed+1, ..., seed+seeds-1.", kind="int", low=0,
                        high=SEED_MAX, label="First seed")
    schedules: list = setting(_TUTORIAL["schedules"], "The schedules to compare (registry configs: name, params).",
                              kind="mapping", what="a non-empty list of schedule configs (mappings with a `name`)",
                              cli=False)
    epochs: int = setting(40, "Epochs of every trial.", kind="int", low=1, high=100_000, label="Epochs")
    seeds: int = setting(3, "Seeds per schedule (K): one trial per schedule and seed.", kind="int", low=1, high=100,
                         label="Seeds")
    workers: int | None = setting(None, "Local worker processes running trials side by side (at most one per "
                                  f"core, per {WORKER_GPU_MIB:,} MiB of free GPU memory and per trial; empty: 1 on a "
                                  f"CPU, one per {WORKER_GPU_MIB / 1024:g} GiB of free GPU memory on a GPU "
                                  # "per cent", not "%": argparse formats a help with %
                                  f"({GPU_HEADROOM * 100:g} per cent of it kept free; up to {MAX_DEFAULT_WORKERS}).",
                                  kind="int", low=1, high=64, optional=True, label="Workers")
    storage: str | None = setting(None, "Optuna storage URL (e.g. postgresql://user@host/db for a cluster); "
                                  "empty: SQLite study.db in the tournament's folder. Keep its password in "
                                  "PGPASSWORD or ~/.pgpass (the CLI moves one given in the URL there).", kind="path",
                                  optional=True, label="Storage URL", metavar="URL", what=STORAGE_RULE)
    study: str | None = setting(None, "Optuna study name (empty: the tournament's run id).", kind="path",
                                optional=True, label="Study name", metavar="NAME",
                                what="a study name (one line of 1 to 512 characters)")
    prune: bool = setting(False, "Stop unpromising trials early (Optuna's SuccessiveHalvingPruner on validation "
                                 "accuracy per epoch).", kind="bool", label="Prune")
    target_accuracy: float | None = setting(
        None, "Validation accuracy every schedule is timed to: the leaderboard gives the epochs and seconds of "
        "training until a seed first reaches it, over the seeds that do (empty: "
        f"{TARGET_ACCURACY['digits']:g} on digits, {TARGET_ACCURACY['cifar10']:g} on CIFAR-10).", kind="float", low=0,
        high=1, low_open=True, optional=True, label="Target accuracy", metavar="ACC")
    heartbeat_interval: int = setting(10, "Seconds between a running trial's heartbeats.", kind="int", low=1,
                                      high=3600, cli=False)
    grace_period: int = setting(30, "Seconds without a heartbeat after which a trial counts as failed (and is "
                                    "retried).", kind="int", low=1, high=86_400, cli=False)
    max_retry: int = setting(2, "How often a failed (killed) trial is re-run.", kind="int", low=0, high=100,
                             cli=False)
    parent: str | None = setting(None, "The tournament this one resumes: its study, schedules and settings, "
                                 "running only the trials it has not completed.", kind="run_id", optional=True,
                                 cli=False)


def settings() -> dict[str, Setting]:
    return settings_of(TournamentConfig)


def validate(config: Mapping[str, Any], *, here: bool = True) -> dict[str, Any]:
    """The config normalised (``kind`` set), or ``FieldError`` naming the field, the rule and the
    value. ``here=False`` leaves out what depends on this machine (an installed backend, an
    existing CIFAR-10 archive or SQLite folder): what a folder written elsewhere is read with."""
    if not isinstance(config, Mapping):
        raise FieldError("config", "a mapping", config)
    if config.get("kind", KIND) != KIND:
        raise FieldError("kind", f"'{KIND}' for a tournament", config["kind"])
    schedules = config.get("schedules", _TUTORIAL["schedules"])
    # a list is checked below: the generic checks know mappings only, so they get a stand-in
    cfg, meta = validate_settings(TournamentConfig, {**config, "schedules": {}}, what=SETTING_NOUN,
                                  passthrough=TOURNAMENT_META_KEYS)
    cfg = {**cfg, **meta, "kind": KIND}
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, (list, tuple)) or not schedules:
        raise settings()["schedules"].error(schedules)
    _check_trial_count(len(schedules), cfg["seeds"])  # before 100,000 schedule configs are checked one by one
    if here:
        common.check_data(cfg)
    schedule_labels(schedules)  # FieldError naming schedules[i].<param>, or a duplicate
    cfg["schedules"] = [Schedule.from_config(s).to_config() for s in schedules]
    _check_seed_range(cfg["seed"], cfg["seeds"])
    if cfg["storage"] is not None:
        cfg["storage"] = normalize_storage(cfg["storage"], here=here)
    _check_study_name(cfg["study"])
    if cfg["target_accuracy"] is None:  # recorded: what the leaderboard was timed to stays said
        cfg["target_accuracy"] = default_target(cfg["dataset"])
    return cfg


def tournament_config(schedules: list[Mapping[str, Any]] | None = None, *, preset_name: str | None = None,
                      **settings: Any) -> dict[str, Any]:
    """A validated tournament config (``kind`` set) for :func:`lrviz.runs.start_run`: the
    schedules given, or those of a preset (``"tutorial"``: its 4 schedules and 40 epochs);
    ``settings`` override the rest. ``FieldError`` naming the field otherwise."""
    cfg: dict[str, Any] = {"kind": KIND}
    if preset_name is not None:
        cfg.update(preset(preset_name), preset=preset_name)
    if schedules is not None:
        cfg["schedules"] = schedules
    cfg.update(settings)
    return validate(cfg)


def seeds_of(config: Mapping[str, Any]) -> list[int]:
    return list(range(config["seed"], config["seed"] + config["seeds"]))


def study_name_of(config: Mapping[str, Any]) -> str:
    return config.get("study") or config["id"]


# --------------------------------------------------------------------------- rules that span fields


def _check_trial_count(n_schedules: int, seeds: int) -> None:
    """At most ``MAX_TRIALS`` trials (schedules x seeds); the message says the product."""
    if n_schedules * seeds <= MAX_TRIALS:
        return
    field = "schedules" if n_schedules > MAX_TRIALS else "seeds"
    raise FieldError(field, f"small enough for at most {MAX_TRIALS:,} trials", seeds if field == "seeds" else
                     n_schedules, message=f"Argument `{field}` must keep a tournament at most {MAX_TRIALS:,} trials "
                     f"(schedules × seeds). Received: {n_schedules:,} schedules × {seeds:,} seeds = "
                     f"{n_schedules * seeds:,}")


def _check_seed_range(seed: int, seeds: int) -> None:
    """The last seed ``seed + seeds - 1`` is a seed too: numpy and ``keras.utils.set_random_seed``
    take 0 .. 2**32 - 1."""
    if seed + seeds - 1 > SEED_MAX:
        raise FieldError("seed", f"<= {SEED_MAX - seeds + 1:,} with seeds={seeds}", seed,
                         message=f"Argument `seed` must be <= {SEED_MAX - seeds + 1} with seeds={seeds}: the last "
                                 f"seed, seed + seeds - 1, must be <= {SEED_MAX} (what numpy and "
                                 f"keras.utils.set_random_seed accept). Received: seed={seed}")


def _check_study_name(name: str | None) -> None:
    if name is None:
        return
    if len(name) > 512 or not name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise settings()["study"].error(name)
