"""Every stored file goes through one access check (core.files): role + project, and for
annotators the live assignment; duplicates are recognised per project and name nothing of
another project; a refused upload writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from annotation import services as annotation_services
from annotation.guideline import ensure_guideline
from annotation.models import Assignment
from core.models import Project
from corpus.models import Clip, Recording, Source
from corpus.tests import media_files as mf
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.importers import corpus_import, label_mappings_ensure

pytestmark = pytest.mark.django_db(transaction=True)


def _member(django_user_model, name, project, *roles):
    user = django_user_model.objects.create_user(username=name, password="pw-" + name)
    user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
    project.members.add(user)
    return user


def _client(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def two_projects(django_user_model, data_dir, tmp_path):
    """Project A with imported RAVDESS clips, a release and its export; project B beside it."""
    ensure_guideline()
    label_mappings_ensure()
    a = Project.objects.create(name="A", slug="a")
    b = Project.objects.create(name="B", slug="b")
    root = tmp_path / "rav"
    root.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[15]-01-01-0[12]-0[1-4].flac")):
        (root / f.name).symlink_to(f)
    corpus_import(project=a, fmt="ravdess", root=root)
    release = release_build(
        project=a,
        params=ReleaseParams(name="ab", label_set=["neutral", "angry"], group_by="speaker", split="80/20"),
    )
    export = release_export_create(release=release)  # eager Celery: written now
    export.refresh_from_db()
    assert export.status == "succeeded", export.error
    users = {
        "curator_a": _member(django_user_model, "curator_a", a, "curator"),
        "ml_a": _member(django_user_model, "ml_a", a, "ml_staff"),
        "annotator_a": _member(django_user_model, "annotator_a", a, "annotator"),
        "outsider": _member(
            django_user_model, "outsider", b, "annotator", "validator", "curator", "ml_staff"
        ),
    }
    clip = Clip.objects.filter(recording__project=a).first()
    files = {
        "clip": clip.audio.name,
        "original": clip.recording.original.name,
        "normalised": clip.recording.normalised.name,
        "manifest": release.manifest.name,
        "export": export.archive.name,
    }
    return a, b, users, files, clip


def _status(client, name, **headers):
    return client.get(f"/media/{name}", **headers).status_code


def test_each_file_kind_is_scoped_by_role_and_project(two_projects):
    a, b, users, files, clip = two_projects
    curator, ml, annotator, outsider = (
        _client(users[k]) for k in ("curator_a", "ml_a", "annotator_a", "outsider")
    )
    for kind, name in files.items():
        # The outsider holds every role, in another project: nothing, not even with a Range.
        assert _status(outsider, name) == 404, kind
        assert _status(outsider, name, HTTP_RANGE="bytes=0-99") == 404, kind
        # An annotator holding nothing hears nothing.
        assert _status(annotator, name) == 404, kind
        assert _status(APIClient(), name) in (302, 401, 403, 404), kind
        assert _status(curator, name) == 200, kind
        assert _status(curator, name, HTTP_RANGE="bytes=0-99") == 206, kind
    # ML staff get the recordings and the release files of their own project.
    assert all(_status(ml, files[k]) == 200 for k in ("original", "manifest", "export"))
    # The data card names each recording's provenance (container, track, downmix, warnings).
    import io
    import zipfile

    archive = zipfile.ZipFile(
        io.BytesIO(b"".join(curator.get(f"/media/{files['export']}").streaming_content))
    )
    card = archive.read("README.md").decode()
    assert "## Recordings (provenance of the audio)" in card and "| #" in card and "mono" in card
    # A name nobody stored is not served, even to a superuser-like curator of the project.
    assert _status(curator, "clips/guess/whole.wav") == 404
    assert _status(curator, f"exports/{b.slug}/ab-v1.zip") == 404


def test_an_annotator_hears_only_the_clip_held_and_only_while_the_assignment_lives(two_projects):
    a, _, users, files, clip = two_projects
    annotator = users["annotator_a"]
    other = Clip.objects.filter(recording__project=a).exclude(pk=clip.pk).first()
    assignment = Assignment.objects.create(
        kind=Assignment.Kind.LABELLING,
        clip=clip,
        user=annotator,
        served_at=timezone.now(),
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    client = _client(annotator)
    assert _status(client, files["clip"]) == 200
    assert _status(client, files["clip"], HTTP_RANGE="bytes=0-9") == 206
    assert client.get(f"/api/clips/{clip.pk}/audio/").status_code == 200
    assert _status(client, other.audio.name) == 404
    assert _status(client, files["original"]) == 404  # never the recording around it
    # Expired (not yet swept back to the pool): the audio closes at once.
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert annotation_services.holds_clip(annotator, clip.pk) is False
    assert _status(client, files["clip"]) == 404
    assert client.get(f"/api/clips/{clip.pk}/audio/").status_code == 404


def test_duplicates_are_per_project_and_name_nothing_of_another(two_projects, data_dir, tmp_path):
    a, b, users, files, clip = two_projects
    samples, rate = mf.ravdess_speech(data_dir, n=2)
    path = mf.write_wav(tmp_path / "episode.wav", samples, rate)
    body = path.read_bytes()

    def upload(user, project):
        return _client(user).post(
            "/api/recordings/",
            {
                "file": SimpleUploadedFile("episode.wav", body),
                "source_title": "Series",
                "project": project.slug,
                "segment": "false",
            },
            format="multipart",
        )

    first = upload(users["curator_a"], a)
    assert first.status_code == 201, first.json()
    again = upload(users["curator_a"], a)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    # The same file in project B is B's own recording; nothing of A's is named.
    in_b = upload(users["outsider"], b)
    assert in_b.status_code == 201 and in_b.json()["duplicate"] is False
    text = in_b.content.decode()
    assert in_b.json()["id"] != first.json()["id"]
    first_id = first.json()["id"]
    assert f"#{first_id} " not in text and f"/recordings/{first_id}/" not in text
    assert Recording.objects.filter(sha256=Recording.objects.get(pk=first.json()["id"]).sha256).count() == 2


def test_a_refused_upload_writes_nothing_not_even_its_source(two_projects):
    a, _, users, _, _ = two_projects
    sources = Source.objects.count()
    for name, content, status in (("notes.txt", b"hello", 415), ("empty.wav", b"", 400)):
        r = _client(users["curator_a"]).post(
            "/api/recordings/",
            {"file": SimpleUploadedFile(name, content), "source_title": "Never made", "project": a.slug},
            format="multipart",
        )
        assert r.status_code == status, r.content
    assert Source.objects.count() == sources
    assert not Source.objects.filter(title="Never made").exists()
