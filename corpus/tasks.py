"""Celery adapters: take ids, call one service. Job state lives on the rows."""

from celery import shared_task

from core import jobs
from corpus import services
from corpus.models import SegmentationRun


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def segment_recording(self, run_id: int) -> None:
    # acks_late + claim-by-row: a message redelivered after a worker died re-runs the job only if
    # its row is still queued (or running with a stale heartbeat); a row that still looks alive
    # is tried again once its heartbeat would be stale (core.jobs.job_defer_while_running).
    if not services.segmentation_run_execute(run_id=run_id):
        jobs.job_defer_while_running(self, SegmentationRun, run_id)
