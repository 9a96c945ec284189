"""Long lists in a real browser: the Recordings page pages 1,500 recordings on the server, and its
search finds the one episode somebody uploaded among them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from corpus import services
from corpus.models import Recording
from corpus.tests.test_recording_list import bulk_recordings
from tests.conftest import login
from tests.test_browser_corpus import RAVDESS, screenshot, speech_wav

pytestmark = pytest.mark.browser


def test_recordings_page_pages_1500_recordings_and_search_finds_the_uploaded_episode(
    page, live_server, curator, project, outsider, data_dir, tmp_path
):
    # The uploaded episode first, so that it is the oldest: the last of 30 pages.
    source = services.source_get_or_create(
        project=project, title="Nsibti Laaziza", episode="S03E07", created_by=curator
    )
    wav = speech_wav(data_dir, tmp_path / "nsibti-laaziza-s03e07.wav", RAVDESS[:1])
    uploaded = services.recording_ingest(
        source=source, path=wav, uploaded_by=curator, segment=False
    ).recording
    bulk_recordings(project, 1499, title="Choufli Hal", episode="S01E01")
    bulk_recordings(_other_project(), 30, title="Elsewhere")  # another project: never counted
    assert Recording.objects.count() == 1530

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/recordings/")
    assert page.inner_text("#pager-status") == "1–50 of 1,500 recordings"
    assert page.locator("#recordings tbody tr[data-recording]").count() == 50
    page.click(".pager a[rel=next]")
    assert page.inner_text("#pager-status") == "51–100 of 1,500 recordings"
    assert page.locator(f"tr[data-recording='{uploaded.pk}']").count() == 0
    page.click(".pager a[rel=prev]")
    assert page.inner_text("#pager-status").startswith("1–50 of")

    page.fill("#search", "S03E07")
    page.click("#recording-search button[type=submit]")
    assert page.inner_text("#pager-status") == "1–1 of 1 recording"
    row = page.locator("#recordings tbody tr[data-recording]")
    assert row.count() == 1 and row.get_attribute("data-recording") == str(uploaded.pk)
    assert "Nsibti Laaziza" in row.inner_text()
    assert page.input_value("#search") == "S03E07"  # the box keeps what was searched
    screenshot(page, "recording-list-search")
    row.locator("a").first.click()
    assert page.url.endswith(uploaded.get_absolute_url())
    assert not page.js_errors, page.js_errors


def _other_project():
    from core.models import Project

    return Project.objects.get(slug="other")


def test_rejected_and_release_pages_page_on_the_server_and_search(page, live_server, curator, project):
    from annotation.models import RejectionReason, ValidationVote
    from annotation.tests.test_rejected_list import rejected_clips
    from releases.tests.test_release_list import releases_in

    recording = bulk_recordings(project, 1, title="Nouba", episode="S02E07")[0]
    clips = rejected_clips(recording, 60)
    music, _ = RejectionReason.objects.get_or_create(code="music", defaults={"text": "Music"})
    vote = ValidationVote.objects.create(clip=clips[0], validator=curator, accept=False)
    vote.reasons.add(music)
    releases_in(project, "ser4", 25)
    releases_in(project, "ser7", 1)

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/rejected/")
    status = page.locator("#rejected-pager [data-pager-status]")
    expect(status).to_have_text("1–50 of 60 rejected clips")
    expect(page.locator("#rejected tbody tr[data-clip]")).to_have_count(50)
    page.click("#rejected-pager button[rel=next]")
    expect(status).to_have_text("51–60 of 60 rejected clips")
    page.select_option("#rejected-reason", "music")
    page.click("#rejected-search button[type=submit]")
    expect(status).to_have_text("1–1 of 1 rejected clip")
    expect(page.locator(f"#rejected tbody tr[data-clip='{clips[0].pk}']")).to_have_count(1)
    # One page: no links, and nothing stringified in their place.
    assert "null" not in page.inner_text("#rejected-pager")
    # The search is in the address: a bookmark (or a reload) finds the same clips.
    assert "reason=music" in page.url
    page.goto(f"{live_server.url}/curation/rejected/?q=Nouba&reason=music")
    expect(status).to_have_text("1–1 of 1 rejected clip")
    assert page.input_value("#rejected-search-text") == "Nouba"
    assert page.input_value("#rejected-reason") == "music"
    # Accepting the clip refreshes the count, not only the rows.
    page.click(f"#rejected tbody tr[data-clip='{clips[0].pk}'] [data-accept]")
    expect(status).to_have_text("0 rejected clips")

    page.goto(f"{live_server.url}/curation/releases/")
    status = page.locator("#release-pager [data-pager-status]")
    expect(status).to_have_text("1–20 of 26 releases")
    expect(page.locator("#release-list .release")).to_have_count(20)
    page.click("#release-pager button[rel=next]")
    expect(status).to_have_text("21–26 of 26 releases")
    page.fill("#release-search-text", "ser7")
    page.click("#release-search button[type=submit]")
    expect(status).to_have_text("1–1 of 1 release")
    expect(page.locator('.release[data-name="ser7"]')).to_have_count(1)
    assert "null" not in page.inner_text("#release-pager")
    assert "search=ser7" in page.url
    page.goto(f"{live_server.url}/curation/releases/?search=ser7")
    expect(status).to_have_text("1–1 of 1 release")
    assert page.input_value("#release-search-text") == "ser7"
    assert not page.js_errors, page.js_errors
