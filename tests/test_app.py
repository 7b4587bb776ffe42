"""AppTest of the entry point: navigation over pages/, the explorer as the default page."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_app_starts_on_the_explorer():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Schedule Explorer"
    assert {m.label: m.value for m in at.metric}["Step decay"] == "0.00125"


def test_page_files_are_the_navigation():
    text = (ROOT / "ui" / "navigation.py").read_text()  # the pages app.py navigates (ui.navigation.pages)
    for page in sorted((ROOT / "pages").glob("*.py")):
        assert f'"{page.name}"' in text, f"{page.name} is not in ui/navigation.py's pages"
