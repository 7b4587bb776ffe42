"""Text read from a run folder, made safe to show: one line, a bounded length.

A run folder may have been written by anyone (DESIGN.md, trust boundary). Whatever shows its
text (a page's Markdown: ``ui/text.py``; a chart's title or legend: :func:`plotly_text`; a table
cell) first makes it one line of at most a few hundred characters, so a 1 MB name cannot flood a
heading or a cell and a line break cannot forge a row.
"""

from __future__ import annotations

import html
import re
from typing import Any

NAME_CHARS = 80  # a run name in a heading, a legend or a table cell
TEXT_CHARS = 400  # an error or a reason in a message
# C0, DEL, C1, the Unicode line separators and the bidirectional overrides (which reorder what is shown)
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\s]+")


def shorten(value: Any, limit: int = TEXT_CHARS) -> str:
    """``value`` as one line (every run of control characters and breaks made one space), cut
    to ``limit`` characters with an ellipsis."""
    s = _BREAKS.sub(" ", str(value)).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def plotly_text(value: Any, limit: int = NAME_CHARS) -> str:
    """``value`` shortened and HTML-escaped for Plotly (its titles, legends and hover text read
    ``<a href>``, ``<b>`` and ``<br>``)."""
    return html.escape(shorten(value, limit), quote=False)
