"""Hidden gold checks in a real browser: the curator marks a check, sees a paused annotator on
the progress page and resumes them; the paused annotator's page says why it serves nothing."""

from __future__ import annotations

import pytest

from annotation import services
from annotation.models import AnnotationConfig, AnnotatorStanding, GoldCheck
from annotation.tests.factories import gold_check_world
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_marks_a_check_and_resumes_a_paused_annotator(
    page, live_server, project, django_user_model, tmp_path, data_dir
):
    world = gold_check_world(project, django_user_model, tmp_path, data_dir, n_pool=2, n_checks=2)
    amel = world["annotators"][0]
    services.gold_check_unmark(curator=world["curator"], clip_id=world["checks"][1])
    AnnotationConfig.objects.update_or_create(
        project=project, defaults={"check_rate": 1.0, "check_min_answers": 1, "check_threshold": 0.9}
    )
    held = services.assignment_next(user=amel, project=project, kind=services.LABELLING).assignment
    services.annotation_submit(user=amel, clip_id=held.clip_id, emotion="sad", gender="male")
    assert AnnotatorStanding.objects.get(user=amel, project=project).paused  # 0/1: upper 0.79 < 0.9

    login(page, live_server, "amel")
    page.goto(f"{live_server.url}/annotate/")
    assert services.PAUSED_MESSAGE in page.inner_text("#paused")
    page.wait_for_function("document.getElementById('message').textContent.includes('reviewed by a curator')")
    page.context.clear_cookies()

    login(page, live_server, "cur")
    page.goto(f"{live_server.url}/curation/checks/")
    page.click(f'button[data-mark="{world["checks"][1]}"]')
    page.wait_for_selector(f'#checks tr[data-clip="{world["checks"][1]}"] button[data-unmark]')
    assert GoldCheck.objects.get(clip_id=world["checks"][1]).active

    page.goto(f"{live_server.url}/curation/progress/")
    page.wait_for_selector('#progress-page[data-loaded="true"]')
    row = page.locator('#check-records tr[data-user="amel"]')
    assert row.get_attribute("data-state") == "paused"
    assert "0 %" in row.inner_text() and "1" in row.locator("td.num").first.inner_text()
    row.locator('button[data-action="resume"]').click()
    page.wait_for_selector('#check-records tr[data-user="amel"][data-state="active"]')
    standing = AnnotatorStanding.objects.get(user=amel, project=project)
    assert not standing.paused and standing.reviewed_by == world["curator"]
    assert not page.js_errors, page.js_errors
