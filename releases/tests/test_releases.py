"""Importing RAVDESS and EmoDB, building a balanced leak-free release, exporting it."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter

import pytest
import soundfile as sf
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from annotation.guideline import ensure_guideline
from corpus.models import Clip
from releases.build import ReleaseParams, release_build
from releases.export import data_card, release_export_create
from releases.importers import label_mappings_ensure
from releases.models import GoldLabel, Release, ReleaseExport

# 12 actors x (neutral, calm, happy, sad, angry) x statement 1 x both intensities where they exist.
RAVDESS_ACTORS = range(1, 13)


@pytest.fixture
def corpora(tmp_path, data_dir):
    """Folders of links to a real subset of RAVDESS (12 actors) and all of EmoDB, plus strays."""
    rav = tmp_path / "ravdess"
    rav.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[1-5]-0[12]-01-0[12]-*.flac")):
        if int(f.stem[-2:]) in RAVDESS_ACTORS:
            (rav / f.name).symlink_to(f)
    (rav / "holiday-recording.flac").symlink_to(
        next((data_dir / "ravdess").glob("*.flac"))
    )  # not a RAVDESS name
    emo = tmp_path / "emodb"
    emo.mkdir()
    for f in sorted((data_dir / "emodb").glob("*.flac")):
        (emo / f.name).symlink_to(f)
    return rav, emo


def _import(fmt, path):
    try:
        call_command("import_corpus", str(path), "--format", fmt, "--no-progress")
    except CommandError as exc:
        return str(exc)
    return ""


@pytest.mark.django_db
def test_import_maps_labels_reports_strays_and_never_guesses(corpora, capsys, tmp_path, data_dir):
    ensure_guideline()
    label_mappings_ensure()
    rav, emo = corpora
    problems = _import("ravdess", rav)
    out = capsys.readouterr().out
    assert "holiday-recording.flac: not a RAVDESS name" in problems
    n_rav = len(list(rav.glob("03-*.flac")))
    assert f"imported {n_rav} clip(s)" in out
    gold = GoldLabel.objects.filter(corpus="ravdess")
    assert gold.count() == n_rav
    assert set(gold.filter(original_label="calm").values_list("emotion__code", flat=True)) == {"neutral"}
    one = Clip.objects.get(recording__original_name="03-01-05-01-01-01-01.flac")
    assert (
        one.speaker == "ravdess-01"
        and one.gold_label.gender.code == "male"
        and one.consensus.status == "gold"
    )
    assert one.duration_s == pytest.approx(
        sf.info(data_dir / "ravdess" / "03-01-05-01-01-01-01.flac").duration, abs=0.01
    )

    assert _import("emodb", emo) == ""
    out = capsys.readouterr().out
    assert "excluded by mapping: boredom 81" in out and "imported 454 clip(s)" in out
    assert not GoldLabel.objects.filter(corpus="emodb", original_label="boredom").exists()

    # Importing again adds nothing; a folder with an unmapped label is reported, not guessed.
    assert _import("emodb", emo) == ""
    assert "454 already imported" in capsys.readouterr().out
    weird = tmp_path / "folder" / "bored"
    weird.mkdir(parents=True)
    (weird / "a.flac").symlink_to(data_dir / "emodb" / "03a01Wa.flac")
    problems = _import("folder", tmp_path / "folder")
    assert "labels with no mapping" in problems and "'bored' (1 files)" in problems
    assert GoldLabel.objects.count() == n_rav + 454


@pytest.fixture
def imported(corpora, db):
    ensure_guideline()
    label_mappings_ensure()
    rav, emo = corpora
    _import("ravdess", rav)
    _import("emodb", emo)


def _manifest(release) -> list[dict]:
    with default_storage.open(release.manifest.name) as fh:
        return [json.loads(line) for line in fh.read().decode().splitlines()]


@pytest.mark.django_db(transaction=True)
def test_balanced_release_grouped_by_speaker_is_leak_free_and_reproducible(imported, project, tmp_path):
    params = ReleaseParams(name="ser4", balancing="undersample", group_by="speaker", split="70/15/15", seed=7)
    release = release_build(project=project, params=params)

    items = _manifest(release)
    per_label = Counter(i["label"] for i in items)
    assert set(per_label) == {"happy", "sad", "angry", "neutral"}
    assert len(set(per_label.values())) == 1, per_label  # undersampled to the smallest class
    speakers_by_split: dict[str, set] = {}
    for i in items:
        speakers_by_split.setdefault(i["split"], set()).add(i["speaker"])
    splits = list(speakers_by_split.values())
    assert all(not (a & b) for k, a in enumerate(splits) for b in splits[k + 1 :]), (
        "a speaker is in two splits"
    )
    assert {"ravdess-01", "emodb-03"} <= set().union(*splits)  # both corpora merged
    for split in ("train", "validation", "test"):
        counts = Counter(i["label"] for i in items if i["split"] == split)
        assert max(counts.values()) - min(counts.values()) <= 1, (split, counts)  # class ratios kept
    assert release.counts and release.platform_version and release.params["seed"] == 7

    again = release_build(project=project, params=params)
    assert (again.version, release.version) == (2, 1)
    assert again.checksum == release.checksum
    with default_storage.open(again.manifest.name) as a, default_storage.open(release.manifest.name) as b:
        assert a.read() == b.read()
    other = release_build(project=project, params=ReleaseParams(name="ser4", seed=8))
    assert other.checksum != release.checksum

    # Export through Celery (eager in tests) and load the archive with `datasets`.
    export = release_export_create(release=release)
    export.refresh_from_db()
    assert export.status == ReleaseExport.Status.SUCCEEDED, export.traceback
    with default_storage.open(export.archive.name) as fh:
        zipfile.ZipFile(io.BytesIO(fh.read())).extractall(tmp_path / "export")
    root = tmp_path / "export"
    assert {"manifest.jsonl", "README.md"} <= {p.name for p in root.iterdir()}
    assert (root / "audio" / "train" / "metadata.csv").read_text().startswith("file_name,label,gender,split")
    card = (root / "README.md").read_text()
    assert release.checksum in card and "| train |" in card and "Sources and licences" in card

    import datasets

    ds = datasets.load_dataset("audiofolder", data_dir=str(root))
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    total = sum(len(ds[s]) for s in ds)
    assert total == len(items)
    first = next(iter(ds.values()))[0]
    assert {"label", "gender", "split", "duration", "agreement", "votes"} <= set(first)
    samples, rate = sf.read(first["audio"]["path"] or io.BytesIO(first["audio"]["bytes"]))
    assert rate == 16000 and len(samples) / rate == pytest.approx(first["duration"], abs=0.01)


@pytest.mark.django_db(transaction=True)
def test_oversampling_adds_augmented_copies_to_the_training_split_only(imported, project):
    release = release_build(
        project=project, params=ReleaseParams(name="over", balancing="oversample", seed=1)
    )
    items = _manifest(release)
    copies = [i for i in items if i["augmented_copy"]]
    assert copies and {i["split"] for i in copies} == {"train"}
    train = Counter(i["label"] for i in items if i["split"] == "train")
    assert len(set(train.values())) == 1, train
    export = release_export_create(release=release)
    export.refresh_from_db()
    assert export.status == "succeeded", export.traceback
    with default_storage.open(export.archive.name) as fh:
        zf = zipfile.ZipFile(io.BytesIO(fh.read()))
        aug = sf.read(io.BytesIO(zf.read(copies[0]["file_name"])))[0]
        orig_name = copies[0]["file_name"].replace(f"_aug{copies[0]['augmented_copy']}", "")
        orig = sf.read(io.BytesIO(zf.read(orig_name)))[0] if orig_name in zf.namelist() else None
    assert aug.size and (orig is None or len(aug) != len(orig) or (abs(aug - orig).max() > 1e-3))


@pytest.mark.django_db
def test_bad_release_parameters_get_a_message_per_field(imported, project):
    cases = [
        (ReleaseParams(name="x", label_set=["joy", "sad"]), "label_set", "Unknown label"),
        (ReleaseParams(name="x", balancing="magic"), "balancing", "Unknown balancing"),
        (ReleaseParams(name="x", balancing="cap"), "cap", "needs a cap"),
        (ReleaseParams(name="x", split="60/60/0"), "split", ""),
        (ReleaseParams(name="x", group_by="mood"), "group_by", "Group by one of"),
    ]
    for params, field, message in cases:
        with pytest.raises(ValidationError) as exc:
            release_build(project=project, params=params)
        assert field in exc.value.message_dict and message in " ".join(exc.value.message_dict[field])
    with pytest.raises(ValidationError, match="No clip"):
        release_build(project=project, params=ReleaseParams(name="x", min_agreement=2, include_gold=False))
    assert not Release.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_releases_grouped_by_speaker_cluster_never_put_one_voice_in_two_splits(imported, project):
    """Broadcast clips have no named speaker: the speaker step's voices are the leakage unit.

    The imported clips lose their speaker names and get what the speaker step writes for TV:
    one cluster per recording, clusters of one actor linked into one series speaker (a voice
    across episodes), except a few clusters left unlinked. Whatever the seed, no series speaker
    and no cluster is in two splits, and the data card counts the voices per split.
    """
    from corpus.models import SeriesSpeaker, SpeakerCluster

    clips = list(Clip.objects.select_related("recording").order_by("pk"))
    voices: dict[str, SeriesSpeaker] = {}
    unlinked = 0
    for clip in clips:
        actor = clip.speaker
        voice = voices.get(actor) or voices.setdefault(
            actor, SeriesSpeaker.objects.create(project=project, series="Series", name=f"voice of {actor}")
        )
        link = clip.pk % 9 != 0  # every ninth cluster stays unlinked (the speaker step found no match)
        unlinked += not link
        cluster = SpeakerCluster.objects.create(
            recording=clip.recording,
            index=1,
            label=f"rec{clip.recording_id}-spk1",
            series_speaker=voice if link else None,
            clip_count=1,
        )
        Clip.objects.filter(pk=clip.pk).update(speaker="", speaker_cluster=cluster)
    assert unlinked > 0
    for seed in (1, 2):
        params = ReleaseParams(name=f"tv{seed}", group_by="speaker_cluster", split="70/15/15", seed=seed)
        release = release_build(project=project, params=params)
        items = _manifest(release)
        cluster_of = dict(Clip.objects.values_list("pk", "speaker_cluster_id"))
        voice_of = dict(SpeakerCluster.objects.values_list("pk", "series_speaker_id"))
        splits_of: dict[str, set] = {}
        for i in items:
            cluster = cluster_of[i["clip_id"]]
            key = f"voice:{voice_of[cluster]}" if voice_of[cluster] else f"cluster:{cluster}"
            assert i["group"] == key
            splits_of.setdefault(key, set()).add(i["split"])
        assert all(len(s) == 1 for s in splits_of.values()), "a voice is in two splits"
        assert len({k for k in splits_of if k.startswith("voice:")}) == len(voices)
        assert any(k.startswith("cluster:") for k in splits_of)
    assert all(i["voice"] for i in items)
    card = data_card(release, items)
    section = card.split("## Speakers per split")[1].split("##")[0]
    for split in ("train", "validation", "test"):
        rows = [i for i in items if i["split"] == split and not i["augmented_copy"]]
        assert f"| {split} | {len({i['voice'] for i in rows})} | 0 |" in section


@pytest.mark.django_db(transaction=True)
def test_exports_name_every_speaker_and_leave_out_empty_splits(imported, project):
    """metadata.csv's `speaker`: the gold speaker, else the series speaker's name, else the
    cluster's label; an 80/20 release has no validation row in the data card nor in
    `release_build`'s output; counts of one read "1 clip"."""
    import csv
    import re

    from corpus.models import SeriesSpeaker, SpeakerCluster
    from releases.export import _metadata_csv

    named = SeriesSpeaker.objects.create(project=project, series="Series", name="Sbouï")
    unnamed = SeriesSpeaker.objects.create(project=project, series="Series", name="")
    expected = {}
    for clip in Clip.objects.order_by("pk"):
        kind = clip.pk % 4  # 0: gold speaker kept; 1: a named voice; 2: an unnamed one; 3: unlinked
        if kind == 0:
            expected[clip.pk] = clip.speaker
            continue
        label = f"Series rec{clip.recording_id}-spk1"
        cluster = SpeakerCluster.objects.create(
            recording=clip.recording,
            index=1,
            label=label,
            series_speaker={1: named, 2: unnamed}.get(kind),
            clip_count=1,
        )
        Clip.objects.filter(pk=clip.pk).update(speaker="", speaker_cluster=cluster)
        expected[clip.pk] = "Sbouï" if kind == 1 else label

    out = io.StringIO()
    call_command("release_build", "tv", "--split", "80/20", "--group-by", "recording", stdout=out)
    printed = out.getvalue()
    assert "validation" not in printed, printed
    assert re.search(r"^  train +\d+ items: angry \d+", printed, re.M), printed
    assert "items: \n" not in printed + "\n"
    release = Release.objects.get(name="tv")
    items = _manifest(release)
    assert {i["split"] for i in items} == {"train", "test"}
    rows = list(csv.DictReader(io.StringIO(_metadata_csv(items, ""))))
    assert rows and all(row["speaker"] for row in rows)
    assert all(row["speaker"] == expected[int(row["clip_id"])] for row in rows)

    card = data_card(release, items)
    assert "| validation |" not in card and "| train |" in card and "| test |" in card
    assert "`speaker` names who speaks" in card
    assert not re.search(r"\b1 clips\b", card)
    one = data_card(release, [next(i for i in items if not i["augmented_copy"])])
    assert "- gold: 1 clip\n" in one and not re.search(r"\b1 clips\b", one)
