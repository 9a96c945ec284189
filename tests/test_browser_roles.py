"""Every role's working day as a new user meets it, in a real browser (issue 13).

One project built as the access tests build theirs (tests/tenancy.py: a recording, clips in both
pools, a release, a trained model, the active pre-labeller), a cast of one user per role, a member
with no role and one with two. For every one of them, in one test (the project is built once):

1. its home shows its own next step and counts, and no link it cannot follow: every link of the
   home page and of the top bar is visited, none answers 403 or 404;
2. the top bar is one row at 1366x768 (its height against one link's) and folds behind "Menu" at
   390 px, where the menus still open and lead somewhere;
3. no page asks any host but the platform's own (a request listener over every page);
4. screenshots of every page at 1366x768 and at 390 px go to var/test-artifacts/screenshots
   (git-ignored; BROWSER_SCREENSHOTS names another folder).

And a validator rejects an obviously bad clip by keyboard at once, without waiting for its end.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import transaction
from playwright.sync_api import expect

from annotation.guideline import ensure_guideline
from annotation.models import ValidationVote
from annotation.services import LABELLING, assignment_next
from core import roles
from corpus import services as corpus_services
from corpus.models import Clip, SpeakerCluster
from corpus.tests import media_files as mf
from inference.models import Prelabeller
from releases.importers import label_mappings_ensure
from tests.conftest import VIEWPORT, login
from tests.tenancy import FAST_HASHERS, MARKER_A, Tenant, _tenant, _user

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or REPO / "var" / "test-artifacts" / "screenshots")
PHONE = {"width": 390, "height": 844}
CAST = ("annotator", "validator", "curator", "ml_staff", "norole", "multi")
# Pages known to ask another host, each with the fix that removes it. The test fails if such a
# page stops doing so (the entry is then stale), so the list can only shrink.
# Pages allowed to ask another host, with the reason: none (Swagger UI comes from
# drf-spectacular-sidecar's static files).
KNOWN_EXTERNAL: dict[str, str] = {}


@dataclass
class World:
    a: Tenant
    users: dict


@pytest.fixture
def world(transactional_db, django_user_model, data_dir, tmp_path, settings):
    """Project A of tests/tenancy.py and its cast; the annotator holds a labelling clip (as after
    "next clip"); curators and ML staff are staff, as `manage.py member_add` makes them."""
    settings.PASSWORD_HASHERS = FAST_HASHERS
    ensure_guideline()
    label_mappings_ensure()
    owner = django_user_model.objects.create_user(username="owner", password="x")
    a = _tenant(
        slug="alpha", marker=MARKER_A, actors=range(1, 7), data_dir=data_dir, tmp_path=tmp_path, owner=owner
    )
    users = {"norole": _user(django_user_model, "norole", (), a.project)}
    for name in ("annotator", "validator", "curator", "ml_staff"):
        users[name] = _user(django_user_model, name, (name,), a.project)
    for name in ("curator", "ml_staff"):
        users[name].is_staff = True
        users[name].save(update_fields=["is_staff"])
    # A person with two roles gets both sections and both kinds of links.
    users["multi"] = _user(django_user_model, "multi", (roles.VALIDATOR, roles.ANNOTATOR), a.project)
    assignment_next(user=users["annotator"], project=a.project, kind=LABELLING)
    a.ids["touching"] = _touching_clips(a, data_dir, tmp_path, owner)
    return World(a=a, users=users)


def _touching_clips(tenant, data_dir, tmp_path, owner) -> int:
    """A recording cut into three clips that touch (no pause between them), two speakers."""
    samples, rate = mf.ravdess_speech(data_dir, n=3, offset=300)
    source = corpus_services.source_get_or_create(project=tenant.project, title="Dialogue", created_by=owner)
    with transaction.atomic():
        recording = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "dialogue.wav", samples, rate), segment=False
        ).recording
        whole = corpus_services.clip_create_whole(recording=recording)
    unit = [1.0] + [0.0] * 255
    lanes = [
        SpeakerCluster.objects.create(
            recording=recording, index=i, label=f"spk{i}", centroid=unit, clip_count=1
        )
        for i in (1, 2)
    ]
    third = whole.duration_s / 3
    Clip.objects.filter(pk=whole.pk).update(end_s=third, duration_s=third, speaker_cluster=lanes[0])
    for k in (1, 2):
        Clip.objects.create(
            recording=recording,
            start_s=k * third,
            end_s=(k + 1) * third,
            duration_s=third,
            audio=whole.audio.name,
            level_dbfs=whole.level_dbfs,
            speech_ratio=whole.speech_ratio,
            clipping_ratio=whole.clipping_ratio,
            snr_db=whole.snr_db,
            status=Clip.Status.AWAITING_VALIDATION,
            speaker_cluster=lanes[k % 2],
        )
    return recording.pk


def _shot(page, role: str, path: str, size: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
    page.screenshot(path=str(SHOTS / f"{role}--{slug}--{size}.png"), full_page=True)


def _context(browser, live_server, viewport, external: list):
    """A fresh tab whose every request to another host is noted in `external`."""
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(20_000)
    own = urlparse(live_server.url).netloc

    def note(request):
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != own:
            external.append((request.frame.url if request.frame else "?", request.url))

    context.on("request", note)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(f"{page.url}: {exc}"))
    return context, page


def _links(page, live_server) -> list[str]:
    """The platform's own links of the top bar and of the page's main part (path + query)."""
    hrefs = page.eval_on_selector_all("#main-nav a[href], main a[href]", "els => els.map(a => a.href)")
    own = urlparse(live_server.url).netloc
    paths = []
    for href in hrefs:
        url = urlparse(href)
        if url.netloc == own and not url.path.startswith("/media/"):
            path = url.path + (f"?{url.query}" if url.query else "")
            if path not in paths:
                paths.append(path)
    return paths


def _one_row(page) -> tuple[float, float]:
    bar = page.locator(".topbar-inner").bounding_box()["height"]
    item = page.locator(".nav > li").first.bounding_box()["height"]
    return bar, item


def _home_says(page, world, role: str) -> None:
    """What each role's home shows: its own sections and counts, no other role's."""
    sections = set(page.eval_on_selector_all("[data-section]", "els => els.map(e => e.dataset.section)"))
    text = page.inner_text("main")
    counts = {
        key: page.inner_text(f'[data-count="{key}"]').strip()
        for key in page.eval_on_selector_all("[data-count]", "els => els.map(e => e.dataset.count)")
    }
    a = world.a.project
    if role in ("validator", "multi"):
        waiting = (
            Clip.objects.filter(recording__source__project=a, status=Clip.Status.AWAITING_VALIDATION)
            .exclude(validation_votes__validator=world.users[role])
            .count()
        )
        assert waiting > 0 and counts["awaiting_validation"] == str(waiting)
    if role in ("annotator", "multi"):
        assert counts["labelling_queue"] == "3" and counts["labelled_today"] == "0"
    if role == "curator":
        assert counts["adjudication"] == "0" and counts["agreement"] == "–"
    if role == "ml_staff":
        assert counts["runs_active"] == "1"  # the queued run
        assert str(Prelabeller.objects.get(project=a).model_version) in counts["prelabeller"]
    expected = {
        "annotator": {"annotator"},
        "validator": {"validator"},
        "multi": {"validator", "annotator"},
        "curator": {"curator", "corpus"},
        "ml_staff": {"ml_staff", "corpus"},
        "norole": {"no-role"},
    }[role]
    assert sections == expected, (role, sections)
    if role in ("annotator", "validator", "multi", "norole"):
        assert "Upload" not in text and "upload" not in text, (role, text)
        assert page.locator("#main-nav").get_by_text("Upload").count() == 0


def _recording_page_says(page, world) -> None:
    """Regions of neighbouring clips alternate shades and have edges; a click on one plays it
    without scrolling the page; the speaker lanes show the recording's clusters."""
    recording = world.a.ids["touching"]
    n_clips = Clip.objects.filter(recording_id=recording).count()
    page.wait_for_selector("#waveform[data-ready=true]")
    regions = page.locator("#waveform [data-shade]")  # in wavesurfer's open shadow root
    expect(regions).to_have_count(n_clips)  # the plugin appends them on a timer
    shades = [regions.nth(i).get_attribute("data-shade") for i in range(n_clips)]
    assert shades == [str(i % 2) for i in range(n_clips)]
    assert regions.first.evaluate("e => getComputedStyle(e).borderLeftWidth") == "2px"
    lanes = page.locator("#speaker-lanes .lane")
    assert page.locator("#speaker-lanes").is_visible() and lanes.count() == 2
    assert page.locator("#speaker-lanes .lane-bar").count() == n_clips
    # Each lane bar sits under its clip's region (the same seconds, the same pixels).
    for i in range(n_clips):
        region = regions.nth(i).bounding_box()
        clip_id = regions.nth(i).get_attribute("data-clip")
        bar = page.locator(f'#speaker-lanes .lane-bar[data-clip="{clip_id}"]').bounding_box()
        assert abs(bar["x"] - region["x"]) <= 3 and abs(bar["width"] - region["width"]) <= 4, (region, bar)
    page.evaluate("window.scrollTo(0, 0)")
    regions.first.click()
    page.wait_for_selector("#clips tr.is-playing")
    assert page.evaluate("window.scrollY") == 0, "a click on a region scrolled the waveform away"


def _extra_pages(world, role: str) -> list[str]:
    """Pages reached from a list rather than from the home or the bar: a detail of each kind."""
    ids = world.a.ids
    extra = []
    if role in ("curator", "ml_staff"):
        extra.append(f"/recordings/{ids['touching']}/")
    if role == "ml_staff":
        extra += [f"/training/runs/{ids['trained_run']}/", f"/training/compare/?runs={ids['trained_run']}"]
    return extra


def test_every_role_home_nav_pages_and_hosts(browser, live_server, world):
    external: list[tuple[str, str]] = []
    errors: list[str] = []
    for role in CAST:
        # --- 1366 x 768: home, the bar in one row, every link followed ---------------------------
        context, page = _context(browser, live_server, VIEWPORT, external)
        login(page, live_server, role)
        page.goto(f"{live_server.url}/")
        _home_says(page, world, role)
        bar, item = _one_row(page)
        assert bar < 2 * item, f"{role}: the top bar is {bar:.0f} px high, one link {item:.0f} px"
        if role == "curator":
            # The menus open from the keyboard, and Esc closes them.
            summary = page.locator('details[data-menu="curate"] > summary')
            summary.focus()
            page.keyboard.press("Enter")
            assert page.locator('details[data-menu="curate"]').get_attribute("open") is not None
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Agreement"
            page.keyboard.press("Escape")
            assert page.locator('details[data-menu="curate"]').get_attribute("open") is None
        _shot(page, role, "/", "1366")
        pages = [*_links(page, live_server), *_extra_pages(world, role)]
        for path in pages:
            response = page.goto(f"{live_server.url}{path}")
            assert response.status not in (403, 404) and response.status < 400, (
                f"{role} is shown {path} on the home page or in the bar, which answers {response.status}"
            )
            if page.locator("header.topbar").count():  # the platform's pages (not the admin, the API docs)
                bar, item = _one_row(page)
                assert bar < 2 * item, f"{role} on {path}: the top bar wraps ({bar:.0f} px)"
            if role == "annotator" and path == "/annotate/":
                # A shortcut that cannot act says why: "[" at the slowest speed.
                page.wait_for_selector('#annotate-page[data-mode="clip"]')
                page.keyboard.press("[")  # 1x -> 0.75x
                page.keyboard.press("[")
                assert "Already at the slowest speed" in page.inner_text("#message")
            if role == "curator" and path == f"/recordings/{world.a.ids['touching']}/":
                _recording_page_says(page, world)
            _shot(page, role, path, "1366")
        errors += page.js_errors
        context.close()

        # --- 390 px: the bar folds behind "Menu"; every page still draws --------------------------
        context, page = _context(browser, live_server, PHONE, external)
        login(page, live_server, role)
        page.goto(f"{live_server.url}/")
        assert page.locator("#main-nav").is_hidden()
        burger = page.locator(".nav-burger")
        assert burger.is_visible()
        bar = page.locator(".topbar-inner").bounding_box()["height"]
        assert bar < 2.5 * burger.bounding_box()["height"], f"{role}: the folded bar is {bar:.0f} px high"
        burger.click()
        assert page.locator("#main-nav").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        menus = page.locator("details.nav-menu > summary")
        if menus.count():
            menus.first.click()
            link = page.locator("details.nav-menu[open] a").first
        else:
            link = page.locator("#main-nav a").last
        assert link.is_visible()
        target = link.get_attribute("href")
        with page.expect_navigation():
            link.click()
        assert urlparse(page.url).path == urlparse(target).path
        wide = {}
        for path in ["/", *pages]:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            # Wide tables scroll inside their own box: the page itself never scrolls sideways.
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide[path] = width
            _shot(page, role, path, "390")
        assert not wide, f"{role}: pages wider than {PHONE['width']} px: {wide}"
        errors += page.js_errors
        context.close()

    errors = [e for e in errors if urlparse(e.split(": ", 1)[0]).path not in KNOWN_EXTERNAL]
    on_pages = {}
    for frame_url, url in external:
        on_pages.setdefault(urlparse(frame_url).path, set()).add(urlparse(url).netloc)
    unexpected = {path: hosts for path, hosts in on_pages.items() if path not in KNOWN_EXTERNAL}
    assert not unexpected, f"pages that ask other hosts: {unexpected}"
    stale = set(KNOWN_EXTERNAL) - set(on_pages)
    assert not stale, f"these pages no longer ask other hosts: drop them from KNOWN_EXTERNAL: {stale}"
    assert not errors, errors


def test_validator_rejects_a_bad_clip_at_once_by_keyboard(
    browser, live_server, transactional_db, django_user_model, project, data_dir, tmp_path, settings
):
    """R, a reason, Enter: stored while the clip is far from its end; A meanwhile says why not."""
    settings.PASSWORD_HASHERS = FAST_HASHERS
    ensure_guideline()
    validator = _user(django_user_model, "validator", (roles.VALIDATOR,), project)
    samples, rate = mf.ravdess_speech(data_dir, n=3)  # three utterances: several seconds
    source = corpus_services.source_get_or_create(project=project, title="Nouba")
    with transaction.atomic():
        recording = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "nouba.wav", samples, rate), segment=False
        ).recording
        clip = corpus_services.clip_create_whole(recording=recording)
    assert clip.duration_s > 5
    context, page = _context(browser, live_server, VIEWPORT, [])
    login(page, live_server, "validator")
    page.goto(f"{live_server.url}/validate/")
    page.wait_for_selector(f'#validate-page[data-mode="clip"][data-clip="{clip.pk}"]')
    assert page.locator("#accept").is_disabled()
    page.keyboard.press("5")  # reasons closed: a hint, which R (a key that acts) clears
    assert "press R to open them first" in page.inner_text("#message")
    page.keyboard.press("r")
    assert not page.locator("#message").is_visible()
    page.keyboard.press("a")  # A while the reject panel is open: a message, not silence
    assert "Close the reject panel first (Esc)" in page.inner_text("#message")
    page.keyboard.press("1")
    assert page.locator("#reject-confirm").is_enabled()  # no waiting for the end
    page.keyboard.press("Enter")
    page.wait_for_selector('#validate-page[data-mode="empty"]')
    vote = ValidationVote.objects.get(validator=validator, clip=clip)
    assert not vote.accept and vote.time_spent_ms < clip.duration_s * 1000
    assert Clip.objects.get(pk=clip.pk).status == Clip.Status.REJECTED
    # With no clip in hand, a shortcut says what to do instead of nothing.
    page.keyboard.press("a")
    assert "No clip to validate right now: press Enter" in page.inner_text("#message")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('still no clip to validate')")
    assert not page.js_errors, page.js_errors
    context.close()
