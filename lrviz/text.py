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
# A run folder may come from anyone (docs/DESIGN: trust boundary): a name or an error holding
# "\x1b[2J" would clear the terminal, "\x1b]0;...\x07" retitle it, others remap keys or write
# files on some terminals. Escape sequences go whole (their parameters and text too).
_ESCAPES = re.compile(r"""
      (?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f]) [\s\S]*? (?:\x07|\x1b\\|\x9c|\Z)  # OSC DCS SOS PM APC, to their end
    | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?                              # CSI: colours, clear, cursor
    | \x1b [ -/]* [0-~]?                                                  # every other ESC sequence
""", re.VERBOSE)
_SPACES = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]+")  # breaks a line: one space
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # C0, DEL, C1, bidi


def one_line(text: Any) -> str:
    """``text`` safe to print on a terminal, on one line: escape sequences removed whole, each
    run of line or tab breaks made one space, every other C0 and C1 control character, DEL and
    the bidirectional overrides (which reorder what is shown) removed."""
    s = _ESCAPES.sub("", str(text))
    return _CONTROLS.sub("", _SPACES.sub(" ", s))


def shorten(value: Any, limit: int = TEXT_CHARS) -> str:
    """``value`` as :func:`one_line`, every run of white space one space, cut to ``limit``
    characters with an ellipsis."""
    s = " ".join(one_line(value).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def plotly_text(value: Any, limit: int = NAME_CHARS) -> str:
    """``value`` shortened and HTML-escaped for Plotly (its titles, legends and hover text read
    ``<a href>``, ``<b>`` and ``<br>``)."""
    return html.escape(shorten(value, limit), quote=False)
