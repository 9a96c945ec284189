"""Class balancing of a release, before splitting (and oversampling plans, after it).

Pure Python and numpy, seeded and independent of the input order (items are put in id order before
any random draw). Whenever a class loses items, the kept ones are spread over its groups as evenly
as possible, so undersampling never wipes out a speaker or an episode that others keep.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from releases.splits import Item, check_seed, in_id_order

__all__ = ["STRATEGIES", "Item", "balance", "class_counts", "class_targets", "plan_oversampling"]

STRATEGIES = ("none", "undersample", "cap", "oversample", "harmonic")


def class_targets(counts: dict[str, int], *, strategy: str, cap: int | None = None) -> dict[str, int]:
    """How many items each class keeps under `strategy` (see `balance`).

    `cap` is read only by the "cap" strategy; the others ignore it, so that a form may keep the
    field filled while the curator tries strategies.

    Args:
        counts: {label: items}.
        strategy: one of STRATEGIES.
        cap: the most items any class keeps ("cap" only).
    Returns:
        {label: items kept}, never more than the class has.
    Raises:
        ValueError: an unknown strategy; for "cap", a missing cap or one that is not an int >= 1.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown balancing strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if strategy == "cap":
        if cap is None:
            raise ValueError("The 'cap' strategy needs a cap: the most items any class keeps.")
        if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < 1:
            raise ValueError(f"The cap must be a whole number of items, at least 1, not {cap!r}.")
    if strategy in ("none", "oversample") or not counts:
        return dict(counts)
    if strategy == "undersample":
        level = min(counts.values())
    elif strategy == "cap":
        level = int(cap)
    else:  # harmonic: rounded half up, so 42.5 gives 43 (round() would give 42)
        level = math.floor(statistics.harmonic_mean(list(counts.values())) + 0.5)
    return {label: min(n, level) for label, n in counts.items()}


def balance(items: Sequence[Item], *, strategy: str, seed: int, cap: int | None = None) -> list[Item]:
    """The items a release keeps, in id order.

    - "none": all items.
    - "undersample": every class down to the smallest class's count.
    - "cap": at most `cap` items per class; smaller classes keep all. Other strategies ignore `cap`.
    - "harmonic": target = harmonic mean of the class counts, rounded half up; classes above it are
      undersampled to it, classes below keep all. The harmonic mean lies between the smallest class
      and the plain mean, and leans to the small classes: a middle way between "undersample"
      (throws much away) and "none" (keeps the imbalance). Counts 100/50/25 give 43/43/25.
    - "oversample": all items; the copies are added after splitting, to the training split only
      (`plan_oversampling`), so that no copy of a test clip leaks into training.

    Undersampling a class keeps a seeded, group-spread selection: its items are dealt round-robin
    over its groups (groups and items within each group in a seeded order) until the target is
    reached, so the kept counts of any two groups differ by at most one unless a group runs out.

    Args:
        items: the candidates (ids unique).
        strategy: one of STRATEGIES.
        seed: a non-negative int.
        cap: for "cap" (see `class_targets`).
    Returns:
        The kept items, in id order.
    Raises:
        ValueError: an unknown strategy, a bad cap or seed, or an id listed twice.
    """
    ordered = in_id_order(items)
    rng = np.random.default_rng(check_seed(seed))
    by_label: dict[str, list[Item]] = defaultdict(list)
    for item in ordered:
        by_label[item.label].append(item)
    targets = class_targets({label: len(v) for label, v in by_label.items()}, strategy=strategy, cap=cap)
    kept: list[Item] = []
    for label in sorted(by_label):
        members = by_label[label]
        if targets[label] >= len(members):
            kept.extend(members)
        else:
            kept.extend(_group_round_robin(members, rng)[: targets[label]])
    return sorted(kept, key=lambda item: item.id)


def plan_oversampling(train: Sequence[Item], *, seed: int) -> list[tuple[Item, int]]:
    """The copies to add to a training split so that every class reaches the largest class's count.

    Returns (source item, copy index) pairs, classes in label order. A class short of k items gets
    k copies dealt round-robin over its items in a seeded, group-spread order (as in `balance`), so
    no item is copied twice before every item of its class has been copied once. The copy index
    counts that item's copies from 1, so (item.id, copy index) names a copy uniquely and seeds its
    augmentation (`augment.augmented_copy`).

    Args:
        train: the training split's items (ids unique).
        seed: a non-negative int.
    Returns:
        The (item, copy index) pairs; [] for an empty split or one already balanced.
    Raises:
        ValueError: a bad seed, or an id listed twice.
    """
    ordered = in_id_order(train)
    rng = np.random.default_rng(check_seed(seed))
    by_label: dict[str, list[Item]] = defaultdict(list)
    for item in ordered:
        by_label[item.label].append(item)
    if not by_label:
        return []
    largest = max(len(v) for v in by_label.values())
    plan: list[tuple[Item, int]] = []
    for label in sorted(by_label):
        deal = _group_round_robin(by_label[label], rng)
        for k in range(largest - len(deal)):
            plan.append((deal[k % len(deal)], k // len(deal) + 1))
    return plan


def _group_round_robin(members: list[Item], rng: np.random.Generator) -> list[Item]:
    """All of `members` in a seeded order that takes one item from each group in turn."""
    by_group: dict[str, list[Item]] = defaultdict(list)
    for item in members:
        by_group[item.group].append(item)
    keys = sorted(by_group)
    queues = []
    for i in rng.permutation(len(keys)):
        group = by_group[keys[i]]
        queues.append([group[j] for j in rng.permutation(len(group))])
    dealt: list[Item] = []
    for depth in range(max(len(q) for q in queues)):
        dealt.extend(q[depth] for q in queues if depth < len(q))
    return dealt


def class_counts(items: Sequence[Item]) -> dict[str, int]:
    """{label: number of items}, labels sorted."""
    return dict(sorted(Counter(item.label for item in items).items()))
