"""The home page's figures per role (annotation.selectors.work_overview), scoped to the user's projects,
and the home page itself: each role's section, and no link to a page the role cannot open."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from annotation import selectors, services
from annotation.guideline import ensure_guideline
from annotation.tests.factories import clone_clips
from core.models import Project
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf


def _user(django_user_model, username: str, *roles: str, project):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in roles])
    project.members.add(user)
    return user


@pytest.fixture(autouse=True)
def _guideline(db):
    ensure_guideline()


def _recording(project, data_dir, tmp_path, offset: int):
    """A recording with one clip awaiting validation and two accepted clips in the labelling pool."""
    samples, rate = mf.ravdess_speech(data_dir, n=1, offset=offset)
    source = corpus_services.source_get_or_create(project=project, title=f"Source {project.slug}")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / f"{project.slug}.wav", samples, rate), segment=False
        ).recording
        whole = corpus_services.clip_create_whole(recording=rec, status=Clip.Status.AWAITING_VALIDATION)
    clone_clips(rec, 2, status=Clip.Status.ACCEPTED)
    return whole


def test_work_overview_counts_the_users_projects_only(django_user_model, project, data_dir, tmp_path):
    other = Project.objects.create(name="Other", slug="other")
    whole = _recording(project, data_dir, tmp_path, offset=0)
    _recording(other, data_dir, tmp_path, offset=40)  # the same again, in a project not theirs
    validator = _user(django_user_model, "val", "validator", project=project)
    annotator = _user(django_user_model, "ann", "annotator", project=project)

    figures = selectors.work_overview(user=validator)
    assert figures.awaiting_validation == 1  # not 2: the other project's clip is not counted
    # A rejection needs no waiting: the clip then leaves the validator's count.
    services.assignment_next(user=validator, project=project, kind=services.VALIDATION)
    services.validation_vote(user=validator, clip_id=whole.pk, accept=False, reasons=["music"])
    assert selectors.work_overview(user=validator).awaiting_validation == 0

    assert selectors.work_overview(user=annotator).labelling_queue == 2
    handout = services.assignment_next(user=annotator, project=project, kind=services.LABELLING)
    services.annotation_submit(
        user=annotator,
        clip_id=handout.assignment.clip_id,
        emotion="angry",
        gender="female",
        time_spent_ms=4000,
    )
    mine = selectors.work_overview(user=annotator)
    assert mine.labelling_queue == 1 and mine.counts["labelled_today"] == 1
    assert mine.adjudication == 0 and mine.agreement_share is None


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("validator", ["/validate/"], ["/recordings/upload/", "/annotate/", "/curation/", "/training/"]),
        ("annotator", ["/annotate/"], ["/recordings/upload/", "/validate/", "/curation/", "/training/"]),
        (
            "curator",
            ["/curation/adjudication/", "/curation/dashboard/", "/recordings/upload/"],
            ["/training/"],
        ),
        ("ml_staff", ["/training/runs/", "/inference/quality/", "/recordings/upload/"], ["/curation/"]),
        ("", [], ["/recordings/", "/validate/", "/annotate/", "/curation/", "/training/", "/inference/"]),
    ],
)
def test_home_links_only_what_the_role_reaches(client, django_user_model, project, role, shown, hidden):
    user = _user(django_user_model, "person", *([role] if role else []), project=project)
    client.force_login(user)
    html = client.get("/").content.decode()
    hrefs = set(re.findall(r'href="([^"?]+)', html))
    for path in shown:
        assert path in hrefs, (role, path)
    for prefix in hidden:
        assert not any(h.startswith(prefix) for h in hrefs), (role, prefix, sorted(hrefs))
    if not role:
        assert "No role yet" in html


def test_progress_counts_imported_gold_clips_apart_from_clips_annotators_labelled(
    client, django_user_model, project, data_dir, tmp_path
):
    """Gold clips come labelled from an imported corpus: the progress page's Labelled figure is
    the clips annotators labelled, and the gold ones have their own figure."""
    from annotation import consensus
    from annotation.models import LabelOption

    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="RAVDESS")
    angry = LabelOption.objects.get(kind=LabelOption.Kind.EMOTION, code="angry")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "gold.wav", samples, rate), segment=False
        ).recording
        gold = corpus_services.clip_create_whole(recording=rec, status=Clip.Status.LABELLED)
        consensus.consensus_set_gold(clip_id=gold.pk, emotion=angry, gender=None)
    labelled_here, _ = clone_clips(rec, 2, status=Clip.Status.ACCEPTED)
    Clip.objects.filter(pk=labelled_here).update(status=Clip.Status.LABELLED)  # as the K-th label does
    curator = _user(django_user_model, "cur", "curator", project=project)

    pool = selectors.project_progress(project=project)["pool"]
    assert pool["clips_by_status"]["labelled"] == 2
    assert (pool["labelled_by_annotators"], pool["gold_imported"]) == (1, 1)

    client.force_login(curator)
    assert client.get("/api/annotation/progress/").json()["pool"]["gold_imported"] == 1
    html = client.get("/curation/progress/").content.decode()
    assert 'data-pool="labelled_by_annotators"' in html and 'data-pool="gold_imported"' in html
    assert 'data-pool="labelled"' not in html  # Clip.status labelled counts the gold clips too
