"""What an export says about where its audio and labels come from: one unit per metadata column
(votes are counts), each imported corpus's licence in the data card, and a corpus that holds one
recording twice reported by name."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import call_command

from annotation.guideline import ensure_guideline
from annotation.models import Annotation, ClipConsensus, LabelOption
from corpus.models import Source
from releases.build import ReleaseParams, release_build
from releases.export import data_card, release_export_create, release_export_execute
from releases.importers import LICENCES, corpus_import, corpus_licence, label_mappings_ensure
from releases.models import GoldLabel, ReleaseExport

pytestmark = pytest.mark.django_db


@pytest.fixture
def ravdess(tmp_path, data_dir):
    """Links to 16 RAVDESS files: actors 01-04, neutral and angry, statement 1, two takes."""
    root = tmp_path / "ravdess"
    root.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[15]-01-01-0[12]-0[1-4].flac")):
        (root / f.name).symlink_to(f)
    assert len(list(root.iterdir())) == 16
    ensure_guideline()
    label_mappings_ensure()
    return root


def _import(path, fmt="ravdess") -> str:
    out = io.StringIO()
    call_command("import_corpus", str(path), "--format", fmt, "--no-progress", stdout=out)
    return out.getvalue()


def test_a_byte_identical_pair_inside_one_import_is_named_not_called_already_imported(ravdess, project):
    twin = ravdess / "copies" / "03-01-05-01-01-01-01.flac"
    twin.parent.mkdir()
    shutil.copyfile(ravdess / "03-01-05-01-01-01-01.flac", twin)

    out = _import(ravdess)

    assert "imported 16 clip(s) (angry 8, neutral 8); 0 already imported" in out, out
    assert (
        "1 duplicate file inside this import: 03-01-05-01-01-01-01.flac = copies/03-01-05-01-01-01-01.flac"
        in out
        or "1 duplicate file inside this import: copies/03-01-05-01-01-01-01.flac = 03-01-05-01-01-01-01.flac"
        in out
    ), out
    # A second run: every file is now from an earlier import, none is "inside this import".
    again = _import(ravdess)
    assert "imported 0 clip(s) (none); 17 already imported" in again, again
    assert "inside this import" not in again


def test_imported_sources_carry_their_corpus_licence_and_the_data_card_prints_it(ravdess, project, data_dir):
    report = corpus_import(project=project, fmt="ravdess", root=ravdess)
    assert report.imported == 16
    source = Source.objects.get(project=project, title="RAVDESS")
    assert source.licence_note == LICENCES["ravdess"]
    assert "CC BY-NC-SA 4.0" in source.licence_note
    emodb = ravdess.parent / "emodb"
    emodb.mkdir()
    for f in sorted((data_dir / "emodb").glob("03a01*.flac"))[:4]:
        (emodb / f.name).symlink_to(f)
    corpus_import(project=project, fmt="emodb", root=emodb)
    assert "CC0" in Source.objects.get(project=project, title="EmoDB").licence_note

    release = release_build(
        project=project,
        params=ReleaseParams(
            name="lic", label_set=["neutral", "angry"], group_by="speaker", split="50/25/25"
        ),
    )
    card = data_card(
        release,
        [json.loads(line) for line in default_storage.open(release.manifest.name).read().splitlines()],
    )
    section = card.split("## Sources and licences", 1)[1].split("##", 1)[0]
    assert f"- RAVDESS: {LICENCES['ravdess']}" in section, section
    assert "Imported RAVDESS corpus" not in card


def test_a_source_imported_before_licences_reads_as_its_corpus_licence(project):
    old = Source(project=project, title="RAVDESS", licence_note="Imported RAVDESS corpus")
    assert corpus_licence(old) == LICENCES["ravdess"]
    own = Source(project=project, title="Radio", licence_note="Broadcast with the station's consent")
    assert corpus_licence(own) == "Broadcast with the station's consent"


def test_votes_are_counts_for_every_row_and_the_soft_label_a_separate_column(ravdess, project, tmp_path):
    corpus_import(project=project, fmt="ravdess", root=ravdess)
    # One clip stops being gold and gets three annotators' votes: 2 angry, 1 neutral.
    voted = GoldLabel.objects.filter(emotion__code="angry").order_by("clip_id").first().clip
    GoldLabel.objects.filter(clip=voted).delete()
    angry = LabelOption.objects.get(kind="emotion", code="angry")
    neutral = LabelOption.objects.get(kind="emotion", code="neutral")
    male = LabelOption.objects.filter(kind="gender").first()
    users = [get_user_model().objects.create_user(f"a{i}") for i in range(3)]
    for user, emotion in zip(users, (angry, angry, neutral), strict=True):
        Annotation.objects.create(clip=voted, annotator=user, emotion=emotion, gender=male)
    ClipConsensus.objects.filter(clip=voted).update(
        status=ClipConsensus.Status.AGREED,
        method="majority",
        n_votes=3,
        n_agree=2,
        distribution={"angry": 0.6667, "neutral": 0.3333},
    )
    release = release_build(
        project=project,
        params=ReleaseParams(
            name="votes", label_set=["neutral", "angry"], group_by="speaker", split="50/25/25"
        ),
    )
    export = release_export_create(release=release, enqueue=False)
    release_export_execute(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == ReleaseExport.Status.SUCCEEDED, export.traceback
    with default_storage.open(export.archive.name) as fh:
        archive = zipfile.ZipFile(io.BytesIO(fh.read()))
    rows = []
    for name in archive.namelist():
        if name.endswith("metadata.csv"):
            rows += list(csv.DictReader(io.StringIO(archive.read(name).decode())))
    by_clip = {int(r["clip_id"]): r for r in rows}
    assert voted.pk in by_clip, "the voted clip is in the release"
    assert json.loads(by_clip[voted.pk]["votes"]) == {"angry": 2, "neutral": 1}
    assert json.loads(by_clip[voted.pk]["soft_label"]) == {"angry": 0.6667, "neutral": 0.3333}
    for clip_id, row in by_clip.items():
        votes = json.loads(row["votes"])
        assert all(isinstance(v, int) for v in votes.values()), row  # counts, never fractions
        if clip_id != voted.pk:
            assert votes == {}  # gold: nobody voted
            assert json.loads(row["soft_label"]) == {row["label"]: 1.0}
    card = archive.read("README.md").decode()
    assert "`votes`: how many annotators chose each emotion, as whole counts" in card
    assert "`soft_label`: the consensus as fractions summing to 1" in card
