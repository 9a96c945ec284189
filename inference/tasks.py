"""Celery adapters of inference, on the `gpu` queue (a CPU worker serves it where there is no GPU)."""

from celery import shared_task

from core import jobs
from core.models import Project
from inference import services
from inference.models import PrelabelJob
from training.models import ModelVersion


@shared_task(acks_late=True, ignore_result=True)
def prelabel_new_clips(model_version_id: int, clip_ids: list[int]) -> None:
    # Idempotent: clips already predicted by this model version are skipped.
    model_version = ModelVersion.objects.filter(pk=model_version_id).select_related("project").first()
    if model_version is not None:
        services.prelabel_clips(model_version=model_version, clip_ids=clip_ids)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_prelabel_job(self, job_id: int) -> None:
    # A job whose worker died is taken again (see core.jobs.job_defer_while_running and the sweep);
    # clips already predicted by its model version are skipped.
    if not services.prelabel_job_execute(job_id=job_id):
        jobs.job_defer_while_running(self, PrelabelJob, job_id)


@shared_task(acks_late=True, ignore_result=True)
def reprioritise_queue(project_id: int) -> None:
    # Idempotent: recomputes every open entry's priority from the rows as they are now.
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        services.queue_reprioritise(project=project)
