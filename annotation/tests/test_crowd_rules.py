"""The pure crowd-labelling rules (annotation.crowd) that the platform and benchmarks.crowd share."""

import math

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from annotation import crowd


@pytest.mark.parametrize(
    ("counts", "n_max", "min_agreement", "expected"),
    [
        ([1, 1, 1], 5, None, True),  # no majority of 3: a 4th rater
        ([2, 1], 5, None, False),  # 2 of 3 agree: done
        ([2, 2], 5, None, True),  # a tie at 4: a 5th rater
        ([2, 2, 1], 5, None, False),  # 5 labels: the maximum, adjudication decides
        ([1, 1, 1], 3, None, False),  # escalation off (maximum = K)
        ([2, 1], 5, 0.75, True),  # 2 of 3 = 0.67 below a 0.75 agreement rule
        ([3, 1], 5, 0.75, False),  # 3 of 4 = 0.75
        ([0, 0], 5, None, True),
    ],
)
def test_needs_more_raters(counts, n_max, min_agreement, expected):
    got = crowd.needs_more_raters(counts, min_votes=2, max_raters=n_max, min_agreement=min_agreement)
    assert got is expected


def test_needs_more_raters_refuses_negative_counts():
    with pytest.raises(ValueError):
        crowd.needs_more_raters([-1, 2], min_votes=2, max_raters=5)


def test_check_record_is_the_wilson_interval():
    record = crowd.check_record(7, 10)
    low, high = proportion_confint(7, 10, alpha=0.05, method="wilson")
    assert record.accuracy == 0.7
    assert (record.low, record.high) == pytest.approx((low, high))
    assert 0.39 < record.low < 0.40 and 0.89 < record.high < 0.90  # Wilson (1927) for 7/10
    empty = crowd.check_record(0, 0)
    assert math.isnan(empty.accuracy) and (empty.low, empty.high) == (0.0, 1.0)
    with pytest.raises(ValueError):
        crowd.check_record(11, 10)


def test_should_pause_needs_min_checks_and_an_upper_bound_below_threshold():
    assert not crowd.should_pause(0, 9, min_checks=10, threshold=0.6)  # too few checks for a verdict
    assert crowd.should_pause(2, 10, min_checks=10, threshold=0.6)  # 0.2, upper bound 0.51
    assert not crowd.should_pause(3, 10, min_checks=10, threshold=0.6)  # upper bound 0.603
    assert not crowd.should_pause(8, 10, min_checks=10, threshold=0.6)


def test_quota_scores_stop_favouring_full_cells():
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    deficits = crowd.quota_deficits({0: 10, 1: 10}, {0: 10, 1: 2})
    scores = crowd.quota_scores(probs, [10, 10], [deficits[0], deficits[1]])
    assert scores[1] > scores[0]  # cell 0 is full: the clip likely in cell 1 comes first
    assert scores[0] == pytest.approx(0.1 * 8 / 10)
    full = crowd.quota_scores(probs, [10, 10], [0, 0])
    assert (full == 0).all()
    assert crowd.quota_deficits({"happy": 5, "sad": 5}, {"happy": 7, "angry": 3}) == {"happy": 0, "sad": 5}
    with pytest.raises(ValueError):
        crowd.quota_scores(probs, [10], [0])


def test_check_due_front_loads_the_warm_up_then_draws_at_the_rate():
    assert crowd.check_due(n_answered=0, warmup=10, rate=0.05, u=0.99)
    assert crowd.check_due(n_answered=9, warmup=10, rate=0.05, u=0.99)
    assert not crowd.check_due(n_answered=10, warmup=10, rate=0.05, u=0.99)
    assert crowd.check_due(n_answered=10, warmup=10, rate=0.05, u=0.01)
    assert not crowd.check_due(n_answered=0, warmup=10, rate=0.0, u=0.0)  # checks off: no warm-up either
