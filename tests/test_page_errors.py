"""Every page answers a refusal as a page with a 4xx status, never a 500.

Pages take the project they act in from `?project=<slug>` (core.access.project_for_user): a slug
the user does not belong to, whether another project's or nobody's, must answer 404 with the
message of the API, and reveal nothing of the other project.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.html import escape

from conftest import _user
from core import roles


def _page_names(patterns=None, prefix="") -> list[str]:
    """Names of the URLconf's page patterns that take no argument (no API, admin, media)."""
    names = []
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(p.pattern)
        if route.startswith(("api/", "admin/", "media/", "static/")):
            continue
        if isinstance(p, URLResolver):
            ns = f"{p.namespace}:" if p.namespace else ""
            names += [ns + n for n in _page_names(p.url_patterns, route)]
        elif isinstance(p, URLPattern) and p.name and not p.pattern.regex.groups:
            names.append(p.name)
    return names


@pytest.mark.django_db
def test_every_page_answers_an_unknown_or_foreign_project_with_404(client, project, django_user_model):
    from core.models import Project

    other = Project.objects.create(name="Secret B", slug="secret-b")
    user = _user(django_user_model, "all_roles", *roles.ALL_ROLES, project=project)
    client.force_login(user)
    names = [n for n in _page_names() if n not in ("logout", "login")]
    assert len(names) >= 10, names
    checked = 0
    for name in names:
        url = reverse(name)
        plain = client.get(url)
        if plain.status_code != 200 or "text/html" not in plain.get("Content-Type", ""):
            continue  # redirects, downloads and endpoints that are not pages
        for slug in (other.slug, "no-such-project"):
            response = client.get(url, {"project": slug})
            assert response.status_code in (200, 404), (url, slug, response.status_code)
            assert "Secret B" not in response.content.decode()
            if response.status_code == 404:
                assert escape(f"No project '{slug}' that you belong to.") in response.content.decode()
        checked += 1
    assert checked >= 8, checked
