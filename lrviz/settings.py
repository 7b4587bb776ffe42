"""Settings of a job, described once: default, bounds, help. Validation, CLI flags and page
widgets are all derived from the description.

A job's config is a dataclass whose fields carry a :class:`Setting` in their metadata
(:func:`setting`). A setting is a :class:`lrviz.fields.Field`, the one description of a field
that :class:`lrviz.schedules.Param` (a schedule parameter) is too::

    @dataclass
    class TrainConfig:
        epochs: int = setting(40, "Total epochs to train.", kind="int", low=1, high=100_000)

:func:`settings_of` lists them; :meth:`Setting.parse` checks one value (``FieldError`` naming
the field, the rule and the value); :meth:`Setting.parse_flag` checks text typed on the
command line; :meth:`Setting.widget_help` is what a page shows next to the input.

Config files are JSON, so a number setting takes numbers only, never numeric text (a page's
number input or the CLI's flag parser turns text into numbers first).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from lrviz.errors import FieldError
from lrviz.fields import KINDS, RUN_ID_PATTERN, TEXT_MAX, Field

__all__ = ["Setting", "setting", "settings_of", "defaults_of", "validate_settings", "field_errors", "RUN_ID_PATTERN",
           "KINDS", "TEXT_MAX"]

# A job setting is a Field that takes JSON values (numbers, not numeric text): one description
# of a field for settings and schedule parameters alike (lrviz.fields).
Setting = Field


def setting(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field holding a :class:`Setting` (its name is filled in by :func:`settings_of`)."""
    meta = {"setting": {"default": default, "help": help, **kw}}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def settings_of(config_cls: type) -> dict[str, Setting]:
    """The :class:`Setting` of every field of a config dataclass, in declaration order."""
    out = {}
    for f in dataclasses.fields(config_cls):
        if "setting" in f.metadata:
            out[f.name] = Setting(name=f.name, **f.metadata["setting"])
    return out


def defaults_of(config_cls: type) -> dict[str, Any]:
    return {name: copy.deepcopy(s.default) for name, s in settings_of(config_cls).items()}


def field_errors(settings: Mapping[str, Setting], values: Mapping[str, Any]) -> dict[str, FieldError]:
    """Each value checked on its own against the setting under the same key: the error of every
    field that breaks its rule, by the setting's name (the field a page shows it under). Where a
    validation stops at the first bad field, a form shows all of them at once (keys without a
    setting are skipped)."""
    out: dict[str, FieldError] = {}
    for key, value in values.items():
        spec = settings.get(key)
        if spec is None:
            continue
        try:
            spec.parse(value)
        except FieldError as e:
            out[spec.name] = e
    return out


def validate_settings(config_cls: type, config: Mapping[str, Any], *, what: str,
                      passthrough: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check every setting of ``config`` (defaults filled in); return ``(settings, meta)``.

    ``meta`` holds the keys in ``passthrough`` (what the engine itself writes into a config,
    e.g. ``id``, ``versions``); any other unknown key is an error naming it.
    """
    if not isinstance(config, Mapping):
        raise FieldError("config", "a mapping", config)
    specs = settings_of(config_cls)
    unknown = sorted(set(config) - set(specs) - set(passthrough))
    if unknown:
        raise FieldError(unknown[0], "", config[unknown[0]],
                         message=f"Argument `{unknown[0]}` is not {what} (known: {', '.join(specs)}).")
    cfg = {name: spec.parse(config.get(name, spec.default)) for name, spec in specs.items()}
    meta = {k: config[k] for k in passthrough if k in config}
    return cfg, meta
