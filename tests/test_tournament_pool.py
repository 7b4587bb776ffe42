"""lrviz.jobs.tournament.pool: the exact environment each local worker gets, and how many run by
default, on a CPU and on a GPU whose memory reading is faked (no GPU here)."""

import os
import subprocess

import pytest

from lrviz.jobs.tournament import pool
from lrviz.jobs.tournament.config import tournament_config
from lrviz.jobs.tournament.pool import WorkerPool, local_workers, worker_mem_fraction

H100 = (80_000, 81_559)  # (free, total) MiB as nvidia-smi prints them for an idle H100 80GB


@pytest.fixture
def machine(monkeypatch):
    """16 cores; ``machine(gpu)`` sets the GPU memory reading ((free, total) MiB, or None: no GPU)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 16)

    def set_gpu(gpu):
        monkeypatch.setattr(pool, "_gpu_memory_mib", lambda: gpu)

    for key in ("TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                "LRVIZ_TF_THREADS", "TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH"):
        monkeypatch.delenv(key, raising=False)
    return set_gpu


def _spawned_envs(tmp_path, monkeypatch, n):
    """The environments the pool starts its ``n`` workers with (Popen faked: nothing runs)."""
    envs = []

    class FakePopen:
        def __init__(self, cmd, **kwargs):
            envs.append(kwargs["env"])
            self.pid = 1000 + len(envs)

        def poll(self):
            return None

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    WorkerPool(tmp_path, "sqlite:///x.db", "s", n).fill()
    return envs


def test_each_of_four_workers_on_an_h100_gets_growth_no_preallocation_and_its_memory_share(tmp_path, monkeypatch,
                                                                                            machine):
    machine(H100)
    envs = _spawned_envs(tmp_path, monkeypatch, 4)
    assert len(envs) == 4
    share = 0.9 * 80_000 / 4 / 81_559  # 90% of the free memory, split 4 ways, as a fraction of the total
    for env in envs:
        gpu = {k: env[k] for k in env if k.startswith(("TF_FORCE", "XLA_", "LRVIZ_TF"))}
        assert gpu == {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                       "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{share:.3f}", "LRVIZ_TF_THREADS": "4"}
        assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.221"
        assert env[pool.TOURNAMENT_PID_ENV] == str(os.getpid()) and env["PYTHONUNBUFFERED"] == "1"
        assert env["PYTHONPATH"].split(os.pathsep)[0] == str(pool._PKG_ROOT)


def test_one_worker_keeps_the_frameworks_defaults(tmp_path, monkeypatch, machine):
    machine(H100)
    (env,) = _spawned_envs(tmp_path, monkeypatch, 1)
    shared = {"TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION"}
    assert not shared & set(env)
    assert env["LRVIZ_TF_THREADS"] == "16"


def test_workers_on_a_cpu_get_no_memory_fraction_and_a_users_setting_wins(tmp_path, monkeypatch, machine):
    machine(None)
    envs = _spawned_envs(tmp_path, monkeypatch, 2)
    assert [e.get("XLA_PYTHON_CLIENT_MEM_FRACTION") for e in envs] == [None, None]
    assert [e["XLA_PYTHON_CLIENT_PREALLOCATE"] for e in envs] == ["false", "false"]
    machine(H100)
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.3")
    assert [e["XLA_PYTHON_CLIENT_MEM_FRACTION"] for e in _spawned_envs(tmp_path, monkeypatch, 3)] == ["0.3"] * 3


def test_the_memory_fraction_has_a_floor_a_ceiling_and_needs_the_total():
    assert worker_mem_fraction(2, 80_000, 81_559) == round(0.9 * 40_000 / 81_559, 3)
    assert worker_mem_fraction(16, 8_000, 16_000) == round(2048 / 16_000, 3)  # floor: what one worker needs
    assert worker_mem_fraction(1, 16_000, 16_000) == 0.9  # ceiling: never the whole card
    assert worker_mem_fraction(2, 8_000, None) is None


def test_the_default_worker_count_comes_from_the_gpus_memory_and_is_one_on_a_cpu(machine):
    machine(None)
    assert local_workers(None, 12) == (1, None)
    machine((20_000, 24_000))  # 20,000 MiB free: 9 workers of 2,048 MiB, capped at 8
    assert local_workers(None, 12) == (8, None)
    machine((5_000, 16_000))
    assert local_workers(None, 12) == (2, None)
    assert local_workers(None, 1) == (1, "1 of the 2 worker(s) asked: 1 trial(s) to run")
    machine(H100)
    assert local_workers(3, 12) == (3, None)  # asked: as asked
    assert tournament_config(preset_name="tutorial", limit=100)["workers"] is None  # the setting's default: auto


@pytest.mark.parametrize("asked", [None, 2], ids=["default", "asked"])
def test_the_workers_floors_never_eat_the_gpus_headroom(machine, asked):
    """4,200 MiB free: two workers at their 2,048 MiB floor would leave ~100 MiB for two CUDA
    contexts; one is all that fits with 10% of the free memory kept out of the pools."""
    free = 4_200
    machine((free, 16_000))
    n, _ = local_workers(asked, 12)
    assert n == 1
    pools = n * max(worker_mem_fraction(n, free, 16_000) * 16_000, 2048)
    assert free - pools >= 0.1 * free - 16  # the fraction's rounding (3 decimals of 16,000 MiB)
    machine((4_600, 16_000))  # 10% kept: 4,140 MiB, two floors fit
    assert local_workers(asked, 12)[0] == 2


def test_nvidia_smi_is_read_for_the_emptiest_visible_gpu_with_its_total(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"  # two GPUs: 5,000 MiB free of 16,384 and 30,000 of 81,559
    fake.write_text("#!/bin/sh\nprintf '0, 5000, 16384\\n1, 30000, 81559\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert pool._gpu_memory_mib() == (5_000, 16_384)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert pool._gpu_memory_mib() == (30_000, 81_559)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert pool._gpu_memory_mib() is None
