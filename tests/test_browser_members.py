"""The members page, as a curator meets it: add a person with a role in one step; that person
logs in with the password shown once and reaches their role's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import login
from tests.test_browser_corpus import screenshot

pytestmark = pytest.mark.browser


def test_a_person_added_on_the_members_page_logs_in_and_labels(live_server, page, curator, project):
    login(page, live_server, "curator")
    page.goto(f"{live_server.url}/curation/members/")
    expect(page.locator('#members-page[data-loaded="true"]')).to_be_attached()
    expect(page.locator('#members-table tr[data-user="curator"] [data-role="curator"]')).to_be_visible()

    page.fill("#username", "sami")
    page.fill("#email", "sami@lab.tn")
    page.select_option("#role", "annotator")
    page.click("#invite")
    # The role and the project by the names people read, not their codes.
    assert page.locator("#role option[value=ml_staff]").inner_text() == "ML staff"
    expect(page.locator("#invite-result")).to_contain_text("Created sami. sami is now Annotator in TuniSER.")
    password = page.inner_text("#generated-password")
    expect(page.locator('#members-table tr[data-user="sami"] [data-role="annotator"]')).to_be_visible()
    expect(page.locator('#members-table tr[data-user="sami"] td').nth(3)).to_have_text("no")  # not staff

    # A refusal is shown as the API words it, and the form keeps what was typed.
    page.fill("#username", "weak")
    page.fill("#password", "1234567890")
    page.click("#invite")
    expect(page.locator("#invite-message")).to_contain_text("Password refused")
    expect(page.locator('#members-table tr[data-user="weak"]')).to_have_count(0)
    assert not page.js_errors, page.js_errors
    screenshot(page, "members")

    page.context.clear_cookies()
    login(page, live_server, "sami", password)
    assert page.goto(f"{live_server.url}/annotate/").status == 200
    expect(page.locator("#annotate-page")).to_be_attached()
    assert page.goto(f"{live_server.url}/curation/members/").status == 403
