"""The admin works for each role within its projects: a person added with `member_add` can do
their role's admin walkthrough, and sees, in lists, filters and choices, only their projects."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotation.guideline import ensure_guideline
from core.models import Project
from releases.build import ReleaseParams, release_build
from releases.importers import corpus_import, label_mappings_ensure
from training import services as training_services
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(tmp_path, data_dir, monkeypatch):
    """Projects A and B, each with imported RAVDESS clips, a release and a queued run."""
    ensure_guideline()
    label_mappings_ensure()
    out = {}
    for slug, actors in (("a", "0[12]"), ("b", "0[34]")):
        project = Project.objects.create(name=slug.upper(), slug=slug)
        root = tmp_path / slug
        root.mkdir()
        for f in sorted((data_dir / "ravdess").glob(f"03-01-0[15]-01-01-0[12]-{actors}.flac")):
            (root / f.name).symlink_to(f)
        corpus_import(project=project, fmt="ravdess", root=root)
        release = release_build(
            project=project,
            params=ReleaseParams(
                name=f"rel-{slug}", label_set=["neutral", "angry"], group_by="recording", split="80/20"
            ),
        )
        run = training_services.run_create(release=release, family="classical", enqueue=False)
        out[slug] = (project, release, run)
    monkeypatch.setenv("TUNISER_NEW_USER_PASSWORD", "a-long-lab-passphrase-42")
    return out


def _add(*args) -> str:
    buf = io.StringIO()
    call_command("member_add", *args, stdout=buf)
    return buf.getvalue()


def _login(username: str) -> Client:
    """Log in through the login form (the path people take, with django-axes in it)."""
    client = Client()
    r = client.post("/accounts/login/", {"username": username, "password": "a-long-lab-passphrase-42"})
    assert r.status_code == 302, r.content[:500]
    return client


def test_member_add_is_one_step_and_says_what_it_did(world):
    out = _add("fatma", "--project", "a", "--role", "ml_staff", "--create")
    assert "Created user fatma." in out and "fatma is now ml_staff in a (staff" in out
    assert (
        _add("fatma", "--project", "a", "--role", "ml_staff")
        == "fatma was already ml_staff in a (staff: may open the admin).\n"
    )
    out = _add("sami", "--project", "a", "--role", "annotator", "--create")
    assert out.endswith("sami is now annotator in a.\n")  # annotators work in the pages, not the admin
    with pytest.raises(CommandError, match="No project 'zz'"):
        _add("fatma", "--project", "zz", "--role", "curator")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        _add("nobody", "--project", "a", "--role", "curator")


def test_ml_staff_trains_from_the_admin_within_their_project_only(world):
    _add("fatma", "--project", "a", "--role", "ml_staff", "--create")
    client = _login("fatma")
    (_, release_a, run_a), (_, release_b, run_b) = world["a"], world["b"]
    assert client.get("/admin/").status_code == 200
    listing = client.get("/admin/training/trainingrun/").content.decode()
    assert f"/admin/training/trainingrun/{run_a.pk}/change/" in listing
    assert f"/admin/training/trainingrun/{run_b.pk}/change/" not in listing
    assert ">B<" not in listing  # the project filter names only their own projects
    # "Open in the admin" from the run page.
    assert client.get(f"/admin/training/trainingrun/{run_a.pk}/change/").status_code == 200
    assert client.get(f"/admin/training/trainingrun/{run_b.pk}/change/").status_code in (302, 404)
    # The add form offers their project's releases only, and refuses another's by id.
    form = client.get("/admin/training/trainingrun/add/").content.decode()
    offered = set(re.findall(r'<option value="(\d+)"', form.split('name="release"')[1].split("</select>")[0]))
    assert offered == {str(release_a.pk)}
    before = TrainingRun.objects.count()
    refused = client.post(
        "/admin/training/trainingrun/add/",
        {
            "release": release_b.pk,
            "family": "classical",
            "hparams": "{}",
            "device": "cpu",
            "precision": "fp32",
        },
    )
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert TrainingRun.objects.count() == before
    # The service's refusals come back on the form (never a 500, never "added successfully").
    for fields, message in [
        ({"hparams": "[1]"}, "JSON object of name: value"),
        ({"family": "transformer", "backbone": "/nonexistent-model"}, "is not a saved model directory"),
    ]:
        r = client.post(
            "/admin/training/trainingrun/add/",
            {
                "release": release_a.pk,
                "family": "classical",
                "hparams": "{}",
                "device": "cpu",
                "precision": "fp32",
                **fields,
            },
        )
        body = r.content.decode()
        assert r.status_code == 200 and message in body and "added successfully" not in body, fields
    assert TrainingRun.objects.count() == before
    accepted = client.post(
        "/admin/training/trainingrun/add/",
        {
            "release": release_a.pk,
            "family": "classical",
            "hparams": "{}",
            "device": "cpu",
            "precision": "fp32",
        },
    )
    assert accepted.status_code == 302
    assert TrainingRun.objects.filter(release=release_a).count() == 2
    # ML staff do not edit the label schema or annotations.
    assert client.get("/admin/annotation/annotation/").status_code == 403


def test_a_curator_of_b_lists_nothing_of_a_in_any_admin_page(world):
    _add("amel", "--project", "b", "--role", "curator", "--create")
    client = _login("amel")
    project_a, release_a, run_a = world["a"]
    a_recordings = project_a.recordings.values_list("pk", flat=True)
    for url, leak in (
        ("/admin/corpus/recording/", [f"/admin/corpus/recording/{pk}/change/" for pk in a_recordings]),
        ("/admin/releases/release/", [f"/admin/releases/release/{release_a.pk}/change/"]),
        ("/admin/core/project/", [f"/admin/core/project/{project_a.pk}/change/"]),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert not [x for x in leak if x in page.content.decode()], url
    for pk in list(a_recordings)[:2]:
        assert client.get(f"/admin/corpus/recording/{pk}/change/").status_code in (302, 404)
    clips = client.get("/admin/corpus/clip/").content.decode()
    assert ">A<" not in clips and "rel-a" not in client.get("/admin/releases/release/").content.decode()
