"""Curator pages in a real browser: agreement dashboard, adjudication by keyboard, releases.

The data is built through the real services: planned votes from three annotators on clips over
one real RAVDESS utterance (fast), or a small RAVDESS subset imported as gold clips.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from playwright.sync_api import expect

from annotation import services
from annotation.guideline import ensure_guideline
from annotation.models import ClipConsensus
from annotation.selectors import agreement_figures
from annotation.tests.factories import clone_clips
from corpus import services as corpus_services
from corpus.models import Source
from corpus.tests import media_files as mf
from releases.importers import label_mappings_ensure
from releases.models import Release, ReleaseExport
from tests.conftest import chart_in, login

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp")

# Clip -> the emotion each of the three annotators gives. "chiraz" drifts from the others: her
# agreement with the consensus is under 0.5, which the dashboard must flag.
PLAN = [
    ("happy", "happy", "happy"),
    ("sad", "sad", "angry"),
    ("happy", "sad", "angry"),  # no majority: adjudication
    ("neutral", "neutral", "neutral"),
    ("angry", "angry", "neutral"),
    ("sad", "sad", "neutral"),
    ("happy", "happy", "sad"),
    ("angry", "angry", "angry"),
    ("neutral", "neutral", "happy"),
    ("sad", "sad", "sad"),
    ("happy", "happy", "fear"),
    ("neutral", "sad", "neutral"),
]
ANNOTATORS = ("amel", "bilel", "chiraz")


@pytest.fixture(autouse=True)
def _guideline(transactional_db):
    # Transactional tests (live_server) flush the rows the data migration seeded.
    ensure_guideline()
    label_mappings_ensure()


def label_clips(project, django_user_model, data_dir: Path, tmp_path: Path, plan) -> list[int]:
    """Clips over one real utterance, each labelled by three annotators as `plan` says; the
    speaker is male on even clips and female on odd ones. Returns the clip ids in plan order."""
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="Nouba", episode="S01E01")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "a.wav", samples, rate)
        ).recording
    clip_ids = sorted(clone_clips(rec, len(plan)))
    # Three annotators only, and the plan's ties are for a curator: no dynamic overlap here.
    config = services.config_for(project)
    config.escalation = "off"
    config.save()
    group = Group.objects.get_or_create(name="annotator")[0]
    for i, name in enumerate(ANNOTATORS):
        user = django_user_model.objects.create_user(username=name, password="pw-" + name)
        user.groups.add(group)
        project.members.add(user)
        for _ in plan:
            clip_id = services.assignment_next(
                user=user, project=project, kind=services.LABELLING
            ).assignment.clip_id
            k = clip_ids.index(clip_id)
            services.annotation_submit(
                user=user, clip_id=clip_id, emotion=plan[k][i], gender="male" if k % 2 == 0 else "female"
            )
    return clip_ids


def test_dashboard_with_one_label_says_so_instead_of_charting(
    live_server, page, project, curator, django_user_model, data_dir, tmp_path
):
    """One label on one clip: no kappa, no consensus to compare with, no Dawid-Skene estimate."""
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="Nouba", episode="S01E01")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "a.wav", samples, rate)
        ).recording
    clone_clips(rec, 2)
    anno = django_user_model.objects.create_user(username="anno", password="pw-anno")
    anno.groups.add(Group.objects.get_or_create(name="annotator")[0])
    project.members.add(anno)
    clip_id = services.assignment_next(user=anno, project=project, kind=services.LABELLING).assignment.clip_id
    services.annotation_submit(user=anno, clip_id=clip_id, emotion="happy", gender="male")

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/dashboard/")
    kappa = page.locator("#chart-kappa-per-category .chart-empty")
    expect(kappa).to_contain_text("Too few labels")
    expect(page.locator("#chart-kappa-per-category canvas")).to_have_count(0)
    raters = page.locator("#chart-raters")
    expect(raters.locator(".chart-empty")).to_contain_text("No clip has a consensus yet")
    expect(raters.locator("canvas")).to_have_count(0)
    ds = page.locator("#ds-annotators")
    expect(ds).to_have_attribute("data-state", "too-few")
    expect(ds).to_contain_text("Too few labels for reliability estimates")
    expect(ds.locator(".ds-card")).to_have_count(0)
    assert "accurate" not in ds.inner_text()
    assert not page.js_errors, page.js_errors


def test_dashboard_shows_the_api_figures_as_charts(
    live_server, page, project, curator, django_user_model, data_dir, tmp_path
):
    label_clips(project, django_user_model, data_dir, tmp_path, PLAN)
    figures = agreement_figures(project=project)
    assert figures["fleiss_kappa"] is not None and figures["cohen_kappa_pairs"], (
        "the plan must give every statistic"
    )

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/dashboard/")
    root = page.locator("#dashboard-page")
    expect(root).to_have_attribute("data-state", "ready")
    expect(page.locator('[data-fig="fleiss_kappa"]')).to_have_text(f"{figures['fleiss_kappa']:.3f}")
    expect(page.locator('[data-fig="krippendorff_alpha"]')).to_have_text(
        f"{figures['krippendorff_alpha']:.3f}"
    )
    expect(page.locator('[data-fig="fleiss_band"]')).to_have_text("fair")  # kappa 0.38 here
    levels = figures["agreement_levels"]
    expect(page.locator('[data-fig="at_least_two"]')).to_have_text(f"{round(levels['at_least_two'] * 100)} %")

    # The corpus table: one row per emotion, totals as the API counts them (11 clips agreed).
    totals = figures["corpus_table"]["totals"]
    assert totals["total"] == ClipConsensus.objects.filter(status="agreed").count() == 11
    foot = page.locator("#corpus-table tfoot tr")
    expect(foot.locator('[data-total="all"]')).to_have_text("11")
    expect(foot.locator("td")).to_have_text([str(totals["male"]), str(totals["female"]), "11"])
    expect(page.locator("#corpus-table tbody tr")).to_have_count(len(figures["categories"]))
    expect(page.locator('#corpus-table tr[data-emotion="sad"] td.total')).to_have_text(
        str(next(r["total"] for r in figures["corpus_table"]["rows"] if r["emotion"] == "sad"))
    )

    # Charts are drawn: kappa per emotion (n/a for emotions nobody chose), raters with chiraz
    # flagged, both heat maps, the histogram, the status bar and Dawid–Skene per annotator.
    kappa = chart_in(page, "#chart-kappa-per-category")
    assert kappa["scales"] == {"x": "Emotion", "y": "Fleiss' κ (−1 to 1)"}
    assert kappa["datasets"][0]["data"] == figures["fleiss_kappa_per_category"]
    assert any(label.endswith("(n/a)") for label in kappa["labels"])
    raters = chart_in(page, "#chart-raters")
    assert raters["scales"]["y"] == "Annotator" and "consensus" in raters["scales"]["x"]
    assert raters["labels"][0] == "chiraz"  # lowest first: below 0.5
    expect(page.locator("#cohen-heat td[data-pair]")).to_have_count(6)  # 3 pairs, both halves
    # Annotator-vs-annotator confusion: only the emotions somebody chose.
    confusion = chart_in(page, "#heat-confusion")
    assert confusion["type"] == "matrix"
    assert confusion["scales"] == {
        "x": "Label given by another annotator",
        "y": "Label given by one annotator",
    }
    used = [
        c for c, row in zip(figures["categories"], figures["pairwise_confusion"], strict=True) if any(row)
    ]
    assert len(confusion["rows"]) == len(used) < len(figures["categories"])
    hist = chart_in(page, "#chart-durations")
    assert (
        hist["scales"] == {"x": "Clip duration (s)", "y": "Clips (count)"}
        and sum(hist["datasets"][0]["data"]) > 0
    )
    expect(page.locator('#consensus-status [data-status="needs_adjudication"]')).to_contain_text("1")
    expect(page.locator("#ds-annotators .ds-card")).to_have_count(3)
    ds = chart_in(page, "#ds-annotators .ds-card .ds-matrix")
    assert ds["scales"] == {"x": "Label given by the annotator", "y": "True emotion (estimated)"}
    assert len(ds["rows"]) < len(figures["categories"])  # emotions no clip is are left out
    page.screenshot(path=str(SHOTS / "curation-dashboard.png"), full_page=True)

    # Recompute with Dawid–Skene: the summary comes back.
    page.select_option("#recompute-method", "dawid_skene")
    page.click("#recompute")
    expect(page.locator('#recompute-summary [data-key="method"]')).to_have_text("dawid_skene")
    expect(page.locator('#recompute-summary [data-key="clips"]')).to_have_text("12")

    # Filtering by the one source keeps every figure; the choice goes into the address.
    source_id = Source.objects.get(title="Nouba").pk
    page.click("#sources summary")
    page.check(f'#sources input[value="{source_id}"]')
    expect(page.locator("#sources-summary")).to_have_text("Nouba · S01E01")
    expect(page).to_have_url(re.compile(rf"source={source_id}"))
    expect(root).to_have_attribute("data-state", "ready")
    expect(page.locator('[data-fig="fleiss_kappa"]')).to_have_text(f"{figures['fleiss_kappa']:.3f}")

    # A date in the future: no labels, an empty state and no error.
    page.fill("#date_from", "2999-01-01")
    page.locator("#date_from").dispatch_event("change")
    expect(root).to_have_attribute("data-state", "empty")
    expect(page.locator("#empty-state")).to_be_visible()
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator('[data-fig="fleiss_kappa"]')).to_have_text("–")
    expect(page.locator('#corpus-table [data-total="all"]')).to_have_text("0")
    assert "date_from=2999-01-01" in page.url
    assert not page.js_errors, page.js_errors


def test_adjudication_by_keyboard(live_server, page, project, curator, django_user_model, data_dir, tmp_path):
    clip_ids = label_clips(
        project,
        django_user_model,
        data_dir,
        tmp_path,
        [("happy", "sad", "angry"), ("happy", "happy", "happy")],
    )
    tie = clip_ids[0]  # its three annotators all heard a man
    assert ClipConsensus.objects.get(clip_id=tie).status == "needs_adjudication"

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/adjudication/")
    root = page.locator("#adjudication-page")
    expect(root).to_have_attribute("data-state", "clip")
    expect(root).to_have_attribute("data-clip", str(tie))
    expect(page.locator("#remaining")).to_have_text("1")
    expect(page.locator("#labels tbody tr")).to_have_count(3)
    expect(page.locator('[data-emotion="sad"] .votes')).to_have_text("×1")
    # The gender most annotators gave is preselected; F overrides it below.
    expect(page.locator('[data-gender="male"]')).to_have_attribute("aria-pressed", "true")

    page.screenshot(path=str(SHOTS / "curation-adjudication.png"), full_page=True)
    page.keyboard.press("Space")  # plays the clip (a key press is a user gesture)
    page.wait_for_function(
        "() => !document.getElementById('clip-audio').paused || document.getElementById('clip-audio').ended"
    )
    page.keyboard.press("Enter")  # no emotion yet: a hint, nothing sent
    expect(page.locator("#message")).to_contain_text("Choose an emotion first")
    page.keyboard.press("f")  # a key that acts: the hint goes
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator('[data-gender="female"]')).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("2")
    expect(page.locator('[data-emotion="sad"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('[data-gender="male"]')).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Enter")

    expect(root).to_have_attribute("data-state", "empty")
    expect(page.get_by_role("heading", name="Nothing to adjudicate")).to_be_visible()
    expect(page.locator("#message")).to_contain_text(f"Clip #{tie} labelled Sad")
    # An empty queue: every shortcut says why; Enter checks again and says so.
    for key in ("1", "m", "b", "d"):
        page.keyboard.press(key)
        expect(page.locator("#message")).to_contain_text("No clip to adjudicate right now")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("still no clip to adjudicate")
    consensus = ClipConsensus.objects.select_related("emotion", "gender").get(clip_id=tie)
    assert (consensus.status, consensus.emotion.code, consensus.gender.code) == (
        "adjudicated",
        "sad",
        "female",
    )
    assert not page.js_errors, page.js_errors


def import_ravdess(data_dir: Path, tmp_path: Path, actors=range(1, 7)) -> int:
    """A small RAVDESS subset as gold clips: neutral, happy, sad, angry; normal intensity,
    statement 1, first repetition; one clip per actor and emotion."""
    folder = tmp_path / "ravdess"
    folder.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[1345]-01-01-01-*.flac")):
        if int(f.stem[-2:]) in actors:
            (folder / f.name).symlink_to(f)
    call_command("import_corpus", str(folder), "--format", "ravdess", "--no-progress")
    return len(list(folder.iterdir()))


def test_release_built_from_the_form_and_exported(live_server, page, project, curator, data_dir, tmp_path):
    assert import_ravdess(data_dir, tmp_path) == 24

    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/releases/")
    expect(page.locator("#release-list")).to_contain_text("No release yet")
    # The four primary emotions are ticked by default.
    expect(page.locator("input[name=label_set]:checked")).to_have_count(4)
    page.fill("#name", "ser4")

    # A cap of 0 clips per class: the server's message sits under the cap field.
    page.select_option("#balancing", "cap")
    page.fill("#cap", "0")
    page.click("#build")
    expect(page.locator('[data-error-for="cap"]')).to_contain_text("cap of at least 1")
    expect(page.locator("#cap")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-message")).to_contain_text("cap")
    assert not Release.objects.exists()
    page.locator("#build-form").screenshot(path=str(SHOTS / "curation-releases-error.png"))

    # Undersampled, grouped by speaker (the defaults): built, listed with its checksum.
    page.select_option("#balancing", "undersample")
    expect(page.locator("#cap")).to_be_hidden()
    page.select_option("#group_by", "speaker")
    page.click("#build")
    card = page.locator('.release[data-name="ser4"]')
    expect(card).to_be_visible()
    expect(page.locator('[data-error-for="cap"]')).to_have_count(0)
    release = Release.objects.get()
    assert release.params["balancing"] == "undersample" and release.params["group_by"] == "speaker"
    expect(card.locator(".checksum")).to_have_text(release.checksum[:12])
    expect(card.locator(".version")).to_have_text("v1")
    expect(card.locator(".release-meta strong").first).to_have_text(str(release.n_items))
    expect(card.locator("tbody tr[data-split]")).to_have_count(3)
    page.screenshot(path=str(SHOTS / "curation-releases.png"), full_page=True)

    card.get_by_role("button", name="Export archive").click()
    expect(card.locator('[data-export-status="succeeded"]')).to_be_visible(timeout=30_000)
    link = card.locator("a.download")
    expect(link).to_have_text("Download ser4-v1.zip")
    export = ReleaseExport.objects.get()
    assert export.status == "succeeded" and link.get_attribute("href") == export.archive.url
    response = page.request.get(live_server.url + export.archive.url)
    assert response.status == 200 and response.body()[:2] == b"PK"
    page.screenshot(path=str(SHOTS / "curation-releases-exported.png"), full_page=True)
    assert not page.js_errors, page.js_errors
