"""Release versions and exports are race-free: simultaneous builds of one name give v1 and v2,
simultaneous exports of one release give one export. Runs on both databases (PostgreSQL in CI's
second pass, where `select_for_update` really locks)."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from rest_framework.test import APIClient

from annotation.guideline import ensure_guideline
from releases.importers import corpus_import, label_mappings_ensure
from releases.models import Release, ReleaseExport

N = 4


@pytest.fixture
def curator_client(project, django_user_model, tmp_path, data_dir):
    ensure_guideline()
    label_mappings_ensure()
    root = tmp_path / "rav"
    root.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[15]-01-01-0[12]-0[1-4].flac")):
        (root / f.name).symlink_to(f)
    corpus_import(project=project, fmt="ravdess", root=root)
    user = django_user_model.objects.create_user(username="cur", password="x")
    user.groups.add(Group.objects.get_or_create(name="curator")[0])
    project.members.add(user)
    return user


def _together(user, call) -> list[int]:
    """Run `call(client)` in N threads released at once; the HTTP statuses."""

    def one():
        client = APIClient()
        client.force_authenticate(user)
        return call(client).status_code

    return _together_calls(one)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_builds_of_one_name_take_successive_versions(curator_client, project):
    body = {"name": "race", "label_set": ["neutral", "angry"], "group_by": "speaker", "split": "80/20"}
    statuses = _together(
        curator_client, lambda c: c.post(f"/api/releases/?project={project.slug}", body, format="json")
    )
    assert all(s in (201, 409) for s in statuses), statuses
    versions = sorted(Release.objects.filter(name="race").values_list("version", flat=True))
    assert versions == list(range(1, statuses.count(201) + 1)) and statuses.count(201) >= 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_exports_of_one_release_make_one_export(curator_client, project):
    from releases.build import ReleaseParams, release_build

    release = release_build(
        project=project,
        params=ReleaseParams(name="one", label_set=["neutral", "angry"], group_by="speaker", split="80/20"),
    )
    ReleaseExport.objects.all().delete()
    from releases.export import release_export_create

    # Not enqueued: the exports stay queued (busy) while the requests race.
    made = _together_calls(lambda: release_export_create(release=release, enqueue=False).pk)
    assert len(set(made)) == 1
    assert ReleaseExport.objects.filter(release=release).count() == 1


def _together_calls(call) -> list:
    """Run `call()` in N threads released at once (a barrier); what each returned."""
    barrier = threading.Barrier(N)
    results: list = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            results.append(call())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results
