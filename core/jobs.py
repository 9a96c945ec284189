"""The one lifecycle of every long job: claim, throttled progress with heartbeat, succeed, fail,
cancel (STYLE.md, habits 6, 9 and 12).

A job type declares only its payload (a JobRow subclass) and its work; `job_execute` does the
rest:

    def segmentation_run_execute(*, run_id):
        return jobs.job_execute(SegmentationRun, run_id, _segment)

Claiming is one conditional UPDATE: a worker may take a row that is QUEUED, or RUNNING with a
stale heartbeat (its worker died, `JobRow.stale_q`); zero rows updated means someone else has it,
so a redelivered message does nothing twice.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.utils import timezone

from core.models import JobRow, JobStatus

logger = logging.getLogger(__name__)

# Errors are stored whole up to this many characters (the traceback keeps the rest).
ERROR_MAX_CHARS = 2000


class JobCancelled(Exception):
    """Raised by a job's work when it stopped because a person asked it to.

    Args:
        fields: columns to write on the row with status CANCELLED (e.g. the history so far).
    """

    def __init__(self, **fields: Any):
        super().__init__("cancelled")
        self.fields = fields


def job_claim(model: type[JobRow], pk: int, **also: Any) -> bool:
    """Atomically move job `pk` of `model` to RUNNING, if it is free to take.

    Args:
        model: a JobRow subclass.
        pk: the row's id.
        also: extra columns to set in the same UPDATE (e.g. `attempts=F("attempts") + 1`).

    Sets status RUNNING and `started_at` = `heartbeat_at` = now; claimable means QUEUED, or
    RUNNING with a stale heartbeat (`JobRow.stale_q`).

    Returns:
        True if this caller now owns the job; False if it is finished, or running elsewhere with
        a fresh heartbeat.
    """
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | model.stale_q(now)
    return bool(
        model.objects.filter(claimable, pk=pk).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, **also
        )
    )


class JobProgress:
    """Throttled progress writes with heartbeat: one `QuerySet.update()` at most every `every_s`.

    Call it with a fraction in [0, 1] (clamped) and any extra columns; `force=True` writes now.
    Never call it inside a transaction that holds locks the web tier needs (habit 12).

    Args:
        model: the JobRow subclass.
        pk: the row's id.
        every_s: minimum seconds between two writes.
    """

    def __init__(self, model: type[JobRow], pk: int, *, every_s: float = 0.5):
        self.model = model
        self.pk = pk
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, fraction: float | None = None, *, force: bool = False, **fields: Any) -> bool:
        """Write progress (and `fields`) if the throttle allows.

        Args:
            fraction: progress in [0, 1] (clamped, rounded to 4 places); None leaves it as is.
            force: write even if the last write was less than `every_s` ago.
            fields: more columns to write (dropped with the rest if the throttle refuses).
        Returns:
            True if it wrote (`heartbeat_at` is refreshed with every write).
        """
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return False
        self._last = now
        if fraction is not None:
            fields["progress"] = round(min(max(float(fraction), 0.0), 1.0), 4)
        self.model.objects.filter(pk=self.pk).update(heartbeat_at=timezone.now(), **fields)
        return True


def job_succeed(model: type[JobRow], pk: int, **fields: Any) -> None:
    """Mark job `pk` SUCCEEDED (progress 1.0, finished now), with `fields` written alongside.

    Args:
        model: the JobRow subclass.
        pk: the row's id.
        fields: more columns to write (`progress` may be overridden).
    """
    now = timezone.now()
    fields.setdefault("progress", 1.0)
    model.objects.filter(pk=pk).update(
        status=JobStatus.SUCCEEDED, finished_at=now, heartbeat_at=now, **fields
    )


def job_fail(model: type[JobRow], pk: int, *, error: str, traceback: str = "", **fields: Any) -> None:
    """Mark job `pk` FAILED with a one-line reason (truncated to ERROR_MAX_CHARS) and traceback.

    Args:
        model: the JobRow subclass.
        pk: the row's id.
        error: what a person reads (see `failure_message`).
        traceback: the formatted traceback, stored whole.
        fields: more columns to write.
    """
    model.objects.filter(pk=pk).update(
        status=JobStatus.FAILED,
        error=error[:ERROR_MAX_CHARS],
        traceback=traceback,
        finished_at=timezone.now(),
        **fields,
    )


def job_cancel(model: type[JobRow], pk: int, **fields: Any) -> None:
    """Mark job `pk` CANCELLED (finished now), with `fields` written alongside.

    Args:
        model: the JobRow subclass.
        pk: the row's id.
        fields: more columns to write (e.g. the history so far).
    """
    now = timezone.now()
    model.objects.filter(pk=pk).update(
        status=JobStatus.CANCELLED, finished_at=now, heartbeat_at=now, **fields
    )


def failure_message(exc: BaseException) -> str:
    """What a person reads for a failed job.

    Args:
        exc: the exception the job's work raised.
    Returns:
        The exception's non-empty string `message` attribute if it has one (ApplicationError,
        AudioError), else "<Type>: <text>".
    """
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) and message else f"{type(exc).__name__}: {exc}"


def job_execute(
    model: type[JobRow],
    pk: int,
    work: Callable[[Any, JobProgress], dict | None],
    *,
    claim_fields: dict | None = None,
    progress_every_s: float = 0.5,
    on_failure: Callable[[Any, BaseException], None] | None = None,
) -> bool:
    """Run one job row through its whole lifecycle.

    1. Claim the row (`job_claim`); if it is not ours, return False and touch nothing.
    2. Call `work(row, progress)`, where `row` is the claimed row re-fetched and `progress` a
       `JobProgress`. Slow work stays outside transactions.
    3. `work` returns the columns to write on success (or None): the row becomes SUCCEEDED.
       It raises `JobCancelled(**fields)` to stop at a person's request: CANCELLED.
       Any other exception: `on_failure(row, exc)` runs (clean-up), then the row becomes FAILED
       with `failure_message(exc)` and the traceback. The exception is not re-raised: the job's
       outcome is on its row.

    Args:
        model: the JobRow subclass.
        pk: the row's id.
        work: the job's own work (see step 3).
        claim_fields: extra columns for the claiming UPDATE.
        progress_every_s: throttle of the progress writes.
        on_failure: clean-up to run before the row is marked failed (exceptions it raises
            propagate, and the row then stays RUNNING until its heartbeat goes stale).
    Returns:
        True if this call ran the job (whatever its outcome), False if it was not ours to run.
    """
    if not job_claim(model, pk, **(claim_fields or {})):
        logger.info("%s %s is not queued (already taken or finished); skipping", model.__name__, pk)
        return False
    row = model.objects.get(pk=pk)
    progress = JobProgress(model, pk, every_s=progress_every_s)
    try:
        fields = work(row, progress) or {}
    except JobCancelled as cancelled:
        job_cancel(model, pk, **cancelled.fields)
        return True
    except Exception as exc:
        logger.exception("%s %s failed", model.__name__, pk)
        if on_failure is not None:
            on_failure(row, exc)
        job_fail(model, pk, error=failure_message(exc), traceback=tb.format_exc())
        return True
    job_succeed(model, pk, **fields)
    return True
