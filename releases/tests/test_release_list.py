"""GET /api/releases/: paged on the server, searched and filtered, scoped to one of the user's projects."""

from __future__ import annotations

import pytest

from conftest import _user, api
from core.models import Project
from releases.models import Release


def releases_in(project, name: str, n: int, **fields) -> list[Release]:
    return Release.objects.bulk_create(
        [
            Release(
                project=project,
                name=name,
                version=v,
                params={},
                manifest="m",
                checksum="0",
                platform_version="x",
                **fields,
            )
            for v in range(1, n + 1)
        ]
    )


@pytest.fixture
def other_curator(django_user_model, db):
    return _user(django_user_model, "other_curator", "curator", project=Project.objects.create(slug="other"))


@pytest.fixture
def releases(project, other_curator):
    """Project A: ser4 v1..v55 (built), ser7-failed v1..v2 (failed); the other project: 30 releases."""
    releases_in(project, "ser4", 55)
    releases_in(project, "ser7-failed", 2, status=Release.Status.FAILED)
    releases_in(Project.objects.get(slug="other"), "secret", 30)


def test_releases_are_paged_with_a_count(curator, releases):
    first = api(curator).get("/api/releases/").json()
    assert first["count"] == 57 and len(first["results"]) == 50 and "page=2" in first["next"]
    second = api(curator).get("/api/releases/?page=2&page_size=20").json()
    assert len(second["results"]) == 20 and second["previous"] and second["next"]
    assert len(api(curator).get("/api/releases/?page=3&page_size=20").json()["results"]) == 17


def test_releases_filters_and_search(curator, releases):
    def count(query: str) -> int:
        response = api(curator).get(f"/api/releases/?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("status=failed") == 2
    assert count("status=built") == 55
    assert count("search=ser7") == 2
    assert count("search=SER4") == 55
    assert count("search=secret") == 0
    assert count("project=tuniser&search=ser") == 57


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=x", "page_size=1000", "status=broken", "created_from=someday", "search=" + "x" * 201],
)
def test_releases_bad_parameters_are_400(curator, releases, query):
    response = api(curator).get(f"/api/releases/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_another_projects_releases_are_never_counted(curator, other_curator, releases):
    assert api(other_curator).get("/api/releases/").json()["count"] == 30
    assert api(other_curator).get("/api/releases/?search=ser4").json()["count"] == 0
    assert api(other_curator).get("/api/releases/?project=tuniser").status_code == 404
    assert api(curator).get("/api/releases/?project=other").status_code == 404
