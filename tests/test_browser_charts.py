"""Every chart is a Chart.js chart (static/js/charts.js) with titled axes and an empty state.

The training run page is checked here on a one-epoch run (the case the hand-drawn chart got
wrong: three floating dots without axes) and on a run with no epoch yet. The histogram and the
matrices are checked where their pages are tested: the recording page (test_browser_corpus), the
agreement dashboard (test_browser_curation), progress (test_browser_annotation) and quality
(test_browser_inference).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import _user
from releases.models import Release
from tests.conftest import chart_in, login
from tests.test_browser_corpus import screenshot
from training.models import TrainingRun

pytestmark = pytest.mark.browser

LABELS = ["angry", "happy", "neutral"]


def _run(project, release, **fields) -> TrainingRun:
    return TrainingRun.objects.create(
        project=project, release=release, **{"family": "mfcc_lstm", "device": "cpu", **fields}
    )


def test_training_run_page_charts_a_one_epoch_run_with_axes(live_server, page, project, django_user_model):
    _user(django_user_model, "mlstaff", "ml_staff", project=project)
    # A row, not a built release: the page only names it.
    release = Release.objects.create(
        project=project,
        name="r",
        version=1,
        manifest="releases/r.jsonl",
        checksum="0" * 64,
        platform_version="t",
        params={},
    )
    one_epoch = _run(
        project,
        release,
        status="succeeded",
        epoch=1,
        history=[{"epoch": 1, "train_loss": 0.91, "val_loss": 1.02, "val_ua": 0.55, "val_macro_f1": 0.5}],
        # Nobody in the test split is happy: that row is hidden.
        test_metrics={
            "ua": 0.6,
            "wa": 0.62,
            "macro_f1": 0.58,
            "labels": LABELS,
            "confusion_matrix": [[5, 1, 2], [0, 0, 0], [1, 0, 6]],
        },
    )
    empty = _run(project, release, status="running")

    login(page, live_server, "mlstaff")
    page.goto(f"{live_server.url}/training/runs/{one_epoch.pk}/")
    curves = chart_in(page, "#run-chart")
    assert curves["type"] == "line"
    assert curves["scales"] == {
        "x": "Epoch",
        "loss": "Loss (cross-entropy)",
        "score": "Validation score (0–1)",
    }
    assert curves["labels"] == ["1"]
    assert {d["label"]: d["data"] for d in curves["datasets"]} == {
        "train loss": [0.91],
        "validation loss": [1.02],
        "validation UA": [0.55],
        "validation macro-F1": [0.5],
    }
    confusion = chart_in(page, "#run-confusion")
    assert confusion["type"] == "matrix"
    assert confusion["scales"] == {"x": "Predicted emotion", "y": "True emotion"}
    assert confusion["rows"] == ["angry", "neutral"]  # the unused "happy" row is hidden
    cells = {(c["y"], c["x"]): c["v"] for c in confusion["datasets"][0]["data"]}
    assert cells[("neutral", "angry")] == 1 and cells[("angry", "neutral")] == 2 and len(cells) == 6
    screenshot(page, "training-run-charts")

    page.goto(f"{live_server.url}/training/runs/{empty.pk}/")
    expect(page.locator("#run-chart .empty")).to_contain_text("No epochs yet")
    expect(page.locator("#run-confusion .empty")).to_contain_text("No test confusion matrix yet")
    assert not page.js_errors, page.js_errors
