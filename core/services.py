"""Writes of the core app: role groups and their permissions, project membership."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

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


@dataclass(frozen=True)
class MemberInvited:
    """What `member_invite` did: the person, whether they were created, whether anything changed,
    and the generated password (shown once, never stored in clear) or None."""

    user: object
    created: bool
    changed: bool
    generated_password: str | None


def _check_may_manage(*, by, user, project: Project) -> None:
    """Refuse a curator's change to a person they do not fully manage.

    Roles are Django groups, global to the person: a role given in one project holds in every
    project the person belongs to. So a curator may change the roles of a person only if every
    project that person belongs to is one the curator curates (a newcomer belongs to none), and
    never those of a superuser. `by=None` is the operator of `manage.py member_add`: no limit.

    Raises:
        ApplicationError 403 (`not_curator`, `foreign_member`, `superuser`).
    """
    if by is None or by.is_superuser:
        return
    curated = set(Project.objects.filter(members=by).values_list("pk", flat=True))
    if not roles.user_has_role(by, roles.CURATOR) or project.pk not in curated:
        raise ApplicationError(
            f"Only curators of {project.name} may change its members.", code="not_curator", status=403
        )
    if user is None:
        return
    if user.is_superuser:
        raise ApplicationError(
            f"{user.username} is an administrator: their roles are changed in the admin.",
            code="superuser",
            status=403,
        )
    theirs = set(Project.objects.filter(members=user).values_list("pk", flat=True))
    if theirs - curated:
        raise ApplicationError(
            f"{user.username} also works in projects you do not curate, where a role would hold too: "
            "ask an administrator.",
            code="foreign_member",
            status=403,
        )


def member_invite(
    *,
    username: str,
    project: Project,
    role: str,
    email: str = "",
    password: str | None = None,
    create: bool = True,
    by=None,
) -> MemberInvited:
    """Give a person a role in a project, creating them first if needed: the one code path of the
    members page and `manage.py member_add`.

    1. Check the input: a known role, a valid username and e-mail address.
    2. Check the requester (`by`, a curator; None for the command line) may manage the person
       (`_check_may_manage`).
    3. A missing person is created (when `create`) with `password`, or with a generated one that
       the result holds so that it can be shown once; the password must pass the project's
       validators (common, numeric and short ones are refused).
    4. `member_add`: the role's group, the project's members, staff status for curators and ML
       staff.
    Steps 3 and 4 run in one transaction: a refusal leaves nothing half-written.

    Args:
        username: the person's username (an existing one is reused).
        project: the project they join.
        role: one of core.roles.ALL_ROLES.
        email: their e-mail address, for a new person (an existing person's is kept).
        password: the initial password of a new person; None or "" generates one. Refused for an
            existing person, whose password is theirs.
        create: whether a missing person may be created.
        by: the curator asking, or None (the command line).
    Returns:
        MemberInvited.
    Raises:
        ApplicationError 400 (`unknown_role`, `invalid_username`, `invalid_email`,
            `invalid_password`, `password_of_existing_user`), 404 (`unknown_user`, when not
            `create`), 403 (see `_check_may_manage`).
    """
    User = get_user_model()
    username = (username or "").strip()
    email = (email or "").strip()
    if role not in roles.ALL_ROLES:
        raise ApplicationError(
            f"Unknown role '{role}': use one of {', '.join(roles.ALL_ROLES)}.", code="unknown_role"
        )
    try:
        if not username:
            raise ValidationError("A username is required.")
        User.username_validator(username)
        if len(username) > User._meta.get_field("username").max_length:
            raise ValidationError("This username is too long.")
    except ValidationError as exc:
        raise ApplicationError(
            f"Username refused: {' '.join(exc.messages)}", code="invalid_username"
        ) from exc
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ApplicationError(f"E-mail address refused: {email[:80]}", code="invalid_email") from exc
    with transaction.atomic():
        user = User.objects.select_for_update().filter(username=username).first()
        _check_may_manage(by=by, user=user, project=project)
        generated = None
        created = user is None
        if created:
            if not create:
                raise ApplicationError(f"No user '{username}'.", code="unknown_user", status=404)
            user = User(username=username, email=email)
            if not password:
                password = generated = secrets.token_urlsafe(12)
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise ApplicationError(
                    "Password refused: " + " ".join(exc.messages), code="invalid_password"
                ) from exc
            user.set_password(password)
            try:
                with transaction.atomic():
                    user.save()
            except IntegrityError as exc:  # created meanwhile by another request
                raise ApplicationError(
                    f"{username} was just created by someone else: try again.", code="conflict", status=409
                ) from exc
        elif password:
            raise ApplicationError(
                f"{username} already exists: their password is theirs to change; leave it empty.",
                code="password_of_existing_user",
            )
        changed = member_add(user=user, project=project, role=role)
    return MemberInvited(user=user, created=created, changed=changed or created, generated_password=generated)


def member_role_remove(*, user, project: Project, role: str, by=None) -> None:
    """Take a role from a person of `project`, the reverse of `member_add`: the role's group goes
    (roles are global: see `_check_may_manage`); a person left with no role leaves the project;
    staff status goes with the last admin role (curator, ML staff). A curator cannot take their
    own curator role (nobody would be left to give it back).

    Raises:
        ApplicationError 400 (`unknown_role`, `own_curator_role`), 404 (`not_member`: the person
            does not hold this role in the project), 403 (see `_check_may_manage`).
    """
    if role not in roles.ALL_ROLES:
        raise ApplicationError(
            f"Unknown role '{role}': use one of {', '.join(roles.ALL_ROLES)}.", code="unknown_role"
        )
    with transaction.atomic():
        if not project.members.filter(pk=user.pk).exists() or not user.groups.filter(name=role).exists():
            raise ApplicationError(
                f"{user.username} is not {role} in {project.name}.", code="not_member", status=404
            )
        _check_may_manage(by=by, user=user, project=project)
        if by is not None and by.pk == user.pk and role == roles.CURATOR:
            raise ApplicationError(
                "You cannot take your own curator role: ask another curator or an administrator.",
                code="own_curator_role",
            )
        user.groups.remove(Group.objects.get(name=role))
        left = set(user.groups.values_list("name", flat=True))
        if not left.intersection(roles.ALL_ROLES):
            project.members.remove(user)
        if user.is_staff and not user.is_superuser and not left.intersection(roles.STAFF_ROLES):
            get_user_model().objects.filter(pk=user.pk).update(is_staff=False)
            user.is_staff = False
