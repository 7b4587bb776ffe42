"""What a tournament may take from another before its folder exists: a resume's parent
(:func:`resume_config`: every inherited setting re-validated, only the parent's own ``study.db``
or a storage named again) and a named storage that must answer and hold no other experiment
(:func:`preflight`). The folder is data: nothing in it picks a database or a host."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrviz.errors import FieldError, shown
from lrviz.jobs.tournament.config import KIND, TournamentConfig, seeds_of, settings, validate
from lrviz.jobs.tournament.storage import (
    STUDY_FILE,
    hide_password,
    normalize_storage,
    opened_storage,
    probe_storage,
    study_file_problem,
)
from lrviz.jobs.tournament.study import check_study, missing_pairs
from lrviz.settings import RUN_ID_PATTERN
from lrviz.store import ACTIVE_STATES, RunStore, read_json
from lrviz.tournament import schedule_labels

__all__ = ["ended_tournament", "parent_settings_error", "resume_config", "preflight"]

_INHERITED = tuple(k for k in TournamentConfig.__dataclass_fields__ if k not in ("workers", "parent", "storage",
                                                                                "study"))


def ended_tournament(store: RunStore, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The folder and raw config of the tournament ``run_id`` that a resume continues;
    ``FieldError("parent", ...)`` when there is none, it is still active or its files cannot
    be read (a symbolic link is not read)."""
    try:
        path = store.existing(run_id)
        for name in ("config.json", "status.json"):
            if (path / name).is_symlink():
                raise ValueError(f"{name} is a symbolic link")
        config = read_json(path / "config.json")
        state = store.status(run_id).get("state")
    except (OSError, ValueError):
        raise FieldError("parent", f"the id of a tournament in {store.root.resolve()}", run_id) from None
    if config.get("kind") != KIND:
        raise FieldError("parent", "the id of a tournament", run_id)
    if state in ACTIVE_STATES:
        raise FieldError("parent", "a tournament that has ended (stop it first)", run_id)
    return path, config


def parent_settings_error(parent: str, error: FieldError) -> FieldError:
    """A parent's setting that a new tournament would refuse, as an error about ``parent``."""
    return FieldError("parent", "a tournament whose config.json holds valid settings", parent,
                      hint=f"Its config.json: {error}")


def resume_config(store: RunStore, parent: str, *, workers: int | None = None,
                  storage: str | None = None) -> dict[str, Any]:
    """The validated config of a tournament resuming ``parent``: its settings, re-validated
    with :func:`lrviz.jobs.tournament.config.validate` (a bad one: ``FieldError("parent", ...)``
    quoting it); ``workers`` (default: the parent's); the parent's study, in its own
    ``study.db`` (checked by :func:`study_file_problem`) or in the storage the caller names again
    as ``storage`` (the URL in the parent's config.json is never opened on its word: a folder
    cannot pick the database, nor the host a password goes to). A parent with nothing left to
    run is refused."""
    path, pcfg = ended_tournament(store, parent)
    if workers is None:
        try:
            workers = settings()["workers"].parse(pcfg.get("workers", settings()["workers"].default))
        except FieldError as e:
            raise parent_settings_error(parent, e) from None
    given = None if storage is None else normalize_storage(storage)
    home = _home_study(store, parent, pcfg)
    if home is not None:
        home = home.parent.resolve() / home.name  # the runs folder resolved, never the study file
        url = f"sqlite:///{home / STUDY_FILE}"
        if given is not None and given != url:
            raise FieldError("storage", f"the storage of {parent}'s study ({url}), or none", given)
    else:
        theirs = pcfg.get("storage")
        theirs = hide_password(theirs) if isinstance(theirs, str) else theirs
        if given is None:
            raise FieldError("storage", "named again to resume a tournament whose study is not its own study.db: "
                             f"{parent}'s config.json names {shown(theirs)}; a resume opens only a database named "
                             "on its command line or page", None)
        try:
            same = isinstance(theirs, str) and normalize_storage(theirs, here=False) == given
        except FieldError:
            same = False
        if not same:
            raise FieldError("storage", f"the storage of {parent}'s study, as its config.json names it "
                             f"({shown(theirs)})", given)
        url = given
    candidate = {k: pcfg[k] for k in _INHERITED if k in pcfg}
    candidate.update(kind=KIND, parent=parent, workers=workers, storage=None,
                     study=pcfg.get("study") or pcfg.get("id") or parent)
    try:
        config = validate(candidate)
    except FieldError as e:
        raise parent_settings_error(parent, e) from None
    config["storage"] = url  # checked above: its own study.db (below), or named again and normalized
    if home is not None:
        problem = study_file_problem(home / STUDY_FILE, own=True)
        if problem == "is missing" and home.name == parent:  # it failed before making one: a resume starts it
            if _state_of(path) == "finished":
                raise FieldError("parent", "a tournament with trials left to run", parent,
                                 hint=f"it finished and its {STUDY_FILE} is missing")
            return config
        if problem is not None:
            raise FieldError("parent", "a tournament whose study.db is an Optuna study", parent,
                             hint=f"{home / STUDY_FILE} {problem}; it is left as it is")
    else:
        probe_storage(url)
    _check_left_to_run(config, parent)
    return config


def _state_of(path: Path) -> Any:
    try:
        return read_json(path / "status.json").get("state")
    except (OSError, ValueError):
        return None


def _home_study(store: RunStore, parent: str, pcfg: Mapping[str, Any]) -> Path | None:
    """The folder (in this runs folder) whose ``study.db`` holds ``parent``'s study: its own
    folder when its config names no storage; the folder of an ancestor it resumed when its
    config names that ancestor's ``study.db`` (a resume of a resume); None otherwise (the study
    lives in a storage the caller must name). The path comes from the store, never from the URL."""
    from sqlalchemy.engine import make_url

    storage = pcfg.get("storage")
    if storage is None:
        return store.path(parent)
    try:
        parsed = make_url(storage) if isinstance(storage, str) else None
        db = Path(parsed.database) if parsed is not None and parsed.get_backend_name() == "sqlite" else None
    except Exception:  # noqa: BLE001 - not a URL: no home here
        return None
    if db is None or db.name != STUDY_FILE:
        return None
    lineage, cfg, rid = [], pcfg, parent
    while rid not in lineage and len(lineage) < 1000:
        lineage.append(rid)
        rid = cfg.get("parent")
        if not isinstance(rid, str) or not RUN_ID_PATTERN.match(rid):
            break
        try:
            cfg = read_json(store.existing(rid) / "config.json")
        except (OSError, ValueError):
            break
    if db.parent.name in lineage:
        return store.path(db.parent.name)
    return None


def _check_left_to_run(config: Mapping[str, Any], parent: str) -> None:
    """Open the parent's study: it must hold the study, with the same settings, and something to run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with opened_storage(config["storage"], config) as storage:
            study = optuna.load_study(study_name=config["study"], storage=storage)
            check_study(study, config, config["storage"])
            trials = study.get_trials(deepcopy=False)
    except KeyError:
        raise FieldError("parent", "a tournament whose study exists", parent,
                         hint=f"{hide_password(config['storage'])} holds no study {config['study']!r}") from None
    except FieldError:
        raise
    except Exception as e:  # noqa: BLE001 - an old schema, a damaged database: one line, nothing changed
        raise FieldError("parent", "a tournament whose study can be opened", parent,
                         hint=shown(" ".join(str(e).split()), as_typed=True)) from None
    labels = schedule_labels(config["schedules"])
    if not missing_pairs(trials, labels, seeds_of(config)):
        raise FieldError("parent", "a tournament with trials left to run", parent,
                         hint="every (schedule, seed) has a completed or pruned trial; start a new tournament to "
                              "train them again")


def preflight(config: Mapping[str, Any], store: RunStore) -> dict[str, Any]:
    """The checks a tournament passes before its folder is created
    (:meth:`lrviz.jobs.tournament.job.TournamentJob.prepare`; the CLI calls it first, so that a
    refusal leaves nothing behind): a resume's config (:func:`resume_config`, returned); a named
    storage answers and holds no tournament with other settings under the study's name. Returns
    the settings to update ``config`` with."""
    if config.get("parent") is not None:
        return resume_config(store, config["parent"], workers=config["workers"], storage=config.get("storage"))
    url = config.get("storage")
    if url is None:
        return {}
    probe_storage(url)
    if config.get("study") is not None:
        _check_existing_study(url, config)
    return {}


def _check_existing_study(url: str, config: Mapping[str, Any]) -> None:
    import optuna
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and study_file_problem(Path(parsed.database), own=True) is not None:
        return  # a new file: no study in it yet (probe_storage refused anything else)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with opened_storage(url, config) as storage:
        try:
            study = optuna.load_study(study_name=config["study"], storage=storage)
        except KeyError:
            return  # a new study
        check_study(study, config, url)
