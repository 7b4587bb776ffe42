"""Page state that survives navigation: one namespace per page, initialised in one place.

Streamlit deletes a widget's value at the end of every run that did not draw it. A page's form
was therefore gone as soon as the user had looked at another page, and the keys it read raised
``KeyError: st.session_state has no key "tr_s_name"`` (Train -> Runs -> Train). The contract:

* each page owns the keys that start with its prefix (``ex_`` explorer, ``tr_`` Train, ``runs_``
  and ``cmp_`` Runs, ``tn_`` Tournament) and declares their defaults once, in a
  :class:`PageState`; its ``init()`` runs at the top of every run and sets only the keys that
  are missing, so every key the page reads exists whatever the last run drew;
* every input is drawn with ``**KEEP``: Streamlit's own ``persist_state="session"``, which keeps
  what the user left in it while other pages are shown (``tests/test_page_state.py`` checks that
  no keyed input in ``pages/`` or ``ui/`` goes without it);
* a page never writes another page's keys: hand-offs ("Use the winner" from the Tournament to
  Train, an LR range test curve to the explorer) go through :func:`send` and :func:`receive`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

S = st.session_state

PREFIXES = {"explorer": ("ex_",), "train": ("tr_",), "runs": ("runs_", "cmp_"), "tournament": ("tn_",)}
KEEP: dict[str, Any] = {"persist_state": "session"}  # pass to every keyed input: st.number_input(..., **KEEP)
_INBOX = "_page_inbox"  # page -> {topic: [values]}: hand-offs waiting for their page


class PageState:
    """A page's keys and their defaults, declared once.

    ``defaults`` maps a key (with the page's prefix) to its value, or to a function that
    computes it (called only when the key is missing).
    """

    def __init__(self, prefix: str, defaults: Mapping[str, Any | Callable[[], Any]]):
        bad = [k for k in defaults if not k.startswith(prefix)]
        if bad:
            raise ValueError(f"Keys of page state {prefix!r} must start with {prefix!r}. Received: {bad}")
        self.prefix = prefix
        self.defaults = dict(defaults)

    def init(self) -> None:
        """Set every missing key to its default; keys that exist keep their value."""
        for key, default in self.defaults.items():
            if key not in S:
                S[key] = default() if callable(default) else default


def send(page: str, topic: str, value: Any) -> None:
    """Leave ``value`` for ``page`` (its next run takes it with :func:`receive`)."""
    S.setdefault(_INBOX, {}).setdefault(page, {}).setdefault(topic, []).append(value)


def receive(page: str, topic: str) -> list[Any]:
    """Take what other pages left for ``page`` under ``topic`` (oldest first); empty if nothing."""
    return S.get(_INBOX, {}).get(page, {}).pop(topic, [])


_SHARED = "_page_shared"  # topic -> the value a page publishes for the others to read


def publish(topic: str, value: Any) -> None:
    """Make ``value`` readable by every page (e.g. the explorer's curves, offered by Train)."""
    S.setdefault(_SHARED, {})[topic] = value


def published(topic: str, default: Any = None) -> Any:
    """What a page published under ``topic``, else ``default``."""
    return S.get(_SHARED, {}).get(topic, default)
