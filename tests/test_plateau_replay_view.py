"""The explorer's ReduceLROnPlateau replay (ui/plateau_replay.py), on fabricated runs."""

from __future__ import annotations

import numpy as np
from fakes import fabricate_run, plotly_values
from streamlit.testing.v1 import AppTest

from lrviz import runs
from lrviz.plateau import replay


def _app(runs_dir: str) -> None:
    from pathlib import Path

    from ui import plateau_replay

    plateau_replay.section(Path(runs_dir))


def test_replay_draws_the_schedule_and_the_plateau_lr_of_the_chosen_run(tmp_path):
    rid = fabricate_run(tmp_path, epochs=12, factor=0.5)
    at = AppTest.from_function(_app, args=(str(tmp_path),), default_timeout=30)
    at.session_state["ex_pl_on"] = True
    at.session_state["ex_pl_patience"] = 2
    at.session_state["ex_pl_monitor"] = "val_loss"
    at.run()
    assert not at.exception
    assert at.selectbox(key="ex_pl_run").value == rid
    fig = at.get("plotly_chart")[0].proto.spec
    import json

    data = json.loads(fig)["data"]
    hist = runs.load_run(rid, tmp_path).history
    want, reductions = replay(hist["val_loss"], hist["lr_planned"], {"patience": 2})
    np.testing.assert_allclose(plotly_values(data[1]["y"])[:-1], want)  # stairs: the last epoch drawn twice
    np.testing.assert_allclose(plotly_values(data[0]["y"])[:-1], hist["lr_planned"])
    captions = " ".join(c.value for c in at.caption)
    assert ("Reductions" in captions) == bool(reductions)


def test_a_bad_setting_is_said_at_its_input(tmp_path):
    fabricate_run(tmp_path, epochs=4)
    at = AppTest.from_function(_app, args=(str(tmp_path),), default_timeout=30)
    at.session_state["ex_pl_on"] = True
    at.session_state["ex_pl_factor"] = 1.5
    at.run()
    assert any("Argument `factor` must be a finite number > 0 and < 1. Received: factor=1.5" in e.value
               for e in at.error)
    assert not at.get("plotly_chart")


def test_without_runs_it_says_how_to_get_one(tmp_path):
    at = AppTest.from_function(_app, args=(str(tmp_path),), default_timeout=30).run()
    assert not at.info  # off until asked for: it reads the runs folder
    at.toggle(key="ex_pl_on").set_value(True).run()
    assert any("No training run" in i.value for i in at.info)
