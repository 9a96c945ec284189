"""The top bar's menus: the pages each person's roles reach, grouped by the workflow's stages.

Every page of the platform is listed once here, with the roles its view requires (the same
tuples as the views' `role_required`); the bar shows a group as a drop-down menu when it holds two
or more reachable pages, as a plain link when it holds one, and not at all when it holds none.
`tests/test_browser_roles.py` visits every link each role is shown: none may answer 403/404.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from core import roles

ANY = None  # any signed-in user
STAFF = "staff"  # user.is_staff (the admin)
INGEST = roles.INGEST_ROLES


@dataclass(frozen=True)
class Page:
    label: str
    url_name: str
    who: tuple[str, ...] | str | None  # roles (any one suffices), ANY or STAFF
    current: tuple[str, ...] = ()  # url names (resolver_match.url_name) that mark it current


# (group label, pages), in the order of the workflow.
GROUPS: tuple[tuple[str, tuple[Page, ...]], ...] = (
    ("Home", (Page("Home", "home", ANY, ("home",)),)),
    (
        "Corpus",
        (
            Page("Recordings", "corpus:recording-list", INGEST, ("recording-list", "recording-detail")),
            Page("Upload", "corpus:recording-upload", roles.INGEST_ROLES, ("recording-upload",)),
            Page("Speakers", "corpus:speaker-list", roles.INGEST_ROLES, ("speaker-list",)),
        ),
    ),
    (
        "Annotate",
        (
            Page("Validate", "annotation:validate", (roles.VALIDATOR, roles.CURATOR), ("validate",)),
            Page("Label", "annotation:annotate", (roles.ANNOTATOR, roles.CURATOR), ("annotate",)),
        ),
    ),
    (
        "Curate",
        (
            Page("Agreement", "annotation:dashboard", (roles.CURATOR,), ("dashboard",)),
            Page("Adjudicate", "annotation:adjudication", (roles.CURATOR,), ("adjudication",)),
            Page("Progress", "annotation:progress", (roles.CURATOR,), ("progress",)),
            Page("Quotas", "inference:quotas", (roles.CURATOR,), ("quotas",)),
            Page("Rejected", "annotation:rejected", (roles.CURATOR,), ("rejected",)),
            Page("Gold checks", "annotation:checks", (roles.CURATOR,), ("checks",)),
            Page("Releases", "releases:releases", (roles.CURATOR,), ("releases",)),
            Page("Members", "core:members", (roles.CURATOR,), ("members",)),
        ),
    ),
    (
        "Models",
        (
            Page("Training", "training:run-list", (roles.ML_STAFF,), ("run-list", "run-detail", "compare")),
            Page("Live", "inference:live", roles.INGEST_ROLES, ("live",)),
            Page("Pre-label quality", "inference:quality", roles.INGEST_ROLES, ("quality",)),
        ),
    ),
    (
        "More",
        (
            Page("API docs", "api-docs", ANY, ("api-docs",)),
            Page("Admin", "admin:index", STAFF),
        ),
    ),
)


def _reaches(user, page: Page) -> bool:
    if page.who is ANY:
        return True
    if page.who == STAFF:
        return user.is_staff
    return roles.user_has_role(user, *page.who)


def navigation(user, current: str | None) -> list[dict]:
    """The menus `user` sees, with the current page marked.

    Args:
        user: the signed-in user.
        current: the request's `resolver_match.url_name` (None outside the URLconf).
    Returns:
        [{"label", "current": bool, "links": [{"label", "url", "current": bool}]}] in GROUPS order,
        groups with no reachable page left out.
    """
    menus = []
    for label, pages in GROUPS:
        links = [
            {"label": p.label, "url": reverse(p.url_name), "current": bool(current) and current in p.current}
            for p in pages
            if _reaches(user, p)
        ]
        if links:
            menus.append({"label": label, "links": links, "current": any(link["current"] for link in links)})
    return menus
