"""Celery adapters: take ids, call one service. Job state lives on the rows."""

from celery import shared_task

from corpus import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def segment_recording(run_id: int) -> None:
    # acks_late + claim-by-row: a message redelivered after a worker died re-runs the job only if
    # its row is still queued (or running with a stale heartbeat); otherwise it does nothing.
    services.segmentation_run_execute(run_id=run_id)
