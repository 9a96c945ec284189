"""GET /api/series-speakers/ and the Speakers page: voices paged on the server, searched, scoped."""

from __future__ import annotations

import pytest

from conftest import api
from core.models import Project
from corpus.models import SeriesSpeaker


@pytest.fixture
def voices(project, outsider):
    """Project A: 120 voices of Choufli Hal (one named Sbouï) and 5 of Nouba; the other: 7."""
    rows = [SeriesSpeaker(project=project, series="Choufli Hal", centroid=[1.0]) for _ in range(120)]
    rows[7].name = "Sbouï"
    rows += [SeriesSpeaker(project=project, series="Nouba", centroid=[1.0]) for _ in range(5)]
    SeriesSpeaker.objects.bulk_create(rows)
    SeriesSpeaker.objects.bulk_create(
        [
            SeriesSpeaker(project=Project.objects.get(slug="other"), series="Secret", centroid=[1.0])
            for _ in range(7)
        ]
    )


def test_voices_are_paged_filtered_and_searched(curator, voices):
    client = api(curator)
    first = client.get("/api/series-speakers/").json()
    assert first["count"] == 125 and len(first["results"]) == 50
    assert client.get("/api/series-speakers/?series=nouba").json()["count"] == 5
    assert client.get("/api/series-speakers/?search=sbou").json()["count"] == 1
    assert client.get("/api/series-speakers/?search=secret").json()["count"] == 0
    for bad in ("page=0", "page_size=201", "series=" + "x" * 301, "search=" + "x" * 201):
        assert client.get(f"/api/series-speakers/?{bad}").status_code == 400, bad


def test_another_projects_voices_are_never_counted(curator, outsider, voices):
    assert api(outsider).get("/api/series-speakers/").json()["count"] == 7
    assert api(outsider).get("/api/series-speakers/?search=choufli").json()["count"] == 0
    assert api(outsider).get("/api/series-speakers/?project=tuniser").status_code == 404


def test_the_speakers_page_pages_and_searches(client, curator, voices):
    client.force_login(curator)
    html = client.get("/speakers/").content.decode()
    assert "1–100 of 125 voices" in html and html.count("data-voice=") >= 100
    html = client.get("/speakers/?page=2").content.decode()
    assert "101–125 of 125 voices" in html and "Nouba" in html
    html = client.get("/speakers/?search=sbou").content.decode()
    assert "1–1 of 1 voice" in html and "Sbouï" in html


def test_sources_are_paged_and_searched_per_project(curator, outsider, voices):
    from corpus.tests.test_recording_list import bulk_recordings

    for i in range(60):
        bulk_recordings(Project.objects.get(slug="tuniser"), 0, title="Choufli Hal", episode=f"S01E{i:02d}")
    bulk_recordings(Project.objects.get(slug="other"), 0, title="Secret", episode="S01E01")
    client = api(curator)
    first = client.get("/api/sources/").json()
    assert first["count"] == 60 and len(first["results"]) == 50
    assert client.get("/api/sources/?search=choufli s01e07").json()["count"] == 1
    assert client.get("/api/sources/?episode=E1").json()["count"] == 10
    assert client.get("/api/sources/?search=secret").json()["count"] == 0
    assert client.get("/api/sources/?kind=opera").status_code == 400
    assert api(outsider).get("/api/sources/").json()["count"] == 1
