from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.jobs import job_type_register
        from training.models import Evaluation, TrainingRun

        # A run given up keeps its checkpoint: `run_retry` resumes from it.
        # A child of a cross-validated run given up fails its parent too (`run_given_up`).
        job_type_register(
            TrainingRun, task="training.tasks.train_run", on_give_up="training.services.run_given_up"
        )
        # An evaluation writes nothing before its end: given up, it is simply failed.
        job_type_register(Evaluation, task="training.tasks.evaluate")
