"""The pages work on a lab machine with no internet: every script, style sheet and icon they
reference is one of our own static files (nothing from a CDN), and the browser's automatic
/favicon.ico request finds an icon."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

# src="..." / href="..." in the HTML, and the URLs Swagger UI's init script is given.
ASSET_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ANY_URL_RE = re.compile(r"""["'](https?:)?//[^"'\s]+["']""")


def _login(curator) -> Client:
    client = Client()
    r = client.post("/accounts/login/", {"username": curator.username, "password": "pw-" + curator.username})
    assert r.status_code == 302, r.content[:300]
    return client


def _static_path(url: str) -> str:
    from django.conf import settings

    path = urlparse(url).path
    prefix = "/" + settings.STATIC_URL.strip("/") + "/"
    assert path.startswith(prefix), f"{url} is not one of our static files"
    return path[len(prefix) :]


def _assert_local_assets(html: str) -> list[str]:
    """Every absolute URL in `html` is ours (no host), and every /static/ file it names exists."""
    # XML namespace names (xmlns="http://www.w3.org/2000/svg") are identifiers, never fetched.
    remote = [m.group(0) for m in ANY_URL_RE.finditer(html) if "//www.w3.org/" not in m.group(0)]
    assert remote == [], f"the page loads from another host: {remote}"
    assets = [u for u in ASSET_RE.findall(html) if u.startswith("/static/")]
    for url in assets:
        assert finders.find(_static_path(url)), f"{url} is referenced but no static file has that name"
    return assets


def test_api_docs_load_swagger_ui_from_our_static_files(curator):
    html = _login(curator).get("/api/docs/").content.decode()
    assets = _assert_local_assets(html)
    # The bundle that defines SwaggerUIBundle, and its style sheet, are among them.
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui.css") for a in assets), assets


def test_admin_pages_link_our_icon_and_favicon_ico_answers(curator, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw-root")
    client = _login(admin)
    html = client.get("/admin/").content.decode()
    assert re.search(r'<link rel="icon"[^>]+href="/static/img/favicon\.svg"', html), html[:800]
    _assert_local_assets(html)
    # Browsers ask for /favicon.ico on their own; it must not be a 404 in the server log.
    r = Client().get("/favicon.ico")
    assert r.status_code == 302
    icon = finders.find(_static_path(r["Location"]))
    assert icon, r["Location"]
    with open(icon, "rb") as f:
        assert f.read(4) == b"\x00\x00\x01\x00"  # an ICO file's header
