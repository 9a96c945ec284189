"""Cross-corpus evaluation through the platform: RAVDESS and EmoDB imported with `import_corpus`,
a release of each, a classical model trained on RAVDESS and evaluated on EmoDB (and on its own
release), figures checked against scikit-learn on predictions this test makes itself."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.management import call_command
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from annotation.guideline import ensure_guideline
from conftest import _user, api
from core.models import Project
from corpus.audio import stored_clip_samples
from corpus.models import Source
from releases.build import ReleaseParams, release_build
from releases.importers import label_mappings_ensure
from training import selectors, services
from training.ml.predict import load_predictor
from training.models import Evaluation, ModelVersion

LABELS = ["happy", "sad", "angry", "neutral"]
# RAVDESS: neutral 01, happy 03, sad 04, angry 05; intensity 01 (normal) only: 16 files an actor.
RAVDESS_ACTORS = range(1, 7)
# EmoDB: W anger, F happiness, T sadness, N neutral (mapped to angry, happy, sad, neutral).
EMODB_SPEAKERS = ("03", "08", "09")


def _import(tmp_path, files, fmt: str, project: Project, folder: str) -> Source:
    target = tmp_path / folder
    target.mkdir()
    for f in files:
        (target / f.name).symlink_to(f)
    call_command("import_corpus", str(target), "--format", fmt, "--project", project.slug, "--no-progress")
    return Source.objects.get(
        project=project, kind="corpus", title={"ravdess": "RAVDESS", "emodb": "EmoDB"}[fmt]
    )


def _ravdess_files(data_dir):
    return [
        f
        for f in sorted((data_dir / "ravdess").glob("03-01-0[1345]-01-*.flac"))
        if int(f.stem[-2:]) in RAVDESS_ACTORS
    ]


def _emodb_files(data_dir, speakers=EMODB_SPEAKERS, letters="WFTN"):
    return [
        f
        for f in sorted((data_dir / "emodb").glob("*.flac"))
        if f.name[:2] in speakers and f.name[5] in letters
    ]


@pytest.fixture
def corpora(tmp_path, data_dir, project):
    """The RAVDESS and EmoDB releases of one project, and a classical model trained on RAVDESS."""
    ensure_guideline()
    label_mappings_ensure()
    ravdess = _import(tmp_path, _ravdess_files(data_dir), "ravdess", project, "ravdess")
    emodb = _import(tmp_path, _emodb_files(data_dir), "emodb", project, "emodb")
    rav_release = release_build(
        project=project,
        params=ReleaseParams(
            name="ravdess4",
            label_set=LABELS,
            group_by="speaker",
            split="70/15/15",
            seed=0,
            sources=[ravdess.pk],
        ),
    )
    emo_release = release_build(
        project=project,
        params=ReleaseParams(
            name="emodb4",
            label_set=LABELS,
            balancing="none",
            # Three speakers cannot fill three splits; evaluations read every item anyway.
            group_by="recording",
            split="70/15/15",
            seed=0,
            sources=[emodb.pk],
        ),
    )
    run = services.run_create(release=rav_release, family="classical", device="cpu", enqueue=False)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.traceback
    return {"ravdess": rav_release, "emodb": emo_release, "model": ModelVersion.objects.get(run=run)}


def _own_predictions(model: ModelVersion, items, *, voices: bool = True) -> tuple[list[str], list[str]]:
    """The labels and the predictions of `items` (ReleaseItems), made here with training.ml.predict,
    each clip with its voice key (speaker normalisation) unless `voices` is False."""
    predictor = load_predictor(model.artifact_dir)
    items = list(items.select_related("clip__speaker_cluster").order_by("pk"))
    proba = predictor.predict_proba(
        [stored_clip_samples(i.clip.audio.name)[0] for i in items],
        voices=[i.clip.voice_key for i in items] if voices else None,
    )
    return [i.label for i in items], [predictor.labels[k] for k in np.argmax(proba, axis=1)]


@pytest.mark.django_db(transaction=True)
def test_a_ravdess_model_evaluated_on_emodb_matches_scikit_learn(corpora, project, django_user_model):
    model, emodb = corpora["model"], corpora["emodb"]
    ml = _user(django_user_model, "ml", "ml_staff", project=project)
    client = api(ml)

    r = client.post(
        "/api/training/evaluations/",
        {"model_version": model.pk, "release": emodb.pk, "split": ""},
        format="json",
    )

    assert r.status_code == 201, r.content
    ev = Evaluation.objects.get(pk=r.json()["id"])  # eager Celery: it ran on commit
    assert ev.status == "succeeded", ev.traceback
    assert ev.project_id == project.pk and ev.created_by == ml and ev.attempts == 1
    items = emodb.items.filter(copy_index=0)
    assert ev.metrics["n"] == items.count() > 20
    assert ev.n_excluded_seen == 0 and ev.n_excluded_unmatched == {}  # another corpus, same labels
    y_true, y_pred = _own_predictions(model, items)
    # The default classical model is speaker-normalised: the evaluation must have given each clip
    # its speaker (EmoDB's, as imported), and the voices change some predictions.
    assert load_predictor(model.artifact_dir).groups_voices
    assert {i.clip.voice_key for i in items.select_related("clip")} == {
        f"speaker:emodb-{s}" for s in EMODB_SPEAKERS
    }
    assert _own_predictions(model, items, voices=False)[1] != y_pred
    assert ev.metrics["ua"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert ev.metrics["wa"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert ev.metrics["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert ev.metrics["labels"] == model.labels
    assert ev.metrics["matched_labels"] == [label for label in model.labels if label in set(y_true)]
    for label, row in zip(ev.metrics["matched_labels"], ev.metrics["confusion"], strict=True):
        assert row == [
            sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == label and p == col)
            for col in model.labels
        ]

    # Read back through the API: the detail, the filtered list, the comparison.
    assert client.get(f"/api/training/evaluations/{ev.pk}/").json()["metrics"]["ua"] == ev.metrics["ua"]
    listed = client.get(f"/api/training/evaluations/?model_version={model.pk}&release={emodb.pk}").json()
    assert [e["id"] for e in listed["results"]] == [ev.pk] and listed["count"] == 1
    assert client.get(f"/api/training/evaluations/?release={corpora['ravdess'].pk}").json()["count"] == 0
    compared = client.get(f"/api/training/compare/?runs={model.run_id}").json()["evaluations"]
    assert [(e["id"], e["n"], e["evaluated_on"]) for e in compared] == [(ev.pk, ev.metrics["n"], str(emodb))]
    client.force_login(ml)
    page = client.get(f"/training/compare/?runs={model.run_id}").content.decode()
    assert "Evaluations on other releases" in page and f"{ev.metrics['ua']:.3f}" in page
    run_page = client.get(f"/training/runs/{model.run_id}/").content.decode()
    assert 'id="evaluate-form"' in run_page and f'<option value="{emodb.pk}"' in run_page


@pytest.mark.django_db(transaction=True)
def test_on_its_own_release_the_items_it_saw_are_left_out_and_counted(corpora, project):
    model, ravdess, emodb = corpora["model"], corpora["ravdess"], corpora["emodb"]
    seen = ravdess.items.filter(split__in=["train", "validation"])
    assert selectors.model_version_seen_clip_ids(model) == set(seen.values_list("clip_id", flat=True))

    ev = services.evaluation_create(model_version=model, release=ravdess, split="", enqueue=False)
    services.evaluation_execute(evaluation_id=ev.pk)

    ev.refresh_from_db()
    assert ev.status == "succeeded", ev.traceback
    assert ev.n_excluded_seen == seen.count() > 0
    test_items = ravdess.items.filter(split="test")
    assert ev.metrics["n"] == test_items.count() > 0
    # The test split alone gives the run's own test figures.
    y_true, y_pred = _own_predictions(model, test_items)
    assert ev.metrics["ua"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert ev.metrics["ua"] == pytest.approx(model.metrics["test"]["ua"])

    # A model that knows two labels: the others are left out and counted per label.
    two = release_build(
        project=project,
        params=ReleaseParams(
            name="ravdess2",
            label_set=["angry", "neutral"],
            group_by="speaker",
            split="70/15/15",
            seed=0,
            sources=list(ravdess.items.values_list("clip__recording__source_id", flat=True).distinct()),
        ),
    )
    run = services.run_create(release=two, family="classical", device="cpu", enqueue=False)
    services.run_execute(run_id=run.pk)
    small = ModelVersion.objects.get(run=run)
    ev2 = services.evaluation_create(model_version=small, release=emodb, split="test", enqueue=False)
    services.evaluation_execute(evaluation_id=ev2.pk)
    ev2.refresh_from_db()
    emo_test = emodb.items.filter(split="test", copy_index=0)
    expected = {
        label: emo_test.filter(label=label).count()
        for label in ("happy", "sad")
        if emo_test.filter(label=label).exists()
    }
    assert ev2.status == "succeeded" and ev2.n_excluded_unmatched == expected and expected
    assert ev2.metrics["n"] == emo_test.filter(label__in=["angry", "neutral"]).count()
    assert ev2.metrics["labels"] == small.labels and len(ev2.metrics["confusion"][0]) == 2


@pytest.mark.django_db(transaction=True)
def test_refusals_write_nothing(corpora, project, django_user_model, tmp_path, data_dir):
    model, ravdess = corpora["model"], corpora["ravdess"]
    ensure_guideline()
    other = Project.objects.create(name="Other corpus", slug="other-corpus")
    source = _import(tmp_path, _emodb_files(data_dir, ("10", "11"), "WN"), "emodb", other, "other")
    theirs = release_build(
        project=other,
        params=ReleaseParams(
            name="theirs",
            label_set=["angry", "neutral"],
            balancing="none",
            group_by="recording",
            split="80/20",
            sources=[source.pk],
        ),
    )
    ml = _user(django_user_model, "ml", "ml_staff", project=project)
    both = _user(django_user_model, "both", "ml_staff", project=project)
    other.members.add(both)
    outsider = _user(django_user_model, "outsider", "ml_staff", project=other)
    url = "/api/training/evaluations/"

    def post(user, **body):
        return api(user).post(url, {"model_version": model.pk, "release": ravdess.pk, **body}, format="json")

    assert post(ml, release=theirs.pk).status_code == 404  # not one of ml's projects
    r = post(both, release=theirs.pk)  # both projects are hers: refused by the service
    assert r.status_code == 400 and "another project" in r.json()["detail"]
    r = post(ml, split="holdout")
    assert r.status_code == 400 and "split" in r.json()
    r = post(ml, split="train")  # every train item was seen in training
    assert r.status_code == 400 and r.json()["code"] == "nothing_to_evaluate"
    assert post(outsider).status_code == 404  # nothing of ours for an outsider
    assert not Evaluation.objects.exists()

    ev = services.evaluation_create(model_version=model, release=ravdess, split="test", enqueue=False)
    assert api(outsider).get(f"{url}{ev.pk}/").status_code == 404
    assert api(outsider).get(url).json()["count"] == 0
    assert api(ml).get(f"{url}?model_version=abc").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_ml_staff_evaluate_from_the_admin_within_their_project(corpora, project, django_user_model):
    from django.test import Client

    from core.services import roles_ensure

    roles_ensure()
    model, emodb = corpora["model"], corpora["emodb"]
    ml = _user(django_user_model, "ml", "ml_staff", project=project)
    ml.is_staff = True
    ml.save()
    client = Client()
    client.force_login(ml)

    # The model versions' action opens the form for that model; its choices are ml's project's.
    r = client.post(
        "/admin/training/modelversion/", {"action": "evaluate_on_release", "_selected_action": [model.pk]}
    )
    assert r.status_code == 302 and r["Location"].endswith(
        f"/admin/training/evaluation/add/?model_version={model.pk}"
    )
    form = client.get(r["Location"]).content.decode()
    releases = set(
        re.findall(r'<option value="(\d+)"', form.split('name="release"')[1].split("</select>")[0])
    )
    assert releases == {str(corpora["ravdess"].pk), str(emodb.pk)}

    refused = client.post(
        "/admin/training/evaluation/add/",
        {"model_version": model.pk, "release": emodb.pk, "split": "holdout"},
    )
    assert refused.status_code == 200 and not Evaluation.objects.exists()
    # The service's refusals come back on the form, never as "added successfully".
    seen = client.post(
        "/admin/training/evaluation/add/",
        {"model_version": model.pk, "release": corpora["ravdess"].pk, "split": "train"},
    )
    body = seen.content.decode()
    assert seen.status_code == 200 and "Nothing to evaluate" in body and "added successfully" not in body
    assert not Evaluation.objects.exists()
    accepted = client.post(
        "/admin/training/evaluation/add/", {"model_version": model.pk, "release": emodb.pk, "split": ""}
    )
    assert accepted.status_code == 302
    ev = Evaluation.objects.get()  # eager Celery: it ran on commit
    assert ev.status == "succeeded" and ev.created_by == ml and ev.metrics["n"] == emodb.items.count()
    page = client.get(f"/admin/training/evaluation/{ev.pk}/change/").content.decode()
    assert "100.0%" in page and "macro_f1" in page
