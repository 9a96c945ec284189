from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app of the platform uses: projects, roles, access, jobs, errors."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = "Platform core"
