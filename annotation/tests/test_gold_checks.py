"""Hidden gold checks: hand-out, blindness, answers kept apart from labels, pausing on the Wilson
bound, resuming, excluding an annotator's labels, and tenancy. Everything through the real
services and API over real clips."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import partial

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import consensus, crowd, selectors, services
from annotation.models import (
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    Assignment,
    CheckAnswer,
    ClipConsensus,
    GoldCheck,
    PoolEntry,
)
from annotation.tests.factories import gold_check_world
from conftest import _user, api, shared_world, world_for_test
from core.errors import ApplicationError
from corpus.models import Clip

L = services.LABELLING
N_POOL, N_CHECKS = 8, 4
AUDIO_URL = re.compile(r"^/api/clips/\d+/audio/$")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_speaker_step")]

# One world for the module (seconds of real ingest and segmentation): each test runs in a
# savepoint of the transaction that holds it, so what a test changes is rolled back.
_world = shared_world(partial(gold_check_world, n_pool=N_POOL, n_checks=N_CHECKS))


@pytest.fixture
def setup(_world, db, _media_root):
    return world_for_test(_world, _media_root)


def _rate(project, rate: float, **extra) -> None:
    AnnotationConfig.objects.update_or_create(project=project, defaults={"check_rate": rate, **extra})


def _shape(value):
    """The shape of a JSON value: dict keys with their shapes, list element shapes, value types."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def test_check_rate_one_hands_a_check_and_zero_never(setup):
    project, annotator = setup["project"], setup["annotators"][0]
    _rate(project, 0.0)
    for _ in range(N_POOL):
        handout = services.assignment_next(user=annotator, project=project, kind=L)
        assert handout.assignment.gold_check_id is None and handout.assignment.clip_id in setup["pool"]
        services.annotation_submit(
            user=annotator, clip_id=handout.assignment.clip_id, emotion="sad", gender="male"
        )
    assert services.assignment_next(user=annotator, project=project, kind=L) is None
    assert not CheckAnswer.objects.exists()

    other = setup["annotators"][1]
    _rate(project, 1.0)
    before = list(PoolEntry.objects.order_by("pk").values_list("n_done", "n_live", "open"))
    handout = services.assignment_next(user=other, project=project, kind=L)
    assert handout.assignment.gold_check is not None
    assert handout.assignment.clip_id in setup["checks"] and handout.assignment.kind == L
    # The pool was not touched by the check: same counters, no live count on any entry.
    assert list(PoolEntry.objects.order_by("pk").values_list("n_done", "n_live", "open")) == before


def test_hand_out_submit_and_counts_look_the_same_for_a_check_and_an_ordinary_clip(setup, client):
    project = setup["project"]
    seen = {}
    for name, rate, user in (
        ("check", 1.0, setup["annotators"][0]),
        ("ordinary", 0.0, setup["annotators"][1]),
    ):
        _rate(project, rate)
        c = api(user)
        nxt = c.get(reverse("annotation-api:next"))
        assert nxt.status_code == 200
        held = Assignment.objects.get(user=user, state="live")
        assert (held.gold_check_id is not None) == (name == "check")
        clip = nxt.json()["clip"]
        assert AUDIO_URL.match(clip["audio_url"])
        assert c.get(clip["audio_url"]).status_code == 200  # the holder hears a check like any clip
        again = c.get(reverse("annotation-api:next"))  # a reload resumes it, as for any clip
        assert again.json()["resumed"] is True and again.json()["clip"]["id"] == clip["id"]
        bad = c.post(
            reverse("annotation-api:submit"), {"clip": clip["id"], "emotion": "nope", "gender": "male"}
        )
        assert (bad.status_code, bad.json()["code"]) == (400, "unknown_emotion")
        missing = c.post(
            reverse("annotation-api:submit"), {"clip": clip["id"], "emotion": "sad"}, format="json"
        )
        assert (missing.status_code, missing.json()["code"]) == (400, "gender_required")
        sub = c.post(
            reverse("annotation-api:submit"),
            {"clip": clip["id"], "emotion": "sad", "gender": "male", "time_spent_ms": 3000},
            format="json",
        )
        assert sub.status_code == 201
        dup = c.post(
            reverse("annotation-api:submit"),
            {"clip": clip["id"], "emotion": "sad", "gender": "male"},
            format="json",
        )
        assert (dup.status_code, dup.json()["code"]) == (409, "duplicate")
        me = c.get(reverse("annotation-api:me"))
        assert me.json()["labelled_total"] == 1  # the answer moved the counter like a label
        client.force_login(user)
        page = client.get(reverse("annotation:annotate"))
        seen[name] = {
            "next": nxt.json(),
            "again": again.json(),
            "submit": sub.json(),
            "me": me.json(),
            "page": page.content.decode(),
        }

    for key in ("next", "again", "submit", "me"):
        assert _shape(seen["check"][key]) == _shape(seen["ordinary"][key]), key
    # Nothing names the check or its reference answer ("angry") in what the annotator receives.
    for key in ("next", "again", "submit", "me"):
        text = json.dumps(seen["check"][key]).lower()
        assert "check" not in text and "gold" not in text and "angry" not in text, key
    # The annotate page is the same page for both (the user's name and CSRF token aside).
    pages = [
        re.sub(r'(csrfmiddlewaretoken" value|csrf-token" content)="[^"]+"', "", seen[k]["page"]).replace(
            user.username, "USER"
        )
        for k, user in (("check", setup["annotators"][0]), ("ordinary", setup["annotators"][1]))
    ]
    assert pages[0] == pages[1] and services.PAUSED_MESSAGE not in pages[0]


def test_a_check_answer_is_stored_apart_and_never_counts_as_a_label(setup):
    project, (amel, bilel, _) = setup["project"], setup["annotators"]
    _rate(project, 1.0)
    handout = services.assignment_next(user=amel, project=project, kind=L)
    check_clip = handout.assignment.clip_id
    gold_before = ClipConsensus.objects.filter(clip_id=check_clip).values().get()
    answer = services.annotation_submit(user=amel, clip_id=check_clip, emotion="angry", gender="female")
    assert isinstance(answer, CheckAnswer) and answer.correct and answer.clip_id == check_clip
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=handout.assignment.pk).state == "done"
    # Consensus, agreement votes, pool counters and export votes never see it.
    gold_after = ClipConsensus.objects.filter(clip_id=check_clip).values().get()
    assert gold_after["n_votes"] == 0 and gold_after["status"] == "gold" == gold_before["status"]
    votes, clip_ids, *_ = consensus.project_votes(project)
    assert votes.n_items == 0 and check_clip not in clip_ids
    assert not consensus.counted_annotations(project=project).exists()
    assert not PoolEntry.objects.filter(clip_id=check_clip).exists()
    # A wrong answer is stored as wrong.
    wrong = services.assignment_next(user=bilel, project=project, kind=L)
    answer = services.annotation_submit(
        user=bilel, clip_id=wrong.assignment.clip_id, emotion="sad", gender="male"
    )
    assert answer.correct is False
    record = selectors.check_records(project=project)
    assert record[amel.pk]["checks_correct"] == 1 and record[bilel.pk]["check_accuracy"] == 0.0
    assert (record[bilel.pk]["check_low"], record[bilel.pk]["check_high"]) == (
        round(crowd.check_record(0, 1).low, 3),
        round(crowd.check_record(0, 1).high, 3),
    )


def test_skip_expiry_and_never_the_same_check_twice(setup):
    project, amel = setup["project"], setup["annotators"][0]
    _rate(project, 1.0)
    got = []
    first = services.assignment_next(user=amel, project=project, kind=L)
    got.append(first.assignment.gold_check_id)
    services.assignment_skip(user=amel, clip_id=first.assignment.clip_id, kind=L)
    assert Assignment.objects.get(pk=first.assignment.pk).state == "skipped"

    second = services.assignment_next(user=amel, project=project, kind=L)
    got.append(second.assignment.gold_check_id)
    Assignment.objects.filter(pk=second.assignment.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    before = list(PoolEntry.objects.order_by("pk").values_list("n_done", "n_live", "open"))
    third = services.assignment_next(user=amel, project=project, kind=L)  # sweeps the expired check
    assert Assignment.objects.get(pk=second.assignment.pk).state == "expired"
    assert list(PoolEntry.objects.order_by("pk").values_list("n_done", "n_live", "open")) == before
    got.append(third.assignment.gold_check_id)
    services.annotation_submit(user=amel, clip_id=third.assignment.clip_id, emotion="angry", gender="male")
    fourth = services.assignment_next(user=amel, project=project, kind=L)
    got.append(fourth.assignment.gold_check_id)
    services.annotation_submit(user=amel, clip_id=fourth.assignment.clip_id, emotion="angry", gender="male")
    assert None not in got and len(set(got)) == N_CHECKS
    # Every check used up: rate 1.0 now hands ordinary clips.
    fifth = services.assignment_next(user=amel, project=project, kind=L)
    assert fifth.assignment.gold_check_id is None and fifth.assignment.clip_id in setup["pool"]
    # An unmarked check is never handed again.
    services.gold_check_unmark(curator=setup["curator"], clip_id=setup["checks"][0])
    assert not selectors.check_candidates(user=setup["annotators"][1], project=project).filter(
        clip_id=setup["checks"][0]
    )


def test_wrong_answers_pause_on_the_wilson_bound_and_a_curator_resumes(setup, client):
    project, (amel, bilel, _) = setup["project"], setup["annotators"]
    _rate(project, 1.0, check_min_answers=N_CHECKS, check_threshold=0.6)
    assert crowd.check_record(0, N_CHECKS).high < 0.6  # the rule this test relies on
    for who, emotion in ((amel, "sad"), (bilel, "angry")):
        c = api(who)
        for i in range(N_CHECKS):
            assert not AnnotatorStanding.objects.filter(user=who, paused=True).exists()
            clip = c.get(reverse("annotation-api:next")).json()["clip"]
            assert clip["id"] in setup["checks"]
            sub = c.post(
                reverse("annotation-api:submit"),
                {"clip": clip["id"], "emotion": emotion, "gender": "male"},
                format="json",
            )
            assert sub.status_code == 201, sub.json()
            if i < N_CHECKS - 1:  # no verdict before check_min_answers
                assert not AnnotatorStanding.objects.filter(user=who, paused=True).exists()
    assert AnnotatorStanding.objects.get(user=amel, project=project).paused
    assert not AnnotatorStanding.objects.filter(user=bilel, paused=True).exists()

    refused = api(amel).get(reverse("annotation-api:next"))
    assert refused.status_code == 403 and refused.json()["code"] == "paused"
    assert refused.json()["detail"] == services.PAUSED_MESSAGE
    with pytest.raises(ApplicationError) as exc:
        services.assignment_next(user=amel, project=project, kind=L)
    assert exc.value.code == "paused"
    client.force_login(amel)
    assert services.PAUSED_MESSAGE in client.get(reverse("annotation:annotate")).content.decode()
    assert api(bilel).get(reverse("annotation-api:next")).json()["clip"]["id"] in setup["pool"]

    progress = api(setup["curator"]).get(reverse("annotation-api:progress")).json()
    row = next(r for r in progress["annotators"] if r["user"] == "amel")
    assert row["checks"] == N_CHECKS and row["check_accuracy"] == 0.0 and row["paused"] is True
    assert row["check_high"] == round(crowd.check_record(0, N_CHECKS).high, 3)

    url = reverse("annotation-api:annotator-standing", args=[amel.pk])
    assert api(amel).post(url, {"action": "resume"}, format="json").status_code == 403  # curators only
    bad = api(setup["curator"]).post(url, {"action": "forgive"}, format="json")
    assert bad.status_code == 400
    ok = api(setup["curator"]).post(url, {"action": "resume"}, format="json")
    assert ok.status_code == 200 and ok.json()["paused"] is False and ok.json()["reviewed_by"] == "cur"
    standing = AnnotatorStanding.objects.get(user=amel, project=project)
    assert standing.reviewed_at and standing.action == "resume"
    assert api(amel).get(reverse("annotation-api:next")).status_code == 200


def _label_all(project, annotators, plan):
    """Each annotator labels every pool clip: plan[i] is annotator i's emotion."""
    for user, emotion in zip(annotators, plan, strict=True):
        while (h := services.assignment_next(user=user, project=project, kind=L)) is not None:
            services.annotation_submit(
                user=user, clip_id=h.assignment.clip_id, emotion=emotion, gender="female"
            )


def test_excluding_an_annotator_recomputes_consensus_and_reopens_clips(setup, django_user_model):
    project, (amel, bilel, chiraz) = setup["project"], setup["annotators"]
    _rate(project, 0.0)
    # Project B: an annotator of both projects labels B's pool clip; B must be untouched.
    other = setup["other"]
    other.members.add(amel)
    services.assignment_next(user=amel, project=other, kind=L)
    services.annotation_submit(user=amel, clip_id=setup["pool_b"][0], emotion="happy", gender="male")
    b_before = list(PoolEntry.objects.filter(project=other).values_list("n_done", "n_live", "open"))

    _label_all(project, [amel, bilel, chiraz], ["sad", "happy", "happy"])
    pool = setup["pool"]
    assert set(Clip.objects.filter(pk__in=pool).values_list("status", flat=True)) == {"labelled"}
    assert set(ClipConsensus.objects.filter(clip_id__in=pool).values_list("n_agree", flat=True)) == {2}

    url = reverse("annotation-api:annotator-standing", args=[amel.pk]) + f"?project={project.slug}"
    resp = api(setup["curator"]).post(url, {"action": "exclude"}, format="json")
    assert resp.status_code == 200 and resp.json()["excluded"] is True
    # Labels kept, not counted; the clips lack a label again and are back in the pool.
    assert Annotation.objects.filter(annotator=amel, clip__in=pool).count() == N_POOL
    assert not consensus.counted_annotations(project=project).filter(annotator=amel).exists()
    assert set(Clip.objects.filter(pk__in=pool).values_list("status", flat=True)) == {"accepted"}
    assert set(PoolEntry.objects.filter(clip_id__in=pool).values_list("n_done", "open")) == {(2, True)}
    # Their consensus is no longer final: pending (never adjudicated nor released) until K again.
    assert set(ClipConsensus.objects.filter(clip_id__in=pool).values_list("status", flat=True)) == {"pending"}
    _votes_seen, _clips, raters, _codes = consensus.project_votes(project)
    assert amel.pk not in raters
    # The excluded annotator gets no more work here, and cannot slip a label in.
    assert (
        api(amel).get(reverse("annotation-api:next") + f"?project={project.slug}").json()["code"] == "paused"
    )
    # A new annotator fills the clips up again: consensus from the three counted labels.
    dora = _user(django_user_model, "dora", "annotator", project=project)
    _label_all(project, [dora], ["happy"])
    assert set(ClipConsensus.objects.filter(clip_id__in=pool).values_list("n_agree", "n_votes")) == {(3, 3)}

    resp = api(setup["curator"]).post(url, {"action": "include"}, format="json")
    assert resp.status_code == 200 and resp.json()["excluded"] is False
    assert set(PoolEntry.objects.filter(clip_id__in=pool).values_list("n_done", "open")) == {(4, False)}
    assert set(ClipConsensus.objects.filter(clip_id__in=pool).values_list("n_agree", "n_votes")) == {(3, 4)}
    assert set(Clip.objects.filter(pk__in=pool).values_list("status", flat=True)) == {"labelled"}
    # Project B untouched, and amel still works there.
    assert list(PoolEntry.objects.filter(project=other).values_list("n_done", "n_live", "open")) == b_before
    assert not AnnotatorStanding.objects.filter(project=other).exists()


def test_a_curator_marks_and_sees_only_their_own_project(setup):
    cur, cur_b = setup["curator"], setup["curator_b"]
    listed = api(cur).get(reverse("annotation-api:checks")).json()["results"]
    assert sorted(r["clip"] for r in listed) == setup["checks"]
    assert all(r["emotion"] == "angry" and r["active"] for r in listed)
    # B's clips: 404 to mark, unmark, and nothing of B listed.
    assert (
        api(cur).post(reverse("annotation-api:checks"), {"clip": setup["check_b"]}, format="json").status_code
        == 404
    )
    assert api(cur).delete(reverse("annotation-api:check", args=[setup["check_b"]])).status_code == 404
    with pytest.raises(ApplicationError) as exc:
        services.gold_check_mark(curator=cur, clip_id=setup["check_b"])
    assert exc.value.status == 404
    assert GoldCheck.objects.get(clip_id=setup["check_b"]).active
    assert [r["clip"] for r in api(cur_b).get(reverse("annotation-api:checks")).json()["results"]] == [
        setup["check_b"]
    ]
    # A clip with no usable consensus is no candidate; B's annotator is no member of A.
    refused = api(cur).post(reverse("annotation-api:checks"), {"clip": setup["pool"][0]}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "not_a_candidate")
    url = reverse("annotation-api:annotator-standing", args=[cur_b.pk])
    assert api(cur).post(url, {"action": "exclude"}, format="json").status_code == 404
    # A check's clip carries work: re-segmentation never deletes it (the pool clips carry none).
    clips = Clip.objects.filter(pk__in=[*setup["checks"], *setup["pool"]])
    assert sorted(services.work_check(clips).values_list("pk", flat=True)) == setup["checks"]
    # Unmark, then mark again with another reference emotion.
    gone = api(cur).delete(reverse("annotation-api:check", args=[setup["checks"][0]]))
    assert gone.status_code == 200 and gone.json()["active"] is False
    again = api(cur).post(
        reverse("annotation-api:checks"), {"clip": setup["checks"][0], "emotion": "sad"}, format="json"
    )
    assert again.status_code == 201 and again.json()["emotion"] == "sad" and again.json()["active"]


def test_the_data_card_counts_checks_without_names(setup):
    project, amel = setup["project"], setup["annotators"][0]
    _rate(project, 1.0, check_min_answers=1, check_threshold=0.6)
    h = services.assignment_next(user=amel, project=project, kind=L)
    services.annotation_submit(user=amel, clip_id=h.assignment.clip_id, emotion="sad", gender="male")
    # 0 of 1: the Wilson upper bound (0.79) is above 0.6, one wrong answer pauses nobody.
    assert not crowd.should_pause(0, 1, min_checks=1, threshold=0.6)
    assert selectors.check_summary(project=project) == {
        "checks": N_CHECKS,
        "answers": 1,
        "annotators": 1,
        "mean_accuracy": 0.0,
        "paused": 0,
        "excluded": 0,
    }
    services.annotator_standing_set(
        curator=setup["curator"], project=project, user_id=amel.pk, action="exclude"
    )
    assert selectors.check_summary(project=project)["excluded"] == 1


def test_flagging_a_check_gives_it_back_and_leaves_the_reference_clip_alone(setup):
    project, amel = setup["project"], setup["annotators"][0]
    _rate(project, 1.0)
    c = api(amel)
    clip = c.get(reverse("annotation-api:next")).json()["clip"]
    resp = c.post(reverse("annotation-api:flag"), {"clip": clip["id"], "reason": "noise"}, format="json")
    assert resp.status_code == 201 and resp.json()["detail"] == "Sent back to validation."
    assert Assignment.objects.get(user=amel, clip_id=clip["id"]).state == "skipped"
    # The reference clip stays labelled, gold and a check; nothing was reopened for validation.
    assert Clip.objects.get(pk=clip["id"]).status == "labelled"
    assert ClipConsensus.objects.get(clip_id=clip["id"]).status == "gold"
    assert GoldCheck.objects.get(clip_id=clip["id"]).active
    assert not PoolEntry.objects.filter(clip_id=clip["id"]).exists()
    # Never handed to amel again.
    assert not selectors.check_candidates(user=amel, project=project).filter(clip_id=clip["id"]).exists()


def test_warm_up_hands_the_first_checks_then_the_rate_decides(setup):
    """`check_warmup` = 2 with a rate that never fires in practice (1e-9): the annotator's first
    two hand-outs are checks (a qualification phase, `crowd.check_due`), then ordinary clips."""
    project, annotator = setup["project"], setup["annotators"][0]
    _rate(project, 1e-9, check_warmup=2)
    kinds = []
    for _ in range(4):
        handout = services.assignment_next(user=annotator, project=project, kind=L)
        kinds.append(handout.assignment.gold_check_id is not None)
        services.annotation_submit(
            user=annotator, clip_id=handout.assignment.clip_id, emotion="sad", gender="male"
        )
    assert kinds == [True, True, False, False]
    assert CheckAnswer.objects.filter(user=annotator).count() == 2


def test_skipping_checks_does_not_get_past_the_warm_up(setup):
    """The warm-up counts answered checks: an annotator who skips every clip handed keeps getting
    checks (each skipped one never again), and gets ordinary clips only once they answered the
    warm-up's checks or none is left."""
    project, annotator = setup["project"], setup["annotators"][0]
    _rate(project, 1e-9, check_warmup=2)
    for _ in range(N_CHECKS - 1):  # skip all checks but one
        handout = services.assignment_next(user=annotator, project=project, kind=L)
        assert handout.assignment.gold_check_id is not None
        services.assignment_skip(user=annotator, clip_id=handout.assignment.clip_id, kind=L)
    last = services.assignment_next(user=annotator, project=project, kind=L)
    assert last.assignment.gold_check_id is not None  # still in the warm-up: 0 answered
    services.annotation_submit(user=annotator, clip_id=last.assignment.clip_id, emotion="sad", gender="male")
    # No check left for them: ordinary clips from now on, with 1 check answered.
    nxt = services.assignment_next(user=annotator, project=project, kind=L)
    assert nxt.assignment.gold_check_id is None
    assert CheckAnswer.objects.filter(user=annotator).count() == 1
