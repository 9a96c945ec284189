from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, app_config=None, using="default", **kwargs) -> None:
    """After `migrate` (and after a test database flush): create every app's permissions, then
    the role groups with theirs (core.services.roles_ensure)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    from core.services import roles_ensure

    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    roles_ensure()


class CoreConfig(AppConfig):
    """What every app of the platform uses: projects, roles, access, jobs, errors."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        # Once per migrate (core's turn); the handler creates every app's permissions first.
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="core.roles_ensure")
