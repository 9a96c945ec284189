from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    """Labelled data in and out: corpus imports, gold labels, label mappings, releases, exports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "releases"
    verbose_name = "Corpus imports and releases"

    def ready(self) -> None:
        from core.files import register_file_resolver
        from releases.selectors import stored_file_access

        register_file_resolver(stored_file_access)

        from core.jobs import job_type_register
        from releases.models import ReleaseExport

        job_type_register(
            ReleaseExport,
            task="releases.tasks.export_release",
            on_give_up="releases.export.release_export_given_up",
        )
