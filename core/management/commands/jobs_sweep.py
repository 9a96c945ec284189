"""`manage.py jobs_sweep`: one sweep of the job rows, now (core.jobs.jobs_sweep).

Celery beat runs the same sweep every TUNISER_JOB_SWEEP_EVERY_S seconds; this command is for a
deployment without beat (cron) or for an operator who wants it now.
"""

from django.core.management.base import BaseCommand

from core.jobs import jobs_sweep


class Command(BaseCommand):
    help = "Fail, queue again or re-send the jobs whose worker or message was lost."

    def handle(self, *args, **options):
        report = jobs_sweep()
        self.stdout.write(
            f"given up {report.given_up}, queued again {report.requeued}, messages re-sent {report.resent}"
        )
