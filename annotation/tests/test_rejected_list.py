"""GET /api/validation/rejected/ and the Rejected page's list: paged on the server, filtered by
series, episode, recording, speaker cluster, reason and vote date, scoped to one project."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotation.models import RejectionReason, ValidationVote
from conftest import _user, api
from core.models import Project
from corpus.models import Clip, SpeakerCluster
from corpus.tests.test_recording_list import bulk_recordings


def rejected_clips(recording, n: int, *, start: float = 0.0, status=Clip.Status.REJECTED) -> list[Clip]:
    return Clip.objects.bulk_create(
        [
            Clip(
                recording=recording,
                start_s=start + 2 * i,
                end_s=start + 2 * i + 1.5,
                duration_s=1.5,
                audio=f"clips/bulk-{recording.pk}-{start + i}.wav",
                level_dbfs=-20.0,
                speech_ratio=0.9,
                clipping_ratio=0.0,
                snr_db=20.0,
                status=status,
            )
            for i in range(n)
        ]
    )


@pytest.fixture
def other_curator(django_user_model, db):
    return _user(django_user_model, "other_curator", "curator", project=Project.objects.create(slug="other"))


@pytest.fixture
def rejected(project, curator, other_curator, django_user_model):
    """Project A: 70 rejected clips of Choufli Hal S01E01 (2 of them in speaker cluster spk2), 4 of
    Nouba S02E07 rejected for music 3 days ago, 5 accepted clips; the other project: 25 rejected."""
    validator = _user(django_user_model, "val", "validator", project=project)
    choufli = bulk_recordings(project, 1)[0]
    nouba = bulk_recordings(project, 1, title="Nouba", episode="S02E07")[0]
    plain = rejected_clips(choufli, 70)
    cluster = SpeakerCluster.objects.create(recording=choufli, index=2, label="S01E01-spk2")
    Clip.objects.filter(pk__in=[c.pk for c in plain[:2]]).update(speaker_cluster=cluster)
    rejected_clips(choufli, 5, start=500, status=Clip.Status.ACCEPTED)
    music, _ = RejectionReason.objects.get_or_create(code="music", defaults={"text": "Music"})
    for clip in rejected_clips(nouba, 4):
        vote = ValidationVote.objects.create(clip=clip, validator=validator, accept=False)
        vote.reasons.add(music)
    ValidationVote.objects.filter(clip__recording=nouba).update(
        created_at=timezone.now() - dt.timedelta(days=3)
    )
    theirs = bulk_recordings(Project.objects.get(slug="other"), 1, title="Secret", episode="S02E07")[0]
    rejected_clips(theirs, 25)
    return choufli, nouba, cluster


def test_rejected_clips_are_paged_with_a_count(curator, rejected):
    first = api(curator).get("/api/validation/rejected/").json()
    assert first["count"] == 74 and len(first["results"]) == 50 and "page=2" in first["next"]
    second = api(curator).get("/api/validation/rejected/?page=2").json()
    assert len(second["results"]) == 24 and second["next"] is None
    ids = [r["clip"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 74 and ids == sorted(ids, reverse=True)


def test_rejected_filters_and_search(curator, rejected):
    choufli, nouba, cluster = rejected

    def count(query: str) -> int:
        response = api(curator).get(f"/api/validation/rejected/?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("source_title=nouba") == 4
    assert count("episode=S02E07") == 4
    assert count(f"recording={choufli.pk}") == 70
    assert count(f"speaker_cluster={cluster.pk}") == 2
    assert count("reason=music") == 4
    assert count("reason=noise") == 0
    three_days_ago = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    assert count(f"voted_from={three_days_ago}&voted_to={three_days_ago}") == 4
    assert count(f"voted_from={timezone.localdate().isoformat()}") == 0
    assert count("search=nouba s02e07") == 4
    assert count("search=choufli") == 70
    assert count("search=secret") == 0


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page_size=201",
        "recording=-1",
        f"speaker_cluster={2**64}",
        "voted_from=x",
        "reason=" + "x" * 41,
    ],
)
def test_rejected_bad_parameters_are_400(curator, rejected, query):
    response = api(curator).get(f"/api/validation/rejected/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_another_projects_rejected_clips_are_never_counted(curator, other_curator, rejected):
    assert api(other_curator).get("/api/validation/rejected/").json()["count"] == 25
    assert api(other_curator).get("/api/validation/rejected/?episode=S02E07").json()["count"] == 25
    assert api(curator).get("/api/validation/rejected/?search=secret").json()["count"] == 0
    choufli = rejected[0]
    assert api(other_curator).get(f"/api/validation/rejected/?recording={choufli.pk}").json()["count"] == 0
    assert api(other_curator).get("/api/validation/rejected/?project=tuniser").status_code == 404
