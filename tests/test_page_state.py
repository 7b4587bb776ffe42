"""The page-state contract (``ui/page_state.py``): every keyed input in ``pages/`` and ``ui/``
keeps its value across page switches (``**KEEP``), and a page's declared state only holds its
own keys. The browser walk over every ordered pair of pages is
``tests/browser/test_page_walk_browser.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Streamlit's inputs that take persist_state (streamlit/elements/widgets/*): buttons, uploaders
# and selections hold no value to keep.
INPUTS = {"selectbox", "number_input", "text_input", "text_area", "toggle", "checkbox", "slider", "radio",
          "segmented_control", "pills", "multiselect", "select_slider", "date_input", "time_input", "color_picker"}


def _keyed_inputs_without_keep(path: Path, root: Path = ROOT) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in INPUTS):
            continue
        names = {k.arg for k in node.keywords}
        spread = any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == "KEEP" for k in node.keywords)
        if "key" in names and not (spread or "persist_state" in names):
            out.append(f"{path.relative_to(root)}:{node.lineno} {node.func.attr}")
    return out


def test_every_keyed_input_keeps_its_value_across_pages():
    files = sorted((ROOT / "pages").glob("*.py")) + sorted((ROOT / "ui").glob("*.py"))
    missing = [m for f in files for m in _keyed_inputs_without_keep(f)]
    assert missing == []


def test_the_check_sees_an_input_without_keep(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("import streamlit as st\ncol = st\ncol.number_input('x', key='tr_x')\n"
                   "st.toggle('y', key='tr_y', **KEEP)\n")
    assert _keyed_inputs_without_keep(bad, tmp_path) == ["probe.py:3 number_input"]


def test_keep_is_streamlits_session_persistence():
    """KEEP must keep a value across pages: "page" scope or nothing would pass the AST check."""
    from ui.page_state import KEEP

    assert KEEP == {"persist_state": "session"}


def test_page_state_refuses_another_pages_keys():
    from ui.page_state import PageState

    with pytest.raises(ValueError, match="must start with 'tr_'"):
        PageState("tr_", {"tr_epochs": 40, "ex_epochs": 40})


@pytest.mark.parametrize("name, query", [("explorer", None), ("train", None), ("runs", "compare"), ("runs", "run"),
                                         ("runs", "lr_find"), ("tournament", None)])
def test_each_page_keeps_its_state_under_its_own_prefix(name, query, runs_dir_with_two, monkeypatch):
    """Every key a page leaves in session state (its inputs' keys included) starts with that page's
    prefix, or is the hand-off store: no page writes another page's keys."""
    from fakes import fabricate_lr_find
    from streamlit.testing.v1 import AppTest

    from lrviz import runs as runs_api
    from ui.page_state import PREFIXES

    runs_dir, (a, b) = runs_dir_with_two
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", runs_dir)
    finder = fabricate_lr_find(runs_dir)
    (runs_dir / a / "model.keras").write_bytes(b"stand-in")  # so its view offers "Continue training"
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=30)
    if query == "compare":
        at.query_params["compare"] = f"{a},{b}"
    elif query:
        at.query_params["run"] = finder if query == "lr_find" else a
    at.run()
    if query == "lr_find":  # its buttons, then the note they leave
        at.button(key="runs_find_apply_steepest").click().run()
    assert not at.exception
    own = PREFIXES[name] + ("_page_",)
    foreign = [k for k in at.session_state.keys() if not k.startswith(own)]
    assert foreign == []
