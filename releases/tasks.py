"""Celery adapters of the releases app: ids in, one service call, state on the rows."""

from celery import shared_task

from core import jobs
from releases import export
from releases.models import ReleaseExport


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def export_release(self, export_id: int) -> None:
    """Write the archive of ReleaseExport `export_id` (if it is not free to take: see
    core.jobs.job_defer_while_running)."""
    if not export.release_export_execute(export_id=export_id):
        jobs.job_defer_while_running(self, ReleaseExport, export_id)
