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
    languages = models.CharField(
        max_length=100,
        default="ara",
        help_text="ISO 639 codes, comma-separated, most wanted first: the audio track of a "
        "broadcast file in one of these languages is the one segmented (e.g. 'ara,aeb').",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="corpus_projects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table predates the core app (it was corpus.Project): kept, so no row moves.
        db_table = "corpus_project"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def language_codes(self) -> tuple[str, ...]:
        """`languages` as a tuple of lower-case codes, e.g. ("ara", "aeb")."""
        return tuple(code.strip().lower() for code in self.languages.split(",") if code.strip())


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

    Invariant: while a RUNNING row's work runs, its worker refreshes `heartbeat_at` every
    `heartbeat_every()` (a thread of `core.jobs.job_execute`, whatever the work is doing), so a
    RUNNING row whose heartbeat is older than `stale_limit()` belongs to a worker that died: it
    may be taken again (`JobRow.stale_q`, the one place that decides it) until `attempts`, the
    number of claims, reaches `max_attempts()`.
    """

    Status = JobStatus
    # How long a RUNNING row may go without a heartbeat before its worker is presumed dead; None:
    # settings.TUNISER["JOB_STALE_AFTER_S"]. A job type may set its own.
    stale_after: ClassVar[timedelta | None] = None

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
    # Claims so far (core.jobs.job_claim counts them): a first run, then one per worker lost.
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        abstract = True

    @classmethod
    def stale_limit(cls) -> timedelta:
        """How long a RUNNING row may go without a heartbeat before its worker is presumed dead."""
        return cls.stale_after or timedelta(seconds=settings.TUNISER["JOB_STALE_AFTER_S"])

    @classmethod
    def heartbeat_every(cls) -> float:
        """Seconds between two heartbeats of a running job (well under `stale_limit()`)."""
        return float(settings.TUNISER["JOB_HEARTBEAT_S"])

    @classmethod
    def max_attempts(cls) -> int:
        """Claims after which a row whose worker was lost again is failed instead of re-run."""
        return int(settings.TUNISER["JOB_MAX_ATTEMPTS"])

    @classmethod
    def stale_q(cls, now=None) -> Q:
        """Rows RUNNING whose heartbeat is older than `stale_limit()` (or missing): dead workers.

        Args:
            now: the reference time (aware datetime); default `timezone.now()`.
        Returns:
            A Q object usable in `cls.objects.filter(...)`.
        """
        limit = (now or timezone.now()) - cls.stale_limit()
        return Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True))

    @property
    def is_active(self) -> bool:
        """True while the job is queued or running."""
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.status in FINISHED_STATUSES
