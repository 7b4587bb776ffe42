"""Text from a run folder is data (the seams issue, item 6): a run name, a dataset, an error, a
phase or a verdict holding Markdown must show as the characters it is, never make the browser
fetch a URL, never render bold or links, and a 1 MB name must not become a 1 MB heading.

The folders are tampered by hand, as someone else could; the pages are opened in Chromium while
a local HTTP server counts every request the Markdown images would make.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_kit import AppServer, wait_app_idle, wait_drawn
from fakes import fabricate_run

pytestmark = pytest.mark.browser


class _Trap(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Trap.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def trap():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Trap.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _evil(url: str, what: str) -> str:
    return f"![{what}]({url}/{what}.png) **bold-{what}** [link-{what}]({url}/{what}) :red[red-{what}]"


def _tamper(path, name: str, **updates) -> None:
    data = json.loads((path / name).read_text())
    data.update(updates)
    (path / name).write_text(json.dumps(data))


@pytest.fixture()
def tampered(tmp_path, trap):
    runs = tmp_path / "runs"
    runs.mkdir()
    finished = fabricate_run(runs, factor=0.25, seed=1)
    failed = fabricate_run(runs, factor=0.5, seed=2, state="stopped")
    (runs / finished / "name.json").write_text(json.dumps({"name": _evil(trap, "name") + " x" * 500_000}))
    _tamper(runs / finished, "config.json", dataset=_evil(trap, "dataset"))
    _tamper(runs / failed, "status.json", state="failed", error=_evil(trap, "error"), phase=_evil(trap, "phase"))
    (runs / failed / "name.json").write_text(json.dumps({"name": _evil(trap, "other")}))
    return runs, finished, failed


TRAP = [""]  # the trap server's URL, for _visit's checks


def _visit(page, url: str, shows: str) -> str:
    """Open ``url``; wait until the page shows ``shows``; its main text."""
    page.goto(url)
    wait_app_idle(page)
    page.wait_for_function("(t) => document.querySelector('[data-testid=\"stMain\"]')?.innerText.includes(t)",
                           arg=shows)
    wait_drawn(page)  # the rest of the page (the comparison's names and charts) has drawn too
    # every image the page holds has been fetched (or failed): a Markdown image would have been asked for
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    # and the DOM has none of the elements the Markdown asked for, on this page
    assert page.locator(f'img[src^="{TRAP[0]}"], a[href^="{TRAP[0]}"]').count() == 0, url
    made_bold = page.evaluate("() => [...document.querySelectorAll('strong')].map(e => e.innerText)"
                              ".filter(t => /^bold-\\w+$/.test(t))")
    assert made_bold == [], url  # "**bold-x**" from a file never becomes <strong>bold-x</strong>
    assert page.locator('[data-testid="stException"]').count() == 0, url
    # ui/text.py puts an invisible word joiner after "http", so that no bare URL becomes a link
    return page.locator('[data-testid="stMain"]').inner_text().replace("\u2060", "")


def test_run_folder_text_shows_as_plain_text(page, tampered, trap, tmp_path):
    runs, finished, failed = tampered
    TRAP[0] = trap
    server = AppServer(runs, tmp_path / "streamlit.log").start()
    try:
        texts = {
            "run": _visit(page, f"{server.url}/runs?run={finished}", "Name this run"),
            "failed": _visit(page, f"{server.url}/runs?run={failed}", "The run failed"),
            "compare": _visit(page, f"{server.url}/runs?compare={finished},{failed}", "Compare 2 runs"),
            "train": _visit(page, f"{server.url}/train", "Train a model"),
        }
    finally:
        server.stop()
    assert _Trap.hits == []  # no Markdown image was fetched
    assert f"![name]({trap}/name.png)" in texts["run"] and f"![dataset]({trap}/dataset.png)" in texts["run"]
    assert f"![error]({trap}/error.png) **bold-error**" in texts["failed"]
    assert "**bold-other**" in texts["compare"]
    assert max(len(t) for t in texts.values()) < 100_000  # the 1 MB name is cut, not shown whole
    assert ":red[red-error]" in texts["failed"]  # Streamlit's colour directive shows as typed


def _own_data(page, url: str, data, shows: str) -> str:
    """On ``url`` (a fresh page), "your own images" with ``data`` typed as its path; once the page
    shows ``shows``: the Markdown made nothing of the folder names; the main text."""
    page.goto(url)
    wait_app_idle(page)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").first.click()
    page.get_by_role("option", name="your own images").click()
    wait_app_idle(page)
    field = page.get_by_label("Your data", exact=True)
    field.fill(str(data))
    field.press("Enter")
    page.wait_for_function("(t) => document.querySelector('[data-testid=\"stMain\"]')?.innerText.includes(t)",
                           arg=shows)
    wait_app_idle(page)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    host = TRAP[0].split("//")[1]
    assert page.locator(f'img[src*="{host}"], a[href*="{host}"]').count() == 0, url
    made_bold = page.evaluate("() => [...document.querySelectorAll('strong')].map(e => e.innerText)"
                              ".filter(t => /^bold-\\w+$/.test(t))")
    assert made_bold == [], url
    assert page.locator('[data-testid="stException"]').count() == 0, url
    return page.locator('[data-testid="stMain"]').inner_text().replace("\u2060", "")


def test_own_data_folder_names_show_as_plain_text(page, trap, tmp_path):
    """A class folder and the data's folder named in Markdown, on the Train and Tournament pages:
    the error that quotes the class, and the line saying what the data holds. A folder name holds
    no "/", so the image's URL is ``http:host:port``, which a browser reads as ``http://host:port/``."""
    from own_data_fixtures import write_class_folder

    TRAP[0] = trap
    host = trap.split("//")[1]
    klass, folder = f"![class](http:{host}) **bold-class**", f"![data](http:{host}) **bold-data**"
    one = write_class_folder(tmp_path / "one", classes=(klass,), per_class=2)
    data = write_class_folder(tmp_path / folder, per_class=6)
    (tmp_path / "runs").mkdir()
    server = AppServer(tmp_path / "runs", tmp_path / "streamlit.log").start()
    try:
        texts = {}
        for name in ("train", "tournament"):
            texts[name, "class"] = _own_data(page, f"{server.url}/{name}", one, "class subfolders")
            texts[name, "data"] = _own_data(page, f"{server.url}/{name}", data, "18 images")
    finally:
        server.stop()
    assert _Trap.hits == []  # no Markdown image was fetched
    for name in ("train", "tournament"):
        assert f"It has 1 ({klass})" in texts[name, "class"], texts[name, "class"]
        assert f"{folder}: 18 images (8x8x3) in 3 classes" in texts[name, "data"], texts[name, "data"]
