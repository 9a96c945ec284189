"""Exports keep every rater: per clip, each anonymous rater's label (`ratings`), `n_raters` and
whether the clip was `escalated` (dynamic overlap), in metadata.csv and manifest.jsonl."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
from django.core.files.storage import default_storage

from annotation import services
from annotation.guideline import ensure_guideline
from annotation.models import ClipConsensus
from conftest import _user
from corpus.models import Clip
from releases.build import ReleaseParams, rater_id, release_build
from releases.export import release_export_create, release_export_execute
from releases.importers import corpus_import, label_mappings_ensure
from releases.models import GoldLabel, ReleaseExport

pytestmark = pytest.mark.django_db(transaction=True)
L = services.LABELLING
RATER = re.compile(r"^r-[0-9a-f]{8}$")


@pytest.fixture
def corpus(tmp_path, data_dir, project, django_user_model):
    """16 RAVDESS gold clips (4 actors, neutral and angry); two angry ones taken from the gold
    labels and labelled through the queue instead: one agreed at K = 3, one escalated to 4."""
    root = tmp_path / "ravdess"
    root.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[15]-01-01-0[12]-0[1-4].flac")):
        (root / f.name).symlink_to(f)
    ensure_guideline()
    label_mappings_ensure()
    assert corpus_import(project=project, fmt="ravdess", root=root).imported == 16
    plain, escalated = (
        GoldLabel.objects.filter(emotion__code="angry")
        .order_by("clip_id")
        .values_list("clip_id", flat=True)[:2]
    )
    users = [_user(django_user_model, f"rater{i}", "annotator", project=project) for i in range(5)]
    for clip_id, plan in (
        (plain, ["angry", "angry", "neutral"]),
        (escalated, ["angry", "neutral", "happy", "angry"]),
    ):
        GoldLabel.objects.filter(clip_id=clip_id).delete()
        ClipConsensus.objects.filter(clip_id=clip_id).delete()
        Clip.objects.filter(pk=clip_id).update(status=Clip.Status.ACCEPTED)
        services.pool_add_clips(clip_ids=[clip_id], kind=L)
        for user, emotion in zip(users, plan, strict=False):
            handout = services.assignment_next(user=user, project=project, kind=L)
            assert handout.assignment.clip_id == clip_id
            services.annotation_submit(user=user, clip_id=clip_id, emotion=emotion, gender="male")
        assert Clip.objects.get(pk=clip_id).status == Clip.Status.LABELLED
    return {"plain": plain, "escalated": escalated, "users": users}


def _export(release) -> dict[str, bytes]:
    export = release_export_create(release=release, enqueue=False)
    release_export_execute(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == ReleaseExport.Status.SUCCEEDED, export.traceback
    with default_storage.open(export.archive.name) as fh:
        archive = zipfile.ZipFile(io.BytesIO(fh.read()))
    return {n: archive.read(n) for n in archive.namelist() if not n.endswith(".wav")}


def _rows(files: dict[str, bytes]) -> dict[int, dict]:
    rows = {}
    for name, data in files.items():
        if name.endswith("metadata.csv"):
            rows.update({int(r["clip_id"]): r for r in csv.DictReader(io.StringIO(data.decode()))})
    return rows


def _build(project, name: str):
    return release_build(
        project=project,
        # No balancing: every labelled clip is released, whatever the class counts.
        params=ReleaseParams(
            name=name, label_set=["neutral", "angry"], group_by="speaker", split="50/25/25", balancing="none"
        ),
    )


def test_every_rater_is_exported_anonymously_with_counts_and_the_escalation(corpus, project):
    release = _build(project, "raters")
    first, second = _export(release), _export(release)
    rows = _rows(first)
    esc, plain = rows[corpus["escalated"]], rows[corpus["plain"]]

    ratings = json.loads(esc["ratings"])
    assert [r["emotion"] for r in ratings] == ["angry", "neutral", "happy", "angry"]
    assert all(RATER.match(r["rater"]) for r in ratings) and len({r["rater"] for r in ratings}) == 4
    assert {r["gender"] for r in ratings} == {"male"}
    assert (esc["n_raters"], esc["escalated"]) == ("4", "True")
    # The soft label and the votes use all four raters.
    assert json.loads(esc["votes"]) == {"angry": 2, "happy": 1, "neutral": 1}
    assert json.loads(esc["soft_label"]) == {"angry": 0.5, "happy": 0.25, "neutral": 0.25}
    assert esc["agreement"] == "2/4"
    assert (plain["n_raters"], plain["escalated"], len(json.loads(plain["ratings"]))) == ("3", "False", 3)
    # The same person has one id throughout a release: raters 0 and 1 labelled both clips.
    assert [r["rater"] for r in json.loads(plain["ratings"])] == [r["rater"] for r in ratings[:3]]
    assert ratings[0]["rater"] == rater_id(
        project_id=project.pk, release_name="raters", user_id=corpus["users"][0].pk
    )
    gold = [r for cid, r in rows.items() if cid not in (corpus["escalated"], corpus["plain"])]
    assert gold and all((r["ratings"], r["n_raters"], r["escalated"]) == ("[]", "0", "False") for r in gold)

    # manifest.jsonl carries the same, and a second export of the release is identical.
    manifest = {
        (item := json.loads(line))["clip_id"]: item for line in first["manifest.jsonl"].decode().splitlines()
    }
    assert manifest[corpus["escalated"]]["ratings"] == ratings
    assert (manifest[corpus["escalated"]]["n_raters"], manifest[corpus["escalated"]]["escalated"]) == (
        4,
        True,
    )
    assert _rows(second) == rows and second["manifest.jsonl"] == first["manifest.jsonl"]

    card = first["README.md"].decode()
    assert "Escalated clips in this release: 1 clip of" in card
    assert "`ratings`" in card and "`n_raters`" in card and "`escalated`" in card

    # No username anywhere in the archive's text files.
    for name, data in first.items():
        for user in corpus["users"]:
            assert user.username.encode() not in data, (name, user.username)

    # Another release: other ids for the same people.
    other = _rows(_export(_build(project, "raters-bis")))
    other_ids = {r["rater"] for r in json.loads(other[corpus["escalated"]]["ratings"])}
    assert other_ids.isdisjoint({r["rater"] for r in ratings})
    assert len(other_ids) == 4


def test_a_clip_still_escalating_is_not_released(corpus, project):
    pending = GoldLabel.objects.filter(emotion__code="angry").order_by("-clip_id").first().clip_id
    GoldLabel.objects.filter(clip_id=pending).delete()
    ClipConsensus.objects.filter(clip_id=pending).delete()
    Clip.objects.filter(pk=pending).update(status=Clip.Status.ACCEPTED)
    services.pool_add_clips(clip_ids=[pending], kind=L)
    for user, emotion in zip(corpus["users"], ["angry", "neutral", "happy"], strict=False):
        assert services.assignment_next(user=user, project=project, kind=L).assignment.clip_id == pending
        services.annotation_submit(user=user, clip_id=pending, emotion=emotion, gender="male")
    assert ClipConsensus.objects.get(clip_id=pending).status == "pending"
    release = _build(project, "no-pending")
    assert not release.items.filter(clip_id=pending).exists()
    assert release.items.filter(clip_id=corpus["escalated"]).exists()


def test_a_rebuild_of_the_same_name_keeps_the_checksum(corpus, project):
    # Rater ids depend on the release name, not its row: the same inputs give the same manifest.
    assert _build(project, "again").checksum == _build(project, "again").checksum


def test_an_excluded_annotators_labels_are_not_released(corpus, project, django_user_model):
    """A curator excluded a rater: their labels no longer count (consensus, votes), so the export
    must not ship them in `ratings` either, and `n_raters` agrees with `votes`."""
    curator = _user(django_user_model, "cur", "curator", project=project)
    excluded = corpus["users"][2]  # "neutral" on the plain clip, "happy" on the escalated one
    services.annotator_standing_set(curator=curator, project=project, user_id=excluded.pk, action="exclude")
    rows = _rows(_export(_build(project, "without")))
    assert corpus["plain"] not in rows  # two counted labels left: back in the pool, not released
    esc = rows[corpus["escalated"]]
    ratings = json.loads(esc["ratings"])
    hidden = rater_id(project_id=project.pk, release_name="without", user_id=excluded.pk)
    assert hidden not in {r["rater"] for r in ratings}
    assert [r["emotion"] for r in ratings] == ["angry", "neutral", "angry"]
    assert json.loads(esc["votes"]) == {"angry": 2, "neutral": 1}
    assert int(esc["n_raters"]) == sum(json.loads(esc["votes"]).values()) == 3
