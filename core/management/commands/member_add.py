"""Give a person a role in a project, in one step (group, membership, staff status).

    manage.py member_add fatma --project tuniser --role ml_staff
    manage.py member_add sami --project tuniser --role annotator --create --email sami@lab.tn

With --create, a missing user is created; the password is read from TUNISER_NEW_USER_PASSWORD
or asked for (never on the command line, where it would stay in the shell history).
"""

from __future__ import annotations

import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core import roles
from core.errors import ApplicationError
from core.models import Project
from core.services import member_invite


class Command(BaseCommand):
    help = "Give USER a role in a project (group + membership + staff status for admin roles)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--role", required=True, choices=roles.ALL_ROLES)
        parser.add_argument("--create", action="store_true", help="Create the user if missing.")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, project, role, create, email, **options):
        project_obj = Project.objects.filter(slug=project).first()
        if project_obj is None:
            known = ", ".join(Project.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No project '{project}' (projects: {known}).")
        exists = get_user_model().objects.filter(username=username).exists()
        if not exists and not create:
            raise CommandError(f"No user '{username}': add --create to create them.")
        # The password is asked only for a new person (never taken from the command line, where
        # it would stay in the shell history); the members page shares the same service.
        password = None
        if not exists:
            password = os.environ.get("TUNISER_NEW_USER_PASSWORD")
            if not password:
                # getpass needs a terminal: without one (a script, `< /dev/null`, CI) it would die
                # with EOFError, so say what to do instead.
                if not sys.stdin.isatty():
                    raise CommandError(
                        "No password: set TUNISER_NEW_USER_PASSWORD, or run this in a terminal."
                    )
                try:
                    password = getpass.getpass(f"Password for {username}: ")
                except EOFError as exc:
                    raise CommandError(
                        "No password: set TUNISER_NEW_USER_PASSWORD, or run this in a terminal."
                    ) from exc
            if not password:
                raise CommandError("Password refused: it is empty.")
        try:
            result = member_invite(
                username=username,
                project=project_obj,
                role=role,
                email=email,
                password=password,
                create=create,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if result.created:
            self.stdout.write(f"Created user {username}.")
        staff = " (staff: may open the admin)" if result.user.is_staff else ""
        verb = "is now" if result.changed else "was already"
        self.stdout.write(f"{username} {verb} {role} in {project_obj.slug}{staff}.")
