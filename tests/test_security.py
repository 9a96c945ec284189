"""Login throttling, password rules, the API schema behind login, production HTTPS settings."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_login_form_then_the_right_one_is_refused_too(
    django_user_model, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_user(username="ines", password="a-long-lab-passphrase-42")
    client = Client()
    for _ in range(3):
        r = client.post("/accounts/login/", {"username": "ines", "password": "wrong-guess"})
    assert r.status_code in (403, 429)
    locked = client.post("/accounts/login/", {"username": "ines", "password": "a-long-lab-passphrase-42"})
    assert locked.status_code in (403, 429) and "_auth_user_id" not in client.session
    # Another person from the same address is not locked out by ines's failures.
    django_user_model.objects.create_user(username="omar", password="another-long-passphrase-7")
    ok = client.post("/accounts/login/", {"username": "omar", "password": "another-long-passphrase-7"})
    assert ok.status_code == 302


@pytest.mark.django_db
def test_basic_auth_guessing_on_the_api_is_locked_too(django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_user(username="ines", password="a-long-lab-passphrase-42")

    def basic(password):
        token = base64.b64encode(f"ines:{password}".encode()).decode()
        return Client().get("/api/annotation/me/", HTTP_AUTHORIZATION=f"Basic {token}")

    assert basic("a-long-lab-passphrase-42").status_code == 200
    for _ in range(3):
        assert basic("wrong").status_code in (401, 403)
    assert basic("a-long-lab-passphrase-42").status_code in (401, 403, 429)


@pytest.mark.parametrize("weak", ["12345678", "password123", "azertyuiop", "2026112920261129"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(ValidationError):
        validate_password(weak)


def test_a_good_passphrase_passes():
    validate_password("Sbouï-et-Fatma-au-marché")


@pytest.mark.django_db
def test_the_api_schema_and_docs_are_behind_login(django_user_model):
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    assert anonymous.get("/api/docs/").status_code in (401, 403)
    user = django_user_model.objects.create_user(username="reader", password="x")
    client = Client()
    client.force_login(user)
    assert client.get("/api/schema/").status_code == 200


def test_production_settings_turn_on_https_and_trust_the_proxy_only_when_told():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
        "getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
    )
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "tuniser.settings", "DJANGO_DEBUG": "0"}
    base["DJANGO_SECRET_KEY"] = "x" * 50

    def read(**extra):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env={**base, **extra}, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert read() == [True, 3600, True, None]
    assert read(DJANGO_SECURE_HSTS_SECONDS="31536000", DJANGO_BEHIND_PROXY="1") == [
        True,
        31536000,
        True,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]
