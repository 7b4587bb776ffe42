"""lrviz as an installable package: the wheel ``pip`` builds from this checkout holds every lrviz
module, requires exactly requirements.txt, and installs a ``lrviz`` command equal to
``python -m lrviz`` (run from outside the checkout, so only the installed copy can answer)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines):
    return sorted(str(Requirement(line.split("#")[0].strip())) for line in lines
                  if line.split("#")[0].strip())


def test_pip_installs_lrviz_with_its_requirements_and_the_lrviz_command(tmp_path):
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), str(ROOT)], check=True, env=env, cwd=tmp_path, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("lrviz-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(info).decode()
        entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode()
    ours = {str(p.relative_to(ROOT)) for p in (ROOT / "lrviz").rglob("*.py")}
    assert ours <= names and not any(n.startswith(("ui/", "pages/", "tests/")) for n in names)
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")]
    assert _requirements(requires) == _requirements((ROOT / "requirements.txt").read_text().splitlines())
    assert "lrviz = lrviz.cli:main" in entry_points
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, env=env, cwd=tmp_path, timeout=300)
    args = ["schedule", "--schedule", "step", "--factor", "0.25", "--epochs", "12"]
    clean = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    installed = subprocess.run([str(target / "bin" / "lrviz"), *args], capture_output=True, text=True, timeout=120,
                               cwd=tmp_path, env={**clean, "PYTHONPATH": str(target)})
    here = subprocess.run([sys.executable, "-m", "lrviz", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=clean)
    assert installed.returncode == here.returncode == 0, installed.stderr
    assert installed.stdout == here.stdout and "0.000625" in here.stdout  # epoch 10 at F=0.25, D=5
    bad = subprocess.run([str(target / "bin" / "lrviz"), "schedule", "--factor", "abc"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env={**clean, "PYTHONPATH": str(target)})
    assert bad.returncode == 2 and bad.stderr.startswith("lrviz: error: ") and len(bad.stderr.splitlines()) == 1
    assert "usage: lrviz " in subprocess.run([str(target / "bin" / "lrviz"), "--help"], capture_output=True,
                                             text=True, timeout=120, cwd=tmp_path,
                                             env={**clean, "PYTHONPATH": str(target)}).stdout
