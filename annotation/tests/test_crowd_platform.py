"""Crowd labelling end to end through the real services: raters of two kinds work a pool with
dynamic overlap and hidden checks on, a spammer is paused by the checks and excluded by a curator,
and the platform's result obeys the rules of `annotation.crowd` that `benchmarks.crowd` measures.

Answers are deterministic functions of (rater, clip), so the test does not depend on which hand-out
the platform's SystemRandom makes a check.
"""

from __future__ import annotations

from collections import Counter

import pytest

from annotation import consensus, crowd, services
from annotation.models import (
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    Assignment,
    CheckAnswer,
    ClipConsensus,
)
from annotation.tests.factories import gold_check_world
from conftest import _user, api
from core.errors import ApplicationError
from corpus.models import Clip

L = services.LABELLING
EMOTIONS = ["happy", "sad", "angry", "neutral"]
N_POOL, N_CHECKS = 20, 12
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_speaker_step")]


def _truth(clip_id: int) -> str:
    return EMOTIONS[clip_id % 4]


def _good_answer(rater: int, clip_id: int) -> str:
    """Right, except on the clips where (rater + clip) % 4 == 0: then one fixed wrong emotion, so
    wrong raters agree with each other (the hard case for a majority)."""
    truth = _truth(clip_id)
    if (rater + clip_id) % 4:
        return truth
    return "neutral" if truth != "neutral" else "sad"


def _work(project, raters, checks) -> dict:
    """Every active rater, in turn, asks for a clip and answers it, until nobody gets work.

    raters: [(user, index, kind)] with kind "good" or "spammer". A spammer always presses the
    same key ("happy"); a good rater answers checks right and pool clips by `_good_answer`.
    Returns {"paused": {username: checks answered when paused}}.
    """
    paused: dict[str, int] = {}
    while True:
        served = 0
        for user, index, kind in raters:
            if user.username in paused:
                continue
            try:
                handout = services.assignment_next(user=user, project=project, kind=L)
            except ApplicationError as exc:
                assert exc.code == "paused"
                paused[user.username] = CheckAnswer.objects.filter(user=user).count()
                continue
            if handout is None:
                continue
            served += 1
            clip_id = handout.assignment.clip_id
            if kind == "spammer":
                emotion = "happy"
            elif clip_id in checks:
                emotion = "angry"  # the checks' reference (gold_check_world)
            else:
                emotion = _good_answer(index, clip_id)
            services.annotation_submit(user=user, clip_id=clip_id, emotion=emotion, gender="female")
        if not served:
            return {"paused": paused}


def test_dynamic_overlap_and_checks_through_the_platform_follow_the_crowd_rules(
    project, django_user_model, tmp_path, data_dir
):
    world = gold_check_world(project, django_user_model, tmp_path, data_dir, n_pool=N_POOL, n_checks=N_CHECKS)
    pool, checks = world["pool"], set(world["checks"])
    services.config_for(project)  # the row, with its defaults
    AnnotationConfig.objects.filter(project=project).update(
        escalation="no_majority",
        max_labels_per_clip=5,
        check_rate=0.5,
        check_warmup=3,
        check_min_answers=6,
        check_threshold=0.6,
    )
    good = world["annotators"] + [
        _user(django_user_model, name, "annotator", project=project) for name in ("dora", "emna")
    ]
    spammer = _user(django_user_model, "zied", "annotator", project=project)
    raters = [(u, i, "good") for i, u in enumerate(good)] + [(spammer, 5, "spammer")]

    first = _work(project, raters, checks)
    # The spammer's first 3 hand-outs were checks (the warm-up), and the 6th check paused them:
    # 0 right of 6 has a Wilson upper bound of 0.39 < 0.6. No good rater was paused.
    assert first["paused"] == {"zied": 6}
    assert crowd.should_pause(0, 6, min_checks=6, threshold=0.6)
    assert not CheckAnswer.objects.filter(user=spammer, correct=True).exists()
    warm_up = Assignment.objects.filter(user=spammer).order_by("served_at", "pk")[:3]
    assert all(a.gold_check_id is not None for a in warm_up)
    # The paused spammer gets nothing through the API either.
    assert api(spammer).get("/api/annotation/next/").json()["code"] == "paused"

    # The curator excludes the spammer's labels: they stop counting, their clips are re-labelled.
    services.annotator_standing_set(
        curator=world["curator"], project=project, user_id=spammer.pk, action="exclude"
    )
    assert AnnotatorStanding.objects.get(project=project, user=spammer).excluded
    second = _work(project, raters, checks)
    assert "zied" in second["paused"] and set(second["paused"]) == {"zied"}

    counted = consensus.counted_annotations(project=project)
    assert not counted.filter(annotator=spammer).exists()
    config = services.config_for(project)
    for clip_id in pool:
        labels = list(counted.filter(clip_id=clip_id).order_by("pk").values_list("emotion__code", flat=True))
        # Never the same rater twice on a clip, in any round.
        raters_of_clip = list(
            Annotation.objects.filter(clip_id=clip_id).values_list("annotator_id", flat=True)
        )
        assert len(raters_of_clip) == len(set(raters_of_clip))
        # Dynamic overlap: K labels, then one more while crowd.needs_more_raters says so, up to 5.
        assert 3 <= len(labels) <= 5
        for m in range(3, len(labels)):
            assert crowd.needs_more_raters(
                list(Counter(labels[:m]).values()), min_votes=2, max_raters=config.max_raters
            ), (clip_id, labels)
        assert not crowd.needs_more_raters(
            list(Counter(labels).values()), min_votes=2, max_raters=config.max_raters
        ), (clip_id, labels)
        row = ClipConsensus.objects.get(clip_id=clip_id)
        assert row.status in ("agreed", "needs_adjudication") and row.n_votes == len(labels)
        assert Clip.objects.get(pk=clip_id).status == Clip.Status.LABELLED
        if row.status == "agreed":
            assert row.emotion.code == Counter(labels).most_common(1)[0][0]
    # Check answers never count as labels, and checks' clips stay gold.
    assert not Annotation.objects.filter(clip_id__in=checks).exists()
    assert set(ClipConsensus.objects.filter(clip_id__in=checks).values_list("status", flat=True)) == {"gold"}
