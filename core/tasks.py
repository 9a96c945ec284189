"""Celery adapter of core: the job sweep, run by Celery beat (settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from core import jobs


@shared_task(ignore_result=True)
def jobs_sweep() -> None:
    # Each sweep is a fresh scan of the rows: a lost or expired sweep message costs nothing.
    jobs.jobs_sweep()
