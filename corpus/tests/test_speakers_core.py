"""corpus.speakers on real voices, with no database: change points, the piece rules, clustering,
settings, and the metrics behind benchmarks/speakers.py.

The recordings are those of the end-to-end tests (test_speakers.dialogue, imported from a module
that loads Django's models): RAVDESS actors 03 and 11 (male) and 08 (female), turns of several
utterances over a -45 dBFS noise bed. The whole file runs in about 15 s on two busy cores.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from corpus.speakers import (
    SpeakerParams,
    clip_embedding,
    cluster_speakers,
    speaker_changes,
    speaker_pieces,
    split_regions,
    window_embeddings,
)
from corpus.speakers.core import _optimal_cuts, _screened_windows
from corpus.speakers.metrics import change_f1, diarization_scores, mixed_share, true_changes
from corpus.tests.audio_fixtures import default_data_dir
from corpus.tests.test_speakers import dialogue

pytestmark = pytest.mark.skipif(
    not (default_data_dir() / "ravdess").is_dir(),
    reason=f"test speech not found under {default_data_dir()} (set TUNISER_DATA_DIR)",
)


@pytest.fixture(scope="module")
def two_voices_no_pause():
    """A male and a female actor taking turns with no pause at all: m f m f, about 4 s each."""
    return dialogue(default_data_dir(), ["m", "f", "m", "f"], seconds=4.0, pause_s=0.0)


@pytest.mark.xfail(
    strict=True,
    reason="Issue target not met: the changes at 5.82 and 10.70 s are cut 30 and 110 ms early, the one "
    "at 16.14 s 0.55 s early, where the male actor's last utterance fades out (-34 to -45 dBFS for "
    "0.5 s, speech at -15 dBFS): the embeddings cannot tell whose that faint tail is (measured "
    "2026-11-30; change F1 at 250 ms is 0.86-0.87 on the dialogues of benchmarks/speakers.py).",
)
def test_two_voices_with_no_pause_are_cut_within_250_ms_of_each_change(two_voices_no_pause):
    samples, truth = two_voices_no_pause
    region = [(truth[0][0], truth[-1][1])]  # what the VAD gives: one region, no pause to cut at
    changes = speaker_changes(samples, region)
    for t in [b for _, b, _ in truth[:-1]]:
        assert np.min(np.abs(changes - t)) <= 0.25, f"no change within 250 ms of {t:.2f} s: {changes}"


def test_two_voices_with_no_pause_give_one_cut_per_change_and_one_voice_per_piece(two_voices_no_pause):
    samples, truth = two_voices_no_pause
    region = [(truth[0][0], truth[-1][1])]
    expected = [b for _, b, _ in truth[:-1]]
    changes = speaker_changes(samples, region)
    assert len(changes) == len(expected), f"found {changes}, true {expected}"
    assert np.max(np.abs(changes - expected)) <= 0.6, f"found {changes}, true {expected}"
    # the whole step: pieces cut there, no piece with more than the faint tail of the other voice
    result = speaker_pieces(samples, region)
    pieces = [(p.start, p.end) for p in result.pieces]
    assert mixed_share(pieces, truth, limit_s=0.6) == 0.0
    assert all(0.4 <= b - a <= 15.0 for a, b in pieces)
    assert result.n_changes == len(expected) and len(result.embeddings) == len(pieces)
    assert all(0.0 <= p.confidence <= 1.0 for p in result.pieces)


@pytest.fixture(scope="module")
def three_voices():
    """Clips of three actors, two of them male (RAVDESS 03 and 11), 0.5 s apart: the truth's turns."""
    order = ["m", "f", "m2", "f", "m", "m2", "f", "m2", "m"]
    samples, truth = dialogue(default_data_dir(), order, seconds=3.0, pause_s=0.5)
    return order, np.array([clip_embedding(samples, a, b) for a, b, _ in truth])


def test_the_clips_of_three_voices_cluster_as_the_truth_when_the_number_is_known(three_voices):
    order, embeddings = three_voices
    labels = cluster_speakers(embeddings, params=SpeakerParams(n_speakers=3))
    assert adjusted_rand_score(order, labels) == 1.0, list(zip(order, labels.tolist(), strict=True))
    assert labels.tolist()[:3] == [0, 1, 2]  # labelled in order of first appearance
    assert cluster_speakers(embeddings[:1]).tolist() == [0]


def test_the_clips_of_three_voices_cluster_as_the_truth_when_the_number_is_estimated(three_voices):
    order, embeddings = three_voices
    labels = cluster_speakers(embeddings)
    assert adjusted_rand_score(order, labels) == 1.0, list(zip(order, labels.tolist(), strict=True))


def test_window_embeddings_cover_each_region_and_are_unit_vectors(two_voices_no_pause):
    samples, _ = two_voices_no_pause
    windows = window_embeddings(samples, [(1.0, 4.0), (5.0, 5.6), (6.0, 6.05)], window_s=1.0, hop_s=0.25)
    assert windows.region.tolist() == [0] * 9 + [1]  # 0.0, 0.25 ... 2.0 s; a short region is one window
    assert windows.times[0] == pytest.approx(1.0 + 0.495) and windows.times[8] == pytest.approx(3.495)
    assert windows.embeddings.shape == (10, 256) and (windows.embeddings >= 0).all()
    assert np.allclose(np.linalg.norm(windows.embeddings, axis=1), 1.0, atol=1e-5)


def test_screened_windows_are_all_the_windows_where_voices_change_and_every_other_where_one_speaks(
    two_voices_no_pause,
):
    samples, truth = two_voices_no_pause
    params = SpeakerParams()
    both = [(truth[0][0], truth[-1][1])]  # four turns, three changes: every window is needed
    full, screened = window_embeddings(samples, both), _screened_windows(samples, both, params)
    assert np.array_equal(screened.times, full.times) and np.array_equal(screened.region, full.region)
    np.testing.assert_allclose(screened.embeddings, full.embeddings, atol=1e-5)
    one = [(truth[0][0] + 0.3, truth[0][1] - 0.3)]  # the first actor alone
    full, screened = window_embeddings(samples, one), _screened_windows(samples, one, params)
    kept = np.ones(len(full.times), dtype=bool)
    kept[1:-1:2] = False  # the first, every other one and the last
    assert len(full.times) >= 10 and np.array_equal(screened.times, full.times[kept])
    np.testing.assert_allclose(screened.embeddings, full.embeddings[kept], atol=1e-5)


def test_optimal_partitioning_finds_every_change_of_clean_embeddings():
    rng = np.random.default_rng(0)
    centres = np.eye(256)[[0, 1, 0, 2]]
    lengths = [7, 3, 12, 5]
    x = np.concatenate(
        [c + 0.05 * rng.standard_normal((n, 256)) for c, n in zip(centres, lengths, strict=True)]
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert _optimal_cuts(x, penalty=1.0, min_len=1) == [7, 10, 22]
    # the 3-window voice cannot be a segment alone: it takes one window of its left neighbour
    assert _optimal_cuts(x, penalty=1.0, min_len=4) == [6, 10, 22]
    assert _optimal_cuts(x, penalty=1000.0, min_len=1) == []


def test_split_regions_never_keeps_a_piece_under_min_s_or_over_max_s():
    rng = np.random.default_rng(1)
    for _ in range(200):
        starts = np.sort(rng.uniform(0, 300, 6))
        regions = [(a, a + rng.uniform(0.1, 40.0)) for a in starts]
        changes = rng.uniform(0, 340, int(rng.integers(0, 30)))
        for a, b in split_regions(regions, changes, min_s=0.4, max_s=15.0):
            assert 0.4 - 1e-9 <= b - a <= 15.0 + 1e-9
    # a short piece between two changes is dropped, not merged into a neighbour with another voice
    assert split_regions([(0.0, 10.0)], [4.0, 4.3], min_s=0.4, max_s=15.0) == [(0.0, 4.0), (4.3, 10.0)]
    # a long one-voice piece is cut into equal parts; changes outside the regions are ignored
    pieces = split_regions([(10.0, 50.0)], [5.0, 60.0], min_s=0.4, max_s=15.0)
    assert [b - a for a, b in pieces] == pytest.approx([40 / 3] * 3)
    assert (pieces[0][0], pieces[-1][1]) == (10.0, 50.0)
    with pytest.raises(ValueError, match="min_s"):
        split_regions([(0.0, 1.0)], [], min_s=0.4, max_s=0.6)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_s", 0.1),
        ("window_s", math.nan),
        ("hop_s", 2.0),
        ("hop_s", True),
        ("context", 0),
        ("context", 2.5),
        ("change_penalty", 0.0),
        ("change_threshold", 2.0),
        ("min_change_gap_s", -1.0),
        ("refine_window_s", 1.2),  # longer than window_s
        ("cluster_threshold", 0.0),
        ("n_speakers", 0),
        ("n_speakers", 2.0),
    ],
)
def test_bad_settings_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=f"Invalid speaker settings: .*{field}"):
        SpeakerParams(**{field: value}).validate()


def test_default_settings_are_valid_and_every_problem_is_listed():
    SpeakerParams().validate()
    SpeakerParams(n_speakers=3).validate()
    with pytest.raises(ValueError) as error:
        SpeakerParams(window_s=9.0, context=0, n_speakers=-1).validate()
    assert all(name in str(error.value) for name in ("window_s", "context", "n_speakers"))


def test_change_f1_matches_each_change_once_within_the_tolerance():
    assert change_f1([1.0, 2.0], [1.2, 2.3], 0.25) == pytest.approx(0.5)
    assert change_f1([1.0], [0.9, 1.1], 0.25) == pytest.approx(2 / 3)  # one match, one spare
    assert change_f1([], [], 0.25) == 1.0 and change_f1([1.0], [], 0.25) == 0.0
    turns = [(0.0, 1.0, "a"), (1.1, 2.0, "b"), (3.0, 4.0, "a"), (4.0, 5.0, "a")]
    assert true_changes(turns, max_gap_s=0.3) == [pytest.approx(1.05)]  # the 1 s pause is the VAD's


def test_diarization_scores_are_pyannotes_with_any_label_names():
    truth = [[(0.0, 4.0, "amira"), (4.0, 10.0, "sami")]]
    perfect = diarization_scores(truth, [[(0.0, 4.0, 7), (4.0, 10.0, 3)]], [10.0])
    assert perfect.der == pytest.approx(0.0) and perfect.purity == pytest.approx(1.0)
    # one second of Sami given to Amira's cluster, one second of speech left out
    scores = diarization_scores(truth, [[(0.0, 5.0, 1), (5.0, 9.0, 2)]], [10.0])
    assert scores.confusion == pytest.approx(0.1) and scores.missed == pytest.approx(0.1)
    assert scores.der == pytest.approx(0.2) and scores.total_s == pytest.approx(10.0)
    assert mixed_share([(0.0, 5.0), (5.0, 9.0)], truth[0]) == pytest.approx(0.5)
