"""Tournament job (kind ``"tournament"``): every schedule of a list trained with seeds
``seed .. seed+K-1``, ranked by mean final validation accuracy; built on Optuna. The pure part
(specs, presets, leaderboard, verdict) is :mod:`lrviz.tournament`; this package runs it, one
concern a module:

==============  ============================================================================
module          what it holds
==============  ============================================================================
``config``      :class:`TournamentConfig` (the settings, described once) and :func:`validate`
``job``         :class:`TournamentJob` and its run: study, trials, local workers, the files
``resume``      what a resume takes from its parent (:func:`resume_config`), :func:`preflight`
``storage``     storage URLs and passwords, probing, ``make_storage``, the claim lock, heartbeat
``study``       the settings a study records (:func:`check_study`), trial records, enqueueing
``pool``        how many local workers (:func:`local_workers`), the pool of worker processes
``worker``      the trial worker (``python -m lrviz.jobs.tournament.worker``; :func:`work`)
``read``        the folder read back: :func:`read_tournament`, :class:`TournamentView`
==============  ============================================================================

**Optuna does the bookkeeping.** One study per tournament (``direction="maximize"``), one
trial per (schedule, seed), enqueued with the categorical params ``schedule`` (the schedule's
label) and ``seed``, so Optuna's own tools (``optuna.load_study``, optuna-dashboard) read it.
A trial is an ordinary lrviz training run in the tournament's group (it shows on the Runs page,
opens, compares, resumes); its id is the trial's user attr ``run_id``; the validation accuracy
of each finished epoch is reported as the intermediate value of that (1-based) epoch and the
last one is the trial's value; the seconds of each epoch are user attr ``epoch_time_s``. The study
records the tournament's settings (user attr ``lrviz_settings``: schedules, seeds, epochs, data
settings, prune); a tournament or a worker with other settings is refused, naming the first
difference (:func:`check_study`).

**Who runs the trials.** :meth:`TournamentJob.run` (the tournament's own worker) creates the
study, enqueues the trials (in one transaction: :func:`enqueue_many`) and spawns local
processes ``python -m lrviz.jobs.tournament.worker --storage URL --study NAME --runs-dir DIR
--group ID`` (:func:`worker_command`): ``workers`` of them, at most one per core, per
``WORKER_GPU_MIB`` of free GPU memory and per trial (:func:`local_workers`); each takes waiting
trials until none is left. Any machine that sees the same runs folder (NFS) and the same
storage (PostgreSQL) joins with ``python -m lrviz tournament-worker`` and the same flags. The
job polls once a second: it writes ``status.json`` (``trials_done`` / ``trials_total``,
``best``, ``best_mean``, ``verdict``), ``leaderboard.csv``, ``trials.csv`` and
``verdict.json``; it keeps the local processes alive while trials wait.

**A worker killed mid-trial** stops beating (Optuna heartbeat, ``heartbeat_interval``): after
``grace_period`` its trial is marked failed and ``RetryHeartbeatStaleTrialCallback``
(``RetryFailedTrialCallback``) enqueues it again (up to ``max_retry`` times); the killed run
keeps its folder and every epoch it finished (state ``failed``), and the leaderboard's
``notes`` say ``1 failed, 1 retried``. Optuna 5.0's ``JournalStorage`` has no heartbeat, so the
default storage is SQLite (``study.db`` in the tournament's folder) through ``RDBStorage``.

**The tournament killed** (SIGKILL, out of memory): its workers see it gone before they take
a trial and after every epoch (:func:`tournament_ended`: its pid on this machine, its status
on another), stop their run after that epoch and exit; any read marks the tournament failed,
and it resumes.

**Stop** (``control/stop``, SIGINT/SIGTERM): the job asks every active trial run to stop
(after its current batch; the trial is marked failed with user attr ``stopped``), sends
SIGTERM to its worker processes and waits for them; finished trials are kept. Remote workers
see the stop file and take no new trial.

**Resume** (``parent``: an ended tournament's id): a new tournament on the parent's study and
settings (its own ``workers``). :func:`resume_config` re-validates every setting it inherits
with :func:`validate`, opens only the parent's own ``study.db`` (checked: a regular file, no
symbolic link, an SQLite database holding Optuna's tables and the study; never replaced) or a
storage the caller names again, and refuses a parent with nothing left to run.
:func:`enqueue_missing` enqueues only the (schedule, seed) pairs with no completed, pruned,
waiting or running trial; a pair whose last attempt *stopped* with its model saved continues
from that run (a training resume, user attr ``resume_run``).

**Files**::

    config.json      the settings (TournamentConfig), plus id, created_at, versions
    status.json      state, trials_done, trials_total, running, best, best_mean, verdict, eta_s
                     (lrviz.tournament.eta_seconds; None before the first trial completes),
                     study, storage (password hidden), workers (pids), local_workers,
                     workers_note (why fewer than asked), respawned
    leaderboard.csv  one row per schedule (lrviz.tournament.leaderboard_columns: book_accuracy
                     on cifar10)
    trials.csv       one row per Optuna trial: number, schedule, seed, state, value, run_id, ...
    verdict.json     lrviz.tournament.Verdict as JSON
    study.db         the Optuna study (default storage)
    study.db.claim.lock  taken while a local worker claims a trial (SQLite has no row locks)
    worker-<n>.log   output of each local tournament worker

The names below are this package's API (``from lrviz.jobs.tournament import ...``); the trial
worker is imported from its module, :mod:`lrviz.jobs.tournament.worker` (it imports
:mod:`lrviz.worker`, which imports :mod:`lrviz.jobs`: importing it here would be a cycle).
"""

from lrviz.jobs.tournament.config import (
    SEED_MAX,
    TournamentConfig,
    seeds_of,
    study_name_of,
    tournament_config,
    validate,
)
from lrviz.jobs.tournament.job import POLL_S, TournamentJob
from lrviz.jobs.tournament.pool import TOURNAMENT_PID_ENV, WORKER_GPU_MIB, local_workers, worker_command
from lrviz.jobs.tournament.read import (
    TournamentView,
    read_tournament,
    tournament_ended,
    tournament_of,
    winner_schedule_of,
)
from lrviz.jobs.tournament.resume import ended_tournament, parent_settings_error, preflight, resume_config
from lrviz.jobs.tournament.storage import (
    CONNECT_TIMEOUT_S,
    Heartbeat,
    claim_waiting_trial,
    enqueue_many,
    fail_stale,
    make_storage,
    normalize_storage,
    probe_storage,
    split_password,
    storage_url_of,
    study_file_problem,
)
from lrviz.jobs.tournament.study import (
    TRIAL_COLUMNS,
    check_study,
    enqueue_missing,
    make_pruner,
    record_settings,
    study_settings,
    trial_records,
)
from lrviz.tournament import MAX_TRIALS

__all__ = ["TournamentConfig", "TournamentJob", "TournamentView", "tournament_config", "read_tournament",
           "winner_schedule_of", "make_storage", "fail_stale", "make_pruner", "trial_records", "storage_url_of",
           "study_name_of", "seeds_of", "worker_command", "tournament_ended", "Heartbeat", "POLL_S", "MAX_TRIALS",
           "SEED_MAX", "WORKER_GPU_MIB", "CONNECT_TIMEOUT_S", "local_workers", "resume_config", "preflight",
           "check_study", "record_settings", "study_settings", "enqueue_many", "enqueue_missing",
           "normalize_storage", "probe_storage", "study_file_problem", "ended_tournament", "tournament_of",
           "claim_waiting_trial", "split_password", "parent_settings_error", "TOURNAMENT_PID_ENV", "TRIAL_COLUMNS",
           "validate"]
