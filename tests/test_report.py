"""The report DataFrame against scikit-learn's own classification_report."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import classification_report, confusion_matrix

from lrviz.report import (
    REPORT_COLUMNS,
    classification_report_frame,
    confusion_frame,
    frame_to_csv,
    read_confusion_csv,
    read_report_csv,
    report_text,
)

NAMES = ["airplane", "automobile", "bird"]


@pytest.fixture
def preds():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60)
    y_pred = np.where(rng.random(60) < 0.7, y_true, rng.integers(0, 3, 60))
    return y_true, y_pred


def test_rows_and_values_match_sklearn(preds, tmp_path):
    y_true, y_pred = preds
    df = classification_report_frame(y_true, y_pred, NAMES)
    ref = classification_report(y_true, y_pred, target_names=NAMES, output_dict=True)
    assert list(df.index) == NAMES + ["accuracy", "macro avg", "weighted avg"]
    assert list(df.columns) == REPORT_COLUMNS
    for row in NAMES + ["macro avg", "weighted avg"]:
        for col in REPORT_COLUMNS:
            assert df.loc[row, col] == pytest.approx(ref[row][col])


def test_accuracy_row_is_not_smeared(preds):
    y_true, y_pred = preds
    df = classification_report_frame(y_true, y_pred, NAMES)
    acc = df.loc["accuracy"]
    assert math.isnan(acc["precision"]) and math.isnan(acc["recall"])
    assert acc["f1-score"] == pytest.approx(np.mean(y_true == y_pred))
    assert acc["support"] == 60
    assert df["support"].dtype == np.int64


def test_csv_round_trip(preds, tmp_path):
    y_true, y_pred = preds
    df = classification_report_frame(y_true, y_pred, NAMES)
    (tmp_path / "r.csv").write_text(frame_to_csv(df))
    back = read_report_csv(tmp_path / "r.csv")
    pd.testing.assert_frame_equal(back, df, check_names=False)
    text = (tmp_path / "r.csv").read_text().splitlines()
    assert text[0] == "class,precision,recall,f1-score,support"
    assert text[4].startswith("accuracy,,,")


def test_confusion_matches_sklearn(preds, tmp_path):
    y_true, y_pred = preds
    cm = confusion_frame(y_true, y_pred, NAMES)
    np.testing.assert_array_equal(cm.to_numpy(), confusion_matrix(y_true, y_pred))
    assert list(cm.index) == NAMES and list(cm.columns) == NAMES
    (tmp_path / "c.csv").write_text(frame_to_csv(cm))
    np.testing.assert_array_equal(read_confusion_csv(tmp_path / "c.csv").to_numpy(), cm.to_numpy())


def test_absent_class_gets_zero_row_and_text_has_names():
    df = classification_report_frame([0, 0, 1], [0, 1, 1], NAMES)
    assert df.loc["bird", "support"] == 0 and df.loc["bird", "precision"] == 0
    assert "automobile" in report_text([0, 0, 1], [0, 1, 1], NAMES)


def test_display_frame_is_sklearns_printout():
    from sklearn.metrics import classification_report

    from lrviz.report import classification_report_frame, report_display_frame

    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    names = ["cat", "dog", "frog"]
    shown = report_display_frame(classification_report_frame(y_true, y_pred, names)).set_index("class")
    text = classification_report(y_true, y_pred, target_names=names, zero_division=0)
    for name in names + ["macro avg", "weighted avg"]:
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(name))
        assert line.split()[-4:] == shown.loc[name, ["precision", "recall", "f1-score", "support"]].tolist()
    acc = next(ln for ln in text.splitlines() if ln.strip().startswith("accuracy")).split()
    assert shown.loc["accuracy"].tolist() == ["", "", acc[1], acc[2]]
