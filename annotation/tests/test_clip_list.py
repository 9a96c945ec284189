"""GET /api/clips/: every clip of the user's projects, paged on the server, filtered by status,
series, episode, recording, speaker cluster, consensus emotion/gender/status and date."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotation.models import ClipConsensus, LabelOption
from annotation.tests.test_rejected_list import rejected_clips
from conftest import _user, api
from core.models import Project
from corpus.models import Clip, SpeakerCluster
from corpus.tests.test_recording_list import bulk_recordings


@pytest.fixture
def other_curator(django_user_model, db):
    return _user(django_user_model, "other_curator", "curator", project=Project.objects.create(slug="other"))


def option(kind: str, code: str) -> LabelOption:
    return LabelOption.objects.get_or_create(kind=kind, code=code, defaults={"name": code})[0]


@pytest.fixture
def clips(project, other_curator):
    """Project A: 60 accepted clips of Choufli Hal S01E01, 3 of them angry/female by consensus and
    2 in speaker cluster spk1; 5 rejected clips of Nouba S02E07 made 4 days ago. The other
    project: 20 clips of Nouba S02E07."""
    choufli = bulk_recordings(project, 1)[0]
    nouba = bulk_recordings(project, 1, title="Nouba", episode="S02E07")[0]
    accepted = rejected_clips(choufli, 60, status=Clip.Status.ACCEPTED)
    for clip in accepted[:3]:
        ClipConsensus.objects.create(
            clip=clip,
            status=ClipConsensus.Status.AGREED,
            emotion=option("emotion", "angry"),
            gender=option("gender", "female"),
        )
    cluster = SpeakerCluster.objects.create(recording=choufli, index=1, label="S01E01-spk1")
    Clip.objects.filter(pk__in=[c.pk for c in accepted[3:5]]).update(speaker_cluster=cluster)
    old = rejected_clips(nouba, 5)
    Clip.objects.filter(pk__in=[c.pk for c in old]).update(created_at=timezone.now() - dt.timedelta(days=4))
    theirs = bulk_recordings(Project.objects.get(slug="other"), 1, title="Nouba", episode="S02E07")[0]
    rejected_clips(theirs, 20, status=Clip.Status.ACCEPTED)
    return choufli, nouba, cluster


def test_clips_are_paged_with_a_count(curator, clips):
    first = api(curator).get("/api/clips/?page_size=40").json()
    assert first["count"] == 65 and len(first["results"]) == 40 and "page=2" in first["next"]
    second = api(curator).get("/api/clips/?page_size=40&page=2").json()
    assert len(second["results"]) == 25 and second["next"] is None


def test_clip_filters_and_search(curator, clips):
    choufli, nouba, cluster = clips

    def count(query: str) -> int:
        response = api(curator).get(f"/api/clips/?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("status=rejected") == 5
    assert count("status=accepted") == 60
    assert count("source_title=nouba") == 5
    assert count("episode=S01E01") == 60
    assert count(f"recording={nouba.pk}") == 5
    assert count(f"speaker_cluster={cluster.pk}") == 2
    assert count("emotion=angry") == 3
    assert count("emotion=angry&gender=male") == 0
    assert count("consensus=agreed") == 3
    four_days_ago = (timezone.localdate() - dt.timedelta(days=4)).isoformat()
    assert count(f"created_to={four_days_ago}") == 5
    assert count("search=nouba") == 5
    angry = api(curator).get("/api/clips/?emotion=angry").json()["results"][0]
    assert (angry["emotion"], angry["gender"], angry["source_title"]) == ("angry", "female", "Choufli Hal")


@pytest.mark.parametrize(
    "query",
    ["page=0", "page_size=201", "status=lost", "consensus=maybe", f"recording={2**31}", "created_from=x"],
)
def test_clip_bad_parameters_are_400(curator, clips, query):
    response = api(curator).get(f"/api/clips/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_clips_of_another_project_are_never_counted(curator, other_curator, annotator, clips):
    assert api(other_curator).get("/api/clips/").json()["count"] == 20
    assert api(curator).get("/api/clips/?episode=S02E07").json()["count"] == 5
    assert api(other_curator).get(f"/api/clips/?recording={clips[0].pk}").json()["count"] == 0
    assert api(annotator).get("/api/clips/").status_code == 403  # blind labelling: no browsing
