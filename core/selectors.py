"""Reads of the core app: the people of a project and their roles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch, QuerySet

from core import roles
from core.models import Project


def members_of_project(*, project: Project) -> QuerySet:
    """The people of `project`, by username, each with `role_groups` prefetched: the role groups
    (core.roles.ALL_ROLES) they hold, by name.

    Returns:
        A queryset of users; `user.role_groups` is a list of Group.
    """
    role_groups = Group.objects.filter(name__in=roles.ALL_ROLES).order_by("name")
    return (
        get_user_model()
        .objects.filter(corpus_projects=project)
        .order_by("username")
        .prefetch_related(Prefetch("groups", queryset=role_groups, to_attr="role_groups"))
    )
