"""One application error type, and the one DRF exception handler that answers every error.

Services raise `ApplicationError(message, code=..., status=...)` (or Django's ValidationError);
views never catch them: the handler turns each into a JSON body with a human-readable `detail`
and a machine `code` (HackSoft Django-Styleguide, "Errors & exception handling").
Validation errors keep DRF's per-field lists and add a one-line `detail` that a script or the
upload page can print as it is.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A refusal a person can act on: what went wrong, a stable machine code, an HTTP status.

    Args:
        message: one sentence for a person ("This clip is not yours to label.").
        code: a stable slug for programs ("not_assigned").
        status: the HTTP status the API answers with (400 bad input, 403 not allowed, 404 not
            found, 409 conflict with the current state, 413 too large, 422 undecodable).
        extra: more JSON-ready fields for the response body.
    """

    def __init__(
        self, message: str, *, code: str = "invalid", status: int = status.HTTP_400_BAD_REQUEST, **extra: Any
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.extra = extra

    def __str__(self) -> str:
        return self.message


def _first_message(data) -> str:
    if isinstance(data, dict):
        for key, value in data.items():
            msg = _first_message(value)
            if msg:
                return msg if key in ("detail", "non_field_errors") else f"{key}: {msg}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data) if data else ""


def exception_handler(exc, context) -> Response | None:
    """DRF's EXCEPTION_HANDLER: ApplicationError, Django and DRF errors as `{"detail", "code"}`.

    ApplicationError answers its own status with `{"detail", "code", **extra}`; a Django
    ValidationError becomes DRF's (400, per-field lists kept); any DRF response whose body lacks
    `detail` gets one (the first message, prefixed by its field), and a list body moves under
    `errors`.

    Args:
        exc: the exception a view raised.
        context: DRF's handler context (view, request), passed through to DRF's handler.
    Returns:
        The response, or None for an exception DRF does not handle (a 500, logged by Django).
    """
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        response.data["detail"] = _first_message(response.data)
    elif response is not None and isinstance(response.data, list):
        response.data = {"detail": _first_message(response.data), "errors": response.data}
    return response
