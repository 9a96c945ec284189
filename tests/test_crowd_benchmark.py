"""benchmarks.crowd on its --quick path (a few dozen real RAVDESS clips, 2 seeds): the figures are
well-formed and the simulation keeps the platform's rules. Structure only, not the targets of
issue 15 (those are the full run's, in benchmarks/RESULTS.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import crowd as bench


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    cache = tmp_path_factory.mktemp("crowd-cache")
    return bench.main(["--quick", "--cache-dir", str(cache)]), cache


def test_quick_run_figures_are_well_formed(quick, capsys):
    result, cache = quick
    for arm in ("plain", "dynamic"):
        for key in ("accuracy", "unresolved", "escalated"):
            values = result[arm][key]
            assert len(values) == 2
            assert all(0.0 <= v <= 1.0 for v in values), (arm, key, values)
    assert result["plain"]["labels_per_clip"] == [3.0, 3.0]  # K = 3, nothing else is spent
    assert result["plain"]["escalated"] == [0.0, 0.0]
    for seed in range(2):
        d = {k: v[seed] for k, v in result["dynamic"].items()}
        # every clip ends with at least K counted labels; spent = counted + excluded + checks
        assert d["counted_per_clip"] >= 3.0
        assert d["labels_per_clip"] == pytest.approx(
            d["counted_per_clip"] + d["excluded_per_clip"] + d["checks_per_clip"]
        )
    assert 0.25 < result["prelabel_ua"] <= 1.0  # the classical family learnt something
    assert (cache / "crowd_classical_features.npz").exists()


def test_quick_quota_runs_end_with_full_cells(quick):
    result, _ = quick
    feasible = [q for q in result["quota"] if q["feasible"]]
    assert feasible
    for q in feasible:
        assert q["full_breadth"] and q["full_quota"]
        for key in ("labels_breadth", "labels_quota"):
            assert q[key] % 3 == 0 and 3 * 2 * 8 <= q[key] <= 3 * q["pool_size"]
    assert -1.0 <= result["quota_label_saving"] <= 1.0 and not math.isnan(result["quota_label_saving"])


def test_careless_rater_is_paused_and_their_labels_excluded():
    """With many checks, the careless rater (about 0.19 accuracy on 8 classes) is paused by
    `crowd.should_pause` after at least 10 checks, their labels stop counting, and every clip
    still ends with K counted labels from the good raters."""
    data = bench.load_ravdess(bench.DATA / "ravdess")
    rng = np.random.default_rng(1)
    raters = bench.make_raters(rng, n_good=5, n_careless=1)
    clips = rng.choice(len(data.paths), size=120, replace=False)
    checks, pool = clips[:60], clips[60:]
    res = bench.simulate_queue(
        data=data,
        pool=pool,
        checks=checks,
        raters=raters,
        order=rng.permutation(len(pool)),
        dynamic=True,
        rng=rng,
        check_rate=0.5,
        check_warmup=0,
    )
    assert res.checks_at_pause[0] >= bench.CHECK_MIN_ANSWERS
    assert res.excluded_per_clip > 0
    assert res.counted_per_clip >= 3.0
    assert res.good_paused == 0


def test_warm_up_checks_pause_a_careless_rater_before_they_label():
    """With the first 10 hand-outs as checks (`crowd.check_due`), the careless rater is paused on
    the warm-up itself: no label of theirs is given, so none has to be excluded."""
    data = bench.load_ravdess(bench.DATA / "ravdess")
    rng = np.random.default_rng(1)
    raters = bench.make_raters(rng, n_good=5, n_careless=1)
    clips = rng.choice(len(data.paths), size=120, replace=False)
    checks, pool = clips[:60], clips[60:]
    res = bench.simulate_queue(
        data=data,
        pool=pool,
        checks=checks,
        raters=raters,
        order=rng.permutation(len(pool)),
        dynamic=True,
        rng=rng,
        check_warmup=bench.CHECK_MIN_ANSWERS,
    )
    assert res.checks_at_pause[0] == bench.CHECK_MIN_ANSWERS
    assert res.excluded_per_clip == 0
    assert res.counted_per_clip >= 3.0


def test_rater_model_is_the_documented_one():
    """Rows of the confusion table are distributions; good raters land near 0.8 on RAVDESS's mix,
    careless ones near chance (0.125 on 8 classes); the platform mapping folds calm into neutral."""
    assert np.allclose(bench.GOOD_CONFUSION.sum(axis=1), 1.0)
    data = bench.load_ravdess(bench.DATA / "ravdess")
    assert len(data.paths) == 1440
    raters = bench.make_raters(np.random.default_rng(0))
    acc = bench.rater_accuracy(raters, data)
    assert raters.careless.sum() == 3
    assert np.all((acc[~raters.careless] > 0.74) & (acc[~raters.careless] < 0.86))
    assert np.all((acc[raters.careless] > 0.15) & (acc[raters.careless] < 0.25))
    to_platform = bench.platform_map()
    neutral = bench.LABELS.index("neutral")
    assert to_platform[bench.CLASSES.index("calm")] == to_platform[bench.CLASSES.index("neutral")] == neutral
    assert [to_platform[bench.CLASSES.index(c)] for c in ("happy", "sad", "angry")] == [0, 1, 2]
