"""The Quality page's figures: only clips the model did not learn from, gold imports on request,
and "partial" while a pre-label job of the model is still running."""

from __future__ import annotations

import pytest
from django.db import transaction

from annotation.consensus import consensus_compute
from annotation.models import Annotation, ClipConsensus, LabelOption
from conftest import _user, api
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf
from inference import services
from inference.models import Prediction, PrelabelJob
from releases.models import GoldLabel, ReleaseItem


def _labelled_broadcast_clips(project, tmp_path, data_dir, django_user_model, *, emotion: str) -> list[int]:
    """Clips of a broadcast-like recording (segmented), each labelled `emotion` by three annotators."""
    samples, rate = mf.ravdess_speech(data_dir, n=4, offset=1380)
    source = corpus_services.source_get_or_create(project=project, title="Quality episode", episode="E1")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "quality.wav", samples, rate)
        ).recording
    clip_ids = list(rec.clips.order_by("start_s").values_list("pk", flat=True))
    emo = LabelOption.objects.get(kind="emotion", code=emotion)
    female = LabelOption.objects.get(kind="gender", code="female")
    annotators = [_user(django_user_model, f"ann{i}", "annotator", project=project) for i in range(3)]
    with transaction.atomic():
        for clip_id in clip_ids:
            for user in annotators:
                Annotation.objects.create(clip_id=clip_id, annotator=user, emotion=emo, gender=female)
            assert consensus_compute(clip_id=clip_id).status == ClipConsensus.Status.AGREED
    return clip_ids


def _agreement(model_version, clip_ids) -> float:
    rows = Prediction.objects.filter(model_version=model_version, clip_id__in=clip_ids).values_list(
        "top_label", "clip__consensus__emotion__code"
    )
    return round(sum(p == t for p, t in rows) / len(rows), 4)


@pytest.mark.django_db(transaction=True)
def test_quality_counts_only_clips_outside_training_and_gold_on_request(
    trained_model, project, tmp_path, data_dir, django_user_model, curator, outsider
):
    labelled = _labelled_broadcast_clips(project, tmp_path, data_dir, django_user_model, emotion="angry")
    assert len(labelled) >= 3
    all_clips = list(Clip.objects.filter(recording__source__project=project).values_list("pk", flat=True))
    services.prelabel_clips(model_version=trained_model, clip_ids=all_clips)  # every clip, gold included
    assert Prediction.objects.filter(model_version=trained_model).count() == len(all_clips)
    seen = set(
        ReleaseItem.objects.filter(
            release=trained_model.release, split__in=["train", "validation"]
        ).values_list("clip_id", flat=True)
    )
    gold = set(
        GoldLabel.objects.filter(clip__recording__source__project=project).values_list("clip_id", flat=True)
    )
    assert seen and seen <= gold and gold - seen  # the test split and clips left out of the release
    client = api(curator)

    row = client.get("/api/inference/quality/").json()["model_versions"][0]

    assert row["id"] == trained_model.pk and row["partial"] is False and row["job"] is None
    assert row["n_compared"] == row["n_eligible"] == len(labelled)
    assert row["n_excluded_seen"] == len(seen) and row["n_excluded_gold"] == len(gold - seen)
    assert row["agreement"] == _agreement(trained_model, labelled)
    assert set(row["per_class"]) == {"angry"} and row["per_class"]["angry"]["n"] == len(labelled)

    row = client.get("/api/inference/quality/?include_gold=1").json()["model_versions"][0]

    unseen_gold = gold - seen
    assert row["include_gold"] is True and row["n_excluded_gold"] == 0
    assert row["n_compared"] == len(labelled) + len(unseen_gold)
    assert row["n_excluded_seen"] == len(seen)
    assert row["agreement"] == _agreement(trained_model, [*labelled, *unseen_gold])
    # Before this fix every clip counted, the training clips too: the figure was the training fit.
    assert row["n_compared"] < len(all_clips)

    assert client.get("/api/inference/quality/?include_gold=perhaps").status_code == 400
    assert client.get("/api/inference/quality/?project=other").status_code == 404
    theirs = api(outsider).get("/api/inference/quality/").json()["model_versions"]
    assert theirs == []  # the outsider's project has no model; ours is not shown


@pytest.mark.django_db(transaction=True)
def test_quality_says_partial_while_a_prelabel_job_of_the_model_runs(
    trained_model, project, tmp_path, data_dir, django_user_model, curator
):
    labelled = _labelled_broadcast_clips(project, tmp_path, data_dir, django_user_model, emotion="neutral")
    services.prelabel_clips(model_version=trained_model, clip_ids=labelled[:-1])  # one still to do
    job = services.prelabel_job_create(project=project, model_version=trained_model, enqueue=False)
    PrelabelJob.objects.filter(pk=job.pk).update(status="running", progress=0.5)
    client = api(curator)

    row = client.get("/api/inference/quality/").json()["model_versions"][0]

    assert row["partial"] is True and row["job"] == {"id": job.pk, "status": "running", "progress": 0.5}
    assert (row["n_compared"], row["n_eligible"]) == (len(labelled) - 1, len(labelled))
    client.force_login(curator)
    page = client.get("/inference/quality/").content.decode()
    assert 'id="include-gold"' in page and "Excluded" in page

    PrelabelJob.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0)
    row = client.get("/api/inference/quality/").json()["model_versions"][0]
    assert row["partial"] is False and row["job"] is None
