"""Reads of the releases app, scoped to the projects a user may act in (core.access)."""

from __future__ import annotations

from django.db.models import QuerySet

from core import roles
from core.access import object_for_user, projects_for_user
from releases.models import Release, ReleaseExport


def releases_for_user(user) -> QuerySet[Release]:
    """Releases of the user's projects, newest first, with their exports prefetched.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Release with `project` selected and `exports` prefetched, ordered by the
        model's `-created_at, -id`.
    """
    return (
        Release.objects.filter(project__in=projects_for_user(user))
        .select_related("project")
        .prefetch_related("exports")
    )


def release_for_user(user, pk) -> Release:
    """Release `pk` if the user may see it; Http404 otherwise (core.access.object_for_user).

    Args:
        user: the requesting user.
        pk: the requested id (a malformed one is not found).
    Returns:
        The Release, `project` selected and `exports` prefetched.
    Raises:
        Http404: no such release in the user's projects.
    """
    return object_for_user(releases_for_user(user), pk, what="release")


def exports_for_user(user) -> QuerySet[ReleaseExport]:
    """Exports of the releases of the user's projects.

    Args:
        user: the requesting user.
    Returns:
        A queryset of ReleaseExport with `release__project` selected, newest first (the model's
        `-created_at, -id`).
    """
    return ReleaseExport.objects.filter(release__project__in=projects_for_user(user)).select_related(
        "release__project"
    )


def export_for_user(user, pk) -> ReleaseExport:
    """Export `pk` if the user may see it; Http404 otherwise.

    Args:
        user: the requesting user.
        pk: the requested id.
    Returns:
        The ReleaseExport, `release__project` selected.
    Raises:
        Http404: no such export in the user's projects.
    """
    return object_for_user(exports_for_user(user), pk, what="export")


def stored_file_access(user, name: str) -> bool | None:
    """The releases app's answer for a stored file (registered in core.files): None if `name` is
    not a release manifest or export archive; else True for curators and ML staff of its
    project."""
    owned = (
        Release.objects.filter(manifest=name).exists() or ReleaseExport.objects.filter(archive=name).exists()
    )
    if not owned:
        return None
    if not roles.user_has_role(user, roles.CURATOR, roles.ML_STAFF):
        return False
    return (
        releases_for_user(user).filter(manifest=name).exists()
        or exports_for_user(user).filter(archive=name).exists()
    )
