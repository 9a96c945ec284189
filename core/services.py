"""Writes of the core app: role groups and their permissions, project membership."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from core import roles
from core.errors import ApplicationError
from core.models import Project


def roles_ensure() -> dict[str, int]:
    """Create the four role groups and give each exactly its model permissions (idempotent).

    Runs after every `migrate` (and after the test database is flushed) through core's
    post_migrate handler, so the groups and their permissions always exist.

    Returns:
        {role: number of permissions the group holds}.
    Raises:
        LookupError: a permission of core.roles.ROLE_PERMISSIONS does not exist (a model was
            renamed: fix the table).
    """
    wanted = {codename for codes in roles.ROLE_PERMISSIONS.values() for codename in codes}
    found = {
        f"{app}.{codename}": pk
        for pk, app, codename in Permission.objects.filter(
            codename__in=[c.split(".", 1)[1] for c in wanted]
        ).values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(wanted - set(found))
    if missing:
        raise LookupError(f"Permissions missing for the role groups: {', '.join(missing)}")
    out = {}
    for role in roles.ALL_ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([found[c] for c in roles.ROLE_PERMISSIONS[role]])
        out[role] = len(roles.ROLE_PERMISSIONS[role])
    return out


def member_add(*, user, project: Project, role: str) -> bool:
    """Give `user` a role in `project`, in one step: the role's group, the project's members, and
    staff status for the roles that work in the admin (curators and ML staff).

    Args:
        user: the person.
        project: the project they join.
        role: one of core.roles.ALL_ROLES.
    Returns:
        True if anything changed (group, membership or staff status).
    Raises:
        ApplicationError 400 (`unknown_role`).
    """
    if role not in roles.ALL_ROLES:
        raise ApplicationError(
            f"Unknown role '{role}': use one of {', '.join(roles.ALL_ROLES)}.", code="unknown_role"
        )
    with transaction.atomic():
        group, _ = Group.objects.get_or_create(name=role)
        changed = not user.groups.filter(pk=group.pk).exists()
        user.groups.add(group)
        if not project.members.filter(pk=user.pk).exists():
            project.members.add(user)
            changed = True
        if role in roles.STAFF_ROLES and not user.is_staff:
            get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
            user.is_staff = True
            changed = True
    return changed
