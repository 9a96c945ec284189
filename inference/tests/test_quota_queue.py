"""The quota-driven labelling queue: quota targets (API, validation, tenancy), counting the cells,
ranking by the cells still short (and no longer once a cell is full), the random share of
hand-outs, and the Quotas page and API."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client, TestCase
from scipy.stats import binom

from annotation import consensus, policies
from annotation import services as annotation_services
from annotation.guideline import ensure_guideline
from annotation.models import AnnotationConfig, Assignment, ClipConsensus, LabelOption, PoolEntry, QuotaTarget
from annotation.selectors import quota_counts
from annotation.tests.factories import clone_clips
from conftest import _user, api
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf
from inference import selectors, services
from inference.models import Prediction

QUOTAS = "/api/annotation/quotas/"


def _recording(project, tmp_path, data_dir, *, offset: int = 1290):
    """A real recording, segmented (its first clip is the template of `clone_clips`)."""
    ensure_guideline()
    samples, rate = mf.ravdess_speech(data_dir, n=1, offset=offset)
    source = corpus_services.source_get_or_create(
        project=project, title="Quota episode", episode=f"E{offset}"
    )
    path = mf.write_wav(tmp_path / f"q{offset}.wav", samples, rate)
    # Segmentation is queued after commit: run it even inside a test's rolled-back transaction.
    with TestCase.captureOnCommitCallbacks(execute=True):
        with transaction.atomic():
            rec = corpus_services.recording_ingest(source=source, path=path).recording
    assert rec.clips.exists()
    return rec


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _option(kind: str, code: str) -> LabelOption:
    return LabelOption.objects.get(kind=kind, code=code)


def _final(clip_ids, *, emotion: str, gender: str | None, status=ClipConsensus.Status.AGREED, speaker=""):
    """Give clips a consensus (out of the labelling pool), as labelling or adjudication would."""
    Clip.objects.filter(pk__in=clip_ids).update(status=Clip.Status.LABELLED, speaker=speaker)
    PoolEntry.objects.filter(clip_id__in=clip_ids, kind="labelling").update(open=False)
    for clip_id in clip_ids:
        ClipConsensus.objects.create(
            clip_id=clip_id,
            status=status,
            emotion=_option("emotion", emotion),
            gender=_option("gender", gender) if gender else None,
            n_votes=3,
            n_agree=3,
        )


def _ranked(project) -> list[int]:
    """The labelling queue as a hand-out orders it (the project's policy)."""
    config = AnnotationConfig.objects.get(project=project)
    entries = PoolEntry.objects.filter(project=project, kind="labelling", open=True)
    return list(
        policies.order(entries, project=project, kind="labelling", config=config).values_list(
            "clip_id", flat=True
        )
    )


# --- targets -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_quota_targets_are_set_changed_and_removed_by_curators_of_the_project(
    project, curator, annotator, outsider
):
    ensure_guideline()
    client = api(curator)

    created = client.post(QUOTAS, {"emotion": "happy", "gender": "female", "target": 325}, format="json")
    assert created.status_code == 201, created.content
    cell = created.json()
    assert cell["emotion"] == "happy" and cell["gender"] == "female" and cell["target"] == 325
    again = client.post(QUOTAS, {"emotion": "happy", "gender": "female", "target": 300}, format="json")
    assert again.status_code == 200 and again.json()["id"] == cell["id"] and again.json()["target"] == 300
    any_gender = client.post(QUOTAS, {"emotion": "sad", "target": 650}, format="json")
    assert any_gender.status_code == 201 and any_gender.json()["gender"] is None
    assert (
        client.post(QUOTAS, {"emotion": "sad", "gender": "", "target": 640}, format="json").status_code == 200
    )
    assert QuotaTarget.objects.filter(project=project).count() == 2

    # Refused, nothing written: a negative or non-integer target, an unknown option, an option of
    # the other kind (a gender as emotion and back), an inactive one.
    LabelOption.objects.filter(kind="emotion", code="surprise").update(active=False)
    before = list(QuotaTarget.objects.order_by("pk").values_list("pk", "target"))
    for body in (
        {"emotion": "happy", "gender": "male", "target": -1},
        {"emotion": "happy", "target": 2.5},
        {"emotion": "happy", "target": "many"},
        {"emotion": "bored", "target": 10},
        {"emotion": "female", "target": 10},
        {"emotion": "happy", "gender": "sad", "target": 10},
        {"emotion": "surprise", "target": 10},
        {"gender": "male", "target": 10},
    ):
        answer = client.post(QUOTAS, body, format="json")
        assert answer.status_code == 400, (body, answer.content)
        assert answer.json()  # a message that says what is wrong
    assert client.patch(f"{QUOTAS}{cell['id']}/", {"target": -5}, format="json").status_code == 400
    assert list(QuotaTarget.objects.order_by("pk").values_list("pk", "target")) == before

    assert client.patch(f"{QUOTAS}{cell['id']}/", {"target": 280}, format="json").json()["target"] == 280
    listed = client.get(QUOTAS).json()["results"]
    assert {(r["emotion"], r["gender"], r["target"]) for r in listed} == {
        ("happy", "female", 280),
        ("sad", None, 640),
    }

    # Annotators may not; the curator of another project sees none of ours and reaches none.
    assert api(annotator).get(QUOTAS).status_code == 403
    assert api(annotator).post(QUOTAS, {"emotion": "happy", "target": 1}, format="json").status_code == 403
    theirs = api(outsider)
    assert theirs.get(QUOTAS).json()["results"] == []
    assert theirs.get(QUOTAS, {"project": project.slug}).status_code == 404
    assert theirs.patch(f"{QUOTAS}{cell['id']}/", {"target": 1}, format="json").status_code == 404
    assert theirs.delete(f"{QUOTAS}{cell['id']}/").status_code == 404
    assert theirs.post(QUOTAS, {"emotion": "angry", "target": 3}, format="json").status_code == 201
    assert QuotaTarget.objects.filter(project=project).count() == 2  # theirs went to their project
    assert theirs.get("/api/inference/quotas/").json()["cells"][0]["emotion"] == "angry"

    assert client.delete(f"{QUOTAS}{cell['id']}/").status_code == 204
    assert list(QuotaTarget.objects.filter(project=project).values_list("emotion__code", flat=True)) == [
        "sad"
    ]


@pytest.mark.django_db
def test_cells_count_final_consensus_only(project, curator, tmp_path, data_dir):
    rec = _recording(project, tmp_path, data_dir)
    ids = clone_clips(rec, 9)
    _final(ids[0:2], emotion="happy", gender="female")
    _final(ids[2:3], emotion="happy", gender="male", status=ClipConsensus.Status.ADJUDICATED)
    _final(ids[3:4], emotion="happy", gender="female", status=ClipConsensus.Status.GOLD)
    _final(ids[4:5], emotion="happy", gender=None)  # no gender majority: counts for "any" only
    _final(ids[5:6], emotion="happy", gender="female", status=ClipConsensus.Status.NEEDS_ADJUDICATION)
    _final(ids[6:7], emotion="happy", gender="female", status=ClipConsensus.Status.DISCARDED)
    _final(ids[7:8], emotion="sad", gender="female")

    counts = quota_counts(project=project)

    assert counts[("happy", "female")] == 3 and counts[("happy", "male")] == 1
    assert counts[("happy", None)] == 5 and counts[("sad", None)] == 1 and counts[("sad", "female")] == 1
    for emotion, gender, target in (("happy", "female", 4), ("happy", None, 5), ("sad", "male", 2)):
        annotation_services.quota_target_set(
            user=curator, project=project, emotion=emotion, gender=gender, target=target
        )
    cells = {(c["emotion"], c["gender"]): c for c in selectors.quota_figures(project=project)["cells"]}
    assert (cells[("happy", "female")]["count"], cells[("happy", "female")]["deficit"]) == (3, 1)
    assert cells[("happy", "female")]["progress"] == 0.75
    assert (cells[("happy", None)]["count"], cells[("happy", None)]["deficit"]) == (5, 0)
    assert cells[("happy", None)]["progress"] == 1.0
    assert (cells[("sad", "male")]["count"], cells[("sad", "male")]["deficit"]) == (0, 2)


# --- ranking -------------------------------------------------------------------------------------


def _predict(model_version, clip_ids, probabilities: dict[str, float]) -> None:
    top = max(probabilities, key=probabilities.get)
    Prediction.objects.bulk_create(
        Prediction(
            clip_id=c,
            model_version=model_version,
            probabilities=probabilities,
            top_label=top,
            top_probability=probabilities[top],
            entropy=0.5,
        )
        for c in clip_ids
    )


@pytest.mark.django_db(transaction=True)
def test_the_quota_policy_favours_short_cells_until_they_fill(
    trained_model, project, tmp_path, data_dir, django_user_model
):
    """Happy (any gender) lacks 3 of 3, sad-female 1 of 4: happy clips first, then sad clips by
    how likely their voice is female; once three happy labels are in, happy is no longer
    favoured."""
    services.prelabeller_activate(project=project, model_version=trained_model)
    config, _ = AnnotationConfig.objects.get_or_create(project=project)
    config.queue_policy = "quota"
    config.labels_per_clip = 1
    config.consensus_min_votes = 1
    config.quota_random_share = 0.0
    config.save()
    rec = _recording(project, tmp_path, data_dir, offset=1310)
    ids = clone_clips(rec, 14)
    h1, h2, h3, h4, h5, s_f, s_m, s_unknown, unpredicted, tie, *known = ids
    _final([tie], emotion="sad", gender=None, status=ClipConsensus.Status.NEEDS_ADJUDICATION)
    _final(known[0:3], emotion="sad", gender="female", speaker="spk-f")  # 3 of sad-female's 4
    _final(known[3:4], emotion="neutral", gender="male", speaker="spk-m")
    Clip.objects.filter(pk=s_f).update(speaker="spk-f")
    Clip.objects.filter(pk=s_m).update(speaker="spk-m")
    happy = {"happy": 0.9, "sad": 0.1}
    sad = {"happy": 0.1, "sad": 0.9}
    _predict(trained_model, [h1, h2, h3, h4, h5], happy)
    _predict(trained_model, [s_f, s_m, s_unknown], sad)
    curator = _user(django_user_model, "cur", "curator", project=project)
    annotation_services.quota_target_set(user=curator, project=project, emotion="happy", target=3)
    annotation_services.quota_target_set(
        user=curator, project=project, emotion="sad", gender="female", target=4
    )

    services.queue_reprioritise(project=project)

    # happy clips 0.9 + 0.1 x 0.5 x 1/4; s_f 0.9 x 1 x 1/4 + 0.1; s_unknown 0.9 x 0.5 x 1/4 + 0.1;
    # s_m 0 + 0.1; unpredicted last.
    assert _ranked(project) == [h1, h2, h3, h4, h5, s_f, s_unknown, s_m, unpredicted]
    probs = selectors.quota_cell_probabilities(
        project=project,
        model_version_id=trained_model.pk,
        entries=PoolEntry.objects.filter(project=project, kind="labelling", open=True),
        targets=list(QuotaTarget.objects.filter(project=project).order_by("pk")),
    )
    row = {c: probs.matrix[i] for i, c in enumerate(probs.clip_ids)}
    assert row[s_f].tolist() == pytest.approx([0.1, 0.9]) and row[s_m].tolist() == pytest.approx([0.1, 0.0])
    assert row[s_unknown].tolist() == pytest.approx([0.1, 0.45])

    # Three happy labels through the real hand-out: each final consensus re-ranks the queue.
    ann = _user(django_user_model, "ann", "annotator", project=project)
    for expected in (h1, h2, h3):
        handout = annotation_services.assignment_next(user=ann, project=project, kind="labelling")
        assert handout.assignment.clip_id == expected and handout.assignment.queue_pick == "ranked"
        annotation_services.annotation_submit(user=ann, clip_id=expected, emotion="happy", gender="male")
        assert ClipConsensus.objects.get(clip_id=expected).status == ClipConsensus.Status.AGREED

    # Happy is full: its clips now score only their sad share (0.1 x 0.5 x 1/4).
    assert _ranked(project) == [s_f, s_unknown, h4, h5, s_m, unpredicted]
    assert (
        annotation_services.assignment_next(user=ann, project=project, kind="labelling").assignment.clip_id
        == s_f
    )

    figures = api(curator).get("/api/inference/quotas/").json()
    cells = {(c["emotion"], c["gender"]): c for c in figures["cells"]}
    assert figures["quota_active"] is True and figures["fallback"] is False
    assert (cells[("happy", None)]["count"], cells[("happy", None)]["deficit"]) == (3, 0)
    assert cells[("happy", None)]["in_progress"] == 2  # h4, h5
    # s_f, held by the annotator: in progress; s_unknown's voice is of unknown gender.
    assert (cells[("sad", "female")]["count"], cells[("sad", "female")]["in_progress"]) == (3, 1)
    assert figures["picks"] == {"ranked": 4, "random": 0, "random_share": 0.0}
    assert figures["bias"]["ranked"] == {"n": 3, "accuracy": 1.0}
    assert figures["bias"]["random"] == {"n": 0, "accuracy": None}

    # One random pick labelled against its prediction: the bias figure on random picks appears.
    annotation_services.annotation_submit(user=ann, clip_id=s_f, emotion="sad", gender="female")
    _predict(trained_model, [unpredicted], {"angry": 1.0})  # every candidate now has a pre-label
    AnnotationConfig.objects.filter(project=project).update(quota_random_share=1.0)
    picked = annotation_services.assignment_next(user=ann, project=project, kind="labelling").assignment
    assert picked.queue_pick == "random"
    annotation_services.annotation_submit(user=ann, clip_id=picked.clip_id, emotion="neutral", gender="male")
    figures = api(curator).get("/api/inference/quotas/").json()
    assert figures["bias"]["random"] == {"n": 1, "accuracy": 0.0}  # no pre-label said neutral
    assert figures["bias"]["ranked"] == {"n": 4, "accuracy": 1.0}
    page = _browser(curator).get("/curation/quotas/")
    assert page.status_code == 200 and b"<progress" in page.content and b"At random" in page.content

    # A curator raises the happy target: the queue re-ranks at once, happy clips first again.
    assert api(curator).post(QUOTAS, {"emotion": "happy", "target": 10}, format="json").status_code == 200
    first = _ranked(project)[0]
    assert first in {h4, h5} - {picked.clip_id}
    # happy 3 of 10 (weight 0.7); sad-female full (s_f labelled): priority -(0.9 x 0.7)
    priority = PoolEntry.objects.filter(clip_id=first, kind="labelling").values_list("priority", flat=True)
    assert priority.get() == pytest.approx(-0.63)

    # A curator's adjudication is a final consensus too: happy 4 of 10 re-ranks the queue.
    consensus.adjudicate(curator=curator, clip_id=tie, decision="label", emotion="happy")
    assert priority.get() == pytest.approx(-0.54)


# --- the random share -----------------------------------------------------------------------------


def _quota_project(project, tmp_path, data_dir, *, share: float, n: int) -> list[int]:
    config, _ = AnnotationConfig.objects.get_or_create(project=project)
    config.queue_policy = "quota"
    config.quota_random_share = share  # 1.0 is past the form's 0.5 bound: set directly, for the test
    config.save()
    return clone_clips(_recording(project, tmp_path, data_dir, offset=1300), n)


def _hand_out(user, project, times: int) -> list[Assignment]:
    picks = []
    for _ in range(times):
        held = annotation_services.assignment_next(user=user, project=project, kind="labelling").assignment
        picks.append(held)
        annotation_services.assignment_skip(user=user, clip_id=held.clip_id, kind="labelling")
    return picks


@pytest.mark.django_db
def test_share_one_draws_at_random_and_share_zero_always_ranks(
    project, tmp_path, data_dir, django_user_model, curator
):
    ids = _quota_project(project, tmp_path, data_dir, share=1.0, n=40)
    user = _user(django_user_model, "ann", "annotator", project=project)

    picks = _hand_out(user, project, 20)

    assert {a.queue_pick for a in picks} == {"random"}
    # Without a pre-labeller the quota queue is breadth-first by clip id: 20 random draws of 40
    # clips all landing in id order has probability 1/20!.
    assert [a.clip_id for a in picks] != sorted(a.clip_id for a in picks)
    body = api(user).get("/api/annotation/next/").json()
    assert "random" not in str(body) and "ranked" not in str(body) and "queue_pick" not in str(body)

    # A started clip keeps its precedence over a random draw.
    started = ids[-1]
    PoolEntry.objects.filter(clip_id=started, kind="labelling").update(n_done=1)
    other = _user(django_user_model, "ann2", "annotator", project=project)
    assert _hand_out(other, project, 1)[0].clip_id == started

    AnnotationConfig.objects.filter(project=project).update(quota_random_share=0.0)
    third = _user(django_user_model, "ann3", "annotator", project=project)
    ranked = _hand_out(third, project, 10)
    assert {a.queue_pick for a in ranked} == {"ranked"}
    assert [a.clip_id for a in ranked] == [started, *sorted(set(ids) - {started})[:9]]

    page = _browser(curator).get("/curation/quotas/")
    assert page.status_code == 200 and b"falls back to breadth-first" in page.content
    figures = api(curator).get("/api/inference/quotas/").json()
    # the 20, the API's hand-out, the started clip's draw (a tier of one); then 10 ranked
    assert figures["fallback"] is True and figures["picks"] == {
        "ranked": 10,
        "random": 22,
        "random_share": 0.6875,
    }


@pytest.mark.django_db
def test_a_tenth_of_hand_outs_are_random_picks(project, tmp_path, data_dir, django_user_model):
    n = 300
    _quota_project(project, tmp_path, data_dir, share=0.1, n=n)
    user = _user(django_user_model, "ann", "annotator", project=project)

    picks = _hand_out(user, project, n)

    random_picks = sum(a.queue_pick == "random" for a in picks)
    assert {a.queue_pick for a in picks} <= {"random", "ranked"}
    # Outside the central 1 - 2e-6 of Binomial(300, 0.1) (about 9 to 56) only by a broken draw.
    low, high = binom.ppf(1e-6, n, 0.1), binom.isf(1e-6, n, 0.1)
    assert low <= random_picks <= high, random_picks
    stored = Assignment.objects.filter(user=user, queue_pick="random").count()
    assert stored == random_picks
