"""The page of a cross-validated run in Chromium: the folds' table drawn from the API (status,
progress, scores), the mean ± std and pooled rows, and the confusion matrix summed over folds."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from conftest import _user
from releases.models import Release
from tests.conftest import chart_in, login
from training.ml.metrics import cross_validation_summary, evaluate
from training.models import TrainingRun

pytestmark = pytest.mark.browser

LABELS = ["angry", "neutral"]


def test_a_cross_validated_run_page_shows_its_folds_and_the_summed_matrix(
    live_server, page, project, django_user_model
):
    _user(django_user_model, "mlstaff", "ml_staff", project=project)
    release = Release.objects.create(
        project=project,
        name="loso",
        version=1,
        manifest="m",
        checksum="0" * 64,
        platform_version="t",
        params={"split_kind": "kfold", "folds": 0, "label_set": LABELS},
    )
    rng = np.random.default_rng(0)
    metrics = [evaluate(rng.integers(0, 2, 16), rng.integers(0, 2, 16), LABELS) for _ in range(3)]
    parent = TrainingRun.objects.create(
        project=project,
        release=release,
        family="classical",
        status="succeeded",
        progress=1.0,
        cv_metrics=cross_validation_summary(metrics, LABELS),
    )
    for fold, m in enumerate(metrics):
        TrainingRun.objects.create(
            project=project,
            release=release,
            family="classical",
            parent=parent,
            fold=fold,
            status="succeeded",
            progress=1.0,
            test_metrics=m,
        )

    login(page, live_server, "mlstaff")
    page.goto(f"{live_server.url}/training/runs/{parent.pk}/")
    expect(page.locator("#run-status")).to_contain_text("3 of 3 folds done")
    rows = page.locator("#run-folds tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text(f"{metrics[1]['ua']:.3f}")
    cv = parent.cv_metrics
    expect(page.locator("#cv-mean")).to_contain_text(f"{cv['mean']['ua']:.3f} ± {cv['std']['ua']:.3f}")
    expect(page.locator("#cv-pooled")).to_contain_text(f"{cv['pooled']['ua']:.3f}")
    expect(page.locator("#run-metrics")).to_contain_text("Cross-validated test UA")
    confusion = chart_in(page, "#run-confusion")
    assert confusion["type"] == "matrix" and confusion["rows"] == LABELS
    cells = {(c["y"], c["x"]): c["v"] for c in confusion["datasets"][0]["data"]}
    summed = np.sum([m["confusion_matrix"] for m in metrics], axis=0)
    assert cells == {(t, p): int(summed[i, j]) for i, t in enumerate(LABELS) for j, p in enumerate(LABELS)}
    assert sum(cells.values()) == 48
    assert not page.js_errors, page.js_errors
