"""Segmentation as a job: accuracy end to end, re-segmentation that keeps people's work, claiming."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import soundfile as sf
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from corpus import policies, services, vad
from corpus.models import Clip, Recording, SegmentationRun
from corpus.tests import media_files as mf
from corpus.tests.audio_fixtures import build_speech_track

# These tests need clips, not voices (corpus/tests/test_speakers*.py test the speaker step).
pytestmark = pytest.mark.usefixtures("no_speaker_step")


@pytest.fixture(scope="module")
def broadcast_track(tmp_path_factory, data_dir):
    """40 real utterances over a -45 dBFS noise bed, 0.3-2 s pauses, encoded as 44.1 kHz stereo mp3."""
    samples, rate, truth = build_speech_track(n_utterances=40, seed=3, data_dir=data_dir)
    tmp = tmp_path_factory.mktemp("track")
    wav = mf.write_wav(tmp / "episode.wav", samples, rate)
    mp3 = mf.transcode(wav, tmp / "episode.mp3", "-ar", "44100", "-ac", "2", "-b:a", "128k")
    return mp3, truth


@pytest.fixture
def source(project):
    return services.source_get_or_create(project=project, title="Choufli Hal", episode="S02E11")


@pytest.fixture
def segmented(broadcast_track, source, curator):
    """The track ingested through the service; eager Celery runs the segmentation on commit."""
    path, truth = broadcast_track
    result = services.recording_ingest(source=source, path=path, uploaded_by=curator)
    result.recording.refresh_from_db()
    return result.recording, truth


@pytest.mark.django_db(transaction=True)
def test_ingest_then_segment_finds_the_true_utterance_boundaries(segmented):
    recording, truth = segmented
    run = recording.segmentation_runs.get()
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.traceback
    assert recording.status == Recording.Status.SEGMENTED
    clips = list(recording.clips.order_by("start_s"))
    found = [(c.start_s, c.end_s) for c in clips]

    assert vad.boundary_f1(truth, found, tolerance=0.1) >= 0.9
    assert all(0.4 <= c.duration_s <= 15.0 for c in clips)
    assert run.progress == 1.0 and run.n_clips_created == len(clips) and run.started_at and run.finished_at
    assert run.speech_s == pytest.approx(sum(c.duration_s for c in clips), abs=0.01)
    # Each clip is its own 16 kHz mono WAV of exactly its span, cut from the normalised audio.
    with default_storage.open(recording.normalised.name) as fh:
        full, _ = sf.read(fh, dtype="int16")
    for clip in clips[:5]:
        with default_storage.open(clip.audio.name) as fh:
            data, rate = sf.read(fh, dtype="int16")
        assert rate == 16000 and data.ndim == 1
        assert len(data) / rate == pytest.approx(clip.duration_s, abs=0.002)
        start = round(clip.start_s * 1000) * 16
        assert np.array_equal(data[:1000], full[start : start + 1000])
        assert clip.status == Clip.Status.AWAITING_VALIDATION
        assert -60 < clip.level_dbfs < 0 and 0.5 < clip.speech_ratio <= 1 and clip.clipping_ratio < 0.01
        # Speech at about -23 dBFS over a -45 dBFS bed: the SNR estimate must see a clear margin.
        assert 10 < clip.snr_db < 40


@pytest.mark.django_db(transaction=True)
def test_resegmenting_replaces_only_clips_nobody_has_worked_on(segmented, curator):
    recording, _ = segmented
    clips = list(recording.clips.order_by("start_s"))
    validated, labelled, untouched = clips[2], clips[5], clips[8]
    Clip.objects.filter(pk=validated.pk).update(status=Clip.Status.ACCEPTED)
    # A clip still awaiting validation but carrying a vote: the annotation app says so by policy.
    check = lambda qs: qs.filter(pk=labelled.pk)  # noqa: E731
    policies.register_clip_work_check(check)
    try:
        run = services.segmentation_run_create(
            recording=recording, created_by=curator, detector="silero", min_clip_s=0.8, max_clip_s=6.0
        )
    finally:
        policies._clip_work_checks.remove(check)

    run.refresh_from_db()
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.traceback
    kept = {c.pk: c for c in recording.clips.filter(pk__in=[validated.pk, labelled.pk])}
    assert set(kept) == {validated.pk, labelled.pk}
    for old in (validated, labelled):
        assert (kept[old.pk].start_s, kept[old.pk].end_s, kept[old.pk].audio.name) == (
            old.start_s,
            old.end_s,
            old.audio.name,
        )
        assert default_storage.exists(old.audio.name)
    assert not Clip.objects.filter(pk=untouched.pk).exists()
    assert not default_storage.exists(untouched.audio.name)
    new = recording.clips.filter(segmentation_run=run)
    assert run.n_clips_kept == 2 and run.n_clips_created == new.count() > 0
    assert run.n_clips_replaced == len(clips) - 2
    for clip in new:
        assert 0.8 <= clip.duration_s <= 6.0
        for old in kept.values():
            assert clip.end_s <= old.start_s or clip.start_s >= old.end_s, "a new clip overlaps a kept one"


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_message_does_nothing_twice(segmented):
    recording, _ = segmented
    run = recording.segmentation_runs.get()
    before = sorted(recording.clips.values_list("pk", flat=True))

    assert services.segmentation_run_execute(run_id=run.pk) is False

    assert sorted(recording.clips.values_list("pk", flat=True)) == before


@pytest.mark.django_db(transaction=True)
def test_a_run_left_running_by_a_dead_worker_is_taken_again(segmented):
    recording, _ = segmented
    run = services.segmentation_run_create(recording=recording, enqueue=False)
    SegmentationRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert services.segmentation_run_execute(run_id=run.pk) is False, "a live run must not be taken"

    SegmentationRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert services.segmentation_run_execute(run_id=run.pk) is True
    run.refresh_from_db()
    assert run.status == SegmentationRun.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_records_why_and_leaves_the_existing_clips(segmented):
    recording, _ = segmented
    before = sorted(recording.clips.values_list("pk", "start_s"))
    run = services.segmentation_run_create(recording=recording, enqueue=False)
    default_storage.delete(recording.normalised.name)  # the audio vanished from storage

    services.segmentation_run_execute(run_id=run.pk)

    run.refresh_from_db()
    recording.refresh_from_db()
    assert run.status == SegmentationRun.Status.FAILED
    assert "FileNotFoundError" in run.error and "Traceback" in run.traceback
    assert sorted(recording.clips.values_list("pk", "start_s")) == before
    assert recording.status == Recording.Status.SEGMENTED


@pytest.mark.django_db
def test_bad_parameters_and_busy_recordings_are_refused_with_a_message(source, tmp_path, data_dir):
    samples, rate = mf.ravdess_speech(data_dir, n=2)
    rec = services.recording_ingest(
        source=source, path=mf.write_wav(tmp_path / "a.wav", samples, rate), segment=False
    ).recording
    for params, message in [
        ({"aggressiveness": 5}, "aggressiveness"),
        ({"frame_ms": 25}, "frame_ms"),
        ({"min_clip_s": 5.0, "max_clip_s": 4.0}, "max_clip_s"),
        ({"detector": "magic"}, "detector"),
        ({"colour": "blue"}, "Unknown segmentation parameter"),
    ]:
        with pytest.raises(ValidationError, match=message):
            services.segmentation_run_create(recording=rec, enqueue=False, **params)
    assert not SegmentationRun.objects.exists()
    services.segmentation_run_create(recording=rec, enqueue=False)
    with pytest.raises(ValidationError, match="already queued"):
        services.segmentation_run_create(recording=rec, enqueue=False)
