"""Files as TV archives hold them (../shared/data/broadcast, each with its right result in that
folder's README), and generated variants of each kind made with the bundled ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient

from corpus import audio, services
from corpus.audio import ffmpeg_exe
from corpus.models import Clip, Recording
from corpus.tests import media_files as mf

# These tests need clips, not voices (corpus/tests/test_speakers*.py test the speaker step).
pytestmark = pytest.mark.usefixtures("no_speaker_step")


@pytest.fixture
def broadcast(data_dir) -> Path:
    return data_dir / "broadcast"


@pytest.fixture
def source(project):
    return services.source_get_or_create(project=project, title="Archive", episode="E01")


def _ingest(source, path, **kwargs) -> Recording:
    """Ingest and segment (eager Celery runs the segmentation on commit)."""
    rec = services.recording_ingest(source=source, path=path, **kwargs).recording
    rec.refresh_from_db()
    return rec


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.mark.django_db(transaction=True)
def test_a_wav_written_to_a_pipe_decodes_whole(broadcast, source):
    rec = _ingest(source, broadcast / "streamed_header.wav")
    assert rec.status == Recording.Status.SEGMENTED, rec.error
    assert rec.duration_s == pytest.approx(8.76, abs=0.01)
    assert rec.clips.count() == 4


@pytest.mark.django_db(transaction=True)
def test_phase_inverted_stereo_keeps_its_speech_and_says_what_was_done(broadcast, source):
    rec = _ingest(source, broadcast / "stereo_phase_inverted.wav")
    assert rec.status == Recording.Status.SEGMENTED, rec.error
    assert rec.clips.count() == 5
    assert rec.downmix.startswith("channel 1 of 2 alone") and "opposite phase" in rec.downmix


@pytest.mark.django_db(transaction=True)
def test_a_transport_stream_is_accepted_and_its_arabic_track_is_used(broadcast, source):
    rec = _ingest(source, broadcast / "episode_two_tracks.ts")
    assert rec.status == Recording.Status.SEGMENTED, rec.error
    assert "mpegts" in rec.container and rec.has_video
    assert [(t["position"], t["language"], t["codec"]) for t in rec.audio_tracks] == [
        (0, "ara", "mp2"),
        (1, "fre", "ac3"),
    ]
    assert (rec.audio_track, rec.track_reason) == (0, "language")
    assert rec.clips.count() == 6


@pytest.mark.django_db(transaction=True)
def test_the_default_arabic_track_is_used_not_the_first(broadcast, source):
    rec = _ingest(source, broadcast / "episode_default_second.mkv")
    assert rec.status == Recording.Status.SEGMENTED, rec.error
    assert rec.audio_tracks[1]["default"] and rec.audio_tracks[1]["title"] == "Arabe (original)"
    assert (rec.audio_track, rec.track_reason, rec.original_channels) == (1, "language", 2)
    assert rec.clips.count() == 6


@pytest.mark.django_db(transaction=True)
def test_without_a_language_match_the_default_track_wins_and_a_named_track_beats_both(
    broadcast, source, project
):
    project.languages = "tur"
    project.save(update_fields=["languages"])
    source.refresh_from_db()
    rec = _ingest(source, broadcast / "episode_default_second.mkv", segment=False)
    assert (rec.audio_track, rec.track_reason) == (1, "default")
    other = services.source_get_or_create(project=project, title="Archive", episode="E02")
    named = _ingest(other, broadcast / "episode_two_tracks.ts", segment=False, audio_track=1)
    assert (named.audio_track, named.track_reason, named.original_channels) == (1, "requested", 6)
    # 5.1 French: the centre carries the dialogue and stays in the mix.
    assert named.downmix.startswith("centre")
    with pytest.raises(services.IngestRejected, match="no audio track 2") as refused:
        services.audio_probe_or_reject(
            local=broadcast / "episode_default_second.mkv", name="episode.mkv", audio_track=2
        )
    assert refused.value.status == 400 and "0 (fre), 1 (ara)" in refused.value.message


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ext", ["mts", "m2ts", "avi", "wma", "mka", "aiff", "flv", "3gp"])
def test_every_container_ffmpeg_reads_is_accepted_whatever_its_extension(ext, tmp_path, data_dir, source):
    samples, rate = mf.ravdess_speech(data_dir, n=2)
    wav = mf.write_wav(tmp_path / "a.wav", samples, rate)
    args = {"3gp": ["-c:a", "aac", "-ar", "16000"], "flv": ["-c:a", "mp3", "-ar", "44100"]}.get(ext, [])
    if ext in ("mts", "m2ts"):
        args = ["-c:a", "mp2", "-f", "mpegts"]
    if ext == "avi":
        args = ["-c:a", "pcm_s16le"]
    path = mf.transcode(wav, tmp_path / f"episode.{ext}", *args)
    rec = _ingest(source, path, segment=False)
    assert rec.status == Recording.Status.DECODED, rec.error
    assert rec.duration_s == pytest.approx(len(samples) / rate, abs=0.15)


@pytest.mark.django_db(transaction=True)
def test_three_tracks_the_project_language_wins(tmp_path, data_dir, source):
    speech, rate = mf.ravdess_speech(data_dir, n=2)
    other, _ = mf.ravdess_speech(data_dir, n=2, offset=10)
    a = mf.write_wav(tmp_path / "a.wav", speech, rate)
    b = mf.write_wav(tmp_path / "b.wav", other, rate)
    out = tmp_path / "three.mkv"
    _ffmpeg(
        "-i", str(b), "-i", str(b), "-i", str(a),
        "-map", "0:a", "-map", "1:a", "-map", "2:a", "-c:a", "aac",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre",
        "-metadata:s:a:2", "language=ara", str(out),
    )  # fmt: skip
    rec = _ingest(source, out, segment=False)
    assert (rec.audio_track, rec.track_reason, len(rec.audio_tracks)) == (2, "language", 3)
    with default_storage.open(rec.normalised.name) as fh:
        decoded, _ = sf.read(fh, dtype="float32")
    n = min(len(decoded), len(speech))
    assert np.corrcoef(decoded[:n], speech[:n])[0, 1] > 0.9  # the Arabic track's audio, not another


@pytest.mark.django_db(transaction=True)
def test_a_vbr_mp3_without_a_xing_header_decodes_whole(tmp_path, data_dir, source):
    samples, rate = mf.ravdess_speech(data_dir, n=3)
    wav = mf.write_wav(tmp_path / "a.wav", samples, rate)
    path = mf.transcode(wav, tmp_path / "vbr.mp3", "-c:a", "libmp3lame", "-q:a", "2", "-write_xing", "0")
    assert b"Xing" not in path.read_bytes()[:4096] and b"Info" not in path.read_bytes()[:4096]
    rec = _ingest(source, path, segment=False)
    assert rec.status == Recording.Status.DECODED, rec.error
    assert rec.duration_s == pytest.approx(len(samples) / rate, abs=0.1)


@pytest.mark.django_db(transaction=True)
def test_damaged_transport_stream_packets_are_skipped_and_reported(tmp_path, data_dir, source):
    samples, rate = mf.ravdess_speech(data_dir, n=4)
    wav = mf.write_wav(tmp_path / "a.wav", samples, rate)
    ts = mf.transcode(wav, tmp_path / "clean.ts", "-c:a", "mp2", "-b:a", "128k", "-f", "mpegts")
    data = bytearray(ts.read_bytes())
    # Garble the payload of a run of 188-byte packets in the middle (keep their headers), as a
    # weak DVB signal does.
    rng = np.random.default_rng(0)
    packets = len(data) // 188
    for p in range(packets // 2, packets // 2 + 40):
        data[p * 188 + 4 : p * 188 + 188] = rng.integers(0, 256, 184, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.ts"
    damaged.write_bytes(bytes(data))
    rec = _ingest(source, damaged, segment=False)
    assert rec.status == Recording.Status.DECODED, rec.error
    assert rec.decode_warnings and "skipped" in rec.decode_warnings[0]
    assert rec.duration_s > 0.7 * len(samples) / rate


def test_choose_track_follows_the_documented_order():
    def t(position, language, default=False):
        return audio.AudioTrack(position + 1, position, "aac", 48000, 2, "stereo", language, default, "")

    tracks = (t(0, "fre"), t(1, "eng", default=True), t(2, "aeb"))
    assert audio.choose_track(tracks, languages=("ara",)) == (tracks[2], "language")  # aeb: Tunisian
    assert audio.choose_track(tracks, languages=("tur",)) == (tracks[1], "default")
    assert audio.choose_track(tracks[:1], languages=("tur",)) == (tracks[0], "first")
    assert audio.choose_track(tracks, requested=0, languages=("ara",)) == (tracks[0], "requested")


@pytest.mark.django_db(transaction=True)
def test_theme_music_does_not_become_clips_and_each_clip_keeps_its_speech_probability(
    broadcast, source, project, django_user_model
):
    rec = _ingest(source, broadcast / "theme_music_then_speech.mp3")
    assert rec.status == Recording.Status.SEGMENTED, rec.error
    clips = list(rec.clips.order_by("start_s"))
    assert not [c for c in clips if c.start_s < 30.0]  # 0-30 s is the theme
    assert len(clips) == 5
    assert all(c.speech_prob is not None and c.speech_prob > 0.5 for c in clips)
    # The validator sees it with the clip (annotators do not: blind labelling).
    validator = django_user_model.objects.create_user(username="val", password="x")
    validator.groups.add(Group.objects.get_or_create(name="validator")[0])
    project.members.add(validator)
    client = APIClient()
    client.force_authenticate(validator)
    handed = client.get("/api/validation/next/").json()["clip"]
    assert handed["speech_prob"] == pytest.approx(Clip.objects.get(pk=handed["id"]).speech_prob)
    # With the gate off, webrtcvad alone takes the music for voice: the gate is what removes it.
    off = services.segmentation_run_create(recording=rec, speech_gate=0.0, enqueue=False)
    services.segmentation_run_execute(run_id=off.pk)
    music = rec.clips.filter(start_s__lt=30.0)
    assert music.count() >= 10 and all(c.speech_prob < 0.2 for c in music)


@pytest.mark.django_db(transaction=True)
def test_the_recording_is_decoded_again_with_another_track_until_someone_works_on_it(
    broadcast, source, curator, project
):
    rec = _ingest(source, broadcast / "episode_default_second.mkv")
    assert rec.audio_track == 1 and rec.clips.count() == 6
    client = APIClient()
    client.force_authenticate(curator)
    r = client.post(f"/api/recordings/{rec.pk}/redecode/", {"audio_track": 9}, format="json")
    assert r.status_code == 400 and "no audio track 9" in r.json()["detail"]
    r = client.post(f"/api/recordings/{rec.pk}/redecode/", {"audio_track": 0}, format="json")
    assert r.status_code == 202, r.json()
    body = r.json()
    assert (body["audio_track"], body["track_reason"]) == (0, "requested")
    assert body["downmix"].startswith("centre")
    rec.refresh_from_db()
    assert rec.status == Recording.Status.SEGMENTED and rec.clips.exists()
    # Once a clip carries a validation, the track may no longer change under it.
    clip = rec.clips.first()
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.ACCEPTED)
    r = client.post(f"/api/recordings/{rec.pk}/redecode/", {"audio_track": 1}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "has_work"
    page = client.get(rec.get_absolute_url())
    # The page is a plain Django view: session login.
    client.force_login(curator)
    html = client.get(rec.get_absolute_url()).content.decode()
    assert "Audio tracks" in html and "Arabe (original)" in html and "used" in html
    assert page.status_code in (200, 302)


@pytest.mark.django_db(transaction=True)
def test_the_admin_add_form_agrees_with_the_api_on_files_without_audio(
    broadcast, source, django_user_model, tmp_path
):
    admin = django_user_model.objects.create_superuser(username="root", password="x")
    client = Client()
    client.force_login(admin)
    text = tmp_path / "subtitles.srt"
    text.write_text("1\n00:00:01,000 --> 00:00:02,000\nAhla\n")
    with open(text, "rb") as fh:
        r = client.post("/admin/corpus/recording/add/", {"source": source.pk, "upload": fh, "segment": ""})
    assert r.status_code == 200 and "has no audio stream" in r.content.decode()
    assert not Recording.objects.exists()
    with open(broadcast / "episode_two_tracks.ts", "rb") as fh:
        r = client.post(
            "/admin/corpus/recording/add/",
            {"source": source.pk, "upload": fh, "segment": "", "audio_track": 1},
        )
    assert r.status_code == 302
    assert Recording.objects.get().audio_track == 1


def test_a_decode_past_its_time_limit_is_stopped_with_a_clear_message(broadcast, tmp_path):
    """The ffmpeg process is killed at the limit, the partial WAV removed, and the user told."""
    dst = tmp_path / "out.wav"
    with pytest.raises(audio.AudioError, match=r"took longer than 0 s and was stopped"):
        audio.decode_to_wav(broadcast / "episode_two_tracks.ts", dst, timeout_s=0.001)
    assert not dst.exists()


def test_the_mono_mix_is_the_mean_of_the_channels_sample_for_sample(tmp_path):
    """Stereo with different content per channel: the WAV ffmpeg + our mix write is (L + R) / 2
    of ffmpeg's own 16 kHz decode of the two channels, to within one LSB of rounding."""
    rng = np.random.default_rng(3)
    left = (0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000)).astype(np.float32)
    right = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    src = tmp_path / "lr.wav"
    sf.write(src, np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    decoded = audio.decode_to_wav(src, tmp_path / "mono.wav")
    assert decoded.downmix == "mean of 2 channels"
    mono, _ = sf.read(tmp_path / "mono.wav", dtype="int16")
    both, _ = sf.read(src, dtype="int16")
    expected = both.astype(np.float64).mean(axis=1)
    assert np.max(np.abs(mono - expected)) <= 1.0
