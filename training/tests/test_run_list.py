"""GET /api/training/runs/, GET /api/training/model-versions/ and the run list page: paged on the
server, filtered, searched, scoped to the user's projects."""

from __future__ import annotations

import re

import pytest

from conftest import _user, api
from core.models import Project
from releases.models import Release
from training.models import ModelVersion, TrainingRun


def release_in(project, name: str) -> Release:
    return Release.objects.create(
        project=project, name=name, version=1, params={}, manifest="m", checksum="0", platform_version="x"
    )


@pytest.fixture
def ml(django_user_model, project):
    return _user(django_user_model, "ml", "ml_staff", project=project)


@pytest.fixture
def other_ml(django_user_model, db):
    other = Project.objects.create(name="Other", slug="other")
    return _user(django_user_model, "other_ml", "ml_staff", project=other)


@pytest.fixture
def runs(project, other_ml):
    """Project A: 60 queued classical runs on ser4, 5 succeeded mfcc_lstm runs on ser7 (named
    "lstm-i") with a model version each; the other project: 9 runs and 2 model versions."""
    ser4, ser7 = release_in(project, "ser4"), release_in(project, "ser7")
    TrainingRun.objects.bulk_create(
        [TrainingRun(project=project, release=ser4, family="classical") for _ in range(60)]
    )
    done = TrainingRun.objects.bulk_create(
        [
            TrainingRun(
                project=project, release=ser7, family="mfcc_lstm", status="succeeded", name=f"lstm-{i}"
            )
            for i in range(5)
        ]
    )
    for run in done:
        ModelVersion.objects.create(
            project=project,
            run=run,
            release=ser7,
            family="mfcc_lstm",
            name=f"mv-{run.name}",
            path="x",
            labels=[],
        )
    theirs = release_in(Project.objects.get(slug="other"), "secret")
    other_runs = TrainingRun.objects.bulk_create(
        [TrainingRun(project=theirs.project, release=theirs, family="classical") for _ in range(9)]
    )
    for run in other_runs[:2]:
        ModelVersion.objects.create(
            project=theirs.project,
            run=run,
            release=theirs,
            family="classical",
            name="secret",
            path="x",
            labels=[],
        )
    return ser4, ser7, theirs


def test_runs_are_paged_with_a_count(ml, runs):
    first = api(ml).get("/api/training/runs/").json()
    assert first["count"] == 65 and len(first["results"]) == 50 and "page=2" in first["next"]
    second = api(ml).get("/api/training/runs/?page=2").json()
    assert len(second["results"]) == 15 and second["next"] is None
    assert len(api(ml).get("/api/training/runs/?page_size=200").json()["results"]) == 65


def test_runs_filters_and_search(ml, runs):
    ser4, ser7, theirs = runs

    def count(query: str) -> int:
        response = api(ml).get(f"/api/training/runs/?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("status=succeeded") == 5
    assert count("status=queued") == 60
    assert count("family=mfcc_lstm") == 5
    assert count(f"release={ser4.pk}") == 60
    assert count(f"release={theirs.pk}") == 0  # another project's release matches nothing of it
    assert count("search=ser7") == 5
    assert count("search=lstm-3") == 1
    assert count("search=secret") == 0
    names = [
        r["name"]
        for r in api(ml).get("/api/training/runs/?family=mfcc_lstm&ordering=-name").json()["results"]
    ]
    assert names == sorted(names, reverse=True)


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=x",
        "page_size=201",
        "status=done",
        "family=gpt",
        "release=0",
        f"release={2**63}",
        "release=abc",
        "created_from=2020-02-30",
        "ordering=hparams",
        "search=" + "x" * 201,
    ],
)
def test_runs_bad_parameters_are_400(ml, runs, query):
    response = api(ml).get(f"/api/training/runs/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_other_projects_runs_and_versions_are_never_counted(ml, other_ml, runs):
    assert api(other_ml).get("/api/training/runs/").json()["count"] == 9
    assert api(other_ml).get("/api/training/model-versions/").json()["count"] == 2
    assert api(ml).get("/api/training/model-versions/").json()["count"] == 5


def test_model_versions_are_paged_and_filtered(ml, runs):
    ser4, ser7, _ = runs
    client = api(ml)
    page = client.get("/api/training/model-versions/?page_size=2").json()
    assert page["count"] == 5 and len(page["results"]) == 2
    assert client.get("/api/training/model-versions/?search=lstm-2").json()["count"] == 1
    assert client.get(f"/api/training/model-versions/?release={ser4.pk}").json()["count"] == 0
    assert client.get("/api/training/model-versions/?family=classical").json()["count"] == 0
    assert client.get("/api/training/model-versions/?family=nope").status_code == 400
    assert client.get("/api/training/model-versions/?page_size=0").status_code == 400


def test_the_run_list_page_pages_and_filters(client, ml, runs):
    client.force_login(ml)
    html = client.get("/training/runs/").content.decode()
    assert "1–50 of 65 runs" in html and html.count("data-run=") == 50 and 'rel="next"' in html
    html = client.get("/training/runs/?status=succeeded&search=lstm").content.decode()
    assert "1–5 of 5 runs" in html and html.count("data-run=") == 5
    assert "secret" not in client.get("/training/runs/?page=2").content.decode()


def test_the_run_list_says_done_for_a_succeeded_run_and_a_percent_otherwise(client, ml, runs):
    """A succeeded run's progress cell is not an empty bar: "100 % · done"."""
    TrainingRun.objects.filter(family="classical").update(progress=0.35)
    client.force_login(ml)
    html = client.get("/training/runs/?status=succeeded").content.decode()
    cells = re.findall(r'<td class="run-progress">(.*?)</td>', html, re.S)
    assert len(cells) == 5 and all(c == "100 % · done" for c in cells), cells
    html = client.get("/training/runs/?status=queued").content.decode()
    cells = re.findall(r'<td class="run-progress">(.*?)</td>', html, re.S)
    assert cells and all(c.endswith("</progress> 35 %") for c in cells), cells[:1]


def test_the_run_page_shows_hyper_parameters_as_a_table_of_json_values(client, ml, runs):
    run = TrainingRun.objects.filter(release=runs[0]).first()
    TrainingRun.objects.filter(pk=run.pk).update(
        resolved_hparams={"max_clip_s": None, "balanced": True, "C": 1.0, "lr": 3e-05, "kernel": "rbf"}
    )
    client.force_login(ml)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert '<th scope="row">max_clip_s</th><td><code>null</code></td>' in html
    assert '<th scope="row">balanced</th><td><code>true</code></td>' in html
    assert '<th scope="row">lr</th><td><code>3e-05</code></td>' in html
    assert "<code>&quot;rbf&quot;</code>" in html
    assert "None" not in html and "True" not in html and "&#x27;max_clip_s&#x27;" not in html
