"""The data card's "Annotator quality" section and the export's vote counts with hidden gold
checks: counts only, no names; check answers and excluded annotators' labels are no votes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from annotation import services
from annotation.models import AnnotationConfig
from annotation.tests.factories import gold_check_world
from releases.build import _votes
from releases.export import _quality_section

L = services.LABELLING
pytestmark = pytest.mark.django_db(transaction=True)  # the corpus segments on commit


def test_the_card_counts_checks_and_the_votes_leave_answers_and_excluded_labels_out(
    project, django_user_model, tmp_path, data_dir
):
    world = gold_check_world(project, django_user_model, tmp_path, data_dir, n_pool=1, n_checks=2)
    amel, bilel, chiraz = world["annotators"]
    # Checks marked, none answered yet: the figures, with no accuracy to give.
    text = "\n".join(_quality_section(SimpleNamespace(project=project)))
    assert "Hidden checks: 2 (answers: 0, by 0 annotators)" in text and "n/a (no answers yet)" in text
    AnnotationConfig.objects.update_or_create(project=project, defaults={"check_rate": 1.0})
    check = services.assignment_next(user=amel, project=project, kind=L).assignment
    services.annotation_submit(user=amel, clip_id=check.clip_id, emotion="sad", gender="male")
    AnnotationConfig.objects.filter(project=project).update(check_rate=0.0)
    for user in (amel, bilel, chiraz):
        clip_id = services.assignment_next(user=user, project=project, kind=L).assignment.clip_id
        services.annotation_submit(user=user, clip_id=clip_id, emotion="happy", gender="male")
    pool_clip = world["pool"][0]
    assert _votes(project, {pool_clip, check.clip_id}) == {pool_clip: {"happy": 3}}

    services.annotator_standing_set(
        curator=world["curator"], project=project, user_id=amel.pk, action="exclude"
    )
    assert _votes(project, {pool_clip}) == {pool_clip: {"happy": 2}}

    text = "\n".join(_quality_section(SimpleNamespace(project=project)))  # reads only the project
    assert "## Annotator quality" in text
    assert "Hidden checks: 2 (answers: 1, by 1 annotators)" in text
    assert "Mean accuracy on checks (per annotator): 0.0%" in text
    assert "Annotators paused: 0; excluded (labels not counted): 1" in text
    assert not any(u.username in text for u in world["annotators"])


def test_a_project_without_checks_says_so(project):
    text = "\n".join(_quality_section(SimpleNamespace(project=project)))
    assert "No hidden gold checks were used in this project." in text
