"""The rules of crowd labelling, as pure functions: when a clip needs more raters (dynamic
overlap), when an annotator's hidden gold checks say they should be paused, and how the
quota-driven queue scores a clip.

No Django here: the platform (`annotation.services`, `inference.services`) and the simulation
benchmark (`benchmarks.crowd`) call the same functions, so what the benchmark measures is the
rule the platform applies.

Sources:
- Dynamic overlap (more raters only where the first ones disagree): Lotfian & Busso (2019),
  "Building naturalistic emotionally balanced speech corpus by retrieving emotional speech from
  existing podcast recordings", IEEE Trans. Affective Computing 10(4) (MSP-Podcast; at least five
  raters per sentence), and Busso et al. (2014), "Increasing the reliability of crowdsourcing
  evaluations using online quality assessment", IEEE Trans. Affective Computing 7(2) (the hidden
  reference sets played between ordinary clips, and stopping raters whose performance drops).
- The Wilson score interval: Wilson (1927), JASA 22(158); computed by
  `statsmodels.stats.proportion.proportion_confint(method="wilson")`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "CheckRecord",
    "check_due",
    "check_record",
    "needs_more_raters",
    "quota_deficits",
    "quota_scores",
    "should_pause",
]


def needs_more_raters(
    counts: Sequence[int],
    *,
    min_votes: int,
    max_raters: int,
    min_agreement: float | None = None,
) -> bool:
    """Whether a clip with these label counts should go back to the pool for one more rater.

    A clip needs more raters while it has no consensus and fewer than `max_raters` labels. No
    consensus is the platform's one majority rule (`agreement.majority_counts`): the top
    category has fewer than `min_votes` votes, or several categories share the top count (a
    tie); optionally also a winner whose share of the labels is below `min_agreement`.

    Args:
        counts: votes per category of one clip (ints >= 0; zeros allowed, order irrelevant).
        min_votes: votes the winning category needs (AnnotationConfig.consensus_min_votes).
        max_raters: the most labels a clip may receive (AnnotationConfig.max_labels_per_clip).
        min_agreement: share of the labels the winner needs (0-1), or None for no such rule.
    Returns:
        True when one more label is wanted; False when the clip is agreed, or has reached
        `max_raters` (then it goes to adjudication if still without consensus).
    Raises:
        ValueError: a negative count, or max_raters < 1.
    """
    c = np.asarray(list(counts), dtype=np.int64)
    if (c < 0).any():
        raise ValueError("counts must be >= 0")
    if max_raters < 1:
        raise ValueError("max_raters must be >= 1")
    n = int(c.sum())
    if n >= max_raters:
        return False
    if n == 0:
        return True
    top = int(c.max())
    agreed = top >= min_votes and int((c == top).sum()) == 1
    if agreed and min_agreement is not None and top / n < min_agreement:
        agreed = False
    return not agreed


@dataclass(frozen=True)
class CheckRecord:
    """An annotator's results on hidden gold checks.

    n_checks: checks answered; n_correct: those whose emotion matched the reference;
    accuracy: n_correct / n_checks (nan with no checks); low, high: the 95 % Wilson score
    interval of the accuracy (0 and 1 with no checks).
    """

    n_checks: int
    n_correct: int
    accuracy: float
    low: float
    high: float


def check_record(n_correct: int, n_checks: int, *, confidence: float = 0.95) -> CheckRecord:
    """Accuracy on hidden checks with its Wilson score interval.

    Args:
        n_correct: checks answered right (0 <= n_correct <= n_checks).
        n_checks: checks answered.
        confidence: the interval's coverage (default 0.95).
    Returns:
        A CheckRecord.
    Raises:
        ValueError: n_correct outside 0..n_checks.
    Source: Wilson (1927); statsmodels `proportion_confint(method="wilson")`.
    """
    if n_checks < 0 or not 0 <= n_correct <= n_checks:
        raise ValueError("need 0 <= n_correct <= n_checks")
    if n_checks == 0:
        return CheckRecord(0, 0, float("nan"), 0.0, 1.0)
    low, high = proportion_confint(n_correct, n_checks, alpha=1 - confidence, method="wilson")
    return CheckRecord(n_checks, n_correct, n_correct / n_checks, float(low), float(high))


def check_due(*, n_answered: int, warmup: int, rate: float, u: float) -> bool:
    """Whether an annotator's next hand-out is a hidden check.

    The first `warmup` hand-outs of each annotator in a project are checks (a qualification
    phase, as Figure Eight's "quiz mode" of test questions before work mode; Busso et al. 2014
    play reference sets at the start of each session), so a careless rater reaches a verdict of
    `should_pause` before giving many labels; after it, checks come at random at `rate`.

    Args:
        n_answered: checks the annotator has answered (or holds) in this project.
        warmup: checks handed out first (AnnotationConfig.check_warmup; 0: none).
        rate: probability of a check per hand-out after the warm-up (0-1; 0 turns checks off,
            warm-up included).
        u: a uniform random number in [0, 1) drawn for this hand-out.
    Returns:
        True to hand out a check (when the annotator has one left).
    """
    if rate <= 0:
        return False
    if n_answered < warmup:
        return True
    return u < rate


def should_pause(n_correct: int, n_checks: int, *, min_checks: int, threshold: float) -> bool:
    """Whether an annotator's check results say: pause them until a curator reviews them.

    Paused once at least `min_checks` checks are answered and the upper end of the 95 % Wilson
    interval of their accuracy is below `threshold`: the data show, beyond chance, that they
    answer worse than the threshold. A rater at 0.8 with a 0.6 threshold is almost never
    paused; a rater at chance on 4-7 classes is paused within some 10-20 checks
    (`benchmarks.crowd` measures both).

    Args:
        n_correct: checks answered right.
        n_checks: checks answered.
        min_checks: no verdict before this many checks (AnnotationConfig.check_min_answers).
        threshold: the accuracy an annotator must be able to reach (0-1).
    Returns:
        True to pause.
    """
    if n_checks < max(min_checks, 1):
        return False
    return check_record(n_correct, n_checks).high < threshold


def quota_deficits(targets: Mapping, counts: Mapping) -> dict:
    """How many clips each quota cell still lacks.

    Args:
        targets: {cell: clips wanted} (a cell is e.g. an emotion code, or (emotion, gender)).
        counts: {cell: clips with that consensus so far}; cells absent count 0; cells without a
            target are ignored.
    Returns:
        {cell: max(target - count, 0)} for every cell of `targets`.
    """
    return {cell: max(int(t) - int(counts.get(cell, 0)), 0) for cell, t in targets.items()}


def quota_scores(cell_probs: np.ndarray, targets: Sequence[int], deficits: Sequence[int]) -> np.ndarray:
    """Score clips for the quota-driven queue: how likely each clip fills a cell still short.

    score_i = sum_c p_ic * d_c / t_c, with p_ic the predicted probability that clip i belongs
    to cell c, d_c the cell's deficit and t_c its target: a full cell (d_c = 0) no longer
    counts, and the cells furthest from their target count most.

    Args:
        cell_probs: float array (n_clips, n_cells), each row the predicted cell probabilities.
        targets: (n_cells,) clips wanted per cell (a target of 0 counts as full).
        deficits: (n_cells,) clips still lacking per cell (`quota_deficits`).
    Returns:
        float64 array (n_clips,), higher first; all zeros once every cell is full.
    Raises:
        ValueError: shapes that do not match.
    """
    p = np.asarray(cell_probs, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    d = np.asarray(deficits, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != t.shape[0] or t.shape != d.shape:
        raise ValueError("cell_probs must be (n_clips, n_cells) with targets and deficits (n_cells,)")
    weights = np.divide(d, t, out=np.zeros_like(d), where=t > 0)
    return p @ weights
