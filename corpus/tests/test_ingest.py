"""Ingestion: every accepted format, duplicates, and every bad input (what each one gets)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import soundfile as sf
from django.core.files.storage import default_storage

from corpus import services
from corpus.models import Clip, Recording, SegmentationRun
from corpus.tests import media_files as mf


@pytest.fixture
def speech_wav(tmp_path, data_dir) -> Path:
    samples, rate = mf.ravdess_speech(data_dir, n=3)
    return mf.write_wav(tmp_path / "speech.wav", samples, rate)


@pytest.fixture
def source(project, curator):
    return services.source_get_or_create(
        project=project, title="Nsibti Laaziza", episode="S01E03", created_by=curator
    )


def _ingest(source, path, **kw):
    return services.recording_ingest(source=source, path=path, segment=False, **kw)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("a.wav", lambda w, d: w),
        ("a.mp3", lambda w, d: mf.transcode(w, d / "a.mp3", "-ar", "44100", "-ac", "2")),
        ("a.m4a", lambda w, d: mf.transcode(w, d / "a.m4a", "-c:a", "aac", "-ar", "48000", "-ac", "2")),
        ("a.ogg", lambda w, d: mf.transcode(w, d / "a.ogg", "-c:a", "libvorbis")),
        ("a.opus", lambda w, d: mf.transcode(w, d / "a.opus", "-c:a", "libopus")),
        ("a.flac", lambda w, d: mf.transcode(w, d / "a.flac", "-ar", "22050")),
        ("v.mp4", lambda w, d: mf.video_with_audio(w, d / "v.mp4", "-c:a", "aac")),
        ("v.mkv", lambda w, d: mf.video_with_audio(w, d / "v.mkv", "-c:a", "libmp3lame")),
        ("v.webm", lambda w, d: mf.video_with_audio(w, d / "v.webm", "-c:a", "libopus")),
    ],
)
def test_every_broadcast_format_is_normalised_to_16k_mono_pcm(
    name, make, speech_wav, tmp_path, source, curator
):
    path = make(speech_wav, tmp_path)
    expected = sf.info(speech_wav).duration

    result = _ingest(source, path, uploaded_by=curator)

    rec = result.recording
    assert not result.duplicate and rec.status == Recording.Status.DECODED, rec.error
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.size_bytes == path.stat().st_size
    assert rec.has_video == name.startswith("v.")
    with default_storage.open(rec.normalised.name) as fh:
        info = sf.info(fh)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    # Lossy codecs pad a few ms; the length must stay within 60 ms of the source.
    assert rec.duration_s == pytest.approx(expected, abs=0.06)
    assert default_storage.exists(rec.original.name)
    assert rec.source.title == "Nsibti Laaziza" and rec.source.episode == "S01E03"


@pytest.mark.django_db
def test_the_same_file_twice_is_reported_not_duplicated(speech_wav, tmp_path, source, curator):
    first = _ingest(source, speech_wav)
    copy = tmp_path / "renamed copy.wav"
    copy.write_bytes(speech_wav.read_bytes())

    second = _ingest(source, copy)

    assert second.duplicate and second.recording.pk == first.recording.pk
    assert Recording.objects.count() == 1
    assert len(default_storage.listdir("recordings/original/" + first.recording.sha256[:2])[1]) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda w, d: mf.truncate(w, d / "cut.wav"), "corrupt or truncated"),
        (lambda w, d: mf.truncate(mf.transcode(w, d / "a.flac"), d / "cut.flac"), "corrupt or truncated"),
        (lambda w, d: mf.truncate(mf.transcode(w, d / "a.mp3"), d / "cut.mp3"), "The file is truncated"),
    ],
    ids=["truncated-wav", "truncated-flac", "truncated-mp3"],
)
def test_undecodable_files_are_kept_as_failed_with_their_error_and_never_segmented(
    build, message, speech_wav, tmp_path, source
):
    path = build(speech_wav, tmp_path)

    result = services.recording_ingest(source=source, path=path, segment=True)

    rec = result.recording
    assert result.failed and rec.status == Recording.Status.FAILED
    assert message in rec.error
    assert not rec.normalised and default_storage.exists(rec.original.name)
    assert not SegmentationRun.objects.exists() and not Clip.objects.exists()
    with pytest.raises(Exception, match="failed to decode"):
        services.segmentation_run_create(recording=rec)


@pytest.mark.django_db
def test_rejected_inputs_store_nothing(tmp_path, speech_wav, source, settings):
    settings.TUNISER = {**settings.TUNISER, "MAX_UPLOAD_BYTES": 1024}
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    text_as_mp3 = tmp_path / "notes.mp3"
    text_as_mp3.write_text("not audio at all\n" * 50)
    silent_video = mf.video_without_audio(tmp_path / "silent.mp4")
    # Small files pass the size check; the speech WAV is over it.
    limit = max(1024, silent_video.stat().st_size + 1)
    assert speech_wav.stat().st_size > limit
    settings.TUNISER = {**settings.TUNISER, "MAX_UPLOAD_BYTES": limit}
    cases = {
        tmp_path / "missing.wav": ("not_found", "does not exist"),
        empty: ("empty", "is empty (0 bytes)"),
        speech_wav: ("too_large", "over the limit of"),
        # Content decides, not the name: no audio stream, no recording.
        text: ("no_audio", "Not a readable audio or video file"),
        text_as_mp3: ("no_audio", "Not a readable audio or video file"),
        silent_video: ("no_audio", "has no audio stream (a video with no audio track)"),
    }
    for path, (code, message) in cases.items():
        with pytest.raises(services.IngestRejected) as exc:
            _ingest(source, path)
        assert exc.value.code == code and message in exc.value.message, exc.value.message
        assert exc.value.status == {"too_large": 413, "no_audio": 415}.get(code, 400)
    assert not Recording.objects.exists()
    assert not default_storage.exists("recordings")


@pytest.mark.django_db
def test_ingest_fails_cleanly_when_storage_breaks(speech_wav, source, monkeypatch):
    """A storage error between the two files leaves neither a row nor a stray file."""
    real_save = default_storage.save
    calls = []

    def flaky_save(name, content, **kw):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(name, content, **kw)

    monkeypatch.setattr(default_storage, "save", flaky_save)
    with pytest.raises(OSError, match="disk full"):
        _ingest(source, speech_wav)
    assert not Recording.objects.exists()
    assert not default_storage.exists(calls[0])
