"""Create a demo superuser if the database has none, and print its login (used by `make run`)."""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from core import roles
from core.access import project_get_default


class Command(BaseCommand):
    help = "Create the demo admin (TUNISER_DEMO_USER / TUNISER_DEMO_PASSWORD) if no superuser exists."

    def handle(self, *args, **opts):
        User = get_user_model()
        username = os.environ.get("TUNISER_DEMO_USER", "admin")
        password = os.environ.get("TUNISER_DEMO_PASSWORD", "tuniser-demo")
        project = project_get_default()
        if User.objects.filter(is_superuser=True).exists():
            demo = User.objects.filter(username=username, is_superuser=True).first()
            if demo and demo.check_password(password):
                self.stdout.write(f"Demo admin: {username} / {password}  (change this password for real use)")
            else:
                self.stdout.write("A superuser exists; no demo admin created.")
            return
        user = User.objects.create_superuser(username=username, email="", password=password)
        user.groups.set(Group.objects.filter(name__in=roles.ALL_ROLES))
        project.members.add(user)
        self.stdout.write(self.style.SUCCESS(f"Created demo admin: {username} / {password}"))
