"""Consensus and inter-annotator agreement over categorical votes (emotion, gender, ...).

Pure numpy/scipy: no Django here, so the figures can be computed in a task, a notebook or a
test from plain arrays. The caller turns rows into `Votes` (usually with `Votes.from_triples`)
and maps dense indices back to clips/annotators with the keys it gets back.

Which statistic for which question:
- `majority` / `agreement_levels`: what curators read first (3/3, 2/3, no majority).
- `fleiss_kappa` (statsmodels): chance-corrected agreement; needs the same number of votes on
  every item, so it is computed on the items with exactly k votes.
- `krippendorff_alpha` (krippendorff): the same question, but any number of votes per item, so
  clips with a missing label still count.
- `cohen_kappa_pairs`: which annotator pairs disagree (statsmodels on each pair's table; equal to
  scikit-learn's `cohen_kappa_score`, checked in the tests).
- `dawid_skene`: a consensus that trusts good annotators more than careless ones, and each
  annotator's estimated confusion matrix.

The well-kept libraries compute the statistics; what is written here is the bookkeeping around
them (long-format votes -> the tables they take), plus the two things none of them offers:
Fleiss' per-category kappa and a vectorised Dawid-Skene EM.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
from scipy import sparse
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as _sm_fleiss_kappa

__all__ = [
    "DawidSkeneResult",
    "Votes",
    "agreement_levels",
    "cohen_kappa_pairs",
    "dawid_skene",
    "fleiss_kappa",
    "fleiss_kappa_per_category",
    "fleiss_table",
    "first_votes",
    "fleiss_first_k",
    "krippendorff_alpha",
    "majority",
    "pairwise_confusion",
    "rater_agreement_with_consensus",
    "summary",
]

NO_CONSENSUS = -1


def _frozen_int_array(values, name: str) -> np.ndarray:
    array = np.array(values, dtype=np.int64, copy=True)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Votes:
    """Long-format votes: item i (clip), rater r (annotator), category c (label index).

    Invariants (checked on construction): the three arrays have one entry per vote, indices lie in
    0..n_items-1, 0..n_raters-1 and 0..n_categories-1, and a rater votes at most once per item
    (every statistic here assumes one label per annotator and clip). The arrays are read-only
    copies, so a `Votes` can be shared between computations.

    Args:
        items, raters, labels: int arrays (n_votes,), copied to read-only int64.
        n_items, n_raters, n_categories: the index ranges (n_categories >= 1).
    Raises:
        ValueError: arrays not one-dimensional or of unequal length, an index out of range,
            n_categories < 1, or a rater voting twice on an item.
    """

    items: np.ndarray
    raters: np.ndarray
    labels: np.ndarray
    n_items: int
    n_raters: int
    n_categories: int

    def __post_init__(self) -> None:
        for name in ("items", "raters", "labels"):
            object.__setattr__(self, name, _frozen_int_array(getattr(self, name), name))
        if not (len(self.items) == len(self.raters) == len(self.labels)):
            raise ValueError("items, raters and labels must have the same length")
        if self.n_categories < 1:
            raise ValueError("n_categories must be at least 1")
        for name, bound in (
            ("items", self.n_items),
            ("raters", self.n_raters),
            ("labels", self.n_categories),
        ):
            values = getattr(self, name)
            if len(values) and (values.min() < 0 or values.max() >= bound):
                raise ValueError(f"{name} must lie in 0..{bound - 1}")
        if len(self.items):
            keys = self.items * max(self.n_raters, 1) + self.raters
            unique_keys, n_each = np.unique(keys, return_counts=True)
            if len(unique_keys) != len(keys):
                dup = unique_keys[n_each > 1][0]
                raise ValueError(
                    f"rater {dup % self.n_raters} voted more than once on item {dup // self.n_raters}"
                )

    @property
    def n_votes(self) -> int:
        """The number of votes (length of the three arrays)."""
        return len(self.labels)

    @classmethod
    def from_triples(
        cls,
        triples: Iterable[tuple[Hashable, Hashable, Hashable]],
        categories: Sequence[Hashable],
    ) -> tuple[Votes, list, list]:
        """Build votes from (item_key, rater_key, category) rows.

        Returns the votes, then item_keys and rater_keys: position = dense index, in order of
        first appearance. An unknown category raises ValueError (a typo in a label would
        otherwise silently lower every agreement figure).

        Args:
            triples: (item key, rater key, category) rows, e.g. (clip id, annotator id, emotion
                code); consumed once, so a generator will do.
            categories: the distinct categories; category index = position here.
        Returns:
            (votes, item_keys, rater_keys).
        Raises:
            ValueError: repeated categories, an unknown category, or a rater voting twice on an
                item (from the constructor).
        """
        category_index = {category: index for index, category in enumerate(categories)}
        if len(category_index) != len(categories):
            raise ValueError("categories must be distinct")
        item_index: dict[Hashable, int] = {}
        rater_index: dict[Hashable, int] = {}
        items, raters, labels = [], [], []
        for item_key, rater_key, category in triples:
            try:
                labels.append(category_index[category])
            except KeyError:
                raise ValueError(
                    f"unknown category {category!r} (item {item_key!r}, rater {rater_key!r})"
                ) from None
            items.append(item_index.setdefault(item_key, len(item_index)))
            raters.append(rater_index.setdefault(rater_key, len(rater_index)))
        votes = cls(
            items=np.asarray(items, dtype=np.int64),
            raters=np.asarray(raters, dtype=np.int64),
            labels=np.asarray(labels, dtype=np.int64),
            n_items=len(item_index),
            n_raters=len(rater_index),
            n_categories=len(categories),
        )
        return votes, list(item_index), list(rater_index)

    def counts(self) -> np.ndarray:
        """(n_items, n_categories) int64 number of votes for each category on each item."""
        flat = np.bincount(
            self.items * self.n_categories + self.labels, minlength=self.n_items * self.n_categories
        )
        return flat.reshape(self.n_items, self.n_categories)

    def votes_per_item(self) -> np.ndarray:
        """int64 (n_items,): how many votes each item got."""
        return np.bincount(self.items, minlength=self.n_items)


# --------------------------------------------------------------------------- consensus


def majority_counts(counts: np.ndarray, min_votes) -> tuple[np.ndarray, np.ndarray]:
    """The one majority rule: per item, the winning category (or -1) and its number of votes.

    -1 means no majority: the top category has fewer than `min_votes` votes (so, by default, a
    single vote is not a consensus), or several categories share the top count (a tie).

    Args:
        counts: int array (n_items, n_categories), votes per item and category.
        min_votes: votes the winner needs: an int, or an int array (n_items,) (e.g. a strict
            majority `n // 2 + 1` per item, as for the speaker's gender).
    Returns:
        (winner, top): int64 arrays (n_items,): the category index or -1, and the top count.
    """
    counts = np.asarray(counts)
    if counts.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    top = counts.max(axis=1)
    winner = counts.argmax(axis=1)
    n_at_top = (counts == top[:, None]).sum(axis=1)
    consensus = np.where((top >= np.asarray(min_votes)) & (n_at_top == 1), winner, NO_CONSENSUS)
    return consensus.astype(np.int64), top.astype(np.int64)


def majority(votes: Votes, min_votes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """`majority_counts` over the votes' item x category counts (see there).

    Args:
        votes: the votes.
        min_votes: votes the winning category needs (AnnotationConfig.consensus_min_votes).
    Returns:
        (winner, top): int64 arrays (n_items,), the category index or -1 (NO_CONSENSUS), and the
        top count.
    """
    return majority_counts(votes.counts(), min_votes)


def agreement_levels(votes: Votes) -> dict:
    """How many items are unanimous, partly agreed (>= 2 agree, not all) or not agreed at all.

    Only items with at least 2 votes count (one vote agrees with nothing). "unanimous" means every
    vote on the item is the same (3/3, or 2/2 on a clip that only got two labels); "at_least_two"
    is unanimous + partial; the three shares unanimous/partial/none add up to 1.

    Args:
        votes: the votes.
    Returns:
        {"n_items" (items with >= 2 votes), "n_unanimous", "n_partial", "n_at_least_two",
        "n_none"} as ints, and the shares "unanimous", "partial", "at_least_two", "none" of
        n_items as floats (nan when n_items is 0).
    """
    counts = votes.counts()
    n_per_item = counts.sum(axis=1)
    top = counts.max(axis=1) if votes.n_items else np.zeros(0, dtype=np.int64)
    rated = n_per_item >= 2
    unanimous = int(np.count_nonzero(rated & (top == n_per_item)))
    at_least_two = int(np.count_nonzero(rated & (top >= 2)))
    none = int(np.count_nonzero(rated & (top < 2)))
    n = int(np.count_nonzero(rated))

    def share(count: int) -> float:
        return count / n if n else math.nan

    return {
        "n_items": n,
        "n_unanimous": unanimous,
        "n_partial": at_least_two - unanimous,
        "n_at_least_two": at_least_two,
        "n_none": none,
        "unanimous": share(unanimous),
        "partial": share(at_least_two - unanimous),
        "at_least_two": share(at_least_two),
        "none": share(none),
    }


# --------------------------------------------------------------------------- Fleiss


def fleiss_table(votes: Votes, items_with_k: int | None = None) -> tuple[np.ndarray, int]:
    """The (items, categories) count table Fleiss' kappa is computed on, and its k.

    Fleiss' kappa assumes every item was rated by the same number k of raters (which raters does
    not matter). Items with another number of votes are left out: k is the most common number
    of votes per item among items with at least 2 votes (ties: the larger k), unless given.
    Krippendorff's alpha is the statistic that uses every item.

    Args:
        votes: the votes.
        items_with_k: k to use; None picks it as above.
    Returns:
        (table, k): int64 (n_items_with_k, n_categories) counts, and k; an empty table and k = 0
        when no item has 2 or more votes (and k not given).
    """
    counts = votes.counts()
    n_per_item = counts.sum(axis=1)
    if items_with_k is None:
        histogram = np.bincount(n_per_item[n_per_item >= 2]) if votes.n_items else np.zeros(0)
        if histogram.sum() == 0:
            return np.zeros((0, votes.n_categories), dtype=np.int64), 0
        items_with_k = int(len(histogram) - 1 - np.argmax(histogram[::-1]))
    return counts[n_per_item == items_with_k], int(items_with_k)


def first_votes(votes: Votes, k: int) -> Votes:
    """Each item's first `k` votes, in the order of the arrays (callers pass votes in the order
    they were given): the fixed number of raters Fleiss' kappa needs when items have a varying
    number of votes (dynamic overlap gives disagreeing clips more raters than the others).

    Which k votes are kept matters: the first k are the ones every item got before any was
    escalated, so kappa on them is not biased towards the hard items that received more.

    Args:
        votes: the votes, ordered per item by when they were given.
        k: votes kept per item (>= 1); items with fewer keep all theirs.
    Returns:
        A Votes with the same index ranges (items, raters, categories unchanged) and at most k
        votes per item.
    Raises:
        ValueError: k < 1.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if not votes.n_votes:
        return votes
    # Rank of each vote within its item, stable in array order: a stable sort by item, then
    # position minus the start of the item's run.
    by_item = np.argsort(votes.items, kind="stable")
    sorted_items = votes.items[by_item]
    starts = np.searchsorted(sorted_items, sorted_items, side="left")
    rank = np.empty(votes.n_votes, dtype=np.int64)
    rank[by_item] = np.arange(votes.n_votes) - starts
    keep = rank < k
    return Votes(
        items=votes.items[keep],
        raters=votes.raters[keep],
        labels=votes.labels[keep],
        n_items=votes.n_items,
        n_raters=votes.n_raters,
        n_categories=votes.n_categories,
    )


def fleiss_kappa(votes: Votes, items_with_k: int | None = None) -> float:
    """Fleiss' kappa (statsmodels) on the items with exactly k votes; see `fleiss_table`.

    nan when undefined: fewer than 2 votes per item, no such items, or every vote in one category
    (chance agreement is then 1).

    Source: Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological
    Bulletin 76(5); `statsmodels.stats.inter_rater.fleiss_kappa(table, method="fleiss")`.

    Args:
        votes: the votes.
        items_with_k: k (votes per item) to compute on; None: the most common (`fleiss_table`).
    Returns:
        kappa as a float, or nan.
    """
    table, k = fleiss_table(votes, items_with_k)
    if k < 2 or len(table) == 0:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = float(_sm_fleiss_kappa(table, method="fleiss"))
    return kappa if math.isfinite(kappa) else math.nan


def fleiss_kappa_per_category(votes: Votes, items_with_k: int | None = None) -> np.ndarray:
    """Fleiss (1971) kappa for each category, on the same items as `fleiss_kappa`.

    kappa_j = 1 - sum_i n_ij (k - n_ij) / (N k (k - 1) p_j q_j), with p_j the share of votes in
    category j and q_j = 1 - p_j. statsmodels has no per-category version. The overall kappa is
    the p_j q_j-weighted mean of these (tested). nan where p_j q_j = 0 (category never used, or
    used for every vote).

    Args:
        votes: the votes.
        items_with_k: as in `fleiss_kappa`.
    Returns:
        float64 (n_categories,) kappas; all nan when k < 2 or no item has k votes.
    """
    table, k = fleiss_table(votes, items_with_k)
    result = np.full(votes.n_categories, math.nan)
    n = len(table)
    if k < 2 or n == 0:
        return result
    table = table.astype(np.float64)
    p = table.sum(axis=0) / (n * k)
    pq = p * (1.0 - p)
    disagreement = (table * (k - table)).sum(axis=0)
    defined = pq > 0
    result[defined] = 1.0 - disagreement[defined] / (n * k * (k - 1) * pq[defined])
    return result


# --------------------------------------------------------------------------- Krippendorff


def krippendorff_alpha(votes: Votes) -> float:
    """Nominal Krippendorff's alpha (krippendorff package), using every item whatever its votes.

    The package takes either the rater x item reliability matrix (np.nan for missing) or the
    item x value count table. For nominal data alpha depends only on the counts, and `Votes`
    forbids a second vote by the same rater on an item, so both inputs give the same alpha
    (tested); the count table is the one passed because it is ~7x faster on 100,000 clips
    (0.1 s against 0.75 s). Items with a single vote are unpairable and drop out, as the
    method requires.
    nan when undefined (fewer than two pairable values, or a single category used).

    Source: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability" (nominal metric);
    `krippendorff.alpha(value_counts=..., level_of_measurement="nominal")`.

    Args:
        votes: the votes.
    Returns:
        alpha as a float, or nan.
    """
    counts = votes.counts()
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.sum() < 2 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = float(
            krippendorff.alpha(
                value_counts=pairable,
                value_domain=np.arange(votes.n_categories),
                level_of_measurement="nominal",
            )
        )
    return alpha if math.isfinite(alpha) else math.nan


def reliability_matrix(votes: Votes) -> np.ndarray:
    """(n_raters, n_items) label matrix with np.nan where a rater did not label an item.

    The krippendorff package's other input; kept for callers (and the test that checks both
    inputs agree).

    Returns:
        float64 (n_raters, n_items): the category index, or nan.
    """
    matrix = np.full((votes.n_raters, votes.n_items), np.nan)
    matrix[votes.raters, votes.items] = votes.labels
    return matrix


# --------------------------------------------------------------------------- pairs of raters


def _vote_pairs(votes: Votes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair of votes cast on the same item: (rater_a < rater_b, label_a, label_b).

    Votes are sorted by (item, rater); two votes of the same item sit at most max_k - 1 apart,
    so one shifted comparison per offset finds all pairs without a Python loop over items.
    """
    order = np.lexsort((votes.raters, votes.items))
    items, raters, labels = votes.items[order], votes.raters[order], votes.labels[order]
    max_k = int(votes.votes_per_item().max()) if votes.n_items and votes.n_votes else 0
    parts = []
    for offset in range(1, max_k):
        same = items[:-offset] == items[offset:]
        left = np.flatnonzero(same)
        right = left + offset
        parts.append((raters[left], raters[right], labels[left], labels[right]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]


def cohen_kappa_pairs(votes: Votes, min_overlap: int = 10) -> list[tuple[int, int, float, int]]:
    """Cohen's kappa of every rater pair that shares at least `min_overlap` items.

    Returns (rater_a, rater_b, kappa, n_shared) with rater_a < rater_b, sorted by pair. All pairs'
    contingency tables are counted in one bincount, then each goes to statsmodels'
    `cohens_kappa`; that is what scikit-learn's `cohen_kappa_score` computes from the two label
    lists (the tests check they are equal), at ~1/100 of the per-pair cost, which matters with
    30 annotators (435 pairs). kappa is nan where undefined (both raters always gave one and
    the same category).

    Source: Cohen (1960), "A coefficient of agreement for nominal scales", Educational and
    Psychological Measurement 20(1).

    Args:
        votes: the votes.
        min_overlap: items a pair must share to be reported (values below 1 count as 1).
    Returns:
        A list of (rater_a, rater_b, kappa, n_shared): dense rater indices, kappa a float or nan,
        n_shared the number of items both rated; [] if no pair qualifies.
    """
    c = votes.n_categories
    rater_a, rater_b, label_a, label_b = _vote_pairs(votes)
    if len(rater_a) == 0:
        return []
    pair = rater_a * votes.n_raters + rater_b
    n_shared = np.bincount(pair, minlength=votes.n_raters**2)
    kept = np.flatnonzero(n_shared >= max(min_overlap, 1))
    if len(kept) == 0:
        return []
    slot = np.full(votes.n_raters**2, -1, dtype=np.int64)
    slot[kept] = np.arange(len(kept))
    mask = slot[pair] >= 0
    tables = np.bincount(
        slot[pair[mask]] * c * c + label_a[mask] * c + label_b[mask], minlength=len(kept) * c * c
    ).reshape(len(kept), c, c)
    results = []
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for index, key in enumerate(kept):
            kappa = float(cohens_kappa(tables[index], return_results=False))
            results.append(
                (
                    int(key // votes.n_raters),
                    int(key % votes.n_raters),
                    kappa if math.isfinite(kappa) else math.nan,
                    int(n_shared[key]),
                )
            )
    return results


def pairwise_confusion(votes: Votes) -> np.ndarray:
    """(C, C) annotator-vs-annotator confusion, symmetric.

    For every item, every ordered pair of two distinct votes (a, b) adds 1 to [a, b]: with the
    item's counts n, that is n n^T - diag(n), summed over items. Off-diagonal mass shows which
    emotions annotators mix up (this is Krippendorff's coincidence matrix before its 1/(m_u - 1)
    weighting).

    Args:
        votes: the votes.
    Returns:
        int64 (n_categories, n_categories), symmetric; its sum is the number of ordered vote
        pairs.
    """
    counts = votes.counts()
    return counts.T @ counts - np.diag(counts.sum(axis=0))


def rater_agreement_with_consensus(votes: Votes, consensus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per rater: the share of their votes equal to the consensus, and how many were compared.

    Only votes on items with a consensus (!= -1) are compared; the share is nan for a rater with
    none. The rater's own vote is part of a majority consensus, which flatters everyone a
    little (more so with few votes per item): compare raters with each other, not with 1.0.

    Args:
        votes: the votes.
        consensus: int array (n_items,), a category index per item or -1 (NO_CONSENSUS), e.g. the
            winner from `majority`.
    Returns:
        (share, n_compared): float64 (n_raters,) shares in [0, 1] or nan, and int64 (n_raters,)
        counts of compared votes.
    Raises:
        ValueError: `consensus` is not of shape (n_items,).
    """
    consensus = np.asarray(consensus)
    if consensus.shape != (votes.n_items,):
        raise ValueError("consensus must have one entry per item")
    target = consensus[votes.items]
    compared = target != NO_CONSENSUS
    n_compared = np.bincount(votes.raters[compared], minlength=votes.n_raters)
    n_equal = np.bincount(
        votes.raters[compared], weights=(votes.labels[compared] == target[compared]), minlength=votes.n_raters
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_compared > 0, n_equal / np.maximum(n_compared, 1), np.nan)
    return share, n_compared


# --------------------------------------------------------------------------- Dawid-Skene


@dataclass(frozen=True)
class DawidSkeneResult:
    """The outcome of `dawid_skene`: per-item posteriors and labels, class priors, per-rater
    confusion matrices, and how the EM ended (C = n_categories)."""

    posteriors: np.ndarray  # (n_items, C): P(true class | votes); rows sum to 1
    labels: np.ndarray  # (n_items,): argmax of the posteriors
    priors: np.ndarray  # (C,): estimated class proportions
    confusions: np.ndarray  # (n_raters, C, C): [r, true, given], rows sum to 1
    n_iter: int
    converged: bool
    log_likelihood: float  # log P(votes | final priors and confusions)

    def rater_accuracy(self) -> np.ndarray:
        """Per rater: estimated P(vote is right) = sum_k prior_k confusion[r, k, k].

        Returns:
            float64 (n_raters,) in [0, 1].
        """
        return np.einsum("k,rkk->r", self.priors, self.confusions)


def dawid_skene(
    votes: Votes, max_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.01
) -> DawidSkeneResult:
    """Dawid & Skene (1979) EM: true classes and each rater's confusion matrix, jointly.

    1. Start from soft majority: each item's posterior is its vote shares (uniform if no vote).
    2. M-step: priors = mean posterior; confusion[r, k, l] = expected number of items of true
       class k that rater r labelled l, + `smoothing` (a Dirichlet pseudo-count that keeps a
       rarely seen class from giving log(0)), row-normalised.
    3. E-step: log posterior[i, k] = log prior_k + sum over votes (r, l) on i of
       log confusion[r, k, l], normalised per item; the normaliser gives the log-likelihood.
    4. Stop when the log-likelihood changes by at most tol * |log-likelihood|, or at max_iter.

    Vectorised: M is the sparse item x (rater, label) indicator matrix, so the E-step sums are
    M @ log_confusion and the M-step counts M^T @ posteriors: two sparse products per
    iteration whatever the number of raters.

    Source: Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using
    the EM algorithm", Journal of the Royal Statistical Society C (Applied Statistics) 28(1).

    Args:
        votes: the votes.
        max_iter: the most EM iterations.
        tol: relative change of the log-likelihood under which EM stops (converged=True).
        smoothing: the Dirichlet pseudo-count added to every confusion cell and prior.
    Returns:
        DawidSkeneResult; `labels` is empty when there are no items.
    """
    n, c, r = votes.n_items, votes.n_categories, votes.n_raters
    indicator = sparse.csr_matrix(
        (np.ones(votes.n_votes), (votes.items, votes.raters * c + votes.labels)), shape=(n, r * c)
    )
    indicator_t = indicator.T.tocsr()

    counts = votes.counts().astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    posteriors = np.where(totals > 0, counts / np.maximum(totals, 1.0), 1.0 / c)

    log_likelihood = -math.inf
    converged = False
    n_iter = 0
    priors = np.full(c, 1.0 / c)
    confusions = np.full((r, c, c), 1.0 / c)
    for iteration in range(1, max_iter + 1):
        n_iter = iteration
        # M-step. indicator_t @ posteriors is (r*C given, C true) -> (r, true, given).
        priors = (posteriors.sum(axis=0) + smoothing) / (n + c * smoothing)
        expected = (indicator_t @ posteriors).reshape(r, c, c).transpose(0, 2, 1) + smoothing
        confusions = expected / expected.sum(axis=2, keepdims=True)
        # E-step. Rows of log_conf are (rater, given label), columns the true class. The
        # per-item reductions run on a (C, n_items) copy: numpy reduces a (100000, 7) array along
        # its short axis ~20x slower than a (7, 100000) one along its long axis.
        log_conf = np.log(confusions).transpose(0, 2, 1).reshape(r * c, c)
        log_joint = np.ascontiguousarray((indicator @ log_conf).T) + np.log(priors)[:, None]
        top = log_joint.max(axis=0)
        np.exp(log_joint - top, out=log_joint)
        norm = log_joint.sum(axis=0)
        posteriors = np.ascontiguousarray((log_joint / norm).T)
        previous, log_likelihood = log_likelihood, float((np.log(norm) + top).sum())
        if abs(log_likelihood - previous) <= tol * abs(log_likelihood):
            converged = True
            break

    return DawidSkeneResult(
        posteriors=posteriors,
        labels=posteriors.argmax(axis=1) if n else np.zeros(0, dtype=np.int64),
        priors=priors,
        confusions=confusions,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=log_likelihood,
    )


# --------------------------------------------------------------------------- dashboard


def _json_float(value) -> float | None:
    """JSON has no NaN: an undefined statistic becomes null."""
    value = float(value)
    return value if math.isfinite(value) else None


def fleiss_first_k(votes: Votes, k: int) -> dict:
    """Fleiss' kappa, overall and per category, on each item's first `k` votes
    (`first_votes`): the fixed-raters version for items with a varying number of votes. Items
    with fewer than k votes are left out.

    Args:
        votes: the votes, ordered per item by when they were given.
        k: raters per item (the platform's K, `labels_per_clip`; >= 1).
    Returns:
        {"fleiss_kappa" (None when undefined), "fleiss_k" (k), "fleiss_n_items" (items with k
        votes), "fleiss_kappa_per_category" (C values, None when undefined)}: the keys of
        `summary` it replaces.
    """
    first = first_votes(votes, k)
    table, _ = fleiss_table(first, k)
    return {
        "fleiss_kappa": _json_float(fleiss_kappa(first, k)),
        "fleiss_k": int(k),
        "fleiss_n_items": len(table),
        "fleiss_kappa_per_category": [_json_float(v) for v in fleiss_kappa_per_category(first, k)],
    }


def summary(votes: Votes, consensus_min_votes: int = 2) -> dict:
    """Every figure the agreement dashboard shows, as plain JSON-serialisable values.

    Rater and category positions are the dense indices of `votes`; the caller maps them back
    with the keys `Votes.from_triples` returned. Undefined statistics are None.

    Args:
        votes: the votes.
        consensus_min_votes: `min_votes` of the majority consensus the rater figures compare to.
    Returns:
        A dict: "n_items", "n_raters", "n_votes", "n_categories"; "votes_per_item" (histogram:
        entry n = items with n votes); "fleiss_kappa", "fleiss_k", "fleiss_n_items",
        "fleiss_kappa_per_category" (Fleiss 1971); "krippendorff_alpha" (Krippendorff 2011);
        "agreement_levels" (`agreement_levels`); "consensus" {"min_votes", "n_items", "share",
        "per_category"}; "cohen_kappa_pairs" (Cohen 1960; pairs sharing >= 10 items) and
        "rater_agreement_with_consensus" as lists of dicts; "pairwise_confusion" (C x C lists).
    """
    consensus, _top = majority(votes, min_votes=consensus_min_votes)
    fleiss_items, fleiss_k = fleiss_table(votes)
    share, n_compared = rater_agreement_with_consensus(votes, consensus)
    levels = agreement_levels(votes)
    has_consensus = consensus != NO_CONSENSUS
    return {
        "n_items": int(votes.n_items),
        "n_raters": int(votes.n_raters),
        "n_votes": int(votes.n_votes),
        "n_categories": int(votes.n_categories),
        "votes_per_item": np.bincount(votes.votes_per_item()).tolist() if votes.n_items else [],
        "fleiss_kappa": _json_float(fleiss_kappa(votes, fleiss_k or None)),
        "fleiss_k": fleiss_k,
        "fleiss_n_items": len(fleiss_items),
        "fleiss_kappa_per_category": [
            _json_float(v) for v in fleiss_kappa_per_category(votes, fleiss_k or None)
        ],
        "krippendorff_alpha": _json_float(krippendorff_alpha(votes)),
        "agreement_levels": {
            key: (_json_float(value) if isinstance(value, float) else int(value))
            for key, value in levels.items()
        },
        "consensus": {
            "min_votes": consensus_min_votes,
            "n_items": int(np.count_nonzero(has_consensus)),
            "share": _json_float(np.mean(has_consensus)) if votes.n_items else None,
            "per_category": np.bincount(consensus[has_consensus], minlength=votes.n_categories).tolist(),
        },
        "cohen_kappa_pairs": [
            {"rater_a": a, "rater_b": b, "kappa": _json_float(kappa), "n_shared": n}
            for a, b, kappa, n in cohen_kappa_pairs(votes)
        ],
        "rater_agreement_with_consensus": [
            {"rater": rater, "agreement": _json_float(share[rater]), "n_compared": int(n_compared[rater])}
            for rater in range(votes.n_raters)
        ],
        "pairwise_confusion": pairwise_confusion(votes).tolist(),
    }
