"""The training run page of a classical run (no epochs): its final scores instead of a one-dot
curve; and a run that logged losses only: no empty "Validation score" axis."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import _user
from releases.models import Release
from tests.conftest import chart_in, login
from training.models import TrainingRun

pytestmark = pytest.mark.browser


def test_a_classical_run_shows_its_final_scores_and_a_loss_only_run_no_empty_axis(
    live_server, page, project, django_user_model
):
    _user(django_user_model, "mlstaff", "ml_staff", project=project)
    release = Release.objects.create(
        project=project, name="r", version=1, manifest="m", checksum="0" * 64, platform_version="t", params={}
    )
    classical = TrainingRun.objects.create(
        project=project,
        release=release,
        family="classical",
        device="cpu",
        status="succeeded",
        epoch=1,
        history=[{"epoch": 1, "val_ua": 0.55, "val_macro_f1": 0.5}],
        test_metrics={"ua": 0.6, "wa": 0.62, "macro_f1": 0.58},
    )
    losses = TrainingRun.objects.create(
        project=project,
        release=release,
        family="mfcc_lstm",
        device="cpu",
        status="running",
        epoch=2,
        history=[{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.8}],
    )
    login(page, live_server, "mlstaff")
    page.goto(f"{live_server.url}/training/runs/{classical.pk}/")
    note = page.locator("#run-chart .empty")
    expect(note).to_contain_text("no epochs")
    expect(note).to_contain_text("validation UA 0.550")
    expect(note).to_contain_text("test UA 0.600")
    assert page.locator("#run-chart canvas").count() == 0

    page.goto(f"{live_server.url}/training/runs/{losses.pk}/")
    page.wait_for_function(
        "() => { const d = Charts.describe(document.querySelector('#run-chart'));"
        " return d && !d.scales.score; }",
        timeout=10_000,
    )
    curves = chart_in(page, "#run-chart")
    assert curves["scales"] == {"x": "Epoch", "loss": "Loss (cross-entropy)"}
    assert [d["label"] for d in curves["datasets"]] == ["train loss"]
    assert not page.js_errors, page.js_errors


def test_a_model_is_evaluated_on_a_release_from_its_run_page_and_compared(
    live_server, page, project, django_user_model, trained_model
):
    from training.models import Evaluation

    _user(django_user_model, "mlstaff", "ml_staff", project=project)
    release = trained_model.release
    login(page, live_server, "mlstaff")
    page.goto(f"{live_server.url}/training/runs/{trained_model.run_id}/")
    form = page.locator("#evaluate-form")
    expect(form.locator("#evaluate-release option")).to_have_count(1)  # the project's one release
    form.locator("#evaluate-split").select_option("train")
    form.locator("button[type=submit]").click()
    # Every train item was seen in training: refused with the service's message, nothing written.
    expect(page.locator("#evaluate-message")).to_contain_text("Nothing to evaluate")
    assert not Evaluation.objects.exists()

    form.locator("#evaluate-split").select_option("test")
    form.locator("button[type=submit]").click()  # eager Celery: evaluated before the page reloads
    row = page.locator("#evaluations-table tbody tr[data-evaluation]")
    expect(row).to_have_count(1, timeout=30_000)
    ev = Evaluation.objects.get()
    assert ev.status == "succeeded", ev.traceback
    expect(row.locator("td").nth(2)).to_have_text(str(ev.metrics["n"]))
    expect(row.locator("td").nth(4)).to_have_text(f"{ev.metrics['ua']:.3f}")
    matrix = chart_in(page, f'[data-matrix="{ev.pk}"]')
    assert matrix["type"] == "matrix" and matrix["rows"] == ev.metrics["matched_labels"]
    assert matrix["scales"] == {"x": "Predicted emotion", "y": "True emotion"}

    page.goto(f"{live_server.url}/training/compare/?runs={trained_model.run_id}")
    expect(page.locator(f'#evaluations-table tr[data-evaluation="{ev.pk}"] td').nth(1)).to_have_text(
        f"{release}/test"
    )
    chart_in(page, f'[data-matrix="{ev.pk}"]')
    assert not page.js_errors, page.js_errors
