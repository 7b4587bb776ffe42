"""A real, throwaway PostgreSQL server for tests: ``with postgres_server() as url: ...``.

It runs Debian's server binaries (``/usr/lib/postgresql/<version>/bin``, package
``postgresql``, installed by ``scripts/install-system-deps.sh``) in a temporary folder, on a
free TCP port of 127.0.0.1 with its unix socket in that folder and ``trust`` authentication
(or, given a ``password``, SCRAM password authentication over TCP),
and stops it (``pg_ctl stop -m immediate``) and removes the folder afterwards. PostgreSQL
refuses to run as root: as root the folder is given to the ``postgres`` OS user (created by the
Debian package) and every command runs through ``runuser -u postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

__all__ = ["postgres_bin", "postgres_server"]


def postgres_bin() -> Path | None:
    """The newest installed server's bin folder (None if there is none)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server(password: str | None = None) -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL ``postgresql://postgres@127.0.0.1:<port>/postgres``
    (``postgres:<password>@`` when a password is required)."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found; run scripts/install-system-deps.sh")
    as_root = os.geteuid() == 0
    tmp = Path(tempfile.mkdtemp(prefix="lrviz-pg-"))
    data, log = tmp / "data", tmp / "server.log"
    if as_root:
        shutil.chown(tmp, "postgres", "postgres")
    tmp.chmod(0o700)

    def run(*cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if as_root else list(cmd)
        subprocess.run(full, check=True, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)

    port = _free_port()
    auth = ["--auth=trust"]
    if password is not None:
        (tmp / "pwfile").write_text(password + "\n")
        if as_root:
            shutil.chown(tmp / "pwfile", "postgres", "postgres")
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={tmp / 'pwfile'}"]
    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", *auth, "-E", "UTF8", "--no-sync")
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start")
    try:
        user = "postgres" if password is None else f"postgres:{quote(password, safe='')}"
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(Exception):
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)
