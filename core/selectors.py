"""Reads of the core app: the people of a project and their roles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch, QuerySet

from core import roles
from core.errors import ApplicationError
from core.models import Project


def _role_groups() -> QuerySet:
    return Group.objects.filter(name__in=roles.ALL_ROLES).order_by("name")


def members_of_project(*, project: Project) -> QuerySet:
    """The people of `project`, by username, each with `role_groups` prefetched: the role groups
    (core.roles.ALL_ROLES) they hold, by name.

    Returns:
        A queryset of users; `user.role_groups` is a list of Group.
    """
    return (
        get_user_model()
        .objects.filter(corpus_projects=project)
        .order_by("username")
        .prefetch_related(Prefetch("groups", queryset=_role_groups(), to_attr="role_groups"))
    )


def member_of_project(*, project: Project, pk: int):
    """One person of `project`, with `role_groups` as in `members_of_project`.

    Raises:
        ApplicationError 404 (`not_member`): no such person in the project (whether or not they
            exist elsewhere).
    """
    user = members_of_project(project=project).filter(pk=pk).first()
    if user is None:
        raise ApplicationError(f"No member #{pk} in {project.name}.", code="not_member", status=404)
    return user


def member_roles_refresh(user):
    """`user` with `role_groups` read again (after a service changed them)."""
    user.role_groups = list(_role_groups().filter(user=user))
    return user


def curators_to_ask(*, user) -> QuerySet:
    """The curators of the projects `user` belongs to (not `user`), by username: the people a
    member without a role asks for one. Someone in no project gets none (the page then points to
    an administrator): curators of other projects are not theirs to see.
    """
    return (
        get_user_model()
        .objects.filter(
            corpus_projects__in=Project.objects.filter(members=user),
            groups__name=roles.CURATOR,
            is_active=True,
        )
        .exclude(pk=user.pk)
        .distinct()
        .order_by("username")
    )
