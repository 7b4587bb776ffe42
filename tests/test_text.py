"""Text from run folders (``lrviz/text.py``, ``ui/text.py``), checked against an independent
CommonMark parser (markdown-it-py, which Streamlit's dependency rich brings): what it renders
from the escaped text is the original text, character for character, with no element at all."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from lrviz.text import NAME_CHARS, plotly_text, shorten
from ui.text import plain

MD = MarkdownIt("commonmark")
EVIL = ["![x](http://host/x.png)", "**bold** _it_ `code`", "[link](http://host/)", "<img src=x onerror=alert(1)>",
        "# heading", "- item", "1. item", "> quote", "| a | b |", ":red[red] :material/home: $x^2$", "a\\*b"]


def _rendered(text: str) -> str:
    out = MD.render(text).strip()
    m = re.fullmatch(r"<p>(.*)</p>", out, re.S)
    assert m, out  # one paragraph, nothing else
    return m.group(1)


def test_markdown_renders_the_characters_not_the_markup():
    for text in EVIL:
        assert _rendered(plain(text)).replace("\u2060", "") == html.escape(text, quote=False)


@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1, max_size=60))
def test_any_ascii_text_renders_as_itself(text):
    text = text.strip()
    if text:
        rendered = _rendered(plain(text)).replace("\u2060", "")
        assert html.unescape(rendered) == " ".join(text.split())
        assert "<" not in rendered  # no element: no image, link, emphasis or code


def test_bare_urls_do_not_read_as_links():
    assert "http\u2060\\:" in plain("see http://host/x") and "www\u2060\\." in plain("www.host.org")


def test_shorten_makes_one_bounded_line():
    assert shorten("a\nb\r\n\tc\x1b[2J\u202e") == "a b c"  # the escape sequence goes whole (lrviz.text.one_line)
    long = shorten("x" * 1_000_000, NAME_CHARS)
    assert len(long) == NAME_CHARS and long.endswith("…")


def test_plotly_text_escapes_its_tags():
    assert plotly_text('<a href="h">x</a><br>') == '&lt;a href="h"&gt;x&lt;/a&gt;&lt;br&gt;'
