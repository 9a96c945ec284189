"""Celery adapters of the releases app: ids in, one service call, state on the rows."""

from celery import shared_task

from releases import export


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def export_release(export_id: int) -> None:
    """Write the archive of ReleaseExport `export_id` (a no-op if it is not free to take)."""
    export.release_export_execute(export_id=export_id)
