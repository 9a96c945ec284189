"""K-fold releases grouped by speaker: the fold assignment (a pure function checked against
scikit-learn's splitters and their invariants), releases built from imported RAVDESS, the fold
column of the export, and the refusals (service, API and page)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections import Counter

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management import call_command
from sklearn.model_selection import StratifiedGroupKFold

from annotation.guideline import ensure_guideline
from conftest import _user, api
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.importers import label_mappings_ensure
from releases.models import ReleaseExport, ReleaseItem
from releases.splits import Item, grouped_stratified_kfold
from releases.tests.test_release_splits import ravdess_items

# --- the fold assignment (pure) ----------------------------------------------------------------


def _fold_of(folds: list[list[Item]]) -> dict[int, int]:
    return {item.id: f for f, fold in enumerate(folds) for item in fold}


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_every_group_lands_in_exactly_one_fold_and_every_item_once(data_dir, k):
    items = ravdess_items(data_dir)
    folds = grouped_stratified_kfold(items, k, seed=3)

    assert len(folds) == k and all(folds)
    ids = [item.id for fold in folds for item in fold]
    assert sorted(ids) == sorted(item.id for item in items)  # every item once
    groups_of_fold = [{item.group for item in fold} for fold in folds]
    for a in range(k):
        for b in range(a + 1, k):
            assert not (groups_of_fold[a] & groups_of_fold[b]), "a speaker is in two folds"
    assert all(fold == sorted(fold, key=lambda i: i.id) for fold in folds)


def test_the_folds_are_scikit_learns_stratified_group_k_fold(data_dir):
    """Using the library right: the folds are exactly StratifiedGroupKFold's test sets over the
    items in id order, with the seed as its random_state."""
    items = sorted(ravdess_items(data_dir), key=lambda i: i.id)
    folds = grouped_stratified_kfold(items, 4, seed=11)
    splitter = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=11)
    expected = [
        sorted(items[i].id for i in test)
        for _, test in splitter.split(
            np.zeros(len(items)), [i.label for i in items], [i.group for i in items]
        )
    ]
    assert [[item.id for item in fold] for fold in folds] == expected


def test_leave_one_speaker_out_gives_one_speaker_per_fold(data_dir):
    items = ravdess_items(data_dir)
    actors = sorted({item.group for item in items})
    folds = grouped_stratified_kfold(items, len(actors), seed=0)

    assert [sorted({item.group for item in fold}) for fold in folds] == [[a] for a in actors]
    # Nothing is drawn in leave-one-out: another seed gives the same folds.
    assert _fold_of(folds) == _fold_of(grouped_stratified_kfold(items, len(actors), seed=99))


def test_folds_are_stratified_by_label(data_dir):
    """RAVDESS actors all say the same sentences in every emotion: 24 actors in 4 folds of 6 give
    every fold exactly the corpus's label shares. On uneven groups, stratification must beat a
    plain group split (GroupKFold ignores labels) in the worst fold's deviation."""
    items = ravdess_items(data_dir)
    total = Counter(item.label for item in items)
    for fold in grouped_stratified_kfold(items, 4, seed=0):
        counts = Counter(item.label for item in fold)
        for label, n in total.items():
            assert counts[label] / len(fold) == pytest.approx(n / len(items), abs=1e-9)

    # Uneven groups: each speaker mostly one emotion (as broadcast speakers are).
    rng = random.Random(5)
    labels = ["angry", "happy", "neutral", "sad"]
    uneven = []
    for g in range(40):
        main = labels[g % 4]
        for _ in range(rng.randint(5, 30)):
            label = main if rng.random() < 0.7 else rng.choice(labels)
            uneven.append(Item(id=len(uneven) + 1, label=label, group=f"spk{g}"))
    overall = Counter(i.label for i in uneven)

    def worst(folds):
        return max(
            abs(Counter(i.label for i in fold)[label] / len(fold) - overall[label] / len(uneven))
            for fold in folds
            for label in labels
        )

    from sklearn.model_selection import GroupKFold

    plain = [
        [uneven[i] for i in test]
        for _, test in GroupKFold(n_splits=5).split(np.zeros(len(uneven)), groups=[i.group for i in uneven])
    ]
    stratified = grouped_stratified_kfold(uneven, 5, seed=0)
    assert worst(stratified) < worst(plain)
    assert worst(stratified) < 0.06, worst(stratified)


def test_the_same_seed_gives_the_same_folds_in_any_input_order(data_dir):
    items = ravdess_items(data_dir)
    shuffled = list(items)
    random.Random(1).shuffle(shuffled)
    assert _fold_of(grouped_stratified_kfold(items, 5, seed=4)) == _fold_of(
        grouped_stratified_kfold(shuffled, 5, seed=4)
    )
    # The seed chooses among equally good assignments: some other seed moves some speaker.
    assert any(
        _fold_of(grouped_stratified_kfold(items, 5, seed=s))
        != _fold_of(grouped_stratified_kfold(items, 5, seed=4))
        for s in range(5, 10)
    )


@pytest.mark.parametrize(
    ("k", "message"),
    [(1, "between 2 and 24"), (25, "between 2 and 24"), (0, "between 2 and 24"), (True, "between 2 and 24")],
)
def test_a_bad_number_of_folds_is_refused(data_dir, k, message):
    with pytest.raises(ValueError, match=message):
        grouped_stratified_kfold(ravdess_items(data_dir), k, seed=0)


def test_fewer_than_two_groups_or_no_items_are_refused():
    one = [Item(id=i, label="angry" if i % 2 else "sad", group="spk") for i in range(1, 9)]
    with pytest.raises(ValueError, match="at least 2 groups"):
        grouped_stratified_kfold(one, 2, seed=0)
    with pytest.raises(ValueError, match="no items"):
        grouped_stratified_kfold([], 2, seed=0)


# --- releases of imported RAVDESS ------------------------------------------------------------------

ACTORS = range(1, 7)


@pytest.fixture
def six_actors(tmp_path, data_dir, project):
    """RAVDESS actors 1-6, angry and neutral (calm counts as neutral), imported as gold labels."""
    ensure_guideline()
    label_mappings_ensure()
    folder = tmp_path / "ravdess"
    folder.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[125]-*.flac")):
        if int(f.stem[-2:]) in ACTORS:
            (folder / f.name).symlink_to(f)
    call_command("import_corpus", str(folder), "--format", "ravdess", "--no-progress")
    return project


def _kfold(name="cv", **kw) -> ReleaseParams:
    return ReleaseParams(name=name, label_set=["angry", "neutral"], split_kind="kfold", **kw)


def _export_files(release, tmp_path) -> dict[str, str]:
    export = release_export_create(release=release)  # eager Celery in tests
    export.refresh_from_db()
    assert export.status == ReleaseExport.Status.SUCCEEDED, export.traceback
    with default_storage.open(export.archive.name) as fh:
        zf = zipfile.ZipFile(io.BytesIO(fh.read()))
        return {n: zf.read(n).decode() for n in zf.namelist() if not n.endswith(".wav")}


@pytest.mark.django_db(transaction=True)
def test_a_leave_one_speaker_out_release_and_its_export(six_actors, tmp_path):
    release = release_build(project=six_actors, params=_kfold(folds=0, seed=2))

    items = list(release.items.select_related("clip"))
    assert {i.split for i in items} == {"train"}  # every clip is some fold's test clip: kept in "train"
    speakers_by_fold: dict[int, set] = {}
    for i in items:
        speakers_by_fold.setdefault(i.fold, set()).add(i.clip.speaker)
    assert sorted(speakers_by_fold) == list(range(6))
    assert all(len(s) == 1 for s in speakers_by_fold.values())  # one actor per fold
    assert len(set().union(*speakers_by_fold.values())) == 6
    # Counts per fold: items, groups and labels; undersampled fold by fold (each fold balanced).
    assert list(release.counts) == [f"fold {f}" for f in range(6)]
    for f in range(6):
        c = release.counts[f"fold {f}"]
        fold_items = [i for i in items if i.fold == f]
        assert c["items"] == len(fold_items) and c["groups"] == 1
        assert c["labels"]["angry"]["items"] == c["labels"]["neutral"]["items"] == len(fold_items) // 2
    assert release.params["split_kind"] == "kfold" and release.params["folds"] == 0

    files = _export_files(release, tmp_path)
    rows = list(csv.DictReader(io.StringIO(files["audio/train/metadata.csv"])))
    assert len(rows) == len(items)
    by_clip = {i.clip_id: i.fold for i in items}
    assert all(int(r["fold"]) == by_clip[int(r["clip_id"])] for r in rows)
    manifest = [line for line in files["manifest.jsonl"].splitlines() if line]
    assert all('"fold": ' in line for line in manifest)
    assert "## Clips per cross-validation fold (leave one group out)" in files["README.md"]


@pytest.mark.django_db(transaction=True)
def test_a_three_fold_release_is_balanced_per_fold_and_reproducible(six_actors):
    release = release_build(project=six_actors, params=_kfold(folds=3, seed=5))
    again = release_build(project=six_actors, params=_kfold(folds=3, seed=5))

    assert again.checksum == release.checksum and again.version == 2
    groups = Counter()
    for f in range(3):
        fold = release.items.filter(fold=f)
        groups[f] = fold.values("group").distinct().count()
        labels = Counter(fold.values_list("label", flat=True))
        assert labels["angry"] == labels["neutral"] > 0
    assert sorted(groups.values()) == [2, 2, 2]
    assert release.items.filter(fold=None).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_holdout_release_has_no_fold_and_an_empty_fold_column(six_actors, tmp_path):
    release = release_build(
        project=six_actors,
        params=ReleaseParams(name="hold", label_set=["angry", "neutral"], split="70/15/15"),
    )
    assert not release.items.exclude(fold=None).exists()
    assert list(release.counts) == ["train", "validation", "test"]
    files = _export_files(release, tmp_path)
    rows = list(csv.DictReader(io.StringIO(files["audio/test/metadata.csv"])))
    assert rows and all(r["fold"] == "" for r in rows)
    assert '"fold"' not in files["manifest.jsonl"]
    assert "cross-validation fold" not in files["README.md"]


@pytest.mark.django_db(transaction=True)
def test_bad_k_fold_releases_are_refused_and_write_nothing(six_actors):
    cases = [
        (_kfold(folds=7), "folds", "between 2 and 6"),
        (_kfold(folds=1), "folds", "at least 2"),
        (_kfold(folds=-3), "folds", "at least 2"),
        (_kfold(folds=3, balancing="oversample"), "balancing", "no fixed training split"),
        (
            ReleaseParams(name="x", label_set=["angry", "neutral"], split_kind="nested"),
            "split_kind",
            "holdout",
        ),
    ]
    for params, field, message in cases:
        with pytest.raises(ValidationError) as exc:
            release_build(project=six_actors, params=params)
        assert message in " ".join(exc.value.message_dict[field]), exc.value.message_dict
    # Grouped by series, the whole import is one group: nothing to fold.
    with pytest.raises(ValidationError) as exc:
        release_build(project=six_actors, params=_kfold(folds=0, group_by="series"))
    assert "at least 2 groups" in " ".join(exc.value.message_dict["folds"])
    assert not ReleaseItem.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_releases_api_and_page_take_k_folds(six_actors, django_user_model, outsider):
    curator = _user(django_user_model, "cur", "curator", project=six_actors)
    client = api(curator)
    body = {"name": "cv3", "label_set": ["angry", "neutral"], "split_kind": "kfold", "folds": 3}
    r = client.post("/api/releases/", body, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["params"]["split_kind"] == "kfold"
    assert [k for k in r.json()["counts"]] == ["fold 0", "fold 1", "fold 2"]

    r = client.post("/api/releases/", {**body, "folds": 9}, format="json")
    assert r.status_code == 400 and "between 2 and 6" in str(r.json()), r.json()
    for bad in ({"split_kind": "nested"}, {"folds": -1}, {"folds": "loso"}, {"folds": 10**9}):
        assert client.post("/api/releases/", {**body, **bad}, format="json").status_code == 400, bad
    assert ReleaseItem.objects.values("release").distinct().count() == 1

    client.force_login(curator)
    page = client.get("/curation/releases/")
    assert page.status_code == 200
    assert b'name="split_kind"' in page.content and b'name="folds"' in page.content

    # An outsider sees none of it.
    assert api(outsider).get("/api/releases/").json()["count"] == 0
    release_id = ReleaseItem.objects.values_list("release", flat=True).first()
    assert api(outsider).get(f"/api/releases/{release_id}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_release_build_command_takes_folds(six_actors):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="folds: .*between 2 and 6"):
        call_command("release_build", "cvcmd", "--labels", "angry,neutral", "--folds", "7")
    # A bad seed is named as the seed (it was reported as a "folds" problem).
    for seed, message in (("-1", "non-negative integer"), ("4294967296", "below 2\\*\\*32")):
        with pytest.raises(CommandError, match=f"^seed: .*{message}"):
            call_command(
                "release_build", "cvcmd", "--labels", "angry,neutral", "--folds", "3", "--seed", seed
            )
    out = io.StringIO()
    call_command("release_build", "cvcmd", "--labels", "angry,neutral", "--folds", "0", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("release cvcmd v1:")
    assert [line.split()[0:2] for line in lines[1:]] == [["fold", str(f)] for f in range(6)]
