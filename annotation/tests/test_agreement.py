"""Agreement statistics against published worked examples and the libraries they wrap.

No database: `annotation.agreement` works on plain arrays.
"""

from __future__ import annotations

import json
import time

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation.agreement import (
    Votes,
    agreement_levels,
    cohen_kappa_pairs,
    dawid_skene,
    fleiss_kappa,
    fleiss_kappa_per_category,
    krippendorff_alpha,
    majority,
    pairwise_confusion,
    rater_agreement_with_consensus,
    reliability_matrix,
    summary,
)

EMOTIONS = ["happy", "sad", "angry", "neutral", "fear", "disgust", "surprise"]

# Fleiss (1971) / Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", p. 8: observers A-D,
# 12 units, values 1..5, None = missing. Published nominal alpha: 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def votes_from_table(table: np.ndarray) -> Votes:
    """One vote per count; within an item raters are 0, 1, 2, ... (Fleiss ignores who)."""
    items, raters, labels = [], [], []
    for item, row in enumerate(table):
        item_labels = np.repeat(np.arange(len(row)), row)
        items += [item] * len(item_labels)
        raters += list(range(len(item_labels)))
        labels += list(item_labels)
    return Votes(
        items=np.array(items),
        raters=np.array(raters),
        labels=np.array(labels),
        n_items=len(table),
        n_raters=int(table.sum(axis=1).max()),
        n_categories=table.shape[1],
    )


def votes_from_matrix(matrix: list[list], categories: list) -> Votes:
    """Rater x item matrix with None for missing -> Votes (dense indices = matrix positions)."""
    triples = [
        (item, rater, value)
        for rater, row in enumerate(matrix)
        for item, value in enumerate(row)
        if value is not None
    ]
    votes, _, _ = Votes.from_triples(triples, categories)
    return votes


def random_votes(
    rng: np.random.Generator, n_items: int, n_raters: int, n_categories: int, k: int, p_correct: float
) -> tuple[Votes, np.ndarray]:
    """Each item gets k distinct random raters; each vote is the truth with p_correct, else uniform."""
    raters = np.argsort(rng.random((n_items, n_raters)), axis=1)[:, :k]
    truth = rng.integers(0, n_categories, n_items)
    labels = np.where(
        rng.random((n_items, k)) < p_correct, truth[:, None], rng.integers(0, n_categories, (n_items, k))
    )
    votes = Votes(
        items=np.repeat(np.arange(n_items), k),
        raters=raters.ravel(),
        labels=labels.ravel(),
        n_items=n_items,
        n_raters=n_raters,
        n_categories=n_categories,
    )
    return votes, truth


@pytest.fixture(scope="module")
def large_votes() -> Votes:
    votes, _ = random_votes(np.random.default_rng(0), 100_000, 30, 7, 3, 0.7)
    return votes


# --------------------------------------------------------------------------- Votes


def test_from_triples_maps_keys_and_counts():
    triples = [
        ("clip-a", "ann-1", "happy"),
        ("clip-a", "ann-2", "happy"),
        ("clip-b", "ann-2", "sad"),
        ("clip-a", "ann-3", "angry"),
    ]
    votes, item_keys, rater_keys = Votes.from_triples(triples, EMOTIONS)
    assert item_keys == ["clip-a", "clip-b"]
    assert rater_keys == ["ann-1", "ann-2", "ann-3"]
    assert (votes.n_items, votes.n_raters, votes.n_categories, votes.n_votes) == (2, 3, 7, 4)
    expected = np.zeros((2, 7), dtype=int)
    expected[0, 0], expected[0, 2], expected[1, 1] = 2, 1, 1
    np.testing.assert_array_equal(votes.counts(), expected)


def test_from_triples_rejects_unknown_category_and_double_votes():
    with pytest.raises(ValueError, match="unknown category 'happpy'"):
        Votes.from_triples([("c", "a", "happpy")], EMOTIONS)
    with pytest.raises(ValueError, match="more than once"):
        Votes.from_triples([("c", "a", "happy"), ("c", "a", "sad")], EMOTIONS)
    with pytest.raises(ValueError, match="labels must lie"):
        Votes(items=[0], raters=[0], labels=[7], n_items=1, n_raters=1, n_categories=7)


def test_votes_arrays_are_read_only_copies():
    items = np.array([0, 1])
    votes = Votes(items=items, raters=[0, 0], labels=[1, 2], n_items=2, n_raters=1, n_categories=3)
    items[0] = 1
    assert votes.items[0] == 0
    with pytest.raises(ValueError):
        votes.labels[0] = 0


# --------------------------------------------------------------------------- consensus


def hand_votes() -> Votes:
    """Seven clips, hand-made; the comment gives each clip's votes (category indices)."""
    per_item = [
        [0, 0, 0],  # 0: unanimous 3/3 -> 0
        [1, 1, 2],  # 1: 2/3 -> 1
        [0, 1, 2],  # 2: no two agree -> -1
        [3],  # 3: a single vote -> -1 (and left out of the levels)
        [2, 2],  # 4: unanimous 2/2 -> 2
        [0, 1],  # 5: tie 1-1 -> -1
        [4, 4, 5, 5],  # 6: tie 2-2 -> -1, but two agree
    ]
    items, raters, labels = [], [], []
    for item, item_labels in enumerate(per_item):
        items += [item] * len(item_labels)
        raters += list(range(len(item_labels)))
        labels += item_labels
    return Votes(
        items=np.array(items),
        raters=np.array(raters),
        labels=np.array(labels),
        n_items=len(per_item),
        n_raters=4,
        n_categories=7,
    )


def test_majority_ties_and_single_votes_give_no_consensus():
    consensus, top = majority(hand_votes())
    np.testing.assert_array_equal(consensus, [0, 1, -1, -1, 2, -1, -1])
    np.testing.assert_array_equal(top, [3, 2, 1, 1, 2, 1, 2])
    # A single vote is a consensus only if the curator asks for min_votes=1; ties never are.
    consensus_1, _ = majority(hand_votes(), min_votes=1)
    np.testing.assert_array_equal(consensus_1, [0, 1, -1, 3, 2, -1, -1])
    consensus_3, _ = majority(hand_votes(), min_votes=3)
    np.testing.assert_array_equal(consensus_3, [0, -1, -1, -1, -1, -1, -1])


def test_agreement_levels_count_unanimous_partial_and_none():
    levels = agreement_levels(hand_votes())
    assert levels["n_items"] == 6  # the single-vote clip is left out
    assert levels["n_unanimous"] == 2  # clips 0 (3/3) and 4 (2/2)
    assert levels["n_partial"] == 2  # clips 1 (2/3) and 6 (2+2 of 4)
    assert levels["n_at_least_two"] == 4
    assert levels["n_none"] == 2  # clips 2 and 5
    assert levels["unanimous"] == pytest.approx(2 / 6)
    assert levels["at_least_two"] == pytest.approx(4 / 6)
    assert levels["unanimous"] + levels["partial"] + levels["none"] == pytest.approx(1.0)


def test_rater_agreement_with_consensus():
    votes = hand_votes()
    consensus, _ = majority(votes)
    share, n_compared = rater_agreement_with_consensus(votes, consensus)
    # Items with a consensus: 0 (votes 0,0,0 -> 0), 1 (1,1,2 -> 1), 4 (2,2 -> 2).
    # rater 0: 0,1,2 all agree; rater 1: 0,1,2 agree; rater 2: 0 agrees, 2 != 1; rater 3: none.
    np.testing.assert_array_equal(n_compared, [3, 3, 2, 0])
    np.testing.assert_allclose(share[:3], [1.0, 1.0, 0.5])
    assert np.isnan(share[3])


def test_pairwise_confusion_counts_ordered_pairs_of_votes():
    confusion = pairwise_confusion(hand_votes())
    expected = np.zeros((7, 7), dtype=int)
    per_item = [[0, 0, 0], [1, 1, 2], [0, 1, 2], [3], [2, 2], [0, 1], [4, 4, 5, 5]]
    for item_labels in per_item:
        for i, a in enumerate(item_labels):
            for j, b in enumerate(item_labels):
                if i != j:
                    expected[a, b] += 1
    np.testing.assert_array_equal(confusion, expected)
    np.testing.assert_array_equal(confusion, confusion.T)
    assert confusion.sum() == sum(len(x) * (len(x) - 1) for x in per_item)


# --------------------------------------------------------------------------- Fleiss


def test_fleiss_kappa_matches_the_published_worked_example():
    votes = votes_from_table(FLEISS_TABLE)
    np.testing.assert_array_equal(votes.counts(), FLEISS_TABLE)
    kappa = fleiss_kappa(votes)
    assert round(kappa, 3) == 0.210
    assert kappa == pytest.approx(sm_fleiss_kappa(FLEISS_TABLE))


def test_fleiss_kappa_uses_only_items_with_k_votes():
    votes, _ = random_votes(np.random.default_rng(1), 300, 10, 4, 3, 0.6)
    # Drop one vote from the first 50 items: they now have 2 votes and Fleiss must skip them.
    keep = np.ones(votes.n_votes, dtype=bool)
    keep[np.arange(50) * 3] = False
    partial = Votes(
        items=votes.items[keep],
        raters=votes.raters[keep],
        labels=votes.labels[keep],
        n_items=300,
        n_raters=10,
        n_categories=4,
    )
    expected = sm_fleiss_kappa(votes.counts()[50:])
    assert fleiss_kappa(partial) == pytest.approx(expected)
    assert fleiss_kappa(partial, items_with_k=2) == pytest.approx(sm_fleiss_kappa(partial.counts()[:50]))
    assert np.isnan(fleiss_kappa(partial, items_with_k=5))


def test_fleiss_kappa_per_category_on_the_worked_example():
    votes = votes_from_table(FLEISS_TABLE)
    per_category = fleiss_kappa_per_category(votes)
    # By hand, kappa_j = 1 - sum_i n_ij (14 - n_ij) / (10 * 14 * 13 * p_j q_j), with the example's
    # p_j = 20/140, 28/140, 39/140, 21/140, 32/140 (0.143, 0.200, 0.279, 0.150, 0.229):
    # category 1: sum n(14-n) = 2*12 + 7*7 + 3*11 + 2*12 + 6*8 = 178 -> 1 - 178/(1820*0.12245) = 0.201
    np.testing.assert_allclose(per_category, [0.201, 0.080, 0.172, 0.030, 0.508], atol=5e-4)
    p = FLEISS_TABLE.sum(axis=0) / FLEISS_TABLE.sum()
    np.testing.assert_allclose(p.round(3), [0.143, 0.200, 0.279, 0.150, 0.229])
    # Fleiss (1971): the overall kappa is the p_j q_j-weighted mean of the per-category kappas.
    weights = p * (1 - p)
    assert np.sum(weights * per_category) / weights.sum() == pytest.approx(fleiss_kappa(votes))


def test_fleiss_kappa_per_category_is_nan_for_an_unused_category():
    table = np.hstack([FLEISS_TABLE, np.zeros((10, 1), dtype=int)])
    per_category = fleiss_kappa_per_category(votes_from_table(table))
    assert np.isnan(per_category[5]) and np.all(np.isfinite(per_category[:5]))


# --------------------------------------------------------------------------- Krippendorff


def test_krippendorff_alpha_matches_the_published_example():
    votes = votes_from_matrix(KRIPPENDORFF_2011, [1, 2, 3, 4, 5])
    assert votes.n_votes == 41
    assert round(krippendorff_alpha(votes), 3) == 0.743


def test_krippendorff_alpha_matches_wikipedia_example_with_single_vote_units():
    # The package's own docstring example (Wikipedia "Krippendorff's alpha"), nominal: 0.691358.
    # Units 2 and 14 have no vote and units 1, 9 and 15 a single one: they must not count.
    nan = None
    matrix = [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
    votes = votes_from_matrix(matrix, [1, 2, 3, 4])
    assert round(krippendorff_alpha(votes), 6) == 0.691358


def test_krippendorff_alpha_counts_input_equals_reliability_matrix_input():
    rng = np.random.default_rng(2)
    votes, _ = random_votes(rng, 400, 12, 7, 3, 0.6)
    # Drop 70% of rater 0's votes and 10% of everyone's, so that items have 1, 2 or 3 votes.
    keep = ~((votes.raters == 0) & (rng.random(votes.n_votes) < 0.7)) & (rng.random(votes.n_votes) > 0.1)
    ragged = Votes(
        items=votes.items[keep],
        raters=votes.raters[keep],
        labels=votes.labels[keep],
        n_items=400,
        n_raters=12,
        n_categories=7,
    )
    assert set(np.bincount(ragged.items)) >= {1, 2, 3}
    from_matrix = krippendorff.alpha(
        reliability_data=reliability_matrix(ragged), level_of_measurement="nominal"
    )
    assert krippendorff_alpha(ragged) == pytest.approx(from_matrix, abs=1e-12)


def test_undefined_statistics_are_nan_and_summary_gives_null():
    # Everybody always says "neutral": chance agreement is 1, kappa and alpha are undefined.
    votes = Votes(
        items=[0, 0, 1, 1], raters=[0, 1, 0, 1], labels=[3, 3, 3, 3], n_items=2, n_raters=2, n_categories=7
    )
    assert np.isnan(fleiss_kappa(votes))
    assert np.isnan(krippendorff_alpha(votes))
    [(r1, r2, kappa, n_shared)] = cohen_kappa_pairs(votes, min_overlap=2)
    assert (r1, r2, n_shared) == (0, 1, 2) and np.isnan(kappa)
    with pytest.warns(UserWarning):  # sklearn agrees it is undefined, and says so
        assert np.isnan(cohen_kappa_score([3, 3], [3, 3]))
    result = summary(votes)
    json.dumps(result, allow_nan=False)
    assert result["fleiss_kappa"] is None and result["krippendorff_alpha"] is None
    assert result["agreement_levels"]["unanimous"] == 1.0
    empty = Votes(items=[], raters=[], labels=[], n_items=0, n_raters=0, n_categories=7)
    json.dumps(summary(empty), allow_nan=False)


# --------------------------------------------------------------------------- Cohen


def test_cohen_kappa_matches_the_textbook_example():
    # Wikipedia "Cohen's kappa": 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no -> p_o 0.7, p_e 0.5, 0.4.
    pairs = [(0, 0)] * 20 + [(0, 1)] * 5 + [(1, 0)] * 10 + [(1, 1)] * 15
    triples = [(item, "A", a) for item, (a, _) in enumerate(pairs)]
    triples += [(item, "B", b) for item, (_, b) in enumerate(pairs)]
    votes, _, rater_keys = Votes.from_triples(triples, [0, 1])
    assert rater_keys == ["A", "B"]
    [(r1, r2, kappa, n_shared)] = cohen_kappa_pairs(votes)
    assert (r1, r2, n_shared) == (0, 1, 50)
    assert kappa == pytest.approx(0.4)


def test_cohen_kappa_pairs_equal_sklearn_on_every_pair():
    rng = np.random.default_rng(3)
    votes, _ = random_votes(rng, 600, 8, 7, 3, 0.55)
    matrix = reliability_matrix(votes)
    results = cohen_kappa_pairs(votes, min_overlap=10)
    assert len(results) == 28  # 8 raters, every pair shares ~64 items
    for r1, r2, kappa, n_shared in results:
        shared = ~np.isnan(matrix[r1]) & ~np.isnan(matrix[r2])
        assert n_shared == shared.sum()
        assert kappa == pytest.approx(cohen_kappa_score(matrix[r1, shared], matrix[r2, shared]), abs=1e-12)


def test_cohen_kappa_pairs_skips_pairs_with_little_overlap():
    # Raters 0 and 1 share 12 items, raters 1 and 2 share 3, raters 0 and 2 none.
    triples = [(i, r, i % 3) for i in range(12) for r in (0, 1)]
    triples += [(12 + i, r, (i + r) % 3) for i in range(3) for r in (1, 2)]
    votes, _, _ = Votes.from_triples(triples, [0, 1, 2])
    assert [(a, b, n) for a, b, _, n in cohen_kappa_pairs(votes, min_overlap=10)] == [(0, 1, 12)]
    assert [(a, b, n) for a, b, _, n in cohen_kappa_pairs(votes, min_overlap=3)] == [(0, 1, 12), (1, 2, 3)]


# --------------------------------------------------------------------------- Dawid-Skene


def test_dawid_skene_recovers_planted_annotator_noise():
    rng = np.random.default_rng(0)
    n_items, n_classes, n_raters = 3000, 7, 8
    priors = np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.08, 0.05])
    truth = rng.choice(n_classes, n_items, p=priors)
    # Raters 0-5: right 85% of the time; their errors lean to one "neighbour" emotion (10%) and
    # spread the last 5% evenly. Raters 6 and 7 answer uniformly at random.
    confusions = np.zeros((n_raters, n_classes, n_classes))
    for rater in range(6):
        for k in range(n_classes):
            confusions[rater, k] = 0.05 / (n_classes - 1)
            confusions[rater, k, k] = 0.85
            confusions[rater, k, (k + 1 + rater % 2) % n_classes] += 0.10
    confusions[6:] = 1.0 / n_classes
    np.testing.assert_allclose(confusions.sum(axis=2), 1.0)
    raters = np.argsort(rng.random((n_items, n_raters)), axis=1)[:, :3].ravel()
    items = np.repeat(np.arange(n_items), 3)
    cdf = confusions[raters, truth[items]].cumsum(axis=1)
    labels = np.minimum((rng.random(len(items))[:, None] > cdf).sum(axis=1), n_classes - 1)
    votes = Votes(
        items=items, raters=raters, labels=labels, n_items=n_items, n_raters=n_raters, n_categories=n_classes
    )

    result = dawid_skene(votes)

    assert result.converged and result.n_iter < 100
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)
    np.testing.assert_allclose(result.confusions.sum(axis=2), 1.0)
    assert result.priors.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(result.priors, priors, atol=0.03)
    diagonal = np.einsum("rkk->rk", result.confusions).mean(axis=1)
    np.testing.assert_allclose(diagonal[:6], 0.85, atol=0.05)
    np.testing.assert_allclose(diagonal[6:], 1 / 7, atol=0.07)
    np.testing.assert_allclose(result.rater_accuracy()[:6], 0.85, atol=0.05)
    np.testing.assert_array_equal(result.labels, result.posteriors.argmax(axis=1))
    # Fair baseline: majority vote with ties broken at random (the -1 of `majority` would be
    # counted wrong). DS wins by trusting the good raters when the three votes disagree.
    counts = votes.counts() + rng.random((n_items, n_classes)) * 1e-3
    majority_accuracy = np.mean(counts.argmax(axis=1) == truth)
    ds_accuracy = np.mean(result.labels == truth)
    assert ds_accuracy > majority_accuracy + 0.05, (ds_accuracy, majority_accuracy)


def test_dawid_skene_log_likelihood_increases_with_iterations():
    votes, _ = random_votes(np.random.default_rng(4), 2000, 10, 5, 3, 0.6)
    values = [dawid_skene(votes, max_iter=n, tol=0).log_likelihood for n in (1, 2, 5, 20)]
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:], strict=False))
    assert dawid_skene(votes, max_iter=2, tol=0).converged is False


def test_dawid_skene_is_fast_on_100k_items(large_votes):
    start = time.perf_counter()
    result = dawid_skene(large_votes)
    elapsed = time.perf_counter() - start
    assert result.posteriors.shape == (100_000, 7)
    assert elapsed < 2.0, elapsed


# --------------------------------------------------------------------------- summary


def test_summary_is_json_and_consistent(large_votes):
    start = time.perf_counter()
    result = summary(large_votes)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, elapsed

    decoded = json.loads(json.dumps(result, allow_nan=False))
    assert decoded == result
    assert (result["n_items"], result["n_raters"], result["n_votes"]) == (100_000, 30, 300_000)
    assert result["votes_per_item"] == [0, 0, 0, 100_000]
    assert result["fleiss_k"] == 3 and result["fleiss_n_items"] == 100_000
    assert result["fleiss_kappa"] == pytest.approx(sm_fleiss_kappa(large_votes.counts()))
    # With every item rated 3 times, Fleiss' kappa and Krippendorff's alpha almost coincide.
    assert result["krippendorff_alpha"] == pytest.approx(result["fleiss_kappa"], abs=1e-3)
    assert len(result["fleiss_kappa_per_category"]) == 7
    assert len(result["cohen_kappa_pairs"]) == 30 * 29 // 2
    assert all(pair["n_shared"] >= 10 for pair in result["cohen_kappa_pairs"])
    assert len(result["rater_agreement_with_consensus"]) == 30
    assert (
        sum(r["n_compared"] for r in result["rater_agreement_with_consensus"])
        == 3 * result["consensus"]["n_items"]
    )
    assert result["consensus"]["n_items"] == result["agreement_levels"]["n_at_least_two"]
    assert np.array(result["pairwise_confusion"]).sum() == 100_000 * 3 * 2
