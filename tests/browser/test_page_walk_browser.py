"""Every page after every other page, in one browser session (the seams issue, item 1).

Streamlit deletes the state of any widget a run did not draw, so a page visited again used to
raise ``KeyError: st.session_state has no key "tr_s_name"`` (Train -> Runs -> Train) or
``"ex_0_name"`` (Explorer -> Runs -> Explorer). The walk below visits the four pages in an order
that contains every ordered pair (a circuit of the complete directed graph on four pages),
clicking the navigation as a user would, first with no run and then while a run is training. On
every visit: no exception on the page, and each form shows the values the user left there.
"""

from __future__ import annotations

import itertools

import pytest
from browser_kit import wait_app_idle
from train_page import set_number, wait_until

from lrviz import runs as runs_api

pytestmark = pytest.mark.browser

PAGES = {"explorer": "Schedule Explorer", "train": "Train", "runs": "Runs", "tournament": "Tournament"}
TITLES = {"explorer": "Schedule Explorer", "train": "Train a model", "runs": "Runs",
          "tournament": "Schedule tournament"}  # each page's h1: the new page is drawn
# A circuit through every ordered pair of the four pages (each of the 12 pairs exactly once).
WALK = ["explorer", "train", "runs", "tournament", "explorer", "runs", "train", "tournament", "runs",
        "explorer", "tournament", "train", "explorer"]
# What the user types on each page, and reads back on every later visit (label -> value).
LEFT = {"explorer": {"Epochs": "33"}, "train": {"Epochs": "7", "Batch size": "32"},
        "tournament": {"Seeds": "4"}}


def test_walk_covers_every_ordered_pair():
    pairs = set(zip(WALK, WALK[1:]))
    assert pairs == set(itertools.permutations(PAGES, 2))


def _go(page, name: str) -> None:
    # the navigation is at the top of the page (app.py: st.navigation(position="top"))
    page.locator('[data-testid="stTopNavLink"]', has_text=PAGES[name]).first.click()
    page.locator("h1", has_text=TITLES[name]).first.wait_for()
    wait_app_idle(page)


def _problems(page, name: str) -> list[str]:
    out = []
    for label, value in LEFT.get(name, {}).items():
        box = page.get_by_label(label, exact=True)
        try:  # a page draws its inputs a moment after the run's status widget goes (placeholders first)
            wait_until(lambda b=box, v=value: b.count() and b.first.input_value() == v, 10, f"{name}: {label}")
        except AssertionError:
            shown = box.first.input_value() if box.count() else None
            out.append(f"{name}: {label} shows {shown!r}, the user left {value!r}" if box.count()
                       else f"{name}: no input labelled {label!r}")
    out += [f"{name}: exception: {e.inner_text()[:300]}" for e in page.locator('[data-testid="stException"]').all()]
    return out


FORMS = {"train": "New run", "tournament": "New tournament"}  # expanders, collapsed while a run is active


def _fill(page, name: str) -> None:
    first = next(iter(LEFT[name]))
    if name in FORMS:  # open the form's expander if it is closed (asking whether an input shows raced the
        # page's drawing: a click on an open expander closed it, and its inputs went inert)
        form = page.locator('[data-testid="stExpander"] details').filter(
            has=page.get_by_text(FORMS[name], exact=True)).first
        form.wait_for(state="attached")
        if form.get_attribute("open") is None:
            page.get_by_text(FORMS[name], exact=True).click()
        page.get_by_label(first, exact=True).first.wait_for(state="visible")
    for label, value in LEFT[name].items():
        set_number(page, label, value)


def _walk(page, url: str) -> list[str]:
    page.goto(url)
    wait_app_idle(page)
    problems, filled = [], set()
    for name in WALK:
        if name != "explorer" or filled:
            _go(page, name)
        if name not in filled and name in LEFT:
            _fill(page, name)
            filled.add(name)
        problems += _problems(page, name)
    return problems


def test_every_page_after_every_other_page(page, app_server):
    problems = _walk(page, app_server.url)
    assert problems == [], "\n".join(problems)


def test_every_page_after_every_other_page_while_a_run_trains(page, app_server, runs_dir):
    run_id = runs_api.start_run({"dataset": "digits", "limit": 300, "epochs": 5000, "batch_size": 16}, runs_dir)
    try:
        wait_until(lambda: runs_api.load_run(run_id, runs_dir).state == "running", 90, "the run to start")
        problems = _walk(page, app_server.url)
        assert problems == [], "\n".join(problems)
        assert runs_api.load_run(run_id, runs_dir).state == "running"  # no page switch stopped or restarted it
    finally:
        runs_api.stop_run(run_id, runs_dir)
        wait_until(lambda: runs_api.load_run(run_id, runs_dir).state not in runs_api.ACTIVE_STATES, 90,
                   "the run to stop")


def test_an_lr_range_test_opened_on_runs_hands_its_lr_to_train(page, tmp_path):
    """Runs -> "Use as lr" on an LR range test -> Train: the form's schedule starts at that LR."""
    from browser_kit import AppServer
    from fakes import fabricate_lr_find

    rid = fabricate_lr_find(tmp_path, steepest=0.0085)
    server = AppServer(tmp_path, tmp_path / "streamlit.log").start()
    try:
        page.goto(f"{server.url}/runs?run={rid}")
        wait_app_idle(page)
        page.get_by_role("button", name="Use as lr").first.click()
        page.get_by_text("Sent 0.0085 to the Train page's form.").wait_for()
        _go(page, "train")
        box = page.get_by_label("lr", exact=True).first
        wait_until(lambda: box.input_value() == "0.0085", 20, "the Train form's lr to read 0.0085")
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        server.stop()


def test_a_first_visit_straight_to_a_page_gets_the_apps_navigation(page, tmp_path):
    """A fresh server's very first visit is a deep link (/train): Streamlit serves pages/train.py
    from its auto-discovered pages/ folder before app.py ever ran. The page then switches to app.py's
    st.navigation (ui/navigation.py, public API only) and reruns: the top navigation with the four
    pages, no auto-discovered sidebar menu, and the page itself."""
    from browser_kit import AppServer

    server = AppServer(tmp_path, tmp_path / "streamlit.log").start()
    try:
        page.goto(f"{server.url}/train")
        page.locator("h1", has_text=TITLES["train"]).first.wait_for()
        wait_app_idle(page)
        links = page.locator('[data-testid="stTopNavLink"]')
        wait_until(lambda: links.count() == len(PAGES), 20, "the app's four navigation links at the top")
        assert [links.filter(has_text=title).count() for title in PAGES.values()] == [1, 1, 1, 1]
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no auto-discovered menu
        assert page.url.rstrip("/").endswith("/train")
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        server.stop()
