"""Cross-validated training runs: a run on a leave-one-speaker-out release of real RAVDESS speech is
a parent with one child run per fold; the parent follows its children and summarises them."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from annotation.guideline import ensure_guideline
from conftest import _user, api
from core import jobs
from releases.build import ReleaseParams, release_build
from releases.importers import label_mappings_ensure
from training import services
from training.ml.metrics import cross_validation_summary, evaluate
from training.models import ModelVersion, TrainingRun

ACTORS = range(1, 5)


@pytest.fixture
def loso_release(tmp_path, data_dir, project):
    """RAVDESS actors 1-4, angry vs neutral (calm counts as neutral), one fold per actor."""
    ensure_guideline()
    label_mappings_ensure()
    folder = tmp_path / "ravdess"
    folder.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[125]-*.flac")):
        if int(f.stem[-2:]) in ACTORS:
            (folder / f.name).symlink_to(f)
    call_command("import_corpus", str(folder), "--format", "ravdess", "--no-progress")
    return release_build(
        project=project,
        params=ReleaseParams(
            name="loso", label_set=["angry", "neutral"], split_kind="kfold", folds=0, seed=1
        ),
    )


def _children(parent) -> list[TrainingRun]:
    return list(TrainingRun.objects.filter(parent=parent).order_by("fold"))


def test_the_summary_is_numpys_mean_and_sample_std_and_pools_the_predictions():
    labels = ["angry", "neutral", "sad"]
    rng = np.random.default_rng(0)
    truths, preds, folds = [], [], []
    for n in (30, 41, 17):
        t, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
        truths.append(t)
        preds.append(p)
        folds.append(evaluate(t, p, labels))
    summary = cross_validation_summary(folds, labels)

    uas = [m["ua"] for m in folds]
    assert summary["mean"]["ua"] == pytest.approx(np.mean(uas))
    assert summary["std"]["ua"] == pytest.approx(np.std(uas, ddof=1))
    pooled = evaluate(np.concatenate(truths), np.concatenate(preds), labels)
    for key in ("ua", "wa", "macro_f1"):
        assert summary["pooled"][key] == pytest.approx(pooled[key])
    assert summary["confusion_matrix"] == pooled["confusion_matrix"] and summary["n_test"] == 88
    assert [f["n_test"] for f in summary["folds"]] == [30, 41, 17]
    with pytest.raises(ValueError, match="at least two folds"):
        cross_validation_summary(folds[:1], labels)


@pytest.mark.django_db(transaction=True)
def test_a_cross_validated_classical_run_on_leave_one_speaker_out(loso_release):
    parent = services.run_create(release=loso_release, family="classical", device="cpu", enqueue=False)
    children = _children(parent)
    assert [c.fold for c in children] == [0, 1, 2, 3]
    assert parent.status == "queued" and all(c.status == "queued" for c in children)

    # Each child's data: tested on its fold's actor, validated on the next fold's, trained on the rest.
    speaker = dict(loso_release.items.values_list("clip_id", "clip__speaker"))
    train, val, test, _ = services.release_fold_datasets(loso_release, fold=1)
    assert {speaker[i] for i in test.ids} == set(
        loso_release.items.filter(fold=1).values_list("clip__speaker", flat=True)
    )
    assert len({speaker[i] for i in test.ids}) == len({speaker[i] for i in val.ids}) == 1
    assert set(val.ids) == set(loso_release.items.filter(fold=2).values_list("clip_id", flat=True))
    assert len({speaker[i] for i in train.ids}) == 2
    assert not ({speaker[i] for i in train.ids} & {speaker[i] for i in set(test.ids) | set(val.ids)})

    services.run_execute(run_id=children[0].pk)
    parent.refresh_from_db()
    assert parent.status == "running" and 0 < parent.progress < 1  # one fold done, three to go
    for child in children[1:]:
        assert services.run_execute(run_id=child.pk) is True

    parent.refresh_from_db()
    children = _children(parent)
    assert all(c.status == "succeeded" for c in children), [c.traceback for c in children]
    assert parent.status == "succeeded" and parent.finished_at and parent.test_metrics is None
    cv = parent.cv_metrics
    # Computed here from the children's rows, independently of the service.
    uas = [c.test_metrics["ua"] for c in children]
    assert cv["k"] == 4 and cv["std_ddof"] == 1
    assert cv["mean"]["ua"] == pytest.approx(sum(uas) / 4)
    assert cv["std"]["ua"] == pytest.approx(np.std(uas, ddof=1))
    assert [f["ua"] for f in cv["folds"]] == uas and [f["run"] for f in cv["folds"]] == [
        c.pk for c in children
    ]
    summed = np.sum([c.test_metrics["confusion_matrix"] for c in children], axis=0)
    assert cv["confusion_matrix"] == summed.tolist()
    assert summed.sum() == loso_release.n_items == loso_release.items.count()  # every clip tested once
    assert cv["pooled"]["ua"] == pytest.approx(np.mean(np.diag(summed) / summed.sum(axis=1)))
    assert cv["mean"]["ua"] > 0.6, cv  # angry vs neutral on unseen actors; chance is 0.5
    # No deployable model: neither the parent nor a fold makes a ModelVersion.
    assert not ModelVersion.objects.exists()
    # A parent's own message (the job sweep may send one) only syncs it.
    assert services.run_execute(run_id=parent.pk) is True
    parent.refresh_from_db()
    assert parent.status == "succeeded" and parent.cv_metrics == cv


@pytest.mark.django_db(transaction=True)
def test_a_failed_fold_fails_the_parent_with_its_reason_and_a_retry_resumes(loso_release, settings):
    parent = services.run_create(release=loso_release, family="classical", device="cpu", enqueue=False)
    children = _children(parent)

    # A real failure: one clip's audio is gone while fold 0 decodes the release.
    from pathlib import Path

    item = loso_release.items.select_related("clip").first()
    audio = Path(settings.MEDIA_ROOT) / item.clip.audio.name
    hidden = audio.with_suffix(".hidden")
    audio.rename(hidden)
    services.run_execute(run_id=children[0].pk)
    hidden.rename(audio)
    for child in children[1:]:
        services.run_execute(run_id=child.pk)

    parent.refresh_from_db()
    assert parent.status == "failed"
    assert parent.error.startswith(f"Fold 0 (run #{children[0].pk}) failed: ")
    assert "No such file" in parent.error or "FileNotFound" in parent.error, parent.error
    assert parent.cv_metrics is None

    with pytest.raises(ValidationError, match="nothing to cancel"):
        services.run_cancel(run=parent)
    services.run_retry(run=parent)  # eager Celery: the failed fold runs again at once
    parent.refresh_from_db()
    children = _children(parent)
    assert [c.attempts for c in children] == [2, 1, 1, 1]  # only the failed fold ran again
    assert parent.status == "succeeded" and parent.cv_metrics["k"] == 4 and parent.error == ""
    with pytest.raises(ValidationError, match="none of its folds"):
        services.run_retry(run=parent)


@pytest.mark.django_db(transaction=True)
def test_a_fold_whose_worker_is_lost_fails_the_parent_and_cancel_cancels_every_fold(loso_release):
    parent = services.run_create(release=loso_release, family="classical", device="cpu", enqueue=False)
    children = _children(parent)

    # Fold 2's worker died on its last allowed attempt: the job sweep gives it up.
    TrainingRun.objects.filter(pk=children[2].pk).update(attempts=TrainingRun.max_attempts() - 1)
    assert jobs.job_claim(TrainingRun, children[2].pk)
    services.run_parent_sync(parent_id=parent.pk)
    parent.refresh_from_db()
    assert parent.status == "running"
    services.run_mark_dead(run=children[2])
    report = jobs.jobs_sweep()
    assert report.given_up == 1
    parent.refresh_from_db()
    # Folds 0, 1 and 3 are still queued: the parent runs on, then fails with the reason.
    assert parent.status == "running"
    services.run_cancel(run=parent)
    parent.refresh_from_db()
    assert parent.status == "failed" and parent.cancel_requested
    assert f"Fold 2 (run #{children[2].pk}) failed: Worker lost during attempt 3 of 3" in parent.error
    assert [c.status for c in _children(parent)] == ["cancelled", "cancelled", "failed", "cancelled"]


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_cross_validated_run_cancels_its_folds(loso_release):
    parent = services.run_create(release=loso_release, family="classical", device="cpu", enqueue=False)
    services.run_cancel(run=parent)
    parent.refresh_from_db()
    assert parent.status == "cancelled" and parent.finished_at
    assert {c.status for c in _children(parent)} == {"cancelled"}


@pytest.mark.django_db(transaction=True)
def test_the_api_and_pages_show_the_folds_and_outsiders_see_nothing(
    loso_release, django_user_model, project, outsider, monkeypatch
):
    ml = _user(django_user_model, "ml", "ml_staff", project=project)
    client = api(ml)
    r = client.post(
        "/api/training/runs/",
        {"release": loso_release.pk, "family": "classical", "device": "cpu"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    run = client.get(f"/api/training/runs/{r.json()['id']}/").json()  # eager Celery: all folds ran
    assert run["status"] == "succeeded" and run["fold"] is None and run["parent"] is None
    assert [c["fold"] for c in run["children"]] == [0, 1, 2, 3]
    assert all(c["status"] == "succeeded" and c["test_metrics"]["n"] > 0 for c in run["children"])
    assert run["cv_metrics"]["mean"]["ua"] == pytest.approx(
        np.mean([c["test_metrics"]["ua"] for c in run["children"]])
    )
    assert run["model_version"] is None
    child = client.get(run["children"][0]["url"].replace("/training/", "/api/training/")).json()
    assert child["parent"] == run["id"] and child["fold"] == 0 and child["children"] == []
    listed = client.get("/api/training/runs/").json()
    assert [row["id"] for row in listed["results"]] == [run["id"]]  # folds are listed in their parent
    compared = client.get(f"/api/training/compare/?runs={run['id']}").json()["runs"][0]
    assert compared["cv"]["k"] == 4 and compared["test_ua"] == run["cv_metrics"]["mean"]["ua"]

    client.force_login(ml)
    page = client.get(f"/training/runs/{run['id']}/").content.decode()
    assert 'id="run-folds"' in page and 'id="cv-mean"' in page and "±" in page
    assert page.count('data-fold="') == 4
    page = client.get(run["children"][1]["url"]).content.decode()
    assert "Fold 1 of the cross-validated run" in page
    page = client.get(f"/training/compare/?runs={run['id']}").content.decode()
    assert 'data-cv="4"' in page and "±" in page
    listing = client.get("/training/runs/").content.decode()
    assert listing.count("fold 0") == 0 and 'data-cv="4"' in listing  # folds live in their parent

    # The admin launches one too (ML staff added as people are, with member_add).
    monkeypatch.setenv("TUNISER_NEW_USER_PASSWORD", "a-long-lab-passphrase-42")
    call_command("member_add", "fatma", "--project", project.slug, "--role", "ml_staff", "--create")
    staff = Client()
    staff.force_login(django_user_model.objects.get(username="fatma"))
    form = {"name": "cv", "release": loso_release.pk, "family": "classical", "hparams": "{}"}
    r = staff.post("/admin/training/trainingrun/add/", {**form, "device": "cpu", "precision": "fp32"})
    assert r.status_code == 302, r.content.decode()[-3000:]
    admin_run = TrainingRun.objects.get(name="cv")
    assert admin_run.children.count() == 4 and admin_run.status == "succeeded"
    change = staff.get(f"/admin/training/trainingrun/{admin_run.pk}/change/").content.decode()
    assert "Cross-validation metrics" in change

    other = api(outsider)
    assert other.get("/api/training/runs/").status_code == 403  # a curator: no training role
    outsider_ml = _user(django_user_model, "oml", "ml_staff", project=outsider.corpus_projects.first())
    other = api(outsider_ml)
    assert other.get("/api/training/runs/").json()["count"] == 0
    for pk in [run["id"], run["children"][0]["id"]]:
        assert other.get(f"/api/training/runs/{pk}/").status_code == 404
    assert other.get(f"/api/training/compare/?runs={run['id']}").json()["runs"] == []


@pytest.mark.django_db(transaction=True)
def test_the_train_command_runs_every_fold_with_sync(loso_release):
    import io

    out = io.StringIO()
    call_command(
        "train", "--release", "loso", "--family", "classical", "--device", "cpu", "--sync", stdout=out
    )
    parent = TrainingRun.objects.get(parent=None)
    cv = parent.cv_metrics
    assert out.getvalue().strip() == (
        f"run #{parent.pk} succeeded, 4 folds: test UA {cv['mean']['ua']:.3f} ± {cv['std']['ua']:.3f}, "
        f"WA {cv['mean']['wa']:.3f} ± {cv['std']['wa']:.3f}, "
        f"macro-F1 {cv['mean']['macro_f1']:.3f} ± {cv['std']['macro_f1']:.3f} (sample std); "
        f"pooled UA {cv['pooled']['ua']:.3f} over {loso_release.n_items} clips"
    )
    assert TrainingRun.objects.filter(parent=parent, status="succeeded").count() == 4


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_folds_run_on_the_real_worker_and_the_parent_follows(loso_release, worker_factory):
    """The children are queued on the real broker's gpu queue and trained by a real worker
    process; the parent row, written by that other process, follows them to the summary."""
    from conftest import wait_for

    worker = worker_factory()
    parent = services.run_create(release=loso_release, family="classical", device="cpu")
    parent = wait_for(
        lambda: TrainingRun.objects.filter(pk=parent.pk, status__in=["succeeded", "failed"]).first(),
        timeout=300,
        message="the cross-validated run to finish",
    )
    assert parent.status == "succeeded", parent.error + worker.log_path.read_text()[-2000:]
    children = _children(parent)
    assert all(c.status == "succeeded" and c.attempts == 1 for c in children)
    assert parent.cv_metrics["mean"]["ua"] == pytest.approx(np.mean([c.test_metrics["ua"] for c in children]))
    assert parent.progress == 1.0 and parent.started_at <= parent.finished_at


@pytest.mark.django_db(transaction=True)
def test_a_torch_fold_trains_one_epoch_and_moves_its_parent(loso_release):
    hparams = {
        "epochs": 1,
        "batch_size": 16,
        "hidden": 8,
        "num_layers": 1,
        "n_mfcc": 13,
        "head_hidden": 8,
        "progress_every": 1,
    }
    parent = services.run_create(
        release=loso_release, family="mfcc_lstm", hparams=hparams, device="cpu", enqueue=False
    )
    first = _children(parent)[0]
    assert services.run_execute(run_id=first.pk) is True
    first.refresh_from_db()
    assert first.status == "succeeded", first.traceback
    assert len(first.history) == 1 and first.history[0]["val_ua"] is not None  # fold 1 validates
    assert first.test_metrics["n"] == loso_release.items.filter(fold=0).count()
    parent.refresh_from_db()
    assert parent.status == "running" and parent.progress == pytest.approx(0.25)
    assert not ModelVersion.objects.exists()
