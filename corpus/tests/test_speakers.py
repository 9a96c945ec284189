"""The speaker step of segmentation, end to end: cuts at speaker changes, clusters per recording,
re-segmentation that keeps people's work (the algorithm itself: test_speakers_core.py)."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import policies, services
from corpus.models import Clip, SegmentationRun, SeriesSpeaker, SpeakerCluster
from corpus.tests import media_files as mf
from corpus.tests.audio_fixtures import _trimmed_utterance

RATE = 16000
# RAVDESS: odd actors are male, even female; statements 01/02, emotions 01-05.
ACTORS = {"m": 3, "f": 8, "m2": 11}


def _turn(data_dir, actor: int, k: int, seconds: float) -> np.ndarray:
    """One actor's turn: trimmed utterances of theirs joined with 80 ms pauses, about `seconds`."""
    parts, total, n = [], 0, 0
    files = sorted((data_dir / "ravdess").glob(f"03-01-0[1-5]-0[12]-0[12]-0[12]-{actor:02d}.flac"))
    while total < seconds * RATE:
        x, _ = _trimmed_utterance(str(files[(k * 5 + n) % len(files)]))
        x = x / max(float(np.sqrt(np.mean(x**2))), 1e-4) * 0.07  # about -23 dBFS
        parts += [x, np.zeros(int(0.08 * RATE), np.float32)]
        total += len(x) + int(0.08 * RATE)
        n += 1
    return np.concatenate(parts[:-1]).astype(np.float32)


def dialogue(data_dir, order: list[str], seconds: float, pause_s: float) -> tuple[np.ndarray, list]:
    """Turns of the ACTORS named in `order`, `pause_s` apart (0: no pause at all), over a -45 dBFS
    noise bed, with 1 s of bed at each end. Returns (samples, [(start_s, end_s, speaker)])."""
    rng = np.random.default_rng(5)
    pieces = [np.zeros(RATE, np.float32)]
    truth, pos = [], RATE
    for k, who in enumerate(order):
        x = _turn(data_dir, ACTORS[who], k, seconds)
        truth.append((pos / RATE, (pos + len(x)) / RATE, who))
        pieces.append(x)
        pos += len(x)
        if pause_s and k < len(order) - 1:
            pieces.append(np.zeros(int(pause_s * RATE), np.float32))
            pos += int(pause_s * RATE)
    pieces.append(np.zeros(RATE, np.float32))
    track = np.concatenate(pieces)
    track += (10 ** (-45 / 20) * np.sqrt(3) * rng.uniform(-1, 1, len(track))).astype(np.float32)
    return track, truth


def _segment(project, tmp_path, samples, name="S01E03") -> object:
    source = services.source_get_or_create(project=project, title="Nsibti", episode=name)
    wav = mf.write_wav(tmp_path / f"{name}.wav", samples)
    rec = services.recording_ingest(source=source, path=wav).recording  # eager Celery segments it
    run = rec.segmentation_runs.get()
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.traceback
    return rec


def _speaker_at(truth, t: float) -> str | None:
    return next((who for a, b, who in truth if a <= t < b), None)


def _seconds_of_others(clip, truth) -> float:
    """Seconds of the clip spoken by others than its main speaker."""
    per = {}
    for a, b, who in truth:
        per[who] = per.get(who, 0.0) + max(0.0, min(b, clip.end_s) - max(a, clip.start_s))
    return sum(per.values()) - max(per.values())


@pytest.mark.xfail(
    strict=True,
    reason="Issue #12 target not met: 2 of the 3 changes are cut within 250 ms, the third 0.54 s early, "
    "where the male actor's last utterance fades to the noise floor for 0.5 s (-34 to -45 dBFS): whose "
    "faint tail it is cannot be told (measured 2026-11-30; see test_speakers_core.py).",
)
@pytest.mark.django_db(transaction=True)
def test_two_speakers_with_no_pause_are_cut_at_the_change(project, tmp_path, data_dir):
    samples, truth = dialogue(data_dir, ["m", "f", "m", "f"], seconds=4.0, pause_s=0.0)
    rec = _segment(project, tmp_path, samples)
    clips = list(rec.clips.order_by("start_s"))
    run = rec.segmentation_runs.get()
    changes = [b for a, b, _ in truth[:-1]]
    edges = [c.start_s for c in clips] + [c.end_s for c in clips]
    for t in changes:
        assert min(abs(e - t) for e in edges) <= 0.25, f"no cut within 250 ms of the change at {t:.2f} s"
    assert all(_seconds_of_others(c, truth) <= 0.5 for c in clips), "a clip holds two voices"
    assert all(0.4 <= c.duration_s <= 15.0 for c in clips)
    assert run.n_speaker_changes >= len(changes)
    assert all(c.one_speaker_conf is not None and 0 <= c.one_speaker_conf <= 1 for c in clips)
    # the two voices are two clusters, each clip in the one of its speaker
    clusters = list(rec.speaker_clusters.order_by("index"))
    assert len(clusters) == 2 and [c.label for c in clusters] == ["Nsibti S01E03-spk1", "Nsibti S01E03-spk2"]
    by_cluster = {}
    for c in clips:
        by_cluster.setdefault(c.speaker_cluster_id, set()).add(_speaker_at(truth, (c.start_s + c.end_s) / 2))
    assert all(len(s) == 1 for s in by_cluster.values()) and len(by_cluster) == 2
    for cluster in clusters:
        assert cluster.clip_count == rec.clips.filter(speaker_cluster=cluster).count()
        assert len(cluster.centroid) == 256 and abs(np.linalg.norm(cluster.centroid) - 1) < 1e-3
        assert cluster.series_speaker is not None


@pytest.mark.xfail(
    strict=True,
    reason="Issue #12 target not met: the eigengap finds the 3 speakers of the 11 clips, but cut into 3 "
    "clusters, Ward's tree (as average linkage and k-means would) puts both male actors' clips in one "
    "cluster and one clip of actor 11 alone; with the turns themselves as clips the same method "
    "separates them (test_speakers_core.py; measured 2026-11-30).",
)
@pytest.mark.django_db(transaction=True)
def test_clusters_of_a_three_speaker_recording_match_the_truth_and_link_across_episodes(
    project, tmp_path, data_dir
):
    order = ["m", "f", "m2", "f", "m", "m2", "f", "m2", "m"]
    samples, truth = dialogue(data_dir, order, seconds=3.0, pause_s=0.5)
    rec = _segment(project, tmp_path, samples)
    clips = list(rec.clips.order_by("start_s"))
    who = {c.pk: _speaker_at(truth, (c.start_s + c.end_s) / 2) for c in clips}
    clusters = {}
    for c in clips:
        clusters.setdefault(c.speaker_cluster_id, []).append(who[c.pk])
    assert len(clusters) == 3, clusters
    assert all(len(set(members)) == 1 for members in clusters.values()), clusters
    # the next episode, same three voices in another order: its clusters join the same voices
    samples2, truth2 = dialogue(data_dir, ["f", "m2", "m", "f", "m2", "m"], seconds=3.0, pause_s=0.5)
    rec2 = _segment(project, tmp_path, samples2, name="S01E04")
    voices = SeriesSpeaker.objects.filter(series="Nsibti")
    assert voices.count() == 3
    for voice in voices:
        speakers = {
            _speaker_at(t, (c.start_s + c.end_s) / 2)
            for r, t in ((rec, truth), (rec2, truth2))
            for c in r.clips.filter(speaker_cluster__series_speaker=voice)
        }
        assert len(speakers) == 1, (voice, speakers)
        assert voice.clusters.count() == 2


@pytest.mark.django_db(transaction=True)
def test_resegmentation_keeps_worked_on_clips_and_gives_them_a_cluster(project, tmp_path, data_dir, curator):
    samples, truth = dialogue(data_dir, ["m", "f", "m", "f"], seconds=3.0, pause_s=0.6)
    rec = _segment(project, tmp_path, samples)
    first = list(rec.clips.order_by("start_s"))
    worked = first[1]
    Clip.objects.filter(pk=worked.pk).update(status=Clip.Status.ACCEPTED)
    check = lambda qs: qs.filter(pk=worked.pk)  # noqa: E731
    policies.register_clip_work_check(check)
    try:
        run = services.segmentation_run_create(
            recording=rec, created_by=curator, n_speakers=2, merge_gap_ms=100
        )
    finally:
        policies._clip_work_checks.remove(check)
    run.refresh_from_db()
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.traceback
    kept = Clip.objects.get(pk=worked.pk)
    assert (kept.start_s, kept.end_s, kept.audio.name) == (worked.start_s, worked.end_s, worked.audio.name)
    assert kept.speaker_cluster is not None and kept.speaker_cluster.segmentation_run_id == run.pk
    assert SpeakerCluster.objects.filter(recording=rec).count() == 2  # the curator's number
    assert not SpeakerCluster.objects.filter(recording=rec).exclude(segmentation_run=run).exists()
    assert rec.clips.filter(speaker_cluster__isnull=True).count() == 0
    for clip in rec.clips.filter(segmentation_run=run):
        assert clip.end_s <= kept.start_s or clip.start_s >= kept.end_s


@pytest.mark.django_db(transaction=True)
def test_the_speaker_step_can_be_turned_off(project, tmp_path, data_dir, curator):
    samples, _ = dialogue(data_dir, ["m", "f"], seconds=3.0, pause_s=0.0)
    rec = _segment(project, tmp_path, samples)
    run = services.segmentation_run_create(recording=rec, created_by=curator, speaker_step=False)
    run.refresh_from_db()
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.traceback
    assert run.n_speaker_changes is None
    assert not rec.speaker_clusters.exists()
    assert all(c.one_speaker_conf is None for c in rec.clips.filter(segmentation_run=run))


@pytest.mark.django_db(transaction=True)
def test_two_recordings_of_one_episode_get_different_cluster_labels(project, tmp_path, data_dir):
    """Two recordings of Nsibti S01E03 (two uploads of one episode) must not both call their
    voices "S01E03-spk1"; a recording with no episode is named by its file."""
    first = _segment(project, tmp_path, dialogue(data_dir, ["m", "f"], seconds=3.0, pause_s=0.6)[0])
    (tmp_path / "again").mkdir()
    second = _segment(
        project, tmp_path / "again", dialogue(data_dir, ["f", "m"], seconds=3.0, pause_s=0.6)[0]
    )
    labels = [set(rec.speaker_clusters.values_list("label", flat=True)) for rec in (first, second)]
    assert labels[0] and labels[1] and not labels[0] & labels[1], labels
    assert all(label.startswith("Nsibti S01E03") for label in labels[0] | labels[1])
    assert all(label.startswith(f"Nsibti S01E03#{second.pk}-spk") for label in labels[1])
    # No episode: the file's stem, and the id only when two files share a name.
    ravdess = services.source_get_or_create(project=project, title="RAVDESS")
    recs = []
    for i, name in enumerate(["03-01-05-01-01-01-01.wav", "03-01-05-01-01-01-02.wav"]):
        samples = dialogue(data_dir, [["m"], ["f"]][i], seconds=2.0, pause_s=0.3)[0]
        wav = mf.write_wav(tmp_path / name, samples)
        recs.append(services.recording_ingest(source=ravdess, path=wav, segment=False).recording)
    assert recs[0].pk != recs[1].pk
    prefixes = [services.speaker_label_prefix(rec) for rec in recs]
    assert prefixes == ["RAVDESS 03-01-05-01-01-01-01", "RAVDESS 03-01-05-01-01-01-02"]
