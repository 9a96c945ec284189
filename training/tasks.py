"""Celery adapter of training: the `gpu` queue (settings.CELERY_TASK_ROUTES)."""

from celery import shared_task

from core import jobs
from training import services
from training.models import Evaluation, TrainingRun


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def train_run(self, run_id: int) -> None:
    # A run whose worker died is taken again by this message's retry, or by the job sweep, once
    # its heartbeat is stale; the engine then resumes from the run's last checkpoint.
    if not services.run_execute(run_id=run_id):
        jobs.job_defer_while_running(self, TrainingRun, run_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def evaluate(self, evaluation_id: int) -> None:
    # Nothing is written before the end: a redelivered or swept message simply runs it again.
    if not services.evaluation_execute(evaluation_id=evaluation_id):
        jobs.job_defer_while_running(self, Evaluation, evaluation_id)
