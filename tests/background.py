"""Child-process checks that run beside the serial suite, on the machine's other core.

A few tests run a child Python (the engine's tests again on JAX, the GPU bench's dry run): mostly
single-threaded import and XLA compile time, during which the suite used to wait. Such a test
declares its child as a ``BackgroundJob`` and carries ``@pytest.mark.background(JOB)``: the
session starts the children of the selected tests before its first test (tests/conftest.py), one
after another, niced so that the suite keeps its core, and moves those tests to the end, where
``JOB.result()`` waits for the child (most often long finished) and returns what
``subprocess.run(..., capture_output=True, text=True, timeout=...)`` returned: the same
``CompletedProcess`` to assert on, or the same ``subprocess.TimeoutExpired``, within the same
timeout (counted from the child's start). A job that the session did not start (its test not
marked, say) is started by ``result()`` itself, which then waits, as the test used to.

Each job gets its own fresh folder (a ``tmp_path`` of its own) and its environment is copied
before the first test runs, so no test's ``monkeypatch`` of ``os.environ`` can leak into it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NICE = 10  # the suite's own processes first; the child fills the idle core


@dataclass
class Command:
    """What ``subprocess.run`` was called with."""

    argv: list[str]
    env: dict[str, str]
    timeout: float
    cwd: Path | str | None = None


class BackgroundJob:
    """``make(folder)`` writes whatever the child needs into ``folder`` and returns its Command."""

    def __init__(self, name: str, make: Callable[[Path], Command]):
        self.name, self.make = name, make
        self.logs: Path | None = None  # the child's stdout.txt and stderr.txt
        self.folder: Path | None = None
        self.command: Command | None = None
        self.proc: subprocess.Popen | None = None
        self._outcome: subprocess.CompletedProcess | BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()  # no child starts after ``kill``
        self._cancelled = False

    def __repr__(self) -> str:
        return f"BackgroundJob({self.name!r})"

    # -- the scheduler's side ------------------------------------------------------------
    def prepare(self, folder: Path) -> None:
        """In the main thread, before any test: its folder, its files, its environment copied."""
        self.logs = Path(folder)
        self.folder = self.logs / "work"  # the child's tmp_path: empty but for what ``make`` writes
        self.folder.mkdir()
        try:
            self.command = self.make(self.folder)
            self.command.env = dict(self.command.env)
        except Exception as e:  # noqa: BLE001 - the test that reads this job fails with it, not the session
            self._outcome = e
            self._done.set()

    def run(self) -> None:
        """Start the child and wait for it (the scheduler's thread, or ``result`` run alone)."""
        if self._done.is_set():  # its setup failed
            return
        c = self.command
        out, err = self.logs / "stdout.txt", self.logs / "stderr.txt"
        try:
            with open(out, "wb") as fo, open(err, "wb") as fe:
                with self._lock:
                    if self._cancelled:
                        raise RuntimeError(f"{self.name}: cancelled before it started (the session ended)")
                    self.proc = subprocess.Popen(["nice", "-n", str(NICE), *c.argv], stdout=fo, stderr=fe,
                                                 stdin=subprocess.DEVNULL, env=c.env, cwd=c.cwd,
                                                 start_new_session=True)
                try:
                    rc = self.proc.wait(timeout=c.timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    self.proc.wait()
                    self._outcome = subprocess.TimeoutExpired(c.argv, c.timeout, output=_read(out),
                                                              stderr=_read(err))
                    return
            self._outcome = subprocess.CompletedProcess(c.argv, rc, _read(out), _read(err))
        except BaseException as e:  # noqa: BLE001 - handed to the test that reads it
            self._outcome = e
        finally:
            self._done.set()

    def kill(self) -> None:
        """The child and whatever it started in its session."""
        with self._lock:
            self._cancelled = True
            p = self.proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- the test's side -----------------------------------------------------------------
    def result(self) -> subprocess.CompletedProcess:
        """What ``subprocess.run`` returned, or its ``TimeoutExpired`` raised."""
        if self.folder is None:  # no scheduler in this session: run it here, now
            import tempfile

            self.prepare(Path(tempfile.mkdtemp(prefix=f"lrviz-{self.name}-")))
            self.run()
        self._done.wait()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome


def _read(path: Path) -> str:
    return path.read_bytes().decode(errors="replace")


class Scheduler:
    """Runs the jobs one after another in a daemon thread; ``stop`` kills what is left."""

    def __init__(self, jobs: list[BackgroundJob]):
        self.jobs = jobs
        self.thread = threading.Thread(target=self._run_all, name="background-jobs", daemon=True)

    def start(self) -> Scheduler:
        self.thread.start()
        return self

    def _run_all(self) -> None:
        for job in self.jobs:
            job.run()

    def stop(self) -> None:
        for job in self.jobs:
            job.kill()
        self.thread.join(timeout=30)
