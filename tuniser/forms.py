"""Forms of the accounts pages (wired in tuniser.urls)."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class _UsernameLengthChecked:
    """Django's login forms set the username field's max_length after the field is built, so no
    validator enforces it: a 1 MB username reached `authenticate()` and django-axes, whose
    `AccessAttempt.username` (varchar 255) then overflowed on PostgreSQL (a 500 instead of the
    form's error). This adds the validator."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class LoginForm(_UsernameLengthChecked, AuthenticationForm):
    """The site's login form."""


class AdminLoginForm(_UsernameLengthChecked, AdminAuthenticationForm):
    """The admin's login form."""
