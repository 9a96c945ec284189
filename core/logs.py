"""Logging filters of the platform (named in settings.LOGGING; imports nothing of Django's ORM,
since logging is configured before the apps load)."""

from __future__ import annotations

import logging


def client_error_without_traceback(record: logging.LogRecord) -> bool:
    """Handler filter: a 4xx answer logs its one line ("Forbidden (Permission denied): /path"),
    never the traceback of the PermissionDenied or Http404 behind it.

    Django's `log_response` attaches the exception to every 4xx it logs; a refused request is the
    platform working as designed, not a bug, and a traceback per refusal buries real errors in the
    terminal. Records without a `status_code` (everything but django.request) and 5xx pass as they
    are. Always returns True: the line is kept, only its traceback is dropped.
    """
    status = getattr(record, "status_code", None)
    if status is not None and 400 <= status < 500 and record.exc_info:
        record.exc_info = None
        record.exc_text = None
    return True
