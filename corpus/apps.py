from django.apps import AppConfig


class CorpusConfig(AppConfig):
    name = "corpus"
    verbose_name = "Corpus: sources, recordings, segmentation, clips"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.files import register_file_resolver
        from corpus.selectors import stored_file_access

        register_file_resolver(stored_file_access)
