"""Celery adapter of training: the `gpu` queue (settings.CELERY_TASK_ROUTES)."""

from celery import shared_task

from training import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def train_run(run_id: int) -> None:
    # A run whose worker died is taken again by a retry (or a redelivery) once its heartbeat is
    # stale; the engine then resumes from the run's last checkpoint.
    services.run_execute(run_id=run_id)
