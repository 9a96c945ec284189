from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation: validation, labelling, agreement"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The corpus must not import us: we register what it needs to know.
        from corpus import policies as corpus_policies

        from . import services

        corpus_policies.register_clip_work_check(services.work_check)
        corpus_policies.register_clips_created_hook(
            lambda clip_ids: services.pool_add_clips(clip_ids=clip_ids)
        )
        corpus_policies.register_clip_access_check(services.holds_clip)
