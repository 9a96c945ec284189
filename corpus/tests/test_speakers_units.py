"""corpus.speakers without Django: settings, piece rules, clustering and linking."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.speakers import SpeakerParams, change_scores, cluster_speakers, link_clusters, speaker_pieces
from corpus.tests.test_speakers import dialogue


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_s", 0.1), ("hop_s", 2.0), ("context", 0), ("change_threshold", 0.0), ("n_speakers", 0)],
)
def test_bad_settings_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        SpeakerParams(**{field: value}).validate()


def test_change_scores_peak_where_the_embeddings_change():
    a, b = np.eye(256)[0], np.eye(256)[1]
    emb = np.array([a] * 6 + [b] * 6)
    scores = change_scores(emb, context=3)
    assert scores.shape == (11,) and int(np.argmax(scores)) == 5 and scores[5] == pytest.approx(1.0)
    assert scores[0] == pytest.approx(0.0)


def test_pieces_keep_the_length_rules_and_carry_one_embedding_each(data_dir):
    samples, truth = dialogue(data_dir, ["m", "f"], seconds=4.0, pause_s=0.0)
    regions = [(truth[0][0], truth[-1][1]), (0.0, 0.3)]  # the second is too short to keep
    result = speaker_pieces(samples, regions, min_s=0.4, max_s=3.0)
    assert result.pieces and len(result.pieces) == len(result.embeddings)
    for piece in result.pieces:
        assert 0.4 <= piece.end - piece.start <= 3.0 + 1e-6
        assert 0.0 <= piece.confidence <= 1.0
    assert np.allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-4)
    assert all(p.start >= truth[0][0] - 1e-6 for p in result.pieces)


def test_clustering_honours_a_given_number_of_speakers_and_one_clip():
    rng = np.random.default_rng(0)
    centres = np.eye(256)[:3]
    emb = np.repeat(centres, 4, axis=0) + 0.01 * rng.standard_normal((12, 256))  # cosine ~0.97 within
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = cluster_speakers(emb)
    assert len(set(labels)) == 3 and all(len(set(labels[k * 4 : k * 4 + 4])) == 1 for k in range(3))
    assert len(set(cluster_speakers(emb, params=SpeakerParams(n_speakers=2)))) == 2
    assert cluster_speakers(emb[:1]).tolist() == [0]


def test_voices_sharing_one_large_direction_are_told_apart_and_one_voice_stays_one():
    # like GE2E embeddings (entries >= 0): every clip leans on one common direction; four voices
    # lie 0.41 apart in cosine distance (0.003 within one)
    rng = np.random.default_rng(3)
    eye = np.eye(256)
    centres = 1.2 * eye[0] + eye[1:5]
    emb = np.repeat(centres, 5, axis=0) + 0.05 * rng.standard_normal((20, 256))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    order = rng.permutation(20)
    labels = cluster_speakers(emb[order])
    truth = np.repeat(np.arange(4), 5)[order]
    assert len(set(labels.tolist())) == 4
    assert all(len(set(labels[truth == k].tolist())) == 1 for k in range(4))
    assert cluster_speakers(emb[order]).tolist() == labels.tolist()  # deterministic
    # one voice, 12 clips: the eigengap alone would always find structure in the centred
    # affinity; where average linkage at cluster_threshold finds one voice, one it stays
    one = centres[0] + 0.05 * rng.standard_normal((12, 256))
    assert cluster_speakers(one).tolist() == [0] * 12
    # under MIN_EIGENGAP_CLIPS clips the threshold decides: one voice at 0.5, two at 0.3
    few = emb[[0, 1, 5, 6]]
    assert cluster_speakers(few, params=SpeakerParams(cluster_threshold=0.5)).tolist() == [0, 0, 0, 0]
    assert cluster_speakers(few).tolist() == [0, 0, 1, 1]


def test_links_are_one_to_one_and_only_for_similar_voices():
    known = np.eye(256)[:2]
    new = np.array([np.eye(256)[1], np.eye(256)[0] * 0.9 + np.eye(256)[1] * 0.1, np.eye(256)[5]])
    assert sorted(link_clusters(new, known)) == [(0, 1), (1, 0)]
    assert link_clusters(new[:0], known) == []


def test_mel_frames_are_resemblyzers_own():
    """The speaker step's mel frames (a matrix product in place of librosa's einsum) are those the
    encoder was trained on: resemblyzer's wav_to_mel_spectrogram, to float rounding."""
    from resemblyzer.audio import wav_to_mel_spectrogram

    from corpus.speakers.core import _mel

    rng = np.random.default_rng(3)
    for n in (400, 16000, 16000 * 7 + 123):
        x = (0.1 * rng.standard_normal(n)).astype(np.float32)
        ours, theirs = _mel(x), wav_to_mel_spectrogram(x)
        assert ours.shape == theirs.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * float(theirs.max()))


def test_a_recording_with_more_voices_than_the_eigengap_counts_keeps_the_threshold_count():
    # 30 voices, 4 clips each, well apart: the eigengap counts at most MAX_SPEAKERS (8)
    from corpus.speakers.core import MAX_SPEAKERS

    rng = np.random.default_rng(5)
    centres = np.eye(256)[:30]
    emb = np.repeat(centres, 4, axis=0) + 0.01 * rng.standard_normal((120, 256))
    labels = cluster_speakers(emb)
    assert len(set(labels.tolist())) == 30 > 2 * MAX_SPEAKERS
    truth = np.repeat(np.arange(30), 4)
    assert all(len(set(labels[truth == k].tolist())) == 1 for k in range(30))
