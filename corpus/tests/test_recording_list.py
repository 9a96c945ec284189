"""GET /api/recordings/ and the Recordings page: paged on the server, filtered, searched, scoped."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from conftest import api
from core.models import Project
from core.pagination import MAX_PAGE_SIZE
from corpus.models import Recording, Source


def bulk_recordings(project, n: int, *, title: str = "Choufli Hal", episode: str = "S01E01", **fields):
    """`n` recordings of one new source in `project`, in one INSERT (no audio: list tests only)."""
    source = Source.objects.create(project=project, title=title, episode=episode)
    rows = [
        Recording(
            source=source,
            project=project,
            original=f"recordings/original/bulk/{title[:20]}-{episode}-{i}.wav",
            original_name=f"{episode.lower()}-part{i:04d}.wav",
            size_bytes=1000,
            sha256=hashlib.sha256(f"{title}/{episode}/{i}".encode()).hexdigest(),
            duration_s=60.0,
            status=fields.get("status", Recording.Status.SEGMENTED),
        )
        for i in range(n)
    ]
    return Recording.objects.bulk_create(rows)


@pytest.fixture
def corpus(project, outsider):
    """Project A: 120 segmented parts of Choufli Hal S01E01, 3 failed files of Nouba S02E07 aired
    2019-05-06 and added 10 days ago; project B (the outsider's): 40 recordings."""
    bulk_recordings(project, 120)
    nouba = bulk_recordings(project, 3, title="Nouba", episode="S02E07", status=Recording.Status.FAILED)
    Source.objects.filter(title="Nouba").update(air_date=dt.date(2019, 5, 6))
    Recording.objects.filter(pk__in=[r.pk for r in nouba]).update(
        created_at=timezone.now() - dt.timedelta(days=10)
    )
    bulk_recordings(Project.objects.get(slug="other"), 40, title="Other series", episode="S09E09")


def test_the_list_is_paged_with_a_count_and_a_bounded_page_size(curator, corpus):
    client = api(curator)
    first = client.get("/api/recordings/").json()
    assert first["count"] == 123 and len(first["results"]) == 50
    assert first["previous"] is None and "page=2" in first["next"]
    last = client.get("/api/recordings/?page=3").json()
    assert len(last["results"]) == 23 and last["next"] is None
    ids = {r["id"] for p in (1, 2, 3) for r in client.get(f"/api/recordings/?page={p}").json()["results"]}
    assert len(ids) == 123  # no row on two pages, none missing
    assert len(client.get(f"/api/recordings/?page_size={MAX_PAGE_SIZE}").json()["results"]) == 123
    assert len(client.get("/api/recordings/?page_size=7").json()["results"]) == 7


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=abc",
        "page=last",
        f"page={2**63}",
        "page_size=0",
        f"page_size={MAX_PAGE_SIZE + 1}",
        "page_size=x",
        "status=nope",
        "added_from=2019-13-01",
        "aired_to=yesterday",
        "ordering=sha256",
        "ordering=-password",
        "search=" + "x" * 201,
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(curator, corpus, query):
    response = api(curator).get(f"/api/recordings/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_a_page_past_the_end_is_404(curator, corpus):
    assert api(curator).get("/api/recordings/?page=4").status_code == 404


def test_each_filter_and_the_search(curator, corpus):
    client = api(curator)

    def count(query: str) -> int:
        response = client.get(f"/api/recordings/?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("status=failed") == 3
    assert count("status=segmented") == 120
    assert count("source_title=nouba") == 3
    assert count("episode=s02e07") == 3
    assert count("episode=S01") == 120
    ten_days_ago = (timezone.localdate() - dt.timedelta(days=10)).isoformat()
    assert count(f"added_to={ten_days_ago}") == 3
    assert count(f"added_from={timezone.localdate().isoformat()}") == 120
    assert count("aired_from=2019-05-06&aired_to=2019-05-06") == 3
    # search: every word somewhere in the file name, series, episode or channel
    assert count("search=nouba") == 3
    assert count("search=S02E07 part0001") == 1
    assert count("search=choufli part0001") == 1
    assert count("search=nouba choufli") == 0
    assert count("search=  ") == 123
    # ordering
    names = [
        r["original_name"] for r in client.get("/api/recordings/?ordering=original_name").json()["results"]
    ]
    assert names == sorted(names)


def test_another_projects_rows_are_never_listed_nor_counted(curator, outsider, corpus):
    assert api(curator).get("/api/recordings/?search=other").json()["count"] == 0
    theirs = api(outsider).get("/api/recordings/?page_size=200").json()
    assert theirs["count"] == 40
    assert {r["source"]["title"] for r in theirs["results"]} == {"Other series"}
    assert api(outsider).get("/api/recordings/?search=nouba").json()["count"] == 0


def test_the_page_shows_n_of_m_pages_filters_and_searches(client, curator, corpus):
    client.force_login(curator)
    html = client.get("/recordings/").content.decode()
    assert "1–50 of 123 recordings" in html and 'rel="next"' in html
    assert html.count("data-recording=") == 50
    html = client.get("/recordings/?page=3").content.decode()
    assert "101–123 of 123 recordings" in html and 'rel="prev"' in html and 'rel="next"' not in html
    html = client.get("/recordings/?search=S02E07&status=failed").content.decode()
    assert "1–3 of 3 recordings" in html and html.count("data-recording=") == 3
    # a status chip keeps the search; the pager keeps both
    assert "?search=S02E07&amp;status=segmented" in html
    html = client.get("/recordings/?added_from=not-a-date").content.decode()
    assert 'id="filter-errors"' in html and "0 recordings" in html
    # a malformed page number shows the first page, one past the end the last
    assert "1–50 of 123" in client.get("/recordings/?page=x").content.decode()
    assert "101–123 of 123" in client.get("/recordings/?page=99").content.decode()


def test_a_search_that_finds_nothing_says_so_and_offers_to_clear_it(client, curator, project, outsider):
    client.force_login(curator)
    html = client.get("/recordings/").content.decode()
    assert "No recordings yet." in html and "Upload one" in html  # the project has none
    bulk_recordings(project, 2)
    html = client.get("/recordings/?search=no-such-episode").content.decode()
    assert "No recording matches the search." in html and "data-clear-search" in html
    assert "Upload one" not in html and "No recordings yet" not in html
