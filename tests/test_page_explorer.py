"""AppTest of the Schedule Explorer page (the real page, no browser)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import shown
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "explorer.py")


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture()
def at():
    return AppTest.from_file(PAGE, default_timeout=30).run()


def test_default_view_shows_tutorial_readout(at):
    assert not at.exception
    assert metrics(at)["Step decay"] == "0.00125"
    # Keras 2 per-batch reading at epoch 15 = 0.01 / (1 + 0.00025 * 14 * 782)
    assert float(metrics(at)["Time-based decay (Keras 2, per batch)"]) == pytest.approx(
        0.01 / (1 + 0.00025 * 14 * 782), rel=1e-5)
    assert any("InverseTimeDecay" in c.value for c in at.code)
    assert any("step_decay" in c.value for c in at.code)
    assert len(at.get("plotly_chart")) == 1


def test_factor_slider_changes_readout_and_url(at):
    at.slider(key="ex_1_factor").set_value(0.25).run()
    assert metrics(at)["Step decay"] == "0.00015625"
    assert "step;factor=0.25" in at.query_params["c"]


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("ex_0_lr", 0.0, "Argument `lr` must be a finite number > 0 and <= 10. Received: lr=0.0"),
        ("ex_1_lr", -0.01, "Argument `lr` must be a finite number > 0"),
        ("ex_0_decay", 5.0, "Argument `decay` must be a finite number >= 0 and <= 1"),
    ],
)
def test_invalid_value_shows_error_at_input_and_app_keeps_working(at, key, value, needle):
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    assert any(needle in e.value for e in at.error)
    # both curves are still drawn and read out (the bad one as its last valid version)
    assert len(at.get("plotly_chart")) == 1 and len(at.metric) == 2


def _trace_colours(at) -> dict[str, str]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {t["name"]: t["line"]["color"] for t in spec["data"] if t.get("mode") != "markers"}


def test_bad_value_keeps_the_curve_its_place_colour_and_link(at):
    """Issue 13: lr=0 in schedule 1 dropped its curve, readout and link entry, and recoloured the other."""
    keras2 = "Time-based decay (Keras 2, per batch)"
    before_readout, before_colours = metrics(at)[keras2], _trace_colours(at)
    at.number_input(key="ex_0_lr").set_value(0.0).run()
    assert not at.exception
    assert any("Received: lr=0.0" in e.value for e in at.error)  # the error is at the input
    # the curve keeps its last valid version: same readout, same colour, the other's colour unchanged
    assert metrics(at) == {keras2: before_readout, "Step decay": "0.00125"}
    assert _trace_colours(at) == before_colours
    assert any("Schedule 1 has an error: showing its last valid values." in c.value for c in at.caption)
    # the share link still carries both curves, in order
    curves = at.query_params["c"]
    assert len(curves) == 2 and curves[0].startswith("time_keras2") and curves[1].startswith("step")
    # fixing the value brings the edited curve back
    at.number_input(key="ex_0_lr").set_value(0.02).run()
    assert float(metrics(at)[keras2]) == pytest.approx(2 * float(before_readout), rel=1e-5)
    assert not any("has an error" in c.value for c in at.caption)


def test_readout_epoch_past_lowered_epochs_is_said_in_the_heading(at):
    """Issue 13: with Epochs lowered to 10 the heading said "LR at epoch 10 of 10" while the box
    still showed 15 with an error. The box keeps 15; the heading says what it shows instead."""
    at.number_input(key="ex_epochs").set_value(10).run()
    assert at.number_input(key="ex_readout_epoch").value == 15
    assert any("Argument `readout_epoch` must be an integer >= 1 and <= 10. Received: readout_epoch=15" in e.value
               for e in at.error)
    heading = next(m.value for m in at.markdown if "LR at epoch" in m.value)
    assert "**LR at epoch 10** of 10" in heading
    assert "epoch 15 is past the last epoch; showing epoch 10, the last one" in heading
    assert metrics(at)["Step decay"] == "0.0025"  # 0.01 * 0.5 ** floor(10 / 5)
    at.number_input(key="ex_epochs").set_value(40).run()  # the typed 15 is valid again
    heading = next(m.value for m in at.markdown if "LR at epoch" in m.value)
    assert "**LR at epoch 15** of 40" in heading and "past" not in heading
    assert metrics(at)["Step decay"] == "0.00125"


def test_invalid_timeline_values_show_errors_and_keep_last_good_view(at):
    at.number_input(key="ex_epochs").set_value(0).run()
    at.number_input(key="ex_batch_size").set_value(-5).run()
    errors = " ".join(e.value for e in at.error)
    assert "Argument `epochs` must be an integer >= 1 and <= 1000. Received: epochs=0" in errors
    assert "Argument `batch_size`" in errors
    assert not at.exception and metrics(at)["Step decay"] == "0.00125"


def test_factor_out_of_slider_range_from_url_gets_number_input_and_error():
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["c"] = ["step;factor=0.99"]
    at.run()
    assert metrics(at)["Step decay"] == f"{0.01 * 0.99 ** 3:.6g}"
    at.number_input(key="ex_0_factor").set_value(1.0).run()
    assert any("Argument `factor` must be a finite number > 0 and < 1. Received: factor=1.0" in e.value
               for e in at.error)
    assert not at.exception


def test_add_and_remove_curves(at):
    at.selectbox(key="ex_new_schedule").set_value("one_cycle").run()
    at.button[-1].click().run()  # "Add"
    assert "One-cycle" in metrics(at)
    assert any("class OneCycle" in c.value for c in at.code)
    at.button(key="ex_0_remove").click().run()
    assert "Time-based decay (Keras 2, per batch)" not in metrics(at)
    assert set(metrics(at)) == {"Step decay", "One-cycle"}


def test_change_schedule_type_resets_its_parameters(at):
    at.selectbox(key="ex_1_name").set_value("triangular").run()
    assert not at.exception
    assert "Triangular cyclical (CLR)" in metrics(at)


def test_garbage_url_warns_and_uses_defaults():
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["c"] = ["step;drop_every=-1"]
    at.query_params["epochs"] = "lots"
    at.run()
    assert not at.exception
    texts = " ".join(shown(w.value) for w in at.warning)
    assert "drop_every" in texts and "epochs" in texts


def test_a_shared_link_cannot_put_markdown_on_the_page():
    """The warnings echo the link's text: shown as characters, never as an image to fetch."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["c"] = ["step;lr=![x](http://e/x.png)`"]
    at.query_params["epochs"] = "![e](http://e/z.png)"
    at.run()
    assert not at.exception
    for w in at.warning:
        assert "![" not in w.value and "](http" not in w.value  # escaped in the Markdown source
    texts = " ".join(shown(w.value) for w in at.warning)
    assert "![x](http://e/x.png)" in texts and "![e](http://e/z.png)" in texts
    assert metrics(at)["Step decay"] == "0.00125"


def test_page_does_not_import_tensorflow():
    code = (
        "import sys, runpy; from streamlit.testing.v1 import AppTest; "
        f"at = AppTest.from_file({PAGE!r}, default_timeout=60).run(); "
        "assert not at.exception; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_plateau_replay_on_a_run_is_offered_below_the_explorer(tmp_path, monkeypatch):
    from fakes import fabricate_run

    from lrviz import runs as runs_api

    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    rid = fabricate_run(tmp_path, epochs=8)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert len(at.get("plotly_chart")) == 1  # off by default: the schedule chart only
    at.toggle(key="ex_pl_on").set_value(True).run()
    assert not at.exception and at.selectbox(key="ex_pl_run").value == rid
    assert len(at.get("plotly_chart")) == 2


def test_a_schedule_with_its_own_warmup_gets_no_second_one(at):
    """Issue 13: cosine "(with warmup)" had its own warmup plus the generic warmup toggle."""
    keys = {t.key for t in at.toggle}
    assert "ex_0_show_warmup" in keys  # Keras 2 time-based decay: the generic warmup is offered
    at.selectbox(key="ex_0_name").set_value("cosine").run()
    assert not at.exception
    assert "ex_0_show_warmup" not in {t.key for t in at.toggle}
    assert at.number_input(key="ex_0_warmup_epochs").value == 0.0  # its own warmup is there


def test_the_view_has_a_link_to_copy(at):
    (code,) = [c for c in at.code if "c=" in c.value]
    assert code.value.startswith("?c=") or "://" in code.value  # AppTest has no page URL; a browser has
    at.number_input(key="ex_epochs").set_value(30).run()
    assert any("epochs=30" in c.value for c in at.code)


def test_an_error_at_the_input_says_it_in_plain_words_first(at):
    at.number_input(key="ex_0_lr").set_value(0.0).run()
    (err,) = [e.value for e in at.error if "lr" in e.value]
    assert err.startswith("lr must be above 0 and at most 10.")
    # then lrviz's own message, introduced as what it is (it read "In Keras' words", but Keras never said it)
    assert "*The same error in Python and on the command line:* Argument `lr` must be a finite number > 0 and " \
           "<= 10. Received: lr=0.0" in err and "Keras' words" not in err


def test_the_tutorials_comparison_is_named_by_its_factors_and_a_cycle_is_read_truly():
    """Issue 19: two step decays read "Step decay" and "Step decay #2"; a triangular cycle
    that rises again read "LR ≤ 0.001 from epoch 9"."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["c"] = ["step;factor=0.25", "step", "triangular"]
    at.run()
    assert not at.exception
    assert metrics(at) == {"Step decay (factor=0.25)": "0.00015625", "Step decay (factor=0.5)": "0.00125",
                           "Triangular cyclical (CLR)": "0.0055"}  # epoch 15: x = 14, 0.001 + 0.009 * 0.5
    captions = [c.value for c in at.caption]
    assert "LR ≤ 0.001 only at epochs 1, 9, 17, 25 and 33" in captions
    assert "LR ≤ 0.001 from epoch 10 on" in captions  # F=0.25: 0.01 * 0.25 ** 2 = 0.000625 from epoch 10
    assert "LR ≤ 0.001 from epoch 20 on" in captions  # F=0.5: 0.01 * 0.5 ** 4 = 0.000625 from epoch 20
