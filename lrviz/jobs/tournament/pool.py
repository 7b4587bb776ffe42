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

__all__ = ["WORKER_GPU_MIB", "TOURNAMENT_PID_ENV", "local_workers", "worker_command", "worker_env",
           "worker_mem_fraction", "WorkerPool"]

WORKER_GPU_MIB = 2048  # GPU memory one local worker may take (MiniVGGNet, batch 64: CUDA context + model + batches)
GPU_HEADROOM = 0.1  # of the free GPU memory, left outside the workers' JAX pools (CUDA contexts, cuDNN workspaces)
MAX_DEFAULT_WORKERS = 8  # the default on a GPU: MiniVGGNet at batch 64 keeps a card busy with a few side by side
TOURNAMENT_PID_ENV = "LRVIZ_TOURNAMENT_PID"  # set for the local workers: the pid of the job that spawned them
_PKG_ROOT = Path(__file__).resolve().parents[3]  # the folder holding lrviz/, for the workers' PYTHONPATH


def _gpu_memory_mib() -> tuple[int, int | None] | None:
    """``(free, total)`` memory of the emptiest visible GPU, in MiB (``nvidia-smi``; total None
    where it prints no total); None without a GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return None
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,memory.free,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    wanted = None
    if visible is not None and all(p.strip().isdigit() for p in visible.split(",")):
        wanted = {p.strip() for p in visible.split(",")}
    gpus = []
    for line in out.splitlines():
        index, free, total = ([p.strip() for p in line.split(",")] + ["", ""])[:3]
        if _is_mib(free) and (wanted is None or index in wanted):
            gpus.append((int(float(free)), int(float(total)) if _is_mib(total) else None))
    return min(gpus, key=lambda g: g[0]) if gpus else None


def _is_mib(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


def _gpu_free_mib() -> int | None:
    """The free memory of the emptiest visible GPU, in MiB; None without one."""
    gpu = _gpu_memory_mib()
    return None if gpu is None else gpu[0]


def worker_mem_fraction(n: int, free_mib: int, total_mib: int | None) -> float | None:
    """JAX's ``XLA_PYTHON_CLIENT_MEM_FRACTION`` for each of ``n`` workers sharing one GPU: an equal
    share of its free memory less :data:`GPU_HEADROOM` (CUDA contexts and cuDNN workspaces live
    outside XLA's pool), as a fraction of its total memory (what JAX's fraction is of), but never
    under :data:`WORKER_GPU_MIB` (a worker needs that much) and never over 0.9. None when the total
    is unknown."""
    if not total_mib:
        return None
    share = max((1 - GPU_HEADROOM) * free_mib / max(1, n), WORKER_GPU_MIB)
    return round(min(share / total_mib, 0.9), 3)


def worker_env(base: dict[str, str], n: int, gpu: tuple[int, int | None] | None) -> dict[str, str]:
    """The environment of one of ``n`` local workers, from ``base`` (this process's): the package on
    ``PYTHONPATH``, its slice of the cores, the spawning job's pid, and, when ``n > 1``, the GPU
    shared: TensorFlow grows its memory as needed; JAX does not preallocate 75% of the card and is
    capped at its share (:func:`worker_mem_fraction`; ``gpu``: ``(free, total)`` MiB, None on a
    CPU). A setting already in ``base`` is kept (the user's word wins)."""
    env = dict(base)
    env["PYTHONPATH"] = str(_PKG_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env[TOURNAMENT_PID_ENV] = str(os.getpid())  # the worker leaves when this process is gone
    # N workers share the cores: each gets its slice instead of N x all of them
    env.setdefault("LRVIZ_TF_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    if n > 1:  # N workers share a GPU: none may take all its memory at start (TensorFlow, JAX do)
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        fraction = None if gpu is None else worker_mem_fraction(n, *gpu)
        if fraction is not None:
            env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{fraction:.3f}")
    return env


def local_workers(asked: int | None, trials: int) -> tuple[int, str | None]:
    """How many local worker processes a tournament runs: ``asked``, but at most one per core
    (``os.cpu_count()``), one per ``WORKER_GPU_MIB`` of free GPU memory on a GPU, and one per
    trial to run; and why, when fewer than asked (None otherwise). ``asked`` None (the default):
    as many as the GPU's free memory takes on a GPU (within the same caps), 1 on a CPU.

    The GPU cap counts :data:`WORKER_GPU_MIB` per worker in the free memory less
    :data:`GPU_HEADROOM`: :func:`worker_mem_fraction` never gives a worker less than its floor,
    so a count from all the free memory would let the floors eat the headroom (4,200 MiB free,
    2 workers: 4,096 MiB of pools, ~100 MiB left for two CUDA contexts)."""
    cores = os.cpu_count() or 1
    limits = [(cores, f"{cores} core(s) here (os.cpu_count())")]
    free = _gpu_free_mib()
    gpu_cap = None if free is None else max(1, int((1 - GPU_HEADROOM) * free // WORKER_GPU_MIB))
    if asked is None:
        asked = 1 if gpu_cap is None else min(gpu_cap, MAX_DEFAULT_WORKERS)
    if gpu_cap is not None:
        limits.append((gpu_cap,
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
        self.gpu: tuple[int, int | None] | None | bool = False  # (free, total) MiB at the first spawn

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
        if self.gpu is False:  # read once, before the first worker takes any of it
            self.gpu = _gpu_memory_mib() if self.n > 1 else None
        env = worker_env(dict(os.environ), self.n, self.gpu)
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
