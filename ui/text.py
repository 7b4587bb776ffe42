"""Text read from a run folder, shown as plain text inside the pages' Markdown.

A run folder may have been written by anyone (DESIGN.md, trust boundary): a name, a dataset, an
error or a phase holding ``![x](http://host/x.png)`` made the browser fetch that URL, ``**bold**``
and links rendered, and a 1 MB name became a 1 MB heading. Everything a page interpolates from a
run's files goes through :func:`plain`: shortened to one line (``lrviz.text.shorten``, whose control-
character rules are the CLI's too: ``lrviz.text.one_line``), then every
ASCII punctuation character backslash-escaped, as CommonMark allows, which also disarms
Streamlit's ``:color[...]``, ``:material/...:`` and ``$math$``. Never put it in a code span
(backslashes show there): a run id in backticks is safe because the store only accepts ids
matching ``RUN_ID_PATTERN``.
"""

from __future__ import annotations

import re
from typing import Any

from lrviz.text import NAME_CHARS, TEXT_CHARS, shorten

__all__ = ["NAME_CHARS", "TEXT_CHARS", "plain"]
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# GitHub-flavoured Markdown links bare URLs even when their punctuation is escaped: a word
# joiner (U+2060, invisible) after the scheme or "www" leaves nothing that reads as a link.
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|file|www)(?=\\[:.])")


def plain(value: Any, limit: int = TEXT_CHARS) -> str:
    """``value`` shortened and escaped, so Markdown shows it character for character."""
    return _AUTOLINK.sub("\\1\u2060", _PUNCT.sub(r"\\\1", shorten(value, limit)))
