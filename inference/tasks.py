"""Celery adapters of inference, on the `gpu` queue (a CPU worker serves it where there is no GPU)."""

from celery import shared_task

from inference import services
from training.models import ModelVersion


@shared_task(acks_late=True, ignore_result=True)
def prelabel_new_clips(model_version_id: int, clip_ids: list[int]) -> None:
    # Idempotent: clips already predicted by this model version are skipped.
    model_version = ModelVersion.objects.filter(pk=model_version_id).select_related("project").first()
    if model_version is not None:
        services.prelabel_clips(model_version=model_version, clip_ids=clip_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_prelabel_job(job_id: int) -> None:
    services.prelabel_job_execute(job_id=job_id)
