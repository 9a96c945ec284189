from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.jobs import job_type_register
        from training.models import Evaluation, TrainingRun

        # A run given up keeps its checkpoint: `run_retry` resumes from it.
        job_type_register(TrainingRun, task="training.tasks.train_run")
        # An evaluation writes nothing before its end: given up, it is simply failed.
        job_type_register(Evaluation, task="training.tasks.evaluate")
