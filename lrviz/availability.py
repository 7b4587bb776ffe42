"""Is CIFAR-10 there? A cheap check for the Train page (reads no image data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lrviz.data import HOW_TO_SUPPLY_CIFAR, keras_cache_candidates


@dataclass(frozen=True)
class Availability:
    ok: bool
    message: str


def cifar_availability(archive: str | None = None) -> Availability:
    """Where CIFAR-10 would be read from, or where it was looked for and how to supply it."""
    if archive:
        path = Path(archive).expanduser()
        if path.is_file():
            return Availability(True, f"Archive found: {path} ({path.stat().st_size / 1e6:.1f} MB).")
        if path.is_dir() and (path / "test_batch").exists():
            return Availability(True, f"Extracted batches found in {path}.")
        if path.is_dir():
            return Availability(False, f"{path} is a folder without CIFAR-10 batches (test_batch missing). "
                                       f"{HOW_TO_SUPPLY_CIFAR}")
        return Availability(False, f"Nothing at {path}. {HOW_TO_SUPPLY_CIFAR}")
    for cand in keras_cache_candidates():
        if cand.is_file() or (cand.is_dir() and (cand / "test_batch").exists()):
            return Availability(True, f"Found in the Keras cache: {cand}.")
    looked = "; ".join(str(c) for c in keras_cache_candidates())
    return Availability(False, f"CIFAR-10 is not in the Keras cache (looked in {looked}) and this machine may be "
                               f"offline. {HOW_TO_SUPPLY_CIFAR}")
