"""The tournament's local worker processes: how many this machine takes
(:func:`local_workers`: at most one per core, per :data:`WORKER_GPU_MIB` of free GPU memory and
per trial), and the pool that keeps them running while trials wait (:class:`WorkerPool`). Each is
``python -m lrviz.jobs.tournament.worker`` (:func:`worker_command`), the engine's trial worker;
another machine joins with ``python -m lrviz tournament-worker`` and the same flags."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["WORKER_GPU_MIB", "TOURNAMENT_PID_ENV", "local_workers", "worker_command", "WorkerPool"]

WORKER_GPU_MIB = 2048  # GPU memory one local worker may take (MiniVGGNet, batch 64: CUDA context + model + batches)
TOURNAMENT_PID_ENV = "LRVIZ_TOURNAMENT_PID"  # set for the local workers: the pid of the job that spawned them
_PKG_ROOT = Path(__file__).resolve().parents[3]  # the folder holding lrviz/, for the workers' PYTHONPATH


def _gpu_free_mib() -> int | None:
    """The free memory of the emptiest visible GPU, in MiB (``nvidia-smi``); None without one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return None
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    wanted = None
    if visible is not None and all(p.strip().isdigit() for p in visible.split(",")):
        wanted = {p.strip() for p in visible.split(",")}
    free = []
    for line in out.splitlines():
        index, _, mib = (p.strip() for p in line.partition(","))
        if mib.replace(".", "", 1).isdigit() and (wanted is None or index in wanted):
            free.append(int(float(mib)))
    return min(free) if free else None


def local_workers(asked: int, trials: int) -> tuple[int, str | None]:
    """How many local worker processes a tournament runs: ``asked``, but at most one per core
    (``os.cpu_count()``), one per ``WORKER_GPU_MIB`` of free GPU memory on a GPU, and one per
    trial to run; and why, when fewer than asked (None otherwise)."""
    cores = os.cpu_count() or 1
    limits = [(cores, f"{cores} core(s) here (os.cpu_count())")]
    free = _gpu_free_mib()
    if free is not None:
        limits.append((max(1, free // WORKER_GPU_MIB),
                       f"{free:,} MiB of free GPU memory at {WORKER_GPU_MIB:,} MiB per worker"))
    limits.append((max(1, trials), f"{trials:,} trial(s) to run"))
    n, why = asked, None
    for cap, reason in limits:
        if cap < n:
            n, why = cap, f"{cap} of the {asked} worker(s) asked: {reason}"
    return n, why


def worker_command(url: str, study: str, runs_dir: Path | str, group: str) -> list[str]:
    """The command line of a tournament worker: the engine's module
    (:mod:`lrviz.jobs.tournament.worker`); ``python -m lrviz tournament-worker`` takes the same flags."""
    return [sys.executable, "-m", "lrviz.jobs.tournament.worker", "--storage", url, "--study", study,
            "--runs-dir", str(runs_dir), "--group", group]


class WorkerPool:
    """The tournament's local worker processes, started by :meth:`fill` while trials wait; dead ones are replaced
    (at most ``3 x workers`` replacements: a worker that dies at start is a bug, not bad luck)."""

    def __init__(self, path: Path, url: str, study: str, n: int):
        self.path, self.url, self.study, self.n = path, url, study, n
        self.procs: list[subprocess.Popen] = []
        self.respawned = 0

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def exhausted(self) -> bool:
        return self.respawned >= 3 * self.n

    def fill(self) -> None:
        missing = self.n - len(self.alive())
        for _ in range(missing):
            if self.procs:
                if self.exhausted():
                    return
                self.respawned += 1
            self.procs.append(self._spawn(len(self.procs) + 1))

    def _spawn(self, index: int) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(_PKG_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONUNBUFFERED"] = "1"
        env[TOURNAMENT_PID_ENV] = str(os.getpid())  # the worker leaves when this process is gone
        # N workers share the cores: each gets its slice instead of N x all of them
        env.setdefault("LRVIZ_TF_THREADS", str(max(1, (os.cpu_count() or 1) // self.n)))
        if self.n > 1:  # N workers share a GPU: none may take all its memory at start (TensorFlow, JAX do)
            env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        cmd = worker_command(self.url, self.study, self.path.parent.resolve(), self.path.name)
        with open(self.path / f"worker-{index}.log", "ab") as log:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env, close_fds=True)

    def pids(self) -> list[int]:
        return [p.pid for p in self.alive()]

    def terminate(self) -> None:
        for p in self.alive():
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 120.0) -> None:
        """Wait for every worker; SIGKILL those still there after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
