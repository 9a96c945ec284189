"""Pre-labelling through the Celery chain, queue ordering by policy, the inference API."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from annotation import services as annotation_services
from annotation.models import AnnotationConfig
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf
from inference import services
from inference.models import Prediction


def _ingest(project, tmp_path, data_dir, *, offset: int, n: int = 5) -> list[Clip]:
    samples, rate = mf.ravdess_speech(data_dir, n=n, offset=offset)
    source = corpus_services.source_get_or_create(project=project, title="New episode", episode=f"E{offset}")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / f"ep{offset}.wav", samples, rate)
        ).recording
    return list(rec.clips.order_by("start_s"))


@pytest.mark.django_db(transaction=True)
def test_new_clips_are_prelabelled_through_the_celery_chain_once_per_version(
    trained_model, project, tmp_path, data_dir
):
    services.prelabeller_activate(project=project, model_version=trained_model)

    clips = _ingest(project, tmp_path, data_dir, offset=1300)

    preds = Prediction.objects.filter(model_version=trained_model, clip__in=clips)
    assert preds.count() == len(clips) >= 4
    for p in preds:
        assert set(p.probabilities) == {"angry", "neutral"} and abs(sum(p.probabilities.values()) - 1) < 1e-3
        assert p.top_label == max(p.probabilities, key=p.probabilities.get)
        assert 0 <= p.entropy <= 1.0 + 1e-9  # two classes: at most 1 bit
    assert services.prelabel_clips(model_version=trained_model, clip_ids=[c.pk for c in clips]) == 0
    assert Prediction.objects.filter(clip__in=clips).count() == len(clips)


@pytest.mark.django_db(transaction=True)
def test_a_prelabel_job_covers_the_existing_clips(trained_model, project, tmp_path, data_dir):
    clips = _ingest(project, tmp_path, data_dir, offset=1320)  # before any pre-labeller: no predictions
    assert not Prediction.objects.filter(clip__in=clips).exists()
    services.prelabeller_activate(project=project, model_version=trained_model)
    job = services.prelabel_job_create(project=project)  # eager: runs at once
    job.refresh_from_db()
    assert job.status == "succeeded" and job.n_done == job.n_total > 0
    assert Prediction.objects.filter(model_version=trained_model, clip__in=clips).count() == len(clips)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["most_uncertain_first", "rarest_predicted_first", "fifo"])
def test_the_labelling_queue_follows_the_chosen_policy(
    policy, trained_model, project, tmp_path, data_dir, django_user_model
):
    services.prelabeller_activate(project=project, model_version=trained_model)
    clips = _ingest(project, tmp_path, data_dir, offset=1340, n=6)
    with transaction.atomic():
        for clip in clips:
            annotation_services._decide(clip, accepted=True)
    config, _ = AnnotationConfig.objects.get_or_create(project=project)
    config.queue_policy = policy
    config.save()
    services.queue_reprioritise(project=project)
    preds = {p.clip_id: p for p in Prediction.objects.filter(model_version=trained_model, clip__in=clips)}
    if policy == "most_uncertain_first":
        expected = sorted(preds, key=lambda c: (-preds[c].entropy, c))
    elif policy == "rarest_predicted_first":
        # Gold labels of the release: neutral and angry equally common; ties go to the surest.
        from annotation.models import ClipConsensus

        counts = {
            code: ClipConsensus.objects.filter(emotion__code=code).count() for code in ("angry", "neutral")
        }
        total = sum(counts.values())
        expected = sorted(
            preds, key=lambda c: (counts[preds[c].top_label] / total - 0.01 * preds[c].top_probability, c)
        )
    else:
        expected = sorted(preds)
    user = django_user_model.objects.create_user(username="ann", password="x")
    user.groups.add(Group.objects.get_or_create(name="annotator")[0])
    project.members.add(user)
    order = []
    for _ in clips:
        handout = annotation_services.assignment_next(user=user, project=project, kind="labelling")
        order.append(handout.assignment.clip_id)
        annotation_services.assignment_skip(user=user, clip_id=handout.assignment.clip_id, kind="labelling")
    assert order == expected


@pytest.mark.django_db(transaction=True)
def test_the_suggestion_is_hidden_unless_the_project_shows_it(
    trained_model, project, tmp_path, data_dir, django_user_model
):
    clips = _ingest(project, tmp_path, data_dir, offset=1360, n=2)
    services.prelabeller_activate(project=project, model_version=trained_model)
    services.prelabel_clips(model_version=trained_model, clip_ids=[c.pk for c in clips])
    with transaction.atomic():
        for clip in clips:
            annotation_services._decide(clip, accepted=True)
    user = django_user_model.objects.create_user(username="ann", password="x")
    user.groups.add(Group.objects.get_or_create(name="annotator")[0])
    project.members.add(user)
    client = APIClient()
    client.force_authenticate(user)
    assert "suggestion" not in client.get("/api/annotation/next/").json()
    services.prelabeller_activate(project=project, model_version=trained_model, show_to_annotators=True)
    body = client.get("/api/annotation/next/").json()
    assert (
        body["suggestion"]["label"] in ("angry", "neutral")
        and body["suggestion"]["model_version"] == trained_model.pk
    )
    r = client.post(
        "/api/annotation/annotations/",
        {
            "clip": body["clip"]["id"],
            "emotion": "angry",
            "gender": "male",
            "shown_prediction": body["suggestion"],
        },
        format="json",
    )
    assert r.status_code == 201
    from annotation.models import Annotation

    assert Annotation.objects.get().shown_prediction["label"] == body["suggestion"]["label"]


@pytest.mark.django_db(transaction=True)
def test_inference_api_segments_long_audio_and_refuses_bad_input(
    trained_model, project, tmp_path, data_dir, django_user_model, settings
):
    ml = django_user_model.objects.create_user(username="ml", password="x")
    ml.groups.add(Group.objects.get_or_create(name="ml_staff")[0])
    project.members.add(ml)
    client = APIClient()
    client.force_authenticate(ml)
    samples, rate = mf.ravdess_speech(data_dir, n=4, offset=1380)
    long_wav = mf.write_wav(tmp_path / "long.wav", samples, rate)
    mp3 = mf.transcode(long_wav, tmp_path / "long.mp3")

    r = client.post(
        "/api/inference/", {"file": SimpleUploadedFile("long.mp3", mp3.read_bytes())}, format="multipart"
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert len(body["segments"]) >= 3 and not body["silence"] and body["labels"] == ["angry", "neutral"]
    assert all(
        s["end"] > s["start"] and abs(sum(s["probabilities"].values()) - 1) < 1e-3 for s in body["segments"]
    )
    quiet = mf.write_wav(tmp_path / "quiet.wav", np.zeros(32000, np.float32) + 1e-5, 16000)
    r = client.post(
        "/api/inference/",
        {"file": SimpleUploadedFile("q.wav", quiet.read_bytes()), "mode": "chunk"},
        format="multipart",
    )
    assert r.status_code == 200 and r.json()["silence"] is True and r.json()["segments"] == []
    r = client.post(
        "/api/inference/", {"file": SimpleUploadedFile("x.mp3", b"not audio" * 100)}, format="multipart"
    )
    assert r.status_code == 422 and "Not a readable audio" in r.json()["detail"]
    r = client.post("/api/inference/", {"file": SimpleUploadedFile("e.wav", b"")}, format="multipart")
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    settings.TUNISER = {**settings.TUNISER, "INFERENCE_MAX_S": 5.0}
    r = client.post(
        "/api/inference/", {"file": SimpleUploadedFile("long.wav", long_wav.read_bytes())}, format="multipart"
    )
    assert r.status_code == 413 and "at most 5 s" in r.json()["detail"]
    assert client.get("/api/inference/quality/").status_code == 200
    annotator = django_user_model.objects.create_user(username="ann2", password="x")
    annotator.groups.add(Group.objects.get_or_create(name="annotator")[0])
    client.force_authenticate(annotator)
    assert (
        client.post(
            "/api/inference/", {"file": SimpleUploadedFile("long.mp3", mp3.read_bytes())}, format="multipart"
        ).status_code
        == 403
    )
