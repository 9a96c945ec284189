"""Release building on real corpus metadata: balancing, leakage-free stratified splits, oversampling
plans and augmented copies (releases: pure functions, no database)."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from releases.augment import augmented_copy, augmenter, copy_seed
from releases.balance import STRATEGIES, balance, class_counts, class_targets, plan_oversampling
from releases.splits import Item, grouped_stratified_split, parse_ratios, split_report

# RAVDESS emotion codes kept for a four-class release; calm is folded into neutral.
RAVDESS_CLASSES = {"01": "neutral", "02": "neutral", "03": "happy", "04": "sad", "05": "angry"}
RATIOS = (0.70, 0.15, 0.15)


def ravdess_items(data_dir: Path) -> list[Item]:
    """Items from the RAVDESS file names MM-VC-EE-II-SS-RR-AA.flac, grouped by actor."""
    items = []
    for i, path in enumerate(sorted((data_dir / "ravdess").glob("*.flac")), start=1):
        code = path.stem.split("-")
        if code[2] in RAVDESS_CLASSES:
            actor = int(code[6])
            items.append(
                Item(
                    id=i,
                    label=RAVDESS_CLASSES[code[2]],
                    group=f"actor{actor:02d}",
                    gender="male" if actor % 2 else "female",
                )
            )
    return items


@pytest.fixture(scope="module")
def ravdess(data_dir) -> list[Item]:
    return ravdess_items(data_dir)


def ids_json(splits: dict[str, list[Item]]) -> str:
    return json.dumps({name: [item.id for item in split] for name, split in splits.items()})


def json_split(payload: str, items: list[Item], name: str) -> list[Item]:
    by_id = {item.id: item for item in items}
    return [by_id[i] for i in json.loads(payload)[name]]


def per_split_labels(splits) -> dict[str, Counter]:
    return {name: Counter(item.label for item in split) for name, split in splits.items()}


def test_ravdess_metadata(ravdess):
    assert len(ravdess) == 864
    assert class_counts(ravdess) == {"angry": 192, "happy": 192, "neutral": 288, "sad": 192}
    assert len({item.group for item in ravdess}) == 24


def test_undersample_equalises_classes_and_spreads_the_cut_over_actors(ravdess):
    kept = balance(ravdess, strategy="undersample", seed=0)

    assert class_counts(kept) == {"angry": 192, "happy": 192, "neutral": 192, "sad": 192}
    assert set(kept) <= set(ravdess)
    assert [item.id for item in kept] == sorted(item.id for item in kept)
    # Each actor has 12 neutral clips; the cut to 192 = 24 x 8 is dealt evenly over the actors.
    assert set(Counter(i.group for i in kept if i.label == "neutral").values()) == {8}


def test_grouped_split_of_ravdess_leaks_no_actor_and_keeps_classes_balanced(ravdess):
    balanced = balance(ravdess, strategy="undersample", seed=0)
    splits = grouped_stratified_split(balanced, ratios=RATIOS, seed=0)

    assert list(splits) == ["train", "validation", "test"]
    actors = {name: {item.group for item in split} for name, split in splits.items()}
    for a, b in itertools.combinations(actors, 2):
        assert not actors[a] & actors[b], f"an actor is in both {a} and {b}"
    all_ids = [item.id for split in splits.values() for item in split]
    assert sorted(all_ids) == [item.id for item in balanced]
    for split in splits.values():
        assert [item.id for item in split] == sorted(item.id for item in split)

    # Every actor holds 8 clips of each class after undersampling, so any split of whole actors is
    # exactly balanced; "within one clip" per class is met with a margin of one clip.
    counts = per_split_labels(splits)
    for name, count in counts.items():
        assert len(count) == 4 and max(count.values()) - min(count.values()) <= 1, (name, count)
        assert len(set(count.values())) == 1, (name, count)
    # Whole actors (32 clips, 8 per class) cannot hit 0.15 x 768 = 115.2 exactly: each split is
    # within one actor of its target size, and each class within one actor's 8 clips.
    for (name, split), ratio in zip(splits.items(), RATIOS, strict=True):
        assert abs(len(split) - ratio * len(balanced)) <= 32, name
        for label in ("angry", "happy", "neutral", "sad"):
            assert abs(counts[name][label] - ratio * 192) <= 8, (name, label)


def test_split_is_deterministic_and_changes_with_the_seed(ravdess):
    balanced = balance(ravdess, strategy="undersample", seed=0)
    reference = ids_json(grouped_stratified_split(balanced, ratios=RATIOS, seed=0))

    shuffled = list(ravdess)
    random.Random(7).shuffle(shuffled)
    from_shuffled = grouped_stratified_split(
        balance(shuffled, strategy="undersample", seed=0), ratios=RATIOS, seed=0
    )
    assert ids_json(from_shuffled) == reference
    assert ids_json(grouped_stratified_split(balanced, ratios=RATIOS, seed=0)) == reference

    other = grouped_stratified_split(balanced, ratios=RATIOS, seed=1)
    assert ids_json(other) != reference
    assert {i.group for i in other["test"]} != {i.group for i in json_split(reference, balanced, "test")}


def test_split_report_counts_labels_and_genders(ravdess):
    splits = grouped_stratified_split(balance(ravdess, strategy="undersample", seed=0), ratios=RATIOS, seed=0)
    report = json.loads(json.dumps(split_report(splits)))

    assert list(report) == ["train", "validation", "test"]
    assert sum(part["groups"] for part in report.values()) == 24
    for name, part in report.items():
        assert part["items"] == len(splits[name])
        assert sum(label["items"] for label in part["labels"].values()) == part["items"]
        for label, entry in part["labels"].items():
            assert entry["share"] == 0.25
            expected = Counter(i.gender for i in splits[name] if i.label == label)
            assert entry["genders"] == dict(expected)


def test_train_test_split_leaves_validation_empty(ravdess):
    ratios = parse_ratios("80/20")
    assert ratios == (0.8, 0.0, 0.2)
    splits = grouped_stratified_split(ravdess, ratios=ratios, seed=3)

    assert splits["validation"] == []
    assert not {i.group for i in splits["train"]} & {i.group for i in splits["test"]}
    assert len(splits["train"]) + len(splits["test"]) == len(ravdess)
    # Unbalanced input (12 neutral, 8 of each other class per actor) keeps its proportions exactly.
    for split in splits.values():
        if split:
            count = Counter(i.label for i in split)
            assert count["neutral"] * 2 == count["happy"] * 3 == count["sad"] * 3 == count["angry"] * 3


def test_split_with_uneven_speakers_reaches_the_exhaustive_optimum(data_dir):
    """EmoDB: 10 speakers of 35-71 clips, 7 unbalanced classes. Whole speakers cannot give "within
    one clip"; the split must still be the best one by the documented cost."""
    names = sorted(p.stem for p in (data_dir / "emodb").glob("*.flac"))
    items = [Item(id=i, label=name[5], group=name[:2]) for i, name in enumerate(names, start=1)]
    splits = grouped_stratified_split(items, ratios=RATIOS, seed=0)

    speakers = {name: {i.group for i in split} for name, split in splits.items()}
    assert sum(len(s) for s in speakers.values()) == len(set().union(*speakers.values())) == 10

    labels, groups = sorted({i.label for i in items}), sorted({i.group for i in items})
    per_group = np.zeros((len(groups), len(labels)))
    for item in items:
        per_group[groups.index(item.group), labels.index(item.label)] += 1
    target = np.array(RATIOS)[:, None] * per_group.sum(axis=0)
    ours = np.array(
        [[Counter(i.label for i in split)[label] for label in labels] for split in splits.values()]
    )
    # Each split is within one speaker's clips of each class of its target.
    assert np.all(np.abs(ours - target) <= per_group.max(axis=0))

    every = np.array(list(itertools.product(range(3), repeat=len(groups))))
    every = every[np.all([(every == s).any(axis=1) for s in range(3)], axis=0)]
    totals = np.einsum("ags,gl->asl", np.eye(3)[every], per_group)
    best = ((totals - target) ** 2).sum(axis=(1, 2)).min()
    assert ((ours - target) ** 2).sum() == pytest.approx(best)


def unbalanced_items() -> list[Item]:
    """Classes of 100, 50 and 25 items, spread over 4, 2 and 1 groups."""
    items, next_id = [], 1
    for label, n_groups in (("a", 4), ("b", 2), ("c", 1)):
        for g in range(n_groups):
            for _ in range(25):
                items.append(Item(id=next_id, label=label, group=f"{label}{g}"))
                next_id += 1
    return items


def test_cap_harmonic_and_the_other_strategies():
    items = unbalanced_items()
    assert class_counts(items) == {"a": 100, "b": 50, "c": 25}

    capped = balance(items, strategy="cap", cap=30, seed=0)
    assert class_counts(capped) == {"a": 30, "b": 30, "c": 25}
    assert sorted(Counter(i.group for i in capped if i.label == "a").values()) == [7, 7, 8, 8]

    # Harmonic mean of 100, 50, 25 = 3 / (1/100 + 1/50 + 1/25) = 42.86 -> 43; c (25) keeps all.
    assert class_counts(balance(items, strategy="harmonic", seed=0)) == {"a": 43, "b": 43, "c": 25}
    assert class_counts(balance(items, strategy="undersample", seed=0)) == {"a": 25, "b": 25, "c": 25}
    # Rounded half up: the harmonic mean of 3 and 9 is exactly 4.5 -> 5 (round() would give 4).
    assert class_targets({"x": 3, "y": 9}, strategy="harmonic") == {"x": 3, "y": 5}
    assert balance(items, strategy="none", seed=0) == items
    assert balance(items, strategy="oversample", seed=0) == items
    assert balance(items, strategy="cap", cap=30, seed=1) != capped
    assert balance(list(reversed(items)), strategy="cap", cap=30, seed=0) == capped
    assert set(STRATEGIES) == {"none", "undersample", "cap", "oversample", "harmonic"}


def test_invalid_choices_raise_clear_errors():
    items = unbalanced_items()
    with pytest.raises(ValueError, match="Unknown balancing strategy 'smote'"):
        balance(items, strategy="smote", seed=0)
    with pytest.raises(ValueError, match="'cap' strategy needs a cap"):
        balance(items, strategy="cap", seed=0)
    for bad in (0, -5, 2.5, "10", True):
        with pytest.raises(ValueError, match="cap must be a whole number"):
            balance(items, strategy="cap", cap=bad, seed=0)
    # A cap left in the form is ignored by the other strategies.
    assert balance(items, strategy="undersample", cap=10, seed=0) == balance(
        items, strategy="undersample", seed=0
    )
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        balance(items, strategy="undersample", seed=-1)
    with pytest.raises(ValueError, match="appears twice"):
        balance(items + items[:1], strategy="none", seed=0)

    with pytest.raises(ValueError, match="add up to 120, not 100"):
        parse_ratios("60/60/0")
    with pytest.raises(ValueError, match="add up to 85, not 100"):
        parse_ratios("70/15")
    with pytest.raises(ValueError, match="train must be at least 50"):
        parse_ratios("40/30/30")
    with pytest.raises(ValueError, match="test split above 0"):
        parse_ratios("80/20/0")
    with pytest.raises(ValueError, match="every part must be a number"):
        parse_ratios("seventy/15/15")
    with pytest.raises(ValueError, match="such as '70/15/15'"):
        parse_ratios("70/10/10/10")
    assert parse_ratios("70/15/15") == parse_ratios("") == (0.7, 0.15, 0.15)
    assert parse_ratios(" 70 / 10 / 20 ") == (0.7, 0.1, 0.2)

    with pytest.raises(ValueError, match="adding up to 1"):
        grouped_stratified_split(items, ratios=(0.7, 0.2, 0.2), seed=0)
    with pytest.raises(ValueError, match="cannot fill train and validation and test"):
        grouped_stratified_split(items[:50], ratios=RATIOS, seed=0)


def test_oversampling_plan_fills_train_classes_from_train_items_only(ravdess):
    splits = grouped_stratified_split(balance(ravdess, strategy="oversample", seed=0), ratios=RATIOS, seed=0)
    train = splits["train"]
    before = class_counts(train)
    assert before["neutral"] > before["happy"]
    plan = plan_oversampling(train, seed=0)

    after = class_counts(train + [source for source, _ in plan])
    assert set(after.values()) == {max(before.values())}
    assert {source for source, _ in plan} <= set(train)
    assert len({(source.id, k) for source, k in plan}) == len(plan)
    for label in ("angry", "happy", "sad"):
        copies = Counter(source.id for source, _ in plan if source.label == label)
        # 68 copies over 136 items: round-robin gives one copy to half of them, none twice.
        assert set(copies.values()) == {1} and len(copies) == before["neutral"] - before[label]
    assert {k for _, k in plan} == {1}

    shuffled = list(train)
    random.Random(3).shuffle(shuffled)
    assert plan_oversampling(shuffled, seed=0) == plan
    assert plan_oversampling(train, seed=1) != plan
    assert plan_oversampling(balance(train, strategy="undersample", seed=0), seed=0) == []

    small = [i for i in train if i.label != "happy"] + [i for i in train if i.label == "happy"][:40]
    deep = [k for source, k in plan_oversampling(small, seed=0) if source.label == "happy"]
    # 204 - 40 = 164 copies over 40 items: each item copied 4 or 5 times, numbered from 1.
    assert len(deep) == 164 and sorted(Counter(deep).items()) == [(1, 40), (2, 40), (3, 40), (4, 40), (5, 4)]


def test_augmented_copy_is_seeded_keeps_length_and_changes_the_audio(data_dir):
    samples, rate = sf.read(data_dir / "ravdess" / "03-01-05-01-01-01-01.flac", dtype="float32")
    py_state, np_state = random.getstate(), np.random.get_state()
    seed = copy_seed(0, 42)

    first = augmented_copy(samples, rate, seed=seed, copy_index=1)

    assert random.getstate() == py_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state, strict=True))
    assert first.dtype == np.float32 and first.shape == samples.shape
    assert np.all(np.isfinite(first)) and np.abs(first).max() <= 1.0
    assert not np.array_equal(first, samples)
    assert np.array_equal(augmented_copy(samples, rate, seed=seed, copy_index=1), first)
    assert not np.array_equal(augmented_copy(samples, rate, seed=seed, copy_index=2), first)
    assert not np.array_equal(augmented_copy(samples, rate, seed=copy_seed(0, 43), copy_index=1), first)

    # Near full scale, a +6 dB gain must be clipped; and no copy may equal its source, even when
    # only the always-on noise fires (each other transform is skipped half the time).
    loud = samples / np.abs(samples).max() * 0.99
    for k in range(32):
        copy = augmented_copy(loud, rate, seed=seed, copy_index=k)
        assert copy.shape == loud.shape and np.abs(copy).max() <= 1.0
        assert not np.array_equal(copy, loud), k
    assert [type(t).__name__ for t in augmenter().transforms] == [
        "PitchShift",
        "Shift",
        "Gain",
        "AddGaussianNoise",
    ]
