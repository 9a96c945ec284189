"""Roles as groups, and the default project, exist from the start."""

from django.db import migrations

ROLES = ("annotator", "validator", "curator", "ml_staff")


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Project = apps.get_model("corpus", "Project")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    Project.objects.get_or_create(
        slug="tuniser",
        defaults={
            "name": "TuniSER",
            "description": "Tunisian Arabic (Derja) speech emotions from TV series and programmes.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("corpus", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
