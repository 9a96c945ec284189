"""Inference pages in a real browser: live microphone chunks, file upload, pre-label quality.

A small RAVDESS subset (4 actors: angry, neutral, calm) is imported through the real command, a
release is built and a `classical` model trained synchronously through the training services;
the browser then talks to the real inference API. The microphone is Chromium's fake capture
device playing a WAV of real angry utterances.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import expect

from annotation.guideline import ensure_guideline
from corpus.tests import media_files as mf
from releases.build import ReleaseParams, release_build
from releases.importers import label_mappings_ensure
from tests.conftest import CHROMIUM_ARGS, VIEWPORT, chart_in, chromium_path, login

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp")
ACTORS = (1, 2, 3, 4)


def pct(value: float) -> str:
    """As the pages print a fraction (JavaScript's Math.round: halves go up)."""
    return f"{math.floor(value * 100 + 0.5)} %"


@pytest.fixture
def model_version(transactional_db, tmp_path, data_dir, project):
    """A classical angry-vs-neutral model trained on 4 RAVDESS actors through the platform."""
    from training import services
    from training.models import ModelVersion

    ensure_guideline()
    label_mappings_ensure()
    folder = tmp_path / "ravdess"
    folder.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[125]-*.flac")):
        if int(f.stem[-2:]) in ACTORS:
            (folder / f.name).symlink_to(f)
    call_command("import_corpus", str(folder), "--format", "ravdess", "--no-progress")
    release = release_build(
        project=project,
        params=ReleaseParams(
            name="live", label_set=["angry", "neutral"], group_by="speaker", split="50/25/25", seed=1
        ),
    )
    run = services.run_create(release=release, family="classical", device="cpu", enqueue=False)
    assert services.run_execute(run_id=run.pk) is True
    run.refresh_from_db()
    assert run.status == "succeeded", run.traceback
    return ModelVersion.objects.get(run=run)


@pytest.fixture
def ml_user(django_user_model, project):
    user = django_user_model.objects.create_user(username="mlops", password="pw-mlops")
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in ("ml_staff", "curator")])
    project.members.add(user)
    return user


def angry_wav(data_dir: Path, path: Path, n: int = 4) -> Path:
    """`n` real angry utterances (actor 5, outside the training actors), their leading and
    trailing silences trimmed and joined back to back: every 2 s chunk of the loop holds speech."""
    files = sorted((data_dir / "ravdess").glob("03-01-05-02-*-05.flac"))[:n]
    parts = [librosa.effects.trim(sf.read(f, dtype="float32")[0], top_db=35)[0] for f in files]
    return mf.write_wav(path, np.concatenate(parts), mf.RATE)


def test_live_microphone_sends_chunks_and_shows_each_answer(
    live_server, browser, model_version, ml_user, data_dir, tmp_path
):
    wav = angry_wav(data_dir, tmp_path / "mic.wav")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    # The fake microphone is a launch flag: a second Chromium from the suite's Playwright (one
    # Playwright per thread; a second sync_playwright() here would clash with the session's).
    browser = browser.browser_type.launch(executable_path=chromium_path(), headless=True, args=args)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    context.grant_permissions(["microphone"], origin=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    answers = []  # the API's responses, read once the session is stopped
    page.on(
        "response",
        lambda r: (
            answers.append(r) if r.url.endswith("/api/inference/") and r.request.method == "POST" else None
        ),
    )
    try:
        login(page, live_server, "mlops")
        page.goto(f"{live_server.url}/inference/live/")
        expect(page.locator("#model-version")).to_have_value(str(model_version.pk))
        page.click("#mic-toggle")
        expect(page.locator("#live-page")).to_have_attribute("data-state", "recording")
        expect(page.locator("#mic-toggle")).to_have_attribute("aria-pressed", "true")

        # Three answers: 6 s of audio plus the round trips.
        page.wait_for_function(
            "Number(document.getElementById('n-answered').textContent) >= 3", timeout=40_000
        )
        labels = model_version.labels
        shown = page.locator("#current-label").get_attribute("data-label")
        assert shown in labels, (shown, labels, page.inner_text("#panel-mic"))
        probs = chart_in(page, "#prob-chart")  # a Chart.js bar per label, in %
        assert probs["labels"] == labels
        assert probs["scales"] == {"x": "Probability (%)", "y": "Emotion"}
        assert abs(sum(probs["datasets"][0]["data"]) - 100) < 1
        expect(page.locator("#rtt-median")).to_have_text(re.compile(r"^\d+ ms$"))
        expect(page.locator("#server-median")).to_have_text(re.compile(r"^\d+ ms$"))
        assert page.locator("#rolling li").count() >= 3
        # The level meter follows the input (the fake device loops speech).
        page.wait_for_function("parseFloat(document.getElementById('level-fill').style.width) > 10")
        page.screenshot(path=str(SHOTS / "inference-live.png"), full_page=True)
        rtt = float(page.locator("#rtt-median").get_attribute("data-ms"))
        server = float(page.locator("#server-median").get_attribute("data-ms"))

        page.click("#mic-toggle")
        expect(page.locator("#live-page")).to_have_attribute("data-state", "stopped")
        expect(page.locator("#mic-toggle")).to_have_attribute("aria-pressed", "false")
        # The server really received the chunks: 2 s WAVs (the header we wrote says so), each
        # answered as one segment over the model's labels.
        page.wait_for_function(  # the chunks still in flight at Stop land too
            "document.getElementById('n-answered').textContent"
            " === document.getElementById('n-sent').textContent"
        )
        page.wait_for_timeout(200)  # and their response events reach this side
        ok = [r.json() for r in answers if r.status == 200]
        assert len(ok) >= 3 and len(ok) == len(answers), [r.status for r in answers]
        for a in ok:
            assert abs(a["duration_s"] - 2.0) < 0.02 and a["labels"] == labels, a
            assert not a["silence"] and len(a["segments"]) == 1 and a["segments"][0]["label"] in labels, a
        assert int(page.inner_text("#n-sent")) == len(answers)
        assert int(page.inner_text("#n-answered")) == len(ok)
        assert not errors, errors
        print(f"\nlive: {len(ok)} chunk answers; median round trip {rtt:.0f} ms, server {server:.0f} ms")
    finally:
        context.close()
        browser.close()


def test_file_upload_shows_segments_and_errors(live_server, page, model_version, ml_user, data_dir, tmp_path):
    samples, rate = mf.ravdess_speech(data_dir, n=4, gap_s=1.0, offset=40)
    wav = mf.write_wav(tmp_path / "four-utterances.wav", samples, rate)
    login(page, live_server, "mlops")
    page.goto(f"{live_server.url}/inference/live/")
    page.click("#tab-file")
    expect(page.locator("#panel-file")).to_be_visible()
    expect(page.locator("#panel-mic")).to_be_hidden()

    with page.expect_response(lambda r: r.url.endswith("/api/inference/")) as info:
        page.set_input_files("#file-input", str(wav))
    answer = info.value.json()
    assert info.value.status == 200, answer
    expect(page.locator("#live-page")).to_have_attribute("data-file-state", "ready")
    n = len(answer["segments"])
    assert n >= 3, answer
    blocks = page.locator("#file-timeline .seg-block")
    expect(blocks).to_have_count(n)
    expect(page.locator("#segments-table tbody tr")).to_have_count(n)
    first = answer["segments"][0]
    expect(page.locator("#segments-table tbody tr").first.locator("td").nth(3)).to_have_text(first["label"])
    expect(blocks.first).to_have_attribute("data-label", first["label"])

    # Hover shows the probabilities; a click plays that segment from the local copy.
    blocks.nth(1).hover()
    expect(page.locator("#seg-tip")).to_be_visible()
    expect(page.locator("#seg-tip .tip-row")).to_have_count(len(answer["labels"]))
    page.screenshot(path=str(SHOTS / "inference-file.png"), full_page=True)
    blocks.nth(1).click()
    expect(page.locator("#segments-table tbody tr").nth(1)).to_have_class(re.compile("is-playing"))
    start = answer["segments"][1]["start"]
    page.wait_for_function(f"document.getElementById('file-audio').currentTime >= {start}")
    assert page.evaluate("document.getElementById('file-audio').src").startswith("blob:")

    # A text file named .mp3: the API's 422 detail is shown.
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio at all\n" * 20)
    with page.expect_response(lambda r: r.url.endswith("/api/inference/")) as info:
        page.set_input_files("#file-input", str(bad))
    assert info.value.status == 422
    detail = info.value.json()["detail"]
    expect(page.locator("#file-error")).to_be_visible()
    expect(page.locator("#file-error")).to_have_text(detail)
    expect(page.locator("#file-result")).to_be_hidden()
    assert not page.js_errors, page.js_errors


def test_quality_page_is_empty_before_predictions_then_shows_agreement_per_class(
    live_server, page, model_version, ml_user, project
):
    from inference import services
    from inference.models import PrelabelJob

    login(page, live_server, "mlops")
    page.goto(f"{live_server.url}/inference/quality/")
    expect(page.locator("#quality-page")).to_have_attribute("data-state", "empty")
    expect(page.locator("#empty-state")).to_be_visible()
    row = page.locator(f'#quality-table tbody tr[data-model="{model_version.pk}"]')
    default = next(m for m in services.prelabel_quality(project=project) if m["id"] == model_version.pk)
    excluded = f"{default['n_excluded_seen']} clips seen in training, {default['n_excluded_gold']} gold"
    expect(row.locator("td")).to_have_text([model_version.name, "0", "n/a", excluded])
    expect(page.locator("#quality-models section")).to_have_count(0)

    # Pre-label the imported (gold) clips: they are left out unless gold imports are included.
    services.prelabeller_activate(project=project, model_version=model_version)
    job = services.prelabel_job_create(project=project)  # eager Celery: runs at once
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    figures = next(
        m
        for m in services.prelabel_quality(project=project, include_gold=True)
        if m["id"] == model_version.pk
    )
    assert figures["n_compared"] > 0 and set(figures["per_class"]) == {"angry", "neutral"}

    page.reload()
    expect(row.locator("td").nth(1)).to_have_text("0")  # every clip is gold: nothing by default
    page.locator("#include-gold").check()
    expect(page.locator("#quality-page")).to_have_attribute("data-state", "ready")
    expect(page.locator("#empty-state")).to_be_hidden()
    expect(row.locator("td")).to_have_text(
        [
            model_version.name,
            str(figures["n_compared"]),
            pct(figures["agreement"]),
            f"{figures['n_excluded_seen']} clips seen in training",
        ]
    )
    assert "include_gold=1" in page.url
    card = page.locator(f'#quality-models section[data-model="{model_version.pk}"]')
    bars = chart_in(page, f'#quality-models [data-chart="{model_version.pk}"]')
    assert bars["scales"] == {"x": "Top label equal to the consensus (%)", "y": "Class"}
    assert bars["labels"] == ["overall", *figures["per_class"]]  # overall, then one per class
    shown = dict(zip(bars["labels"], bars["datasets"][0]["data"], strict=True))
    for label, v in figures["per_class"].items():
        assert shown[label] == round(v["agreement"] * 1000) / 10
        expect(card.locator(f'tr[data-class="{label}"] td')).to_have_text(
            [label, str(v["n"]), pct(v["agreement"])]
        )
    page.screenshot(path=str(SHOTS / "inference-quality.png"), full_page=True)

    # A pre-label job of the model running: the row says so and the page reads the figures again.
    running = PrelabelJob.objects.create(project=project, model_version=model_version, status="running")
    n, m = figures["n_compared"], figures["n_eligible"]
    page.reload()  # the include_gold=1 of the address keeps the box ticked
    expect(page.locator("#include-gold")).to_be_checked()
    expect(row.locator("td").nth(1)).to_have_text(f"partial: {n} of {m}", timeout=15000)
    PrelabelJob.objects.filter(pk=running.pk).update(status="succeeded")
    expect(row.locator("td").nth(1)).to_have_text(str(n), timeout=15000)
    assert not page.js_errors, page.js_errors
