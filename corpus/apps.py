from django.apps import AppConfig


class CorpusConfig(AppConfig):
    name = "corpus"
    verbose_name = "Corpus: sources, recordings, segmentation, clips"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.files import register_file_resolver
        from corpus.selectors import stored_file_access

        register_file_resolver(stored_file_access)

        from core.jobs import job_type_register
        from corpus.models import SegmentationRun

        job_type_register(
            SegmentationRun,
            task="corpus.tasks.segment_recording",
            on_give_up="corpus.services.segmentation_run_given_up",
        )
