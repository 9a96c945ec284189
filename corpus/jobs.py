"""Job rows: the one claiming rule every long job of the platform uses (STYLE.md, habits 6 and 9).

A job row has `status` (queued/running/...), `started_at` and `heartbeat_at`. A worker may take
a row that is queued, or running with a heartbeat older than `stale_after` (its worker died);
zero rows updated means someone else has it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


def job_claim(model, pk: int, *, stale_after: timedelta, **also) -> bool:
    """Atomically move job `pk` of `model` to running. `also`: extra fields to set."""
    now = timezone.now()
    claimable = Q(status="queued") | Q(status="running", heartbeat_at__lt=now - stale_after)
    return bool(
        model.objects.filter(claimable, pk=pk).update(
            status="running", started_at=now, heartbeat_at=now, **also
        )
    )


class JobRow(models.Model):
    """The fields every job row shares; each model adds its own `status` choices and payload."""

    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Refreshed with every progress update: a RUNNING row whose heartbeat is stale belongs to a
    # worker that died, and a redelivered message (or a retry) may claim it again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
