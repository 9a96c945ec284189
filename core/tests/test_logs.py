"""The terminal of `make run`: a refused request is one WARNING line, printed once, with no
traceback; a server error keeps its traceback."""

from __future__ import annotations

import copy
import io
import logging

import pytest
from django.test import Client
from django.utils.log import configure_logging

from core.logs import client_error_without_traceback


@pytest.fixture
def console(settings):
    """The platform's LOGGING as `make run` has it (DEBUG on), its console handler writing to a
    buffer; restored afterwards."""
    settings.DEBUG = True
    buf = io.StringIO()
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["stream"] = buf
    configure_logging(settings.LOGGING_CONFIG, config)
    yield buf
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


@pytest.mark.django_db
def test_a_403_page_logs_one_warning_line_without_traceback(console, django_user_model, project):
    user = django_user_model.objects.create_user("norole", password="pw-norole")
    project.members.add(user)
    client = Client()
    assert client.post("/accounts/login/", {"username": "norole", "password": "pw-norole"}).status_code == 302
    console.truncate(0)
    console.seek(0)

    assert client.get("/recordings/").status_code == 403

    lines = console.getvalue().splitlines()
    assert [line for line in lines if "/recordings/" in line] == [lines[0]], lines
    assert len(lines) == 1, lines
    assert " WARNING django.request: Forbidden (Permission denied): /recordings/" in lines[0]
    assert "Traceback" not in console.getvalue()
    # Django's own console handler would print the line a second time on the real terminal.
    assert logging.getLogger("django").handlers == []


def _record(status: int) -> logging.LogRecord:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), exc_info)
    record.status_code = status
    return record


def test_the_filter_keeps_the_traceback_of_a_server_error():
    kept = _record(500)
    assert client_error_without_traceback(kept) is True
    assert kept.exc_info is not None
    refused = _record(404)
    assert client_error_without_traceback(refused) is True
    assert refused.exc_info is None
