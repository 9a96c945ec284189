"""Consensus on the K-th label, agreement figures, adjudication and releases through the API."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from django.contrib.auth.models import Group
from statsmodels.stats.inter_rater import fleiss_kappa

from annotation import services
from annotation.guideline import ensure_guideline
from annotation.models import ClipConsensus
from annotation.tests.factories import clone_clips, ingest_segmented
from conftest import api
from corpus import services as corpus_services
from corpus.tests import media_files as mf

# These tests need clips, not voices.
pytestmark = pytest.mark.usefixtures("no_speaker_step")

# Planted votes: clip -> the emotion each of the three annotators gives.
PLAN = [
    ("happy", "happy", "happy"),  # 3/3
    ("sad", "sad", "angry"),  # 2/3
    ("happy", "sad", "angry"),  # no majority -> adjudication
    ("neutral", "neutral", "neutral"),  # 3/3
    ("angry", "angry", "neutral"),  # 2/3
    ("sad", "neutral", "sad"),  # 2/3
]


@pytest.fixture
def labelled(project, django_user_model, tmp_path, data_dir):
    ensure_guideline()
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="Curation")
    rec = ingest_segmented(source, mf.write_wav(tmp_path / "a.wav", samples, rate))
    clip_ids = sorted(clone_clips(rec, len(PLAN)))
    # Three annotators only, and the tie must reach a curator: no dynamic overlap here
    # (annotation/tests/test_escalation.py covers it).
    config = services.config_for(project)
    config.escalation = "off"
    config.save()
    group = Group.objects.get_or_create(name="annotator")[0]
    annotators = []
    for name in ("amel", "bilel", "chiraz"):
        user = django_user_model.objects.create_user(username=name, password="x")
        user.groups.add(group)
        project.members.add(user)
        annotators.append(user)
    for i, user in enumerate(annotators):
        for _ in PLAN:
            clip_id = services.assignment_next(
                user=user, project=project, kind=services.LABELLING
            ).assignment.clip_id
            emotion = PLAN[clip_ids.index(clip_id)][i]
            services.annotation_submit(
                user=user, clip_id=clip_id, emotion=emotion, gender="female" if i else "male"
            )
    curator = django_user_model.objects.create_user(username="cur", password="x")
    curator.groups.add(Group.objects.get_or_create(name="curator")[0])
    project.members.add(curator)
    return clip_ids, annotators, curator


@pytest.mark.django_db
def test_consensus_is_computed_when_the_third_label_arrives(labelled):
    clip_ids, *_ = labelled
    rows = {c.clip_id: c for c in ClipConsensus.objects.select_related("emotion", "gender")}
    assert [rows[c].agreement for c in clip_ids] == ["3/3", "2/3", "none", "3/3", "2/3", "2/3"]
    assert (
        rows[clip_ids[0]].emotion.code == "happy" and rows[clip_ids[0]].gender.code == "female"
    )  # 2 of 3 said female
    assert rows[clip_ids[2]].status == "needs_adjudication" and rows[clip_ids[2]].emotion is None
    assert rows[clip_ids[1]].distribution == {"angry": 0.3333, "sad": 0.6667}


@pytest.mark.django_db
def test_agreement_figures_equal_the_reference_implementations(labelled):
    _, annotators, curator = labelled
    body = api(curator).get("/api/agreement/").json()

    codes = body["categories"]
    table = np.array([[row.count(code) for code in codes] for row in PLAN])
    assert body["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-9)
    reliability = np.array([[codes.index(row[r]) for row in PLAN] for r in range(3)], dtype=float)
    assert body["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal"), abs=1e-9
    )
    levels = body["agreement_levels"]
    assert (levels["n_unanimous"], levels["n_at_least_two"], levels["n_none"]) == (2, 5, 1)
    assert levels["unanimous"] == pytest.approx(2 / 6)
    assert {r["rater"] for r in body["rater_agreement_with_consensus"]} == {"amel", "bilel", "chiraz"}
    table = {r["emotion"]: r for r in body["corpus_table"]["rows"]}
    assert (
        table["happy"]["female"] == 1
        and table["sad"]["total"] == 2
        and body["corpus_table"]["totals"]["total"] == 5
    )
    assert sum(body["durations"]["counts"]) == 5
    assert api(annotators[0]).get("/api/agreement/").status_code == 403
    assert api(curator).get("/api/agreement/?date_from=not-a-date").status_code == 400
    confusions = api(curator).get("/api/agreement/annotators/").json()
    assert len(confusions["annotators"]) == 3 and len(confusions["annotators"][0]["confusion"]) == len(codes)


@pytest.mark.django_db
def test_adjudication_by_a_curator_who_did_not_label_the_clip(labelled, project):
    clip_ids, annotators, curator = labelled
    tie = clip_ids[2]
    queue = api(curator).get("/api/adjudication/").json()["results"]
    assert [q["clip"] for q in queue] == [tie]
    assert sorted(label["emotion"] for label in queue[0]["labels"]) == ["angry", "happy", "sad"]

    # An annotator who is also a curator may not judge a clip they labelled.
    annotators[0].groups.add(Group.objects.get_or_create(name="curator")[0])
    amel = type(annotators[0]).objects.get(pk=annotators[0].pk)  # a fresh user, as each request has
    assert api(amel).get("/api/adjudication/").json()["results"] == []
    r = api(amel).post(
        "/api/adjudication/decisions/", {"clip": tie, "decision": "label", "emotion": "sad"}, format="json"
    )
    assert r.status_code == 403 and "another curator" in r.json()["detail"]

    r = api(curator).post(
        "/api/adjudication/decisions/", {"clip": tie, "decision": "label", "emotion": "joy"}, format="json"
    )
    assert r.status_code == 400 and "Unknown emotion" in r.json()["detail"]
    r = api(curator).post(
        "/api/adjudication/decisions/",
        {"clip": tie, "decision": "label", "emotion": "sad", "gender": "female"},
        format="json",
    )
    assert r.status_code == 201
    assert ClipConsensus.objects.get(clip_id=tie).status == "adjudicated"
    r = api(curator).post("/api/adjudication/decisions/", {"clip": tie, "decision": "discard"}, format="json")
    assert r.status_code == 409

    # Recomputing the consensus (either method) keeps the curator's decision.
    for method in ("dawid_skene", "majority"):
        assert (
            api(curator).post("/api/consensus/recompute/", {"method": method}, format="json").status_code
            == 200
        )
        assert ClipConsensus.objects.get(clip_id=tie).status == "adjudicated"


@pytest.mark.django_db
def test_release_api_builds_and_reports_bad_parameters(labelled):
    _, annotators, curator = labelled
    client = api(curator)
    r = client.post("/api/releases/", {"name": "v-small", "balancing": "magic"}, format="json")
    assert r.status_code == 400 and "balancing" in r.json() and "Unknown balancing" in r.json()["detail"]
    r = client.post(
        "/api/releases/",
        {"name": "small", "balancing": "none", "split": "80/20", "group_by": "recording"},
        format="json",
    )
    # All six clips come from one recording: grouped by recording they cannot be split.
    assert r.status_code == 400
    assert api(annotators[0]).post("/api/releases/", {"name": "x"}, format="json").status_code == 403
    assert client.get("/api/releases/").json()["count"] == 0


@pytest.mark.django_db
def test_one_label_gets_an_empty_state_not_estimates(project, django_user_model, tmp_path, data_dir):
    """One label on one clip: no kappa to chart, and no Dawid-Skene "accuracy" echoed from it."""
    from annotation.selectors import DAWID_SKENE_MIN_CLIPS

    ensure_guideline()
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="Curation")
    rec = ingest_segmented(source, mf.write_wav(tmp_path / "a.wav", samples, rate))
    clone_clips(rec, 2)
    anno = django_user_model.objects.create_user(username="anno", password="x")
    anno.groups.add(Group.objects.get_or_create(name="annotator")[0])
    curator = django_user_model.objects.create_user(username="cur", password="x")
    curator.groups.add(Group.objects.get_or_create(name="curator")[0])
    project.members.add(anno, curator)
    clip_id = services.assignment_next(user=anno, project=project, kind=services.LABELLING).assignment.clip_id
    services.annotation_submit(user=anno, clip_id=clip_id, emotion="happy", gender="male")

    figures = api(curator).get("/api/agreement/").json()
    assert not any(v is not None for v in figures["fleiss_kappa_per_category"])  # the page says so
    body = api(curator).get("/api/agreement/annotators/").json()
    assert body["annotators"] == []
    assert (body["n_multi_label_clips"], body["min_clips"]) == (0, DAWID_SKENE_MIN_CLIPS)


@pytest.mark.django_db
def test_dawid_skene_is_estimated_from_the_minimum_on(labelled):
    from annotation.selectors import DAWID_SKENE_MIN_CLIPS

    _, _, curator = labelled
    body = api(curator).get("/api/agreement/annotators/").json()
    assert body["n_multi_label_clips"] == len(PLAN) >= DAWID_SKENE_MIN_CLIPS
    assert len(body["annotators"]) == 3
