"""Models every app builds on: the project (the unit of tenancy) and the job row.

A Project is a dataset under construction; every row of every app belongs to exactly one, and
nothing of one project is visible to the members of another (core.access). A JobRow is the state
of one long job (segmentation, export, training, pre-labelling): the UI and the API read the row,
never Celery's result backend (STYLE.md, habit 6).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Project(models.Model):
    """A dataset under construction (e.g. "TuniSER: Tunisian Derja from TV series").

    The unit of tenancy: `members` (related name `corpus_projects`) may act in it
    (`core.access.projects_for_user`); ordered by name.
    """

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    dialect = models.CharField(max_length=100, default="Tunisian Arabic (Derja)")
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="corpus_projects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table predates the core app (it was corpus.Project): kept, so no row moves.
        db_table = "corpus_project"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class JobStatus(models.TextChoices):
    """The life of every job row: queued -> running -> succeeded | failed | cancelled."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobRow(models.Model):
    """The fields every job row shares; a job type adds only its payload (core.jobs runs it).

    Invariant: a RUNNING row's `heartbeat_at` is refreshed by every progress write, so a RUNNING
    row whose heartbeat is older than `stale_after` belongs to a worker that died and may be
    claimed again (`JobRow.stale_q`, the one place that decides it).
    """

    Status = JobStatus
    # How long a RUNNING row may go without a heartbeat before its worker is presumed dead.
    stale_after: ClassVar[timedelta] = timedelta(minutes=5)

    status = models.CharField(
        max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def stale_q(cls, now=None) -> Q:
        """Rows RUNNING whose heartbeat is older than `stale_after` (or missing): dead workers.

        Args:
            now: the reference time (aware datetime); default `timezone.now()`.
        Returns:
            A Q object usable in `cls.objects.filter(...)`.
        """
        limit = (now or timezone.now()) - cls.stale_after
        return Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True))

    @property
    def is_active(self) -> bool:
        """True while the job is queued or running."""
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.status in FINISHED_STATUSES
