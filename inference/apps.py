from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Inference: pre-labels, inference API, live page"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Lower layers never import us: we register the queue policies and the hook that
        # pre-labels newly segmented clips.
        from annotation import policies as annotation_policies
        from corpus import policies as corpus_policies

        from . import services

        corpus_policies.register_clips_created_hook(services.on_clips_created)
        annotation_policies.register_policy("rarest_predicted_first", annotation_policies.breadth_first)
        annotation_policies.register_policy("most_uncertain_first", annotation_policies.breadth_first)
        # Quota-driven: ranked by the cells still short; a share of hand-outs drawn at random
        # (AnnotationConfig.quota_random_share) measures the model's bias. Re-ranked whenever a
        # clip's consensus becomes final. Without a pre-labeller every priority is 0: breadth-first.
        annotation_policies.register_policy("quota", annotation_policies.breadth_first, random_share=True)
        annotation_policies.register_consensus_hook(services.on_consensus_changed)
        annotation_policies.register_targets_hook(services.on_targets_changed)
        annotation_policies.register_handout_extra(services.handout_suggestion)

        from core.jobs import job_type_register
        from inference.models import PrelabelJob

        job_type_register(PrelabelJob, task="inference.tasks.run_prelabel_job")
