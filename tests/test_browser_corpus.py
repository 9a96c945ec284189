"""The corpus pages in a real browser: upload, recording page, permissions, phone width."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpus.models import Clip, Recording
from tests.conftest import chart_in, login

pytestmark = pytest.mark.browser

# Long enough for the server to decode and (eagerly) segment inside the upload request.
UPLOAD_TIMEOUT_MS = 120_000
RAVDESS = ["03-01-01-01-01-01-01", "03-01-03-01-02-01-02", "03-01-05-02-01-02-03", "03-01-04-01-02-01-04"]


def speech_wav(data_dir: Path, out: Path, names=RAVDESS) -> Path:
    """Real speech: RAVDESS utterances joined by 1 s of silence (and 1 s at each end), 16-bit WAV."""
    parts, rate = [], None
    for name in names:
        samples, sr = sf.read(data_dir / "ravdess" / f"{name}.flac", dtype="float32", always_2d=False)
        if samples.ndim > 1:
            samples = samples.mean(axis=1)
        assert rate in (None, sr), "the RAVDESS files share one sample rate"
        rate = sr
        parts += [np.zeros(sr, dtype=np.float32), samples]
    parts.append(np.zeros(rate, dtype=np.float32))
    sf.write(out, np.concatenate(parts), rate, subtype="PCM_16")
    return out


def screenshot(page, name: str) -> None:
    """Full-page screenshots for a human to look at, only when BROWSER_SCREENSHOTS names a folder."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


# The timeline's numbered labels that lie inside its visible strip and are not covered there.
VISIBLE_TIME_LABELS = """() => {
  const box = document.querySelector('#waveform-timeline').getBoundingClientRect();
  return [...document.querySelectorAll('#waveform-timeline [part~="timeline-notch"]')]
    .filter((n) => n.textContent.trim())
    .filter((n) => {
      const r = n.getBoundingClientRect();
      if (r.left < box.left || r.left + 4 > box.right) return false;
      const hit = document.elementFromPoint(r.left + 4, box.top + box.height / 2);
      return Boolean(hit) && document.querySelector('#waveform-timeline').contains(hit);
    })
    .map((n) => n.textContent.trim());
}"""


def test_curator_uploads_two_files_and_inspects_the_segmented_recording(
    page, live_server, curator, data_dir, tmp_path
):
    good = speech_wav(data_dir, tmp_path / "nouba-s01e01.wav")
    bad = tmp_path / "not-audio.mp3"
    bad.write_text("not audio")
    # Half a WAV: it has an audio stream, so it is kept as a failed recording with its error.
    cut = tmp_path / "cut.wav"
    cut.write_bytes(speech_wav(data_dir, tmp_path / "whole.wav").read_bytes()[:60000])

    login(page, live_server, "curator")
    response = page.goto(f"{live_server.url}/recordings/upload/")
    assert response.status == 200
    page.fill("#source_title", "Nouba")
    page.fill("#episode", "S01E01")
    page.fill("#channel", "Nessma")
    page.fill("#air_date", "2024-03-11")
    page.set_input_files("#files", [str(good), str(bad), str(cut)])

    good_row = page.locator('.upload-item[data-file="nouba-s01e01.wav"]')
    bad_row = page.locator('.upload-item[data-file="not-audio.mp3"]')
    good_link = good_row.locator("a.u-link")
    good_link.wait_for(timeout=UPLOAD_TIMEOUT_MS)
    bad_row.locator(".u-error").wait_for(timeout=UPLOAD_TIMEOUT_MS)
    assert "Ingested" in good_row.inner_text()
    # One line per upload: the server's sentence, its "recording #N" the link.
    line = good_row.locator(".u-status").inner_text()
    assert line.count("recording #") == 1 and line.startswith("Ingested as recording #"), line
    assert bad_row.locator(".u-error").inner_text().strip(), "the error row names what went wrong"
    assert "is-error" in bad_row.get_attribute("class")
    # Eager segmentation finished inside the request: the run bar shows the clips created.
    good_row.get_by_text(re.compile(r"\d+ clips? created")).wait_for()
    screenshot(page, "upload")

    # The database agrees with the page.
    rec = Recording.objects.get(original_name="nouba-s01e01.wav")
    assert rec.status == Recording.Status.SEGMENTED, rec.error
    assert (
        rec.source.title == "Nouba"
        and rec.source.episode == "S01E01"
        and str(rec.source.air_date) == "2024-03-11"
    )
    n_clips = Clip.objects.filter(recording=rec).count()
    assert n_clips >= 1
    # No audio stream in it (whatever its name says): refused, nothing stored.
    assert "no format" in bad_row.locator(".u-error").inner_text()
    assert not Recording.objects.filter(original_name="not-audio.mp3").exists()
    page.locator('.upload-item[data-file="cut.wav"] .u-error').wait_for(timeout=UPLOAD_TIMEOUT_MS)
    failed = Recording.objects.get(original_name="cut.wav")
    assert failed.status == Recording.Status.FAILED and "truncated" in failed.error

    # The recording page: waveform from the peaks, one region and one row per clip, histogram.
    good_link.click()
    page.wait_for_url(f"**/recordings/{rec.pk}/")
    page.locator("#waveform canvas").first.wait_for()
    page.wait_for_function(
        "n => Number(document.querySelector('#waveform').dataset.regions) === n", arg=n_clips
    )
    assert page.locator('#waveform [part~="region"]').count() == n_clips
    page.wait_for_function(f"() => ({VISIBLE_TIME_LABELS})().length >= 2")  # not under the regions
    assert page.locator("#clips tbody tr[data-clip]").count() == n_clips
    hist = chart_in(page, "#histogram")  # Chart.js, titled axes with units
    assert hist["scales"] == {"x": "Clip duration (s)", "y": "Clips (count)"}
    assert sum(hist["datasets"][0]["data"]) == n_clips
    assert page.locator('[data-fig="count"]').inner_text() == str(n_clips)

    # Each clip plays its own file through the shared <audio>, and that file is served.
    first = page.locator("#clips tbody tr[data-clip]").first
    first.locator("button").click()
    assert "is-playing" in first.get_attribute("class")
    clip = Clip.objects.filter(recording=rec).order_by("start_s").first()
    src = page.eval_on_selector("#clip-audio", "a => a.src")
    assert src.endswith(clip.audio.url)
    assert page.request.get(src).status == 200, f"clip audio is not served: {src}"
    screenshot(page, "recording")

    # It plays to its end (the file is real audio), and the row is released.
    page.wait_for_selector("#clips tr.is-playing", state="detached", timeout=10_000)

    # Zoom widens the waveform past its box (it scrolls); Space plays and pauses the recording.
    page.locator("#zoom").fill("200")
    page.wait_for_function(
        """() => { const holder = document.querySelector('#waveform');
                   const wrapper = holder.firstElementChild.shadowRoot.querySelector('.wrapper');
                   return wrapper.scrollWidth > holder.clientWidth * 2 }"""
    )
    # The time axis keeps numbers when zoomed: at least two labels inside the visible strip,
    # each on top (no region over it).
    page.wait_for_function(f"() => ({VISIBLE_TIME_LABELS})().length >= 2")
    labels = page.evaluate(VISIBLE_TIME_LABELS)
    assert all(re.fullmatch(r"(\d+:)?\d+(\.\d)?", t) for t in labels), labels
    screenshot(page, "recording-zoomed")
    page.locator("h1").click()  # focus out of the form fields: Space belongs to the player there
    page.keyboard.press("Space")
    page.wait_for_selector('#play-pause[aria-pressed="true"]')
    page.keyboard.press("Space")
    page.wait_for_selector('#play-pause[aria-pressed="false"]')

    # Segment again with other settings: 202, the run is polled to its end, the clips reload.
    page.fill("#min_clip_s", "0.5")
    page.click("#segment-submit")
    page.locator("#run-badge.badge-succeeded").wait_for(timeout=UPLOAD_TIMEOUT_MS)
    assert re.search(r"\d+ clips? created", page.inner_text("#run-label"))
    assert page.locator("#runs tbody tr[data-run]").count() == 2
    page.wait_for_function("() => !document.querySelector('#segment-submit').disabled")
    rec.refresh_from_db()
    assert rec.segmentation_runs.count() == 2 and rec.segmentation_runs.first().min_clip_s == 0.5
    page.wait_for_function(
        "n => document.querySelectorAll('#clips tbody tr[data-clip]').length === n", arg=rec.clips.count()
    )

    # The failed file has its own page: the error, and no waveform.
    page.goto(f"{live_server.url}{failed.get_absolute_url()}")
    assert failed.error.splitlines()[0][:40] in page.inner_text("#recording-error")
    assert page.locator("#waveform").count() == 0

    # The list filters by status; the overview counts both files.
    page.goto(f"{live_server.url}/recordings/?status=failed")
    assert page.locator("#recordings tbody tr[data-recording]").count() == 1
    assert "cut.wav" in page.inner_text("#recordings")
    page.goto(f"{live_server.url}/recordings/")
    screenshot(page, "recording-list")
    page.goto(f"{live_server.url}/")
    assert page.inner_text('[data-stat="recordings"]') == "2"
    assert page.inner_text('[data-stat="failed"]') == "1"
    screenshot(page, "home")
    assert not page.js_errors, page.js_errors


def test_annotator_gets_the_403_page_on_upload(page, live_server, annotator):
    login(page, live_server, "annotator")
    response = page.goto(f"{live_server.url}/recordings/upload/")
    assert response.status == 403
    assert "Not allowed" in page.inner_text("h1")
    assert "curators" in page.inner_text("main")
    assert page.locator("#upload-form").count() == 0


def test_anonymous_visitor_is_sent_to_the_login_page(page, live_server):
    page.goto(f"{live_server.url}/recordings/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    assert "next=/recordings/" in page.url
    assert page.locator("input[name=password]").is_visible()


def test_recording_page_fits_a_phone(phone_page, live_server, curator, project, data_dir, tmp_path):
    from corpus import services

    source = services.source_get_or_create(
        project=project, title="Choufli Hal", episode="S02E14", created_by=curator
    )
    wav = speech_wav(
        data_dir, tmp_path / ("a-rather-long-file-name-from-the-archive-" * 3 + ".wav"), RAVDESS[:2]
    )
    rec = services.recording_ingest(source=source, path=wav, uploaded_by=curator).recording

    login(phone_page, live_server, "curator")
    phone_page.goto(f"{live_server.url}/recordings/{rec.pk}/")
    phone_page.locator("#waveform canvas").first.wait_for()
    phone_page.locator("#clips tbody tr[data-clip]").first.wait_for()
    phone_page.locator("#histogram canvas").wait_for()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
    assert phone_page.locator("#play-pause").is_visible()
    screenshot(phone_page, "recording-phone")
    assert not phone_page.js_errors, phone_page.js_errors


def test_the_recording_page_shows_the_tracks_and_decodes_again_with_another(
    page, live_server, curator, project, data_dir
):
    from corpus import services

    source = services.source_get_or_create(project=project, title="Archive", episode="E07")
    rec = services.recording_ingest(
        source=source, path=data_dir / "broadcast" / "episode_default_second.mkv"
    ).recording
    rec.refresh_from_db()
    assert rec.audio_track == 1
    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/recordings/{rec.pk}/")
    tracks = page.get_by_test_id("audio-tracks")
    assert "Arabe (original)" in tracks.inner_text()
    assert (
        "used" in tracks.locator("li.used").inner_text()
        and "language" in tracks.locator("li.used").inner_text()
    )
    page.select_option("#redecode-track", "0")
    page.click("#redecode-submit")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=audio-tracks] li.used')"
        " && document.querySelector('[data-testid=downmix]').textContent.startsWith('centre')"
    )
    rec.refresh_from_db()
    assert (rec.audio_track, rec.track_reason) == (0, "requested")
    screenshot(page, "recording-tracks")
