"""Who may act where: the role checks and the project scoping every API, page and file uses.

- `projects_for_user` is the one selector of the projects a user may act in; every per-resource
  access helper (`corpus.selectors.recording_for_user`, `releases.selectors.release_for_user`,
  `training.selectors.run_for_user`, ...) filters through it, in the manner of healthchecks'
  `_get_check_for_user`.
- `RolePermission(...)` (DRF) and `role_required(...)` (pages) take the roles an operation needs.
- `project_for_user` resolves the `project` slug a request names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework.permissions import BasePermission

from core import roles
from core.errors import ApplicationError
from core.models import Project

M = TypeVar("M", bound=Model)


def projects_for_user(user) -> QuerySet[Project]:
    """The projects `user` may act in: all of them for a superuser, else those they belong to.

    Args:
        user: a Django user, possibly anonymous.
    Returns:
        A queryset of Project in the model's order (by name), nothing joined; empty for an
        anonymous user.
    """
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(members=user)


def project_get_default() -> Project:
    """The installation's default project (slug `tuniser`), created on first use.

    Returns:
        The Project row (created with name "TuniSER" if it did not exist).
    """
    project, _ = Project.objects.get_or_create(slug="tuniser", defaults={"name": "TuniSER"})
    return project


def project_for_user(user, slug: str | None = None) -> Project:
    """The project a request acts in.

    Args:
        user: the requesting user.
        slug: the project the request names, if any.
    Returns:
        The named project if the user may act in it; with no slug, the user's first project by
        id (a superuser of an empty installation gets the default project).
    Raises:
        ApplicationError 404 (`unknown_project`): a slug the user does not belong to (the same
            answer whether or not it exists, so nothing of another project is revealed; 404 like
            any other object outside the user's projects, see `object_for_user`).
        ApplicationError 403 (`no_project`): the user belongs to no project.
    """
    projects = projects_for_user(user)
    if slug:
        project = projects.filter(slug=slug).first()
        if project is None:
            raise ApplicationError(
                f"No project '{slug[:80]}' that you belong to.", code="unknown_project", status=404
            )
        return project
    project = projects.order_by("id").first()
    if project is None:
        if user.is_authenticated and user.is_superuser:
            return project_get_default()
        raise ApplicationError("You are not a member of any project.", code="no_project", status=403)
    return project


def object_for_user(queryset: QuerySet[M], pk, *, what: str) -> M:
    """Row `pk` of an already user-scoped `queryset`, or 404 that names only the kind.

    Args:
        queryset: rows the user may see (built on `projects_for_user`).
        pk: the requested id (any value: a malformed one is simply not found).
        what: the kind for the message ("recording", "release").
    Returns:
        The row, with whatever `select_related` the queryset carries.
    Raises:
        Http404: no such row among those the user may see (whether or not it exists elsewhere).
    """
    try:
        return queryset.get(pk=int(pk))
    except (queryset.model.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404(f"No such {what}.") from exc


def role_denied_message(names: tuple[str, ...]) -> str:
    """What a refused person reads, e.g. "Only curators and ML staff may do this.".

    Args:
        names: role names (`core.roles`); each is named by its plural in `roles.PLURAL`.
    Returns:
        One sentence.
    """
    people = [roles.PLURAL.get(name, name) for name in names]
    listed = people[0] if len(people) == 1 else f"{', '.join(people[:-1])} and {people[-1]}"
    return f"Only {listed} may do this."


def require_role(user, *names: str) -> None:
    """Refuse, in a service, a user who holds none of `names` (superusers pass).

    Args:
        user: the acting user.
        names: the role names any one of which suffices (`core.roles`).
    Raises:
        ApplicationError 403 (`forbidden`).
    """
    if not roles.user_has_role(user, *names):
        raise ApplicationError(role_denied_message(names), code="forbidden", status=403)


def RolePermission(*names: str) -> type[BasePermission]:  # noqa: N802 - used like a class
    """A DRF permission class admitting authenticated users who hold one of `names` (or superusers).

    Usage: `permission_classes = [RolePermission(roles.CURATOR, roles.ML_STAFF)]`.

    Args:
        names: the role names any one of which suffices.
    Returns:
        A new BasePermission subclass. DRF refuses a signed-in user without the role with 403
        and `role_denied_message(names)`; an anonymous request gets DRF's NotAuthenticated
        (401 or 403, depending on the authentication classes).
    """

    class _RolePermission(BasePermission):
        message = role_denied_message(names)

        def has_permission(self, request, view) -> bool:
            return roles.user_has_role(request.user, *names)

    _RolePermission.__name__ = f"RolePermission_{'_'.join(names)}"
    return _RolePermission


def role_required(*names: str) -> Callable:
    """Page decorator: 403 (the platform's 403 page) unless the user holds one of `names`.

    Args:
        names: the role names any one of which suffices (superusers always pass).
    Returns:
        The decorator for a function view `view(request, *args, **kwargs)`.
    Raises:
        django.core.exceptions.PermissionDenied (from the wrapped view, per request): a user,
            anonymous ones included, who holds none of `names`.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not roles.user_has_role(request.user, *names):
                raise DjangoPermissionDenied(role_denied_message(names))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
