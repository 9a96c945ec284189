"""Training runs through the platform: a release of real speech in, an evaluated model out."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from conftest import wait_for
from training import services
from training.ml.predict import load_predictor
from training.models import ModelVersion, TrainingRun


@pytest.mark.django_db(transaction=True)
def test_a_classical_run_learns_angry_vs_neutral_with_speakers_held_out(release):
    run = services.run_create(
        release=release, family="classical", hparams={"classifier": "svm"}, device="cpu", enqueue=False
    )

    assert services.run_execute(run_id=run.pk) is True

    run.refresh_from_db()
    assert run.status == "succeeded", run.traceback
    metrics = run.test_metrics
    assert set(metrics) >= {"ua", "wa", "macro_f1", "per_class", "confusion_matrix"}
    assert metrics["ua"] >= 0.75, metrics  # chance is 0.5; measured well above on held-out actors
    test_speakers = set(release.items.filter(split="test").values_list("clip__speaker", flat=True))
    train_speakers = set(release.items.filter(split="train").values_list("clip__speaker", flat=True))
    assert test_speakers and not (test_speakers & train_speakers)
    mv = ModelVersion.objects.get(run=run)
    assert mv.labels == ["angry", "neutral"] and mv.metrics["test"]["ua"] == metrics["ua"]
    assert mv.release_id == release.pk and mv.platform_version
    predictor = load_predictor(mv.artifact_dir)
    train, _, test, _ = services.release_datasets(release)
    proba = predictor.predict_proba(test.samples[:4])
    assert proba.shape == (4, 2) and abs(proba.sum(axis=1) - 1).max() < 1e-6


@pytest.mark.django_db(transaction=True)
def test_invalid_runs_are_refused_with_a_message(release, tmp_path):
    cases = [
        (dict(family="classical", device="cuda"), "hparams"),
        (dict(family="classical", precision="bf16"), "hparams"),
        (dict(family="mfcc_lstm", hparams={"batch_size": 0}), "hparams"),
        (dict(family="mfcc_lstm", hparams={"colour": "red"}), "hparams"),
        (dict(family="transformer"), "backbone"),
        (dict(family="transformer", backbone=str(tmp_path)), "backbone"),
        (dict(family="quantum"), "family"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as exc:
            services.run_create(release=release, enqueue=False, **kwargs)
        assert field in exc.value.message_dict, (kwargs, exc.value.message_dict)
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_and_retry_rules(release):
    run = services.run_create(release=release, family="classical", enqueue=False)
    services.run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == "cancelled"
    with pytest.raises(ValidationError, match="nothing to cancel"):
        services.run_cancel(run=run)
    services.run_retry(run=run)  # eager Celery: it runs to the end at once
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 1
    with pytest.raises(ValidationError, match="only failed, cancelled or dead runs"):
        services.run_retry(run=run)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_the_run_resumable_from_its_checkpoint(release, worker_factory):
    hparams = {
        "epochs": 4,
        "patience": 10,
        "batch_size": 32,
        "hidden": 16,
        "num_layers": 1,
        "n_mfcc": 20,
        "head_hidden": 16,
        "progress_every": 2,
    }
    first = worker_factory()
    run = services.run_create(release=release, family="mfcc_lstm", hparams=hparams, device="cpu")

    wait_for(
        lambda: len(TrainingRun.objects.get(pk=run.pk).history) >= 1, timeout=180, message="the first epoch"
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = len(TrainingRun.objects.get(pk=run.pk).history)
    assert TrainingRun.objects.get(pk=run.pk).status == "running"  # the row still says so: its worker is gone
    with pytest.raises(ValidationError):
        services.run_retry(run=run)  # a live-looking run is not retried...
    services.run_mark_dead(run=run)  # ...until its heartbeat is stale (here: told so)

    second = worker_factory()
    services.run_retry(run=run)
    run = wait_for(
        lambda: TrainingRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(),
        timeout=300,
        message="the retried run to finish",
    )
    assert run.status == "succeeded", run.traceback + second.log_path.read_text()[-2000:]
    assert run.resumed_from_epoch is not None and run.resumed_from_epoch >= killed_at >= 1
    assert run.attempts == 2 and len(run.history) == 4
    assert ModelVersion.objects.filter(run=run).exists()


@pytest.mark.django_db(transaction=True)
def test_training_api_and_roles(release, django_user_model, project):
    ml = django_user_model.objects.create_user(username="ml", password="x")
    ml.groups.add(Group.objects.get_or_create(name="ml_staff")[0])
    project.members.add(ml)
    annotator = django_user_model.objects.create_user(username="ann", password="x")
    annotator.groups.add(Group.objects.get_or_create(name="annotator")[0])
    client = APIClient()
    client.force_authenticate(ml)

    r = client.post(
        "/api/training/runs/", {"release": release.pk, "family": "classical", "device": "cuda"}, format="json"
    )
    assert r.status_code == 400 and "hparams" in r.json()
    r = client.post(
        "/api/training/runs/",
        {"release": release.pk, "family": "classical", "hparams": {"classifier": "logreg"}},
        format="json",
    )
    assert r.status_code == 201, r.json()
    run = client.get(f"/api/training/runs/{r.json()['id']}/").json()
    assert run["status"] == "succeeded" and run["test_metrics"]["ua"] > 0.5 and run["model_version"]
    assert {f["name"] for f in client.get("/api/training/families/").json()["families"]} == {
        "transformer",
        "mfcc_lstm",
        "logmel_cnn",
        "classical",
        "mel_image",
    }
    assert (
        client.get(f"/api/training/compare/?runs={run['id']}").json()["runs"][0]["test_ua"]
        == run["test_metrics"]["ua"]
    )
    client.force_login(ml)
    page = client.get(f"/training/runs/{run['id']}/")
    assert page.status_code == 200 and b"run-chart" in page.content

    client.force_authenticate(annotator)
    assert client.get("/api/training/runs/").status_code == 403
    assert (
        client.post(
            "/api/training/runs/", {"release": release.pk, "family": "classical"}, format="json"
        ).status_code
        == 403
    )


@pytest.mark.django_db(transaction=True)
def test_train_command(release, capsys):
    call_command("train", "--release", "angry-neutral", "--family", "classical", "--sync")
    out = capsys.readouterr().out
    run = TrainingRun.objects.get()
    m = run.test_metrics
    assert out == (
        f"run #{run.pk} succeeded: test UA {m['ua']:.3f}, WA {m['wa']:.3f}, macro-F1 {m['macro_f1']:.3f}\n"
    )
    assert Path(ModelVersion.objects.get().artifact_dir, "config.json").is_file()
    call_command("train", "--release", "angry-neutral", "--family", "classical")
    queued = TrainingRun.objects.latest("pk")
    assert capsys.readouterr().out == f"run #{queued.pk} queued on the gpu queue\n"


@pytest.mark.django_db(transaction=True)
def test_train_command_names_a_missing_release_or_version_clearly(release):
    with pytest.raises(CommandError, match=r"No release 'nope'\.$"):
        call_command("train", "--release", "nope", "--family", "classical")
    with pytest.raises(CommandError, match=r"No release 'angry-neutral' v9\.$"):
        call_command("train", "--release", "angry-neutral", "--release-version", "9", "--family", "classical")
    with pytest.raises(CommandError, match=r"in project 'elsewhere'"):
        call_command("train", "--release", "angry-neutral", "--project", "elsewhere", "--family", "classical")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", ["[1]", '"x"', "3", "null"])
def test_train_command_refuses_hparams_that_are_no_json_object(release, value):
    with pytest.raises(CommandError, match=r"--hparams must be a JSON object"):
        call_command("train", "--release", "angry-neutral", "--family", "classical", "--hparams", value)
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_train_command_on_a_release_with_no_test_split_says_so(release, project, capsys):
    from releases.imported import release_create_from_assignment

    clips = release.items.filter(copy_index=0).values_list("clip_id", flat=True)
    train_only = release_create_from_assignment(
        project=project, name="train-only", assignment={clip_id: "train" for clip_id in clips}
    )
    call_command("train", "--release", "train-only", "--family", "classical", "--sync")
    run = TrainingRun.objects.get(release=train_only)
    assert run.status == "succeeded" and run.test_metrics is None
    assert capsys.readouterr().out == (
        f"run #{run.pk} succeeded: release train-only v1 has no test split, so no test metrics; "
        "evaluate the model on another release\n"
    )
