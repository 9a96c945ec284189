"""Train/validation/test splits with no group in two splits, stratified by label, seeded.

Pure Python and numpy: the release service turns clips into `Item`s, calls these functions and
stores their output. Every function here is deterministic: the same items (in any input order)
and the same seed give the same result, because items are put in id order before any random draw.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "validation", "test")
DEFAULT_RATIOS = "70/15/15"
MIN_TRAIN_PERCENT = 50

# The local search below stops after this many improving swaps; it is a polish on the greedy
# assignment, not an exact solver, and must stay fast for releases with thousands of groups.
_MAX_IMPROVEMENTS = 500
# Swap candidates are scored in blocks of at most this many numbers to bound memory.
_BLOCK = 2_000_000


@dataclass(frozen=True)
class Item:
    """One candidate clip of a release.

    `group` is the leakage unit chosen by the curator (a speaker group, an episode or a series):
    all items of one group always land in the same split. `id` is the clip id (unique within a
    release), `label` the emotion code, `gender` a code or "", `duration` in seconds.
    """

    id: int
    label: str
    group: str
    gender: str = ""
    duration: float = 0.0


def check_seed(seed: int) -> int:
    """`seed` as a Python int.

    Raises:
        ValueError: a bool, a non-integer, or a negative number.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"The seed must be a non-negative integer, not {seed!r}.")
    return int(seed)


def in_id_order(items: Iterable[Item]) -> list[Item]:
    """The items sorted by id; the canonical order every random draw starts from.

    Raises:
        ValueError: an id appears twice.
    """
    ordered = sorted(items, key=lambda item: item.id)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.id == after.id:
            raise ValueError(f"Item id {after.id} appears twice; a release lists each clip once.")
    return ordered


def parse_ratios(text: str) -> tuple[float, float, float]:
    """Parse "70/15/15" (train/validation/test) or "80/20" (train/test) into fractions.

    A blank text means the default, 70/15/15. The percentages must add up to 100, train must be at
    least 50 and test above 0; validation may be 0 (no validation split).

    Returns:
        (train, validation, test) fractions adding up to 1.
    Raises:
        ValueError: a message saying which rule the text breaks.
    """
    text = (text or "").strip() or DEFAULT_RATIOS
    usage = "write train/validation/test percentages such as '70/15/15', or train/test such as '80/20'"
    parts = [part.strip() for part in text.split("/")]
    if len(parts) not in (2, 3):
        raise ValueError(f"Split ratios {text!r}: {usage}.")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"Split ratios {text!r}: every part must be a number; {usage}.") from None
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"Split ratios {text!r}: percentages must be finite and not negative.")
    train, validation, test = values if len(values) == 3 else (values[0], 0.0, values[1])
    total = train + validation + test
    if abs(total - 100) > 1e-6:
        raise ValueError(f"Split ratios {text!r} add up to {total:g}, not 100.")
    if train < MIN_TRAIN_PERCENT:
        raise ValueError(f"Split ratios {text!r}: train must be at least {MIN_TRAIN_PERCENT}%.")
    if test <= 0:
        raise ValueError(f"Split ratios {text!r}: a release needs a test split above 0%.")
    return (train / 100, validation / 100, test / 100)


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
    r = np.asarray(ratios, dtype=float)
    if r.shape != (3,) or not np.all(np.isfinite(r)) or np.any(r < 0) or abs(r.sum() - 1) > 1e-6:
        raise ValueError(
            f"ratios must be three non-negative fractions (train, validation, test) adding up to 1, "
            f"not {tuple(ratios)!r}; parse_ratios() builds them from text such as '70/15/15'."
        )
    if r[0] <= 0 or r[2] <= 0:
        raise ValueError(f"ratios {tuple(ratios)!r}: train and test must both be above 0.")
    return r


def grouped_stratified_split(
    items: Sequence[Item], *, ratios: tuple[float, float, float], seed: int
) -> dict[str, list[Item]]:
    """Assign whole groups to train/validation/test so that each split's per-label counts come as
    close as possible to ratio x the label's total.

    sklearn's StratifiedGroupKFold only makes equal folds, and 70/15/15 from folds would need 20
    folds of 5% (more folds than a release often has groups), so the assignment is done directly:

    1. Put the items in id order and count each group's items per label (a vector per group).
    2. Target of split s for label l: T[s, l] = ratios[s] * (items of label l).
    3. Order the groups largest first; groups of equal size are ordered by a seeded shuffle. The
       seed thus chooses among equally good splits (RAVDESS: which actors go to test); when all
       groups differ in size it may not change the split at all, by design: stratification first.
    4. Greedy: give each group to the split (among those with a ratio above 0) where adding it
       lowers the cost most, cost = sum over splits and labels of (count - target)^2.
    5. Polish: repeatedly apply the single best cost-lowering swap of two groups between two
       splits, or move of one group (a swap with nothing), until none lowers the cost. A move
       never empties a split.
    6. Fail if a split with a ratio above 0 got no group (too few or too uneven groups).

    Invariants: every group's items are in exactly one split; a split whose ratio is 0 is empty;
    the output lists are in id order. When every group holds each label in the same numbers,
    every split is exactly balanced the same way, and each split's size is within one group of
    its target; with uneven groups no whole-group split can promise "within one clip".

    Args:
        items: the items (ids unique).
        ratios: (train, validation, test) fractions adding up to 1, train and test > 0
            (`parse_ratios`).
        seed: a non-negative int.
    Returns:
        {"train": [...], "validation": [...], "test": [...]}, each list in id order.
    Raises:
        ValueError: bad ratios or seed, an id listed twice, no items, fewer groups than
            non-empty splits, or a split left without a group (step 6).
    """
    r = _check_ratios(ratios)
    rng = np.random.default_rng(check_seed(seed))
    ordered = in_id_order(items)
    if not ordered:
        raise ValueError("There are no items to split.")

    labels = sorted({item.label for item in ordered})
    label_index = {label: i for i, label in enumerate(labels)}
    members: dict[str, list[Item]] = defaultdict(list)
    for item in ordered:
        members[item.group].append(item)
    groups = sorted(members)
    counts = np.zeros((len(groups), len(labels)))
    for g, key in enumerate(groups):
        for item in members[key]:
            counts[g, label_index[item.label]] += 1

    active = [s for s in range(len(SPLITS)) if r[s] > 0]
    if len(groups) < len(active):
        needed = " and ".join(SPLITS[s] for s in active)
        raise ValueError(
            f"{len(groups)} group(s) cannot fill {needed} without putting a group in two splits; "
            "choose a finer grouping or fewer splits."
        )

    target = r[:, None] * counts.sum(axis=0)[None, :]
    assignment = _greedy(counts, target, active, rng)
    _polish(counts, target, active, assignment)

    for s in active:
        if not np.any(assignment == s):
            raise ValueError(
                f"No group fits the {SPLITS[s]} split: the groups are too few or too uneven for "
                f"ratios {tuple(float(x) for x in r)}; choose a finer grouping or other ratios."
            )
    group_split = dict(zip(groups, assignment.tolist(), strict=True))
    splits: dict[str, list[Item]] = {name: [] for name in SPLITS}
    for item in ordered:
        splits[SPLITS[group_split[item.group]]].append(item)
    return splits


def _greedy(counts: np.ndarray, target: np.ndarray, active: list[int], rng) -> np.ndarray:
    sizes = counts.sum(axis=1)
    shuffled = rng.permutation(len(counts))
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    current = np.zeros_like(target)
    assignment = np.full(len(counts), -1)
    for g in order:
        vec = counts[g]
        # Cost change of adding vec to split s: |C_s + v - T_s|^2 - |C_s - T_s|^2.
        deltas = [2 * vec @ (current[s] - target[s]) + vec @ vec for s in active]
        best = active[int(np.argmin(deltas))]
        assignment[g] = best
        current[best] += vec
    return assignment


def _polish(counts: np.ndarray, target: np.ndarray, active: list[int], assignment: np.ndarray) -> None:
    """Steepest descent over swaps and moves (see grouped_stratified_split, step 5), in place.

    Swapping group i (in split a) with group j (in split b) changes the cost by
    2 d.(D_a - D_b) + 2|d|^2 with d = v_j - v_i and D = counts - target; a zero vector stands
    for "no group", which turns a swap into a move.
    """
    n_labels = counts.shape[1]
    zero = np.zeros((1, n_labels))
    for _ in range(_MAX_IMPROVEMENTS):
        current = np.zeros_like(target)
        np.add.at(current, assignment, counts)
        dev = current - target
        best = (-1e-9, None)
        for ai, a in enumerate(active):
            for b in active[ai + 1 :]:
                in_a = np.flatnonzero(assignment == a)
                in_b = np.flatnonzero(assignment == b)
                # Append "no group" to each side, unless moving the last group out would empty it.
                va = np.vstack([counts[in_a], zero]) if len(in_b) > 1 else counts[in_a]
                vb = np.vstack([counts[in_b], zero]) if len(in_a) > 1 else counts[in_b]
                if len(va) == 0 or len(vb) == 0:
                    continue  # an empty split with a one-group partner: nothing can move
                diff = dev[a] - dev[b]
                rows = max(1, _BLOCK // max(1, len(vb) * n_labels))
                for start in range(0, len(va), rows):
                    d = vb[None, :, :] - va[start : start + rows, None, :]
                    delta = 2 * (d @ diff) + 2 * np.einsum("ijk,ijk->ij", d, d)
                    i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
                    if delta[i, j] < best[0]:
                        gi = in_a[start + i] if start + i < len(in_a) else None
                        gj = in_b[j] if j < len(in_b) else None
                        best = (delta[i, j], (a, b, gi, gj))
        if best[1] is None:
            return
        a, b, gi, gj = best[1]
        if gi is not None:
            assignment[gi] = b
        if gj is not None:
            assignment[gj] = a


def split_report(splits: Mapping[str, Sequence[Item]]) -> dict:
    """Per split: items, groups, total duration, and per label its count, share and gender counts.

    JSON-serialisable (str keys, int and float values); an empty gender is reported as "unknown".

    Args:
        splits: {split name: items}, e.g. the output of `grouped_stratified_split`.
    Returns:
        {split: {"items", "groups", "duration_s" (seconds, 3 places), "labels": {label:
        {"items", "share" (of the split, 4 places), "genders": {gender: items}}}}}, splits in
        SPLITS order then any others sorted, labels and genders sorted.
    """
    report: dict[str, dict] = {}
    for name in [s for s in SPLITS if s in splits] + sorted(set(splits) - set(SPLITS)):
        split = splits[name]
        by_label: dict[str, Counter] = defaultdict(Counter)
        for item in split:
            by_label[item.label][item.gender or "unknown"] += 1
        report[name] = {
            "items": len(split),
            "groups": len({item.group for item in split}),
            "duration_s": round(float(sum(item.duration for item in split)), 3),
            "labels": {
                label: {
                    "items": sum(genders.values()),
                    "share": round(sum(genders.values()) / len(split), 4),
                    "genders": dict(sorted(genders.items())),
                }
                for label, genders in sorted(by_label.items())
            },
        }
    return report


MIN_FOLDS = 2


def grouped_stratified_kfold(items: Sequence[Item], k: int, seed: int) -> list[list[Item]]:
    """Assign whole groups to `k` folds for cross-validation, stratified by label, seeded.

    Uses scikit-learn's splitters (a well-kept library, not own code):

    1. Put the items in id order (the canonical order every draw starts from).
    2. k < number of groups: `StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)`.
       Its greedy gives each group (largest label spread first, ties in a seeded order) to the
       fold where the per-label shares stay closest to the whole set's: stratified as far as
       whole groups allow. Fold f is the test fold of sklearn's f-th split.
    3. k == number of groups (leave-one-speaker-out): `LeaveOneGroupOut`, one group per fold, in
       sorted group order. The seed then changes nothing (there is nothing to draw).
    4. Fail if a fold got no group (StratifiedGroupKFold may leave one empty with very uneven
       groups).

    Invariants: every group's items are in exactly one fold; every fold holds at least one group;
    the folds together hold every item once; each fold is in id order; the same items (in any
    input order) and seed give the same folds.

    Args:
        items: the items (ids unique), e.g. a balanced release's candidates.
        k: the number of folds, 2 .. number of groups.
        seed: a non-negative int below 2**32 (numpy's limit).
    Returns:
        k lists of items; list f is fold f.
    Raises:
        ValueError: no items, a bad seed, an id listed twice, fewer than 2 groups, k not an int,
            below 2 or above the number of groups, or a fold left empty (step 4).
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    seed = check_seed(seed)
    ordered = in_id_order(items)
    if not ordered:
        raise ValueError("There are no items to split into folds.")
    groups = np.array([item.group for item in ordered])
    n_groups = len(set(groups.tolist()))
    if n_groups < MIN_FOLDS:
        raise ValueError(
            f"Cross-validation needs at least {MIN_FOLDS} groups (speakers); these clips form "
            f"{n_groups}. Choose a finer grouping or a holdout split."
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not MIN_FOLDS <= k <= n_groups:
        raise ValueError(
            f"{k!r} folds: choose between {MIN_FOLDS} and {n_groups}, the number of groups "
            f"(speakers); {n_groups} folds is leave-one-speaker-out."
        )
    labels = np.array([item.label for item in ordered])
    dummy = np.zeros((len(ordered), 1))
    if k == n_groups:
        splitter = LeaveOneGroupOut().split(dummy, labels, groups)
    else:
        splitter = StratifiedGroupKFold(n_splits=int(k), shuffle=True, random_state=seed).split(
            dummy, labels, groups
        )
    folds = [[ordered[i] for i in sorted(test.tolist())] for _, test in splitter]
    if any(not fold for fold in folds):
        raise ValueError(f"The groups are too uneven for {k} folds: a fold got no group. Choose fewer folds.")
    return folds


def fold_name(fold: int) -> str:
    """The key of fold `fold` (0-based) in a release's counts: "fold 0", "fold 1"..."""
    return f"fold {fold}"


def fold_report(folds: Sequence[Sequence[Item]]) -> dict:
    """`split_report` per fold, keyed `fold_name(f)`, in fold order (items, groups, duration,
    per label items, share and genders)."""
    return {fold_name(f): split_report({"fold": fold})["fold"] for f, fold in enumerate(folds)}
