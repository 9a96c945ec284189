from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    """Labelled data in and out: corpus imports, gold labels, label mappings, releases, exports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "datasets"
    verbose_name = "Datasets and releases"
