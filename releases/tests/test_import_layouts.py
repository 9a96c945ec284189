"""Importing any layout: a manifest (CSV, JSON Lines), a tree read by a path pattern, and an
`audiofolder` (the platform's own export brought back into another project with its splits).

Every corpus here is real speech (RAVDESS, ../shared/data) written by the test in the layout.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import defaultdict

import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from annotation.guideline import ensure_guideline
from annotation.models import ClipConsensus, LabelOption
from conftest import _user, api
from core.models import Project
from corpus.models import Clip, Recording, Source
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.importers import UNKNOWN_LICENCE, corpus_import, label_mappings_ensure, pattern_compile
from releases.models import GoldLabel, LabelMapping, Release, ReleaseExport, ReleaseItem

pytestmark = pytest.mark.django_db

EMOTIONS = {"01": "neutral", "05": "angry"}


@pytest.fixture
def schema(db):
    ensure_guideline()
    label_mappings_ensure()


def _ravdess(data_dir, emotion: str, actor: int, take: int = 1):
    """A RAVDESS utterance: statement 1, normal intensity; emotion code "01" neutral, "05" angry."""
    return data_dir / "ravdess" / f"03-01-{emotion}-01-01-{take:02d}-{actor:02d}.flac"


def _wav(src, dst) -> None:
    """Write `src` (FLAC) as a 16-bit WAV at `dst`: the corpus's own files, in its layout."""
    samples, rate = sf.read(src, dtype="int16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, samples, rate, subtype="PCM_16")


def _run(*args) -> tuple[str, int]:
    """call_command's output and exit status (0, or a CommandError's returncode)."""
    out = io.StringIO()
    try:
        call_command("import_corpus", *map(str, args), "--no-progress", stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), 0


def _nothing_written(project) -> bool:
    return not (
        Source.objects.filter(project=project).exists() or Recording.objects.filter(project=project).exists()
    )


# --- manifest ---------------------------------------------------------------------------------


@pytest.fixture
def manifest_corpus(tmp_path, data_dir, schema):
    """Four utterances of two speakers under corpus/audio, and the rows a manifest gives them: an
    emotion word of the corpus ("ghadab", mapped to angry) and codes of the schema."""
    root = tmp_path / "corpus"
    rows = []
    for actor, speaker, gender in ((1, "spk-a", "m"), (2, "spk-b", "female")):
        for code, label in (("05", "ghadab"), ("01", "Neutral")):
            name = f"audio/{speaker}_{label.lower()}.wav"
            _wav(_ravdess(data_dir, code, actor), root / name)
            rows.append(
                {
                    "path": name,
                    "label": label,
                    "speaker": speaker,
                    "gender": gender,
                    "transcript": "Kids are talking by the door",
                    "dialect": "sfaxi" if actor == 1 else "tunis",
                }
            )
    LabelMapping.objects.create(
        corpus="manifest",
        original_label="ghadab",
        emotion=LabelOption.objects.get(kind="emotion", code="angry"),
    )
    return root, rows


def _check_manifest_import(project, out: str) -> None:
    assert "imported 4 clip(s) (angry 2, neutral 2); 0 already imported" in out, out
    golds = {g.clip.speaker + "/" + g.original_label: g for g in GoldLabel.objects.select_related("clip")}
    assert sorted(golds) == ["spk-a/ghadab", "spk-a/neutral", "spk-b/ghadab", "spk-b/neutral"]
    a = golds["spk-a/ghadab"]
    assert a.corpus == "manifest" and a.emotion.code == "angry" and a.gender.code == "male"
    assert a.metadata == {"transcript": "Kids are talking by the door", "dialect": "sfaxi"}
    assert golds["spk-b/neutral"].gender.code == "female" and golds["spk-b/neutral"].emotion.code == "neutral"
    assert golds["spk-b/neutral"].metadata["dialect"] == "tunis"
    assert ClipConsensus.objects.filter(status="gold", clip__recording__project=project).count() == 4
    assert Source.objects.filter(project=project, title="Imported manifest").exists()


def test_a_csv_manifest_maps_labels_keeps_speakers_gender_and_extra_columns(manifest_corpus, project):
    root, rows = manifest_corpus
    lines = ["path,label,speaker,gender,transcript,dialect"]
    lines += [",".join(r.values()) for r in rows]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")

    out, status = _run(root / "manifest.csv", "--format", "manifest")

    assert status == 0, out
    _check_manifest_import(project, out)
    assert Source.objects.get(project=project).licence_note == UNKNOWN_LICENCE  # no --licence given


def test_a_json_lines_manifest_imports_the_same_and_keeps_values_as_written(
    manifest_corpus, project, tmp_path
):
    root, rows = manifest_corpus
    rows[1]["take"] = 1  # a number stays a number
    (root / "list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    out, status = _run(
        root / "list.jsonl", "--format", "manifest", "--licence", "CC BY 4.0, our own recordings"
    )

    assert status == 0, out
    _check_manifest_import(project, out)
    assert GoldLabel.objects.get(clip__speaker="spk-a", original_label="neutral").metadata["take"] == 1
    assert Source.objects.get(project=project).licence_note == "CC BY 4.0, our own recordings"


def test_bad_manifest_rows_are_reported_by_number_and_the_good_ones_imported(manifest_corpus, project):
    root, rows = manifest_corpus
    lines = ["path,label,speaker", *(f"{r['path']},{r['label']},{r['speaker']}" for r in rows)]
    lines += [
        ",angry,spk-c",  # row 5: no path
        "audio/missing.wav,angry,spk-c",  # row 6: no such file
        f"{rows[0]['path']},,spk-c",  # row 7: empty label
        f"{rows[1]['path']},sad,spk-c,extra",  # row 8: more cells than columns
        "audio/spk-a_neutral.wav,calm-ish,spk-a",  # row 9: a label nobody mapped
    ]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")

    out, status = _run(root / "manifest.csv", "--format", "manifest")

    assert status == 1, out
    assert "imported 4 clip(s) (angry 2, neutral 2)" in out, out
    assert "4 bad row(s)" in out, out
    assert "manifest.csv row 5 (line 6): no path" in out
    assert "manifest.csv row 6 (line 7): file not found: audio/missing.wav" in out
    assert "manifest.csv row 7 (line 8): empty label" in out
    assert "manifest.csv row 8 (line 9): 4 cells for 3 columns" in out
    assert "'calm-ish' (1 files)" in out  # unmapped, never guessed
    assert Clip.objects.filter(recording__project=project).count() == 4
    assert not Clip.objects.filter(speaker="spk-c").exists()


@pytest.mark.parametrize(
    ("header", "missing"),
    [("file,emotion,speaker", "no 'path' and no 'label' column"), ("path,emotion", "no 'label' column")],
)
def test_a_manifest_without_path_or_label_is_refused_and_nothing_written(
    manifest_corpus, project, header, missing
):
    root, rows = manifest_corpus
    lines = [header, *(f"{r['path']},{r['label']},{r['speaker']}" for r in rows)]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")

    with pytest.raises(CommandError, match=missing):
        call_command("import_corpus", str(root / "manifest.csv"), "--format", "manifest", "--no-progress")

    assert _nothing_written(project)
    # A JSON Lines manifest whose rows never name a label: the same refusal.
    (root / "m.jsonl").write_text("".join(json.dumps({"path": r["path"]}) + "\n" for r in rows))
    with pytest.raises(CommandError, match="no 'label' column"):
        call_command("import_corpus", str(root / "m.jsonl"), "--format", "manifest", "--no-progress")
    assert _nothing_written(project)


def test_refusals_name_the_problem_and_write_nothing(manifest_corpus, project, tmp_path):
    root, _ = manifest_corpus
    (root / "notes.txt").write_text("path,label\n")
    for args, message in [
        ((root / "notes.txt", "--format", "manifest"), "chosen by extension"),
        ((root, "--format", "manifest"), "is not a file"),
        ((root, "--format", "pattern"), "--format pattern needs --pattern"),
        ((root, "--format", "pattern", "--pattern", "{speaker}/{*}.wav"), "has no {label} field"),
        ((root, "--format", "pattern", "--pattern", "{label}/{label}.wav"), "appears twice"),
        ((root, "--format", "pattern", "--pattern", "{label}/{who?}.wav"), "is not a field"),
        ((root, "--format", "folder", "--pattern", "{label}.wav"), "--pattern is for --format pattern"),
        ((root, "--format", "ravdess", "--licence", "mine"), "licence of RAVDESS is known"),
        ((root, "--format", "ravdess", "--release", "x"), "--release is for"),
        ((root, "--format", "audiofolder"), "No metadata.csv or metadata.jsonl"),
        ((root, "--format", "audiofolder", "--release", "not a slug"), "is not a release name"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("import_corpus", *map(str, args), "--no-progress")
    assert _nothing_written(project)


# --- path pattern -----------------------------------------------------------------------------


def _pattern_tree(root, data_dir, actors) -> None:
    """<speaker>/<prefix>_<emotion> (<n>).wav: per actor two angry and two neutral takes, the
    emotion as a code ("angry") or as a word of the corpus ("za3fan", mapped to neutral)."""
    for actor in actors:
        for code, word in (("05", "angry"), ("01", "za3fan")):
            for take in (1, 2):
                ext = "WAV" if actor == actors[-1] and take == 2 else "wav"  # the extension's case varies
                _wav(
                    _ravdess(data_dir, code, actor, take),
                    root / f"spk{actor:02d}" / f"tn_{word} ({take}).{ext}",
                )


def test_a_tree_read_by_a_pattern_imports_with_its_speakers(tmp_path, data_dir, schema, project):
    root = tmp_path / "arabic-corpus"
    _pattern_tree(root, data_dir, actors=[1, 2])
    _wav(_ravdess(data_dir, "05", 3), root / "spk03" / "readme take.wav")  # not in the layout
    LabelMapping.objects.create(
        corpus="pattern",
        original_label="za3fan",
        emotion=LabelOption.objects.get(kind="emotion", code="neutral"),
    )
    pattern = "{speaker}/{*}_{label} ({n}).wav"

    out, status = _run(root, "--format", "pattern", "--pattern", pattern)

    assert status == 1, out  # the file outside the layout is a problem, reported
    assert "imported 8 clip(s) (angry 4, neutral 4); 0 already imported" in out, out
    assert f"spk03/readme take.wav: does not match the pattern '{pattern}'" in out, out
    clips = Clip.objects.filter(recording__project=project).select_related("gold_label__emotion")
    seen = sorted((c.speaker, c.gold_label.original_label, c.gold_label.emotion.code) for c in clips)
    assert seen == [
        ("spk01", "angry", "angry"),
        ("spk01", "angry", "angry"),
        ("spk01", "za3fan", "neutral"),
        ("spk01", "za3fan", "neutral"),
        ("spk02", "angry", "angry"),
        ("spk02", "angry", "angry"),
        ("spk02", "za3fan", "neutral"),
        ("spk02", "za3fan", "neutral"),
    ]
    # Any field but label, speaker, gender and split is kept as metadata.
    assert sorted(g.metadata["n"] for g in GoldLabel.objects.filter(clip__speaker="spk02")) == [
        "1",
        "1",
        "2",
        "2",
    ]


def test_pattern_parts_are_literal_and_the_extension_any_case():
    regex = pattern_compile("{speaker}/{*}_{label} ({*}).wav")
    m = regex.fullmatch("spk01/tn_x_angry (3).WAV")
    assert m and m.group("speaker") == "spk01" and m.group("label") == "angry"
    assert regex.fullmatch("spk01/tn_angry 3.wav") is None  # "(" and ")" are literal
    assert regex.fullmatch("a/b/tn_angry (3).wav") is None  # a field holds no "/"
    assert regex.fullmatch("spk01/tn_angry (3)xwav") is None  # "." is literal, not any character
    assert regex.fullmatch("spk01/x/tn_angry (3).wav") is None  # nor does {*}
    deep = pattern_compile("{**}/{speaker}/{label}.wav")  # {**} crosses folders
    assert deep.fullmatch("corpus/v2/spk01/angry.wav").group("speaker") == "spk01"
    assert pattern_compile("{label}.{*}").fullmatch("angry.flac")


def test_a_release_grouped_by_speaker_from_a_pattern_import_keeps_each_speaker_in_one_split(
    tmp_path, data_dir, schema, project
):
    root = tmp_path / "tree"
    _pattern_tree(root, data_dir, actors=[1, 2, 3, 4, 5, 6, 7, 8])
    report = corpus_import(
        project=project, fmt="pattern", root=root, pattern="{speaker}/tn_{label} ({*}).wav"
    )
    assert not report.ok and report.imported == 16, report
    assert report.unmapped == {"za3fan": 16}  # no mapping for corpus "pattern" in this test
    LabelMapping.objects.create(
        corpus="pattern",
        original_label="za3fan",
        emotion=LabelOption.objects.get(kind="emotion", code="neutral"),
    )
    report = corpus_import(
        project=project, fmt="pattern", root=root, pattern="{speaker}/tn_{label} ({*}).wav"
    )
    assert report.ok and report.imported == 16 and report.duplicates == 16, report

    release = release_build(
        project=project,
        params=ReleaseParams(
            name="tree", label_set=["angry", "neutral"], group_by="speaker", split="50/25/25"
        ),
    )

    splits_of = defaultdict(set)
    for speaker, split in ReleaseItem.objects.filter(release=release).values_list("clip__speaker", "split"):
        splits_of[speaker].add(split)
    assert len(splits_of) == 8
    assert all(len(s) == 1 for s in splits_of.values()), splits_of
    assert {s for (s,) in splits_of.values()} == {"train", "validation", "test"}


# --- audiofolder: the platform's own export, back into another project ---------------------------


def _sha256(name: str) -> str:
    with default_storage.open(name, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_an_export_imported_as_audiofolder_into_another_project_gives_back_the_same_release(
    tmp_path, data_dir, schema, project, django_user_model, django_capture_on_commit_callbacks
):
    # Project A: 16 angry and 8 neutral RAVDESS utterances of 8 actors, a release grouped by
    # speaker whose training split is oversampled with augmented copies, exported.
    corpus = tmp_path / "ravdess"
    for actor in range(1, 9):
        for code, takes in (("05", (1, 2)), ("01", (1,))):
            for take in takes:
                src = _ravdess(data_dir, code, actor, take)
                (corpus / src.name).parent.mkdir(exist_ok=True)
                (corpus / src.name).symlink_to(src)
    assert corpus_import(project=project, fmt="ravdess", root=corpus).imported == 24
    released = release_build(
        project=project,
        params=ReleaseParams(
            name="ser2",
            label_set=["angry", "neutral"],
            balancing="oversample",
            group_by="speaker",
            split="50/25/25",
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):  # the export task, run eagerly
        export = release_export_create(release=released)
    export.refresh_from_db()
    assert export.status == ReleaseExport.Status.SUCCEEDED, export.traceback
    unzipped = tmp_path / "ser2-v1"
    with default_storage.open(export.archive.name) as fh:
        zipfile.ZipFile(io.BytesIO(fh.read())).extractall(unzipped)
    items_a = ReleaseItem.objects.filter(release=released).select_related("clip")
    copies = items_a.filter(copy_index__gt=0).count()
    assert copies > 0
    # What A released, keyed by the bytes of each clip: label, speaker, split.
    expected = {
        _sha256(i.clip.audio.name): (i.label, i.clip.speaker, i.split) for i in items_a if i.copy_index == 0
    }
    before_a = (
        Clip.objects.filter(recording__project=project).count(),
        Release.objects.filter(project=project).count(),
        sorted(items_a.values_list("clip_id", "split", "label", "copy_index")),
    )

    # Project B: the unzipped export, imported as an audiofolder.
    b = Project.objects.create(name="Project B", slug="b")
    out, status = _run(unzipped, "--format", "audiofolder", "--project", "b")

    assert status == 0, out
    assert f"imported {len(expected)} clip(s)" in out, out
    assert f"skipped {copies} augmented copie(s)" in out, out
    assert f"release ser2-v1 v1: {len(expected)} item(s)" in out, out
    imported = Release.objects.get(project=b)
    assert imported.name == "ser2-v1"  # the folder's name, slugified
    assert imported.params["split"] == "imported" and imported.params["imported_from"] == str(
        unzipped.resolve()
    )
    assert imported.params["balancing"] == "none" and imported.params["label_set"] == ["angry", "neutral"]
    items_b = ReleaseItem.objects.filter(release=imported).select_related("clip__recording")
    got = {i.clip.recording.sha256: (i.label, i.clip.speaker, i.split) for i in items_b}
    assert len(items_b) == len(expected) and got == expected
    assert all(i.clip.recording.project_id == b.pk for i in items_b)
    gold = GoldLabel.objects.filter(clip__recording__project=b).first()
    assert gold.corpus == "audiofolder" and gold.split and gold.metadata["source"] == "RAVDESS"
    assert {"agreement", "clip_id", "duration", "votes", "soft_label"} <= set(gold.metadata)
    # The export's rater columns come back as metadata, as written (gold clips: nobody rated).
    assert (gold.metadata["ratings"], gold.metadata["n_raters"], gold.metadata["escalated"]) == (
        "[]",
        "0",
        "False",
    )

    # Project A is untouched...
    assert before_a == (
        Clip.objects.filter(recording__project=project).count(),
        Release.objects.filter(project=project).count(),
        sorted(items_a.values_list("clip_id", "split", "label", "copy_index")),
    )
    # ...and invisible from B: a curator of B sees B's release only.
    client = api(_user(django_user_model, "b-curator", "curator", project=b))
    listed = client.get("/api/releases/").json()
    assert [r["name"] for r in listed["results"]] == ["ser2-v1"]
    assert client.get(f"/api/releases/{released.pk}/").status_code == 404
    assert client.get(f"/api/releases/?project={project.slug}").status_code == 404

    # Again: every file is already in B, and the release's next version holds the same items.
    out, status = _run(unzipped, "--format", "audiofolder", "--project", "b", "--release", "ser2-again")
    assert status == 0, out
    assert f"imported 0 clip(s) (none); {len(expected)} already imported" in out, out
    again = Release.objects.get(project=b, name="ser2-again")
    assert sorted(again.items.values_list("clip_id", "split")) == sorted(
        items_b.values_list("clip_id", "split")
    )


def test_an_audiofolder_without_label_column_takes_the_folder_and_reports_unlisted_files(
    tmp_path, data_dir, schema, project
):
    root = tmp_path / "hf"
    _wav(_ravdess(data_dir, "05", 1), root / "train" / "angry" / "a.wav")
    _wav(_ravdess(data_dir, "01", 2), root / "test" / "neutral" / "b.wav")
    _wav(_ravdess(data_dir, "01", 3), root / "test" / "neutral" / "unlisted.wav")
    (root / "metadata.jsonl").write_text(
        json.dumps({"file_name": "train/angry/a.wav", "speaker": "s1", "gender": "male"})
        + "\n"
        + json.dumps({"file_name": "test/neutral/b.wav", "speaker": "s2", "split": "dev"})
        + "\n"
    )

    report = corpus_import(project=project, fmt="audiofolder", root=root)

    assert report.imported == 2 and report.by_label == {"angry": 1, "neutral": 1}, report
    assert report.unknown_names == ["test/neutral/unlisted.wav: not listed in any metadata file"]
    splits = dict(GoldLabel.objects.values_list("clip__speaker", "split"))
    assert splits == {"s1": "train", "s2": "validation"}  # the column's split, else the folder's
    # The command builds no release from a corpus it could not import whole.
    out, status = _run(root, "--format", "audiofolder")
    assert status == 1 and "release hf not built: import every file first" in out, out
    assert not Release.objects.exists()


def test_json_lines_rows_that_cannot_be_read_or_say_too_much_are_bad_rows(manifest_corpus, project):
    root, rows = manifest_corpus
    good = {"path": rows[0]["path"], "label": "angry", "split": "valid", "speaker": "spk-a"}
    lines = [
        json.dumps(good),
        "{not json",  # row 2
        json.dumps(
            {"path": rows[1]["path"], "label": "angry", "take": float("nan")}
        ),  # row 3: NaN is no JSON
        "[1, 2]",  # row 4
        json.dumps({**good, "path": rows[2]["path"], "gender": "x"}),  # row 5
        json.dumps({**good, "path": rows[3]["path"], "split": "holdout"}),  # row 6
    ]
    (root / "m.jsonl").write_text("\n\n".join(lines) + "\n")  # blank lines are not rows

    report = corpus_import(project=project, fmt="manifest", root=root / "m.jsonl")

    assert report.imported == 1 and report.splits == {Clip.objects.get().pk: "validation"}, report
    assert [r.split(":")[0] for r in report.bad_rows] == [
        "m.jsonl row 2 (line 3)",
        "m.jsonl row 3 (line 5)",
        "m.jsonl row 4 (line 7)",
        "m.jsonl row 5 (line 9)",
        "m.jsonl row 6 (line 11)",
    ], report.bad_rows
    assert "NaN is not a JSON value" in report.bad_rows[1]
    assert "unknown gender 'x'" in report.bad_rows[3] and "unknown split 'holdout'" in report.bad_rows[4]


def test_an_import_that_ingests_no_file_leaves_no_empty_source(tmp_path, data_dir, schema, project):
    root = tmp_path / "arabic-corpus"
    _pattern_tree(root, data_dir, actors=[1])
    for pattern in ("{speaker}/{*}_{label} ({n}).flac", "{speaker}/tn_{label}.wav"):  # no file matches
        out, status = _run(root, "--format", "pattern", "--pattern", pattern)
        assert status == 1 and "imported 0 clip(s)" in out, out
    (tmp_path / "m.csv").write_text("path,label\nmissing.wav,angry\n")
    out, status = _run(tmp_path / "m.csv", "--format", "manifest")
    assert status == 1 and "file not found: missing.wav" in out, out
    assert _nothing_written(project)


def test_an_export_of_a_k_fold_release_comes_back_with_its_folds(
    tmp_path, data_dir, schema, project, django_capture_on_commit_callbacks
):
    # Project A: 4 actors, 2 labels, a leave-one-speaker-out release (every clip in "train", one
    # fold per actor), exported; imported into B it is a k-fold release with the same folds.
    corpus = tmp_path / "ravdess"
    corpus.mkdir()
    for actor in range(1, 5):
        for code in ("05", "01"):
            src = _ravdess(data_dir, code, actor)
            (corpus / src.name).symlink_to(src)
    assert corpus_import(project=project, fmt="ravdess", root=corpus).imported == 8
    released = release_build(
        project=project,
        params=ReleaseParams(
            name="loso", label_set=["angry", "neutral"], group_by="speaker", split_kind="kfold", folds=0
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        export = release_export_create(release=released)
    export.refresh_from_db()
    assert export.status == ReleaseExport.Status.SUCCEEDED, export.traceback
    unzipped = tmp_path / "loso-v1"
    with default_storage.open(export.archive.name) as fh:
        zipfile.ZipFile(io.BytesIO(fh.read())).extractall(unzipped)
    items_a = ReleaseItem.objects.filter(release=released).select_related("clip")
    expected = {_sha256(i.clip.audio.name): (i.label, i.clip.speaker, i.split, i.fold) for i in items_a}
    assert {fold for *_, fold in expected.values()} == {0, 1, 2, 3}

    b = Project.objects.create(name="Project B", slug="b")
    out, status = _run(unzipped, "--format", "audiofolder", "--project", "b")

    assert status == 0, out
    assert "release loso-v1 v1: 8 item(s) (fold 0 2, fold 1 2, fold 2 2, fold 3 2)" in out, out
    imported = Release.objects.get(project=b)
    assert imported.params["split_kind"] == "kfold" and imported.params["folds"] == 4
    items_b = ReleaseItem.objects.filter(release=imported).select_related("clip__recording")
    got = {i.clip.recording.sha256: (i.label, i.clip.speaker, i.split, i.fold) for i in items_b}
    assert got == expected


def test_folds_given_for_some_clips_only_are_refused_and_no_release_written(
    tmp_path, data_dir, schema, project
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = ["path,label,speaker,split,fold"]
    for n, (actor, code, fold) in enumerate([(1, "05", "0"), (2, "01", "1"), (3, "05", "")]):
        src = _ravdess(data_dir, code, actor)
        _wav(src, corpus / f"clip{n}.wav")
        rows.append(f"clip{n}.wav,{'angry' if code == '05' else 'neutral'},spk{actor},train,{fold}")
    (corpus / "manifest.csv").write_text("\n".join(rows) + "\n")

    out, status = _run(corpus / "manifest.csv", "--format", "manifest")

    assert status == 1 and "Some clips have a fold and others not" in out, out
    assert not Release.objects.filter(project=project).exists()
