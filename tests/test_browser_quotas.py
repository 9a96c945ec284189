"""The Quotas page in a real browser: a curator sets, changes and removes a quota cell."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.guideline import ensure_guideline
from annotation.models import QuotaTarget
from conftest import _user
from tests.conftest import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_curator_sets_changes_and_removes_a_quota_cell(page, live_server, project, django_user_model):
    ensure_guideline()  # transactional tests flush the rows the data migration seeded
    _user(django_user_model, "cur", "curator", project=project)
    login(page, live_server, "cur")
    page.goto(f"{live_server.url}/curation/quotas/")
    expect(page.locator("h1")).to_have_text("Quotas")
    expect(page.locator("#quota-inactive")).to_be_visible()  # breadth-first: figures only

    form = page.locator("#quota-add")
    form.locator("select[name=emotion]").select_option("sad")
    form.locator("select[name=gender]").select_option("female")
    form.locator("input[name=target]").fill("325")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    row = page.locator("#quota-table tr[data-id]")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("Sad")
    expect(row.locator("td").nth(1)).to_have_text("Female")
    expect(row.locator("progress")).to_have_attribute("value", "0.0")

    form.locator("input[name=target]").fill("-3")  # the browser's min=0 blocks it; the API too
    form.locator("input[name=target]").evaluate("el => el.removeAttribute('min')")
    form.locator("button[type=submit]").click()
    expect(page.locator("#quota-message")).to_contain_text("target")
    assert QuotaTarget.objects.get().target == 325

    row.locator(".quota-target").fill("300")
    with page.expect_navigation():
        row.locator(".quota-save").click()
    expect(page.locator("#quota-table .quota-target")).to_have_value("300")
    assert QuotaTarget.objects.get().target == 300

    with page.expect_navigation():
        page.locator("#quota-table .quota-delete").click()
    expect(page.locator("#quota-table tr[data-id]")).to_have_count(0)
    assert not QuotaTarget.objects.exists()
