"""Validation, labelling and curation pages in a real browser, driven by the keyboard.

The clips are real: RAVDESS utterances ingested and segmented (eagerly) by the corpus, so every
clip plays for its true length and the server's "listen to the whole clip" rule applies as is.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from annotation import services
from annotation.guideline import ensure_guideline
from annotation.models import Annotation, Assignment, PoolEntry, RejectionReason, ValidationVote
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf
from releases.importers import label_mappings_ensure
from tests.conftest import CHROMIUM_ARGS, _new_page, chart_in, chromium_path, login

pytestmark = pytest.mark.browser

# A clip lasts up to ~4 s here; the page must unlock Accept once it has played to its end.
PLAYED_MS = 15_000


@pytest.fixture(scope="module")
def browser(browser):
    """Chromium that may start audio without a user gesture, as a validator's browser set up for
    the job would; the `page` fixtures of this module open their tabs in it. The autoplay policy
    is a launch flag, so this is a second Chromium from the suite's Playwright (one per thread)."""
    autoplaying = browser.browser_type.launch(
        executable_path=chromium_path(),
        headless=True,
        args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
    )
    yield autoplaying
    autoplaying.close()


@pytest.fixture(autouse=True)
def _guideline(transactional_db):
    # Transactional tests (live_server) flush the rows the data migration seeded.
    ensure_guideline()
    label_mappings_ensure()


@pytest.fixture
def make_user(django_user_model, project):
    def make(name: str, *roles: str):
        user = django_user_model.objects.create_user(username=name, password="pw-" + name)
        user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
        project.members.add(user)
        return user

    return make


def ingest_clips(project, data_dir: Path, tmp_path: Path, n: int) -> list[Clip]:
    """`n` real utterances ingested and segmented: clips awaiting validation, in the pool."""
    samples, rate = mf.ravdess_speech(data_dir, n=n)
    source = corpus_services.source_get_or_create(project=project, title="Nouba", episode="S01E01")
    wav = mf.write_wav(tmp_path / "nouba.wav", samples, rate)
    rec = corpus_services.recording_ingest(source=source, path=wav).recording
    clips = list(rec.clips.order_by("start_s"))
    assert len(clips) >= 2, "segmentation gave too few clips to test with"
    return clips


def accept(clips) -> None:
    """Test setup only: decide clips as accepted without waiting out their listening time."""
    for clip in clips:
        with transaction.atomic():
            services._decide(clip, accepted=True)


def label_through_services(user, project, emotion: str, gender: str) -> int:
    n = 0
    while handout := services.assignment_next(user=user, project=project, kind=services.LABELLING):
        services.annotation_submit(
            user=user, clip_id=handout.assignment.clip_id, emotion=emotion, gender=gender, time_spent_ms=4000
        )
        n += 1
    return n


def gold_clip(project, data_dir: Path, tmp_path: Path) -> Clip:
    """One clip labelled by an imported corpus (gold), as `import_corpus` makes it."""
    from annotation import consensus
    from annotation.models import LabelOption

    samples, rate = mf.ravdess_speech(data_dir, n=1, offset=40)
    source = corpus_services.source_get_or_create(project=project, title="RAVDESS")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "gold.wav", samples, rate), segment=False
        ).recording
        clip = corpus_services.clip_create_whole(recording=rec, status=Clip.Status.LABELLED)
        angry = LabelOption.objects.get(kind=LabelOption.Kind.EMOTION, code="angry")
        consensus.consensus_set_gold(clip_id=clip.pk, emotion=angry, gender=None)
    return clip


def screenshot(page, name: str) -> None:
    """Screenshots for a human to look at, only when BROWSER_SCREENSHOTS names a folder."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def current_clip(page, root: str) -> int | None:
    """Wait for the page to settle on a clip (its id) or on "no clips left" (None)."""
    page.wait_for_selector(f'{root}[data-mode="clip"], {root}[data-mode="empty"]')
    if page.get_attribute(root, "data-mode") == "empty":
        return None
    return int(page.get_attribute(root, "data-clip"))


def wait_for_next(page, root: str, previous: int) -> int | None:
    page.wait_for_function(
        """([sel, prev]) => {
             const r = document.querySelector(sel);
             return r.dataset.mode === "empty"
               || (r.dataset.mode === "clip" && r.dataset.clip !== String(prev));
           }""",
        arg=[root, previous],
    )
    return current_clip(page, root)


# --- validation ----------------------------------------------------------------------------


def test_validator_accepts_and_rejects_by_keyboard(page, live_server, make_user, project, data_dir, tmp_path):
    clips = ingest_clips(project, data_dir, tmp_path, n=3)
    validator = make_user("val", "validator")
    first_reason = RejectionReason.objects.filter(active=True).order_by("order", "code").first()

    login(page, live_server, "val")
    page.goto(f"{live_server.url}/validate/")
    root = "#validate-page"
    first = current_clip(page, root)
    assert first == clips[0].pk
    assert page.inner_text("#set-label") == "1 / 10 in this set"
    # Accept stays locked while the clip plays; it unlocks on `ended`, then A accepts.
    assert page.locator("#accept").is_disabled()
    page.wait_for_selector("#accept:enabled", timeout=PLAYED_MS)
    assert page.get_attribute(root, "data-heard") == "true"
    screenshot(page, "validate-heard")
    page.keyboard.press("Space")  # replay from the start
    page.wait_for_function("() => !document.getElementById('audio').paused")
    page.keyboard.press("a")

    second = wait_for_next(page, root, first)
    assert second == clips[1].pk
    assert page.inner_text("#set-label") == "2 / 10 in this set"
    assert page.inner_text('[data-count="validated_today"]') == "1"
    # Too soon: the page refuses, says why, and nothing is stored.
    page.keyboard.press("a")
    assert "Listen to the whole clip" in page.inner_text("#message")
    assert ValidationVote.objects.filter(clip=clips[1]).count() == 0
    # R opens the reasons, 1 ticks the first one (listed with its number), Enter confirms once heard.
    page.keyboard.press("r")
    page.keyboard.press("1")
    assert page.locator(f'#reasons input[data-reason="{first_reason.code}"]').is_checked()
    assert page.locator("#reasons kbd").first.inner_text() == "1"
    screenshot(page, "validate-reject")
    page.wait_for_selector("#reject-confirm:enabled", timeout=PLAYED_MS)
    page.keyboard.press("Enter")

    third = wait_for_next(page, root, second)
    assert third == clips[2].pk
    # S skips: the clip goes back to the pool for others.
    page.keyboard.press("s")
    assert wait_for_next(page, root, third) is None
    assert "No clips left" in page.inner_text("#empty-detail")
    assert page.inner_text('[data-count="validated_total"]') == "2"

    votes = {
        v.clip_id: v for v in ValidationVote.objects.filter(validator=validator).prefetch_related("reasons")
    }
    assert set(votes) == {clips[0].pk, clips[1].pk}
    assert votes[clips[0].pk].accept and not votes[clips[0].pk].reasons.exists()
    assert not votes[clips[1].pk].accept
    assert [r.code for r in votes[clips[1].pk].reasons.all()] == [first_reason.code]
    # time_spent_ms is measured in the page: at least the clip's length.
    assert votes[clips[0].pk].time_spent_ms >= clips[0].duration_s * 1000 - 300
    statuses = dict(Clip.objects.filter(pk__in=[c.pk for c in clips]).values_list("pk", "status"))
    assert statuses == {clips[0].pk: "accepted", clips[1].pk: "rejected", clips[2].pk: "awaiting_validation"}
    assert PoolEntry.objects.filter(clip=clips[0], kind="labelling", open=True).exists()
    assert Assignment.objects.get(user=validator, clip=clips[2]).state == Assignment.State.SKIPPED
    assert not page.js_errors, page.js_errors


def test_validator_works_in_sets_of_ten(page, live_server, make_user, project, data_dir, tmp_path):
    clips = ingest_clips(project, data_dir, tmp_path, n=13)
    assert len(clips) >= 11
    validator = make_user("val", "validator")
    login(page, live_server, "val")
    page.goto(f"{live_server.url}/validate/")
    clip_id = current_clip(page, "#validate-page")
    for i in range(10):
        assert page.inner_text("#set-label") == f"{i + 1} / 10 in this set"
        page.keyboard.press("s")  # skipping needs no listening: quick to the end of the set
        if i < 9:
            clip_id = wait_for_next(page, "#validate-page", clip_id)
    page.wait_for_selector('#validate-page[data-mode="setdone"]')
    assert "Set done" in page.inner_text("#set-done")
    screenshot(page, "validate-set-done")
    page.keyboard.press("Enter")
    assert current_clip(page, "#validate-page") == clips[10].pk
    assert page.inner_text("#set-label") == "1 / 10 in this set"
    assert Assignment.objects.filter(user=validator, state=Assignment.State.SKIPPED).count() == 10
    assert not page.js_errors, page.js_errors


# Stands in for a browser that refuses autoplay (Safari, most phones): Chromium's own policy
# cannot be pinned in a test, since Playwright's navigations and evaluations count as gestures.
# Until a real (trusted) key press or tap, play() is refused the way browsers refuse it.
REFUSE_AUTOPLAY = """
(() => {
  let gesture = false;
  for (const type of ["keydown", "pointerdown"]) {
    addEventListener(type, (e) => { if (e.isTrusted) gesture = true; }, true);
  }
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    if (gesture) return play.call(this);
    return Promise.reject(new DOMException("play() needs a user gesture", "NotAllowedError"));
  };
})();
"""


def test_validator_page_offers_a_play_button_when_autoplay_is_refused(
    page, live_server, make_user, project, data_dir, tmp_path
):
    clips = ingest_clips(project, data_dir, tmp_path, n=2)
    make_user("val", "validator")
    login(page, live_server, "val")
    page.context.add_init_script(REFUSE_AUTOPLAY)

    page.goto(f"{live_server.url}/validate/")
    assert current_clip(page, "#validate-page") == clips[0].pk
    page.wait_for_selector("#validate-page.autoplay-blocked")
    assert page.locator("#play").is_visible() and "press ▶ or Space" in page.inner_text("#listen-hint")
    assert page.locator("#accept").is_disabled()
    screenshot(page, "validate-autoplay-blocked")
    page.keyboard.press("Space")  # a key press is a user gesture: the clip starts
    page.wait_for_selector("#accept:enabled", timeout=PLAYED_MS)
    assert not page.locator("#validate-page.autoplay-blocked").count()
    page.keyboard.press("a")
    assert wait_for_next(page, "#validate-page", clips[0].pk) == clips[1].pk
    assert ValidationVote.objects.get(clip=clips[0]).accept
    assert not page.js_errors, page.js_errors


# --- labelling -----------------------------------------------------------------------------

CHOICES = {"ann1": ("1", "m"), "ann2": ("3", "f"), "ann3": ("4", "m")}  # key of the emotion, gender key


def test_three_annotators_label_every_accepted_clip_by_keyboard(
    browser, live_server, make_user, project, data_dir, tmp_path
):
    clips = ingest_clips(project, data_dir, tmp_path, n=3)
    accepted, waiting = clips[:2], clips[2:]
    accept(accepted)
    # Three annotators, three different emotions: with dynamic overlap each clip would wait for a
    # fourth; this test is about K labels by keyboard.
    config = services.config_for(project)
    config.escalation = "off"
    config.save()
    users = {name: make_user(name, "annotator") for name in CHOICES}
    by_key = {opt["shortcut"]: opt["code"] for opt in _label_options()}
    root = "#annotate-page"

    for name, (emotion_key, gender_key) in CHOICES.items():
        context, page = _new_page(browser, {"width": 1366, "height": 768})
        try:
            login(page, live_server, name)
            page.goto(f"{live_server.url}/annotate/")
            clip_id = current_clip(page, root)
            done = 0
            while clip_id is not None:
                page.wait_for_selector('#waveform[data-ready="true"]')
                if name == "ann1" and done == 0:
                    _exercise_annotator_controls(page)
                page.keyboard.press(emotion_key)
                page.keyboard.press(gender_key)
                assert page.get_attribute(root, "data-emotion") == by_key[emotion_key]
                page.keyboard.press("Enter")
                done += 1
                clip_id = wait_for_next(page, root, clip_id)
            assert done == len(accepted)
            assert "No clips left" in page.inner_text("#empty-detail")
            assert page.inner_text('[data-count="labelled_total"]') == str(len(accepted))
            assert not page.js_errors, page.js_errors
        finally:
            context.close()

    for clip in accepted:
        clip.refresh_from_db()
        labels = list(Annotation.objects.filter(clip=clip).select_related("annotator", "emotion", "gender"))
        assert len(labels) == 3 and len({a.annotator_id for a in labels}) == 3
        for a in labels:
            emotion_key, gender_key = CHOICES[a.annotator.username]
            assert a.emotion.code == by_key[emotion_key]
            assert a.gender.code == {"m": "male", "f": "female"}[gender_key]
            assert a.time_spent_ms > 0
        assert clip.status == Clip.Status.LABELLED
    for clip in waiting:
        assert not Annotation.objects.filter(clip=clip).exists()
    assert Annotation.objects.get(annotator=users["ann1"], clip=accepted[0]).comment == "1 voice, m"


def _label_options():
    from annotation.models import LabelOption

    return LabelOption.objects.filter(kind="emotion", active=True).values("code", "shortcut")


def _exercise_annotator_controls(page):
    """Speed keys, the guideline panel, a comment typed without triggering shortcuts, a refused
    submit, all on the first clip of the first annotator."""
    page.keyboard.press("]")
    assert page.get_attribute('[data-speed="1.25"]', "aria-current") == "true"
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert page.get_attribute('[data-speed="0.75"]', "aria-current") == "true"
    page.keyboard.press("]")
    page.keyboard.press("?")
    assert page.locator("#guide").is_visible()
    assert "Label the emotion you HEAR" in page.inner_text("#guide-text")
    screenshot(page, "annotate-guide")
    page.keyboard.press("?")
    assert not page.locator("#guide").is_visible()
    # Keys typed in the comment are text, not shortcuts; Esc leaves the field (no skip).
    page.focus("#comment")
    page.keyboard.type("1 voice, m")
    page.keyboard.press("Escape")
    assert page.get_attribute("#annotate-page", "data-emotion") is None
    assert page.get_attribute("#annotate-page", "data-mode") == "clip"
    page.keyboard.press("1")
    page.keyboard.press("Enter")  # no gender yet: refused, with the reason
    assert "gender is missing" in page.inner_text("#message")
    # X opens the flag panel (reasons by number); Esc closes it without sending anything.
    page.keyboard.press("x")
    assert page.locator("#flag-panel").is_visible()
    page.keyboard.press("9")  # seven reasons: a hint, which the next key that acts clears
    assert "There is no reason 9" in page.inner_text("#message")
    page.keyboard.press("Escape")
    assert not page.locator("#flag-panel").is_visible()
    assert not page.locator("#message").is_visible()
    page.keyboard.press("m")
    screenshot(page, "annotate")


def test_annotator_flags_a_clip_back_to_validation(page, live_server, make_user, project, data_dir, tmp_path):
    clips = ingest_clips(project, data_dir, tmp_path, n=2)
    accept(clips[:1])
    make_user("ann", "annotator")
    noise = RejectionReason.objects.get(code="noise")
    number = list(RejectionReason.objects.filter(active=True).order_by("order", "code")).index(noise) + 1

    login(page, live_server, "ann")
    page.goto(f"{live_server.url}/annotate/")
    clip_id = current_clip(page, "#annotate-page")
    page.keyboard.press("x")
    page.keyboard.press(str(number))
    assert wait_for_next(page, "#annotate-page", clip_id) is None
    assert "Sent back to validation" in page.inner_text("#message")
    # No clip in hand: every shortcut says why; Enter checks again and says so.
    for key in ("1", "m", "Space"):
        page.keyboard.press(key)
        assert "No clip to label right now" in page.inner_text("#message"), key
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('still no clip to label')")
    clip = Clip.objects.get(pk=clip_id)
    assert clip.status == Clip.Status.AWAITING_VALIDATION
    assert clip.flags.get().reason == noise
    assert not page.js_errors, page.js_errors


def test_annotator_page_fits_a_phone(phone_page, live_server, make_user, project, data_dir, tmp_path):
    clips = ingest_clips(project, data_dir, tmp_path, n=2)
    accept(clips[:1])
    make_user("ann", "annotator")

    login(phone_page, live_server, "ann")
    phone_page.context.add_init_script(REFUSE_AUTOPLAY)  # as phones do
    phone_page.goto(f"{live_server.url}/annotate/")
    assert current_clip(phone_page, "#annotate-page") == clips[0].pk
    phone_page.wait_for_selector('#waveform[data-ready="true"]')
    # Autoplay refused: a big play button over the waveform; a tap starts the clip.
    phone_page.locator("#big-play").wait_for()
    screenshot(phone_page, "annotate-phone-autoplay-blocked")
    phone_page.locator("#big-play").click()
    phone_page.wait_for_selector('#play[aria-pressed="true"]')
    assert not phone_page.locator("#big-play").is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the annotator page scrolls sideways at phone width ({width} px)"
    buttons = phone_page.locator(".choice-emotion")
    assert buttons.count() == 7
    for i in range(7):
        button = buttons.nth(i)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert (
            button.is_visible() and box["height"] >= 40 and box["x"] >= 0 and box["x"] + box["width"] <= 390
        )
    phone_page.evaluate("window.scrollTo(0, 0)")
    screenshot(phone_page, "annotate-phone")
    # Tapping works as well as the keys.
    buttons.nth(2).click()
    phone_page.locator('.choice-gender[data-code="female"]').click()
    phone_page.locator("#submit").click()
    assert wait_for_next(phone_page, "#annotate-page", clips[0].pk) is None
    label = Annotation.objects.get(clip=clips[0])
    assert (label.emotion.code, label.gender.code) == ("angry", "female")
    phone_page.goto(f"{live_server.url}/annotate/")
    assert current_clip(phone_page, "#annotate-page") is None
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "annotate-phone-empty")
    assert not phone_page.js_errors, phone_page.js_errors


# --- curation ------------------------------------------------------------------------------


def test_progress_page_is_for_curators(page, live_server, curator, make_user, project, data_dir, tmp_path):
    clips = ingest_clips(project, data_dir, tmp_path, n=2)
    accept(clips)
    for name, emotion in (("ann1", "happy"), ("ann2", "sad")):
        assert label_through_services(make_user(name, "annotator"), project, emotion, "male") == len(clips)
    gold_clip(project, data_dir, tmp_path)

    login(page, live_server, "ann1")
    response = page.goto(f"{live_server.url}/curation/progress/")
    assert response.status == 403
    assert "curators" in page.inner_text("main")
    page.context.clear_cookies()

    login(page, live_server, "curator")
    assert page.goto(f"{live_server.url}/curation/progress/").status == 200
    page.wait_for_selector('#progress-page[data-loaded="true"]')
    rows = page.locator("#annotators tbody tr[data-user]")
    assert {r.get_attribute("data-user") for r in rows.all()} == {"ann1", "ann2"}
    assert page.locator('#annotators tr[data-user="ann1"] td.num').first.inner_text() == str(len(clips))
    done = chart_in(page, "#chart")
    assert done["scales"] == {"x": "Clips labelled (count)", "y": "Annotator"}
    assert sorted(done["labels"]) == ["ann1", "ann2"] and done["datasets"][0]["data"] == [len(clips)] * 2
    assert page.inner_text('[data-pool="accepted"]') == str(len(clips))  # two labels of K=3 each
    assert page.inner_text('[data-pool="labelled_last_24h"]') == str(2 * len(clips))
    # The imported gold clip is not "labelled" by anyone here: it has its own figure.
    assert page.inner_text('[data-pool="labelled_by_annotators"]') == "0"
    assert page.inner_text('[data-pool="gold_imported"]') == "1"
    assert "No votes yet." in page.inner_text("#validators")
    screenshot(page, "progress")
    assert not page.js_errors, page.js_errors


def test_curator_accepts_a_rejected_clip_anyway(
    page, live_server, curator, make_user, project, data_dir, tmp_path
):
    clips = ingest_clips(project, data_dir, tmp_path, n=2)
    validator = make_user("val", "validator")
    for _ in clips:
        handout = services.assignment_next(user=validator, project=project, kind=services.VALIDATION)
        # Test setup only: pretend the clip was heard to its end.
        Assignment.objects.filter(pk=handout.assignment.pk).update(
            served_at=timezone.now() - timedelta(seconds=30)
        )
        services.validation_vote(
            user=validator, clip_id=handout.assignment.clip_id, accept=False, reasons=["noise", "music"]
        )

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/rejected/")
    page.wait_for_selector('#rejected-page[data-loaded="true"]')
    assert page.locator("#rejected tbody tr[data-clip]").count() == 2
    row = page.locator(f'#rejected tr[data-clip="{clips[0].pk}"]')
    assert "Noise" in row.inner_text() and "Music" in row.inner_text()
    row.locator("[data-play]").click()
    assert "is-playing" in row.get_attribute("class")
    screenshot(page, "rejected")
    row.locator("input.note").fill("Clean enough")
    row.locator("[data-accept]").click()
    row.wait_for(state="detached")
    assert page.locator("#rejected tbody tr[data-clip]").count() == 1
    clips[0].refresh_from_db()
    assert clips[0].status == Clip.Status.ACCEPTED
    decision = clips[0].decisions.first()
    assert decision.accepted and decision.by_curator == curator and decision.note == "Clean enough"
    assert not page.js_errors, page.js_errors
