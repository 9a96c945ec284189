"""The one lifecycle of every long job: claim, throttled progress with heartbeat, succeed, fail,
cancel (STYLE.md, habits 6, 9 and 12).

A job type declares only its payload (a JobRow subclass) and its work; `job_execute` does the
rest:

    def segmentation_run_execute(*, run_id):
        return jobs.job_execute(SegmentationRun, run_id, _segment)

Claiming is one conditional UPDATE: a worker may take a row that is QUEUED, or RUNNING with a
stale heartbeat (its worker died, `JobRow.stale_q`) and claims left; zero rows updated means
someone else has it, so a redelivered message does nothing twice.

Jobs survive their workers (STYLE.md, "find work by scanning row state"):
- while the work runs, a thread beats on the row (`JobRow.heartbeat_every()`), so a row whose
  heartbeat is older than `JobRow.stale_limit()` lost its worker;
- a message redelivered at once because its worker process died finds the row still fresh: the
  task retries it once the heartbeat would be stale (`job_defer_while_running`);
- `jobs_sweep` (Celery beat, or `manage.py jobs_sweep`) scans the rows of every registered job
  type (`job_type_register`): it queues again a stale row, fails one that used its
  `JobRow.max_attempts()` claims (`job_give_up`), and re-sends the message of a queued row that
  the broker lost (a broker restart, or a whole worker killed with the message reserved).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from core.models import JobRow, JobStatus

logger = logging.getLogger(__name__)

# Errors are stored whole up to this many characters (the traceback keeps the rest).
ERROR_MAX_CHARS = 2000
# How many times a message that found its row running waits for that row's heartbeat to go stale
# (`job_defer_while_running`); a live worker keeps beating, and then the message is dropped.
DEFERRALS = 3


@dataclass(frozen=True)
class JobType:
    """A job type the sweep looks after: its row model, and dotted paths (resolved when used, so
    that core imports no app) of the Celery task that executes one row, `task(pk)`, and of an
    optional clean-up `on_give_up(*, pk, error)` run after `job_give_up` failed a row."""

    model: type[JobRow]
    task: str
    on_give_up: str | None = None


_JOB_TYPES: dict[type[JobRow], JobType] = {}


def job_type_register(model: type[JobRow], *, task: str, on_give_up: str | None = None) -> None:
    """Let `jobs_sweep` look after `model`'s rows (called from each app's `AppConfig.ready`).

    Args:
        model: the JobRow subclass.
        task: dotted path of the task that executes one row, e.g. "corpus.tasks.segment_recording".
        on_give_up: dotted path of `f(*, pk, error)`, run after a row was given up (its worker was
            lost on its last attempt), e.g. to put the job's subject back in a sane state.
    """
    _JOB_TYPES[model] = JobType(model=model, task=task, on_give_up=on_give_up)


def job_types() -> list[JobType]:
    """The registered job types, in registration order."""
    return list(_JOB_TYPES.values())


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
        also: extra columns to set in the same UPDATE (e.g. `progress=0.0`).

    Sets status RUNNING, `started_at` = `heartbeat_at` = now, and counts one more attempt;
    claimable means QUEUED, or RUNNING with a stale heartbeat (`JobRow.stale_q`) and fewer than
    `max_attempts()` attempts (a stale row at the cap is for `job_give_up`).

    Returns:
        True if this caller now owns the job; False if it is finished, running elsewhere with a
        fresh heartbeat, or stale at the cap.
    """
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | (model.stale_q(now) & Q(attempts__lt=model.max_attempts()))
    return bool(
        model.objects.filter(claimable, pk=pk).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, **also
        )
    )


def job_give_up(model: type[JobRow], pk: int) -> bool:
    """Fail job `pk` if its worker was lost on its last allowed attempt.

    That is: RUNNING with a stale heartbeat and `attempts` >= `max_attempts()` (a job that kills
    its worker every time, or workers that keep dying). The row becomes FAILED with "Worker lost
    during attempt N of M; giving up.", and the job type's registered `on_give_up` runs in the
    same transaction.

    Args:
        model: the JobRow subclass.
        pk: the row's id.
    Returns:
        True if this call failed the row.
    """
    cap = model.max_attempts()
    attempts = (
        model.objects.filter(model.stale_q(), pk=pk, attempts__gte=cap)
        .values_list("attempts", flat=True)
        .first()
    )
    if attempts is None:
        return False
    error = f"Worker lost during attempt {attempts} of {cap}; giving up."
    job_type = _JOB_TYPES.get(model)
    # One transaction with the clean-up: nobody sees the row failed while what it leaves behind
    # (a recording still "segmenting") is not cleaned up yet.
    with transaction.atomic():
        # Conditional on what was read: a row claimed or finished in between is left alone.
        if not model.objects.filter(model.stale_q(), pk=pk, attempts=attempts).update(
            status=JobStatus.FAILED, error=error, finished_at=timezone.now()
        ):
            return False
        if job_type is not None and job_type.on_give_up:
            import_string(job_type.on_give_up)(pk=pk, error=error)
    logger.warning("%s %s: %s", model.__name__, pk, error)
    return True


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


class _Heartbeat:
    """Beats for a claimed row from a daemon thread while its work runs, whatever the work does
    (a long decode, a slow epoch, a model download): one UPDATE of `heartbeat_at` every
    `heartbeat_every()` seconds, only while the row is RUNNING under this claim (`started_at`),
    so that a finished row, or one another worker took back, is never kept alive. Killing the
    process kills the thread: the heartbeat then goes stale, which is the point.

    A job executed inside a transaction (eager tests) gets no thread: no other connection could
    see its row.
    """

    def __init__(self, model: type[JobRow], pk: int, started_at: datetime | None):
        self.model, self.pk, self.started_at = model, pk, started_at
        self.every_s = model.heartbeat_every()
        self._stop = threading.Event()
        name = f"heartbeat-{model.__name__}-{pk}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> _Heartbeat:
        if not connection.in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.every_s + 5)

    def _run(self) -> None:
        warned = False
        try:
            while not self._stop.wait(self.every_s):
                try:
                    mine = self.model.objects.filter(
                        pk=self.pk, status=JobStatus.RUNNING, started_at=self.started_at
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    if not warned:  # the next beat may get through; say it once
                        logger.warning("%s %s: heartbeat failed", self.model.__name__, self.pk, exc_info=True)
                        warned = True
                    continue
                if not mine:
                    return
        finally:
            connection.close()  # this thread's own connection


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

    1. Claim the row (`job_claim`); if it is not ours, return False and touch nothing (unless
       its worker was lost on its last allowed attempt: then it is failed, `job_give_up`).
    2. Call `work(row, progress)`, where `row` is the claimed row re-fetched and `progress` a
       `JobProgress`, while a thread beats on the row (`_Heartbeat`). Slow work stays outside
       transactions.
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
        if not job_give_up(model, pk):
            logger.info("%s %s is not queued (already taken or finished); skipping", model.__name__, pk)
        return False
    row = model.objects.get(pk=pk)
    progress = JobProgress(model, pk, every_s=progress_every_s)
    try:
        with _Heartbeat(model, pk, row.started_at):
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


def job_defer_while_running(task: Any, model: type[JobRow], pk: int) -> None:
    """After `job_execute` found job `pk` not free: retry this message if the row may be orphaned.

    A message redelivered because its worker process died arrives at once, while the dead
    worker's heartbeat still looks fresh; dropping it would strand the job. So while the row is
    RUNNING, the task is retried (Celery `retry`, which raises) for when the heartbeat would be
    stale, at most DEFERRALS times: a live worker keeps beating, and the message is then done
    (the sweep covers whatever happens to that worker later). A finished or queued row needs
    nothing. Eager execution (tests, debugging) never defers.

    Args:
        task: the bound Celery task (`bind=True`) that called `job_execute`.
        model: the JobRow subclass.
        pk: the row's id.
    Raises:
        celery.exceptions.Retry: the retry is scheduled; let it propagate.
    """
    if task.request.is_eager or task.request.retries >= DEFERRALS:
        return
    running = model.objects.filter(pk=pk, status=JobStatus.RUNNING)
    if not running.exists():
        return
    heartbeat = running.values_list("heartbeat_at", flat=True).first()
    stale_in = (heartbeat + model.stale_limit() - timezone.now()).total_seconds() if heartbeat else 0.0
    logger.info("%s %s is running elsewhere; retrying in %.0f s", model.__name__, pk, max(stale_in, 0) + 1)
    raise task.retry(countdown=max(stale_in, 0.0) + 1.0, max_retries=DEFERRALS)


@dataclass
class SweepReport:
    """What one `jobs_sweep` did, in rows: failed at the cap, queued again, messages re-sent."""

    given_up: int = 0
    requeued: int = 0
    resent: int = 0


def jobs_sweep() -> SweepReport:
    """Find the jobs that should be moving and are not, for every registered job type.

    1. Give up: a RUNNING row whose heartbeat is stale and that used its `max_attempts()` claims
       is failed with a message (`job_give_up`).
    2. Take back: any other RUNNING row with a stale heartbeat lost its worker: it is QUEUED
       again and its task sent (training resumes from its checkpoint; every job is idempotent).
    3. Re-send: a QUEUED row older than `stale_limit()` whose message is in no broker queue lost
       it (a broker restart, a failed send, a whole worker killed holding it): its task is sent
       again. Only the queues are read, not the messages workers hold: a message held by a dead
       worker would come back only after the visibility timeout; one held by a live worker is
       sent twice, and the claim runs the job once.
    A job type that fails to sweep is logged and the others are swept.

    Returns:
        The counts (`SweepReport`).
    """
    report = SweepReport()
    for job_type in job_types():
        try:
            _sweep(job_type, report)
        except Exception:
            logger.exception("sweeping %s failed", job_type.model.__name__)
    if report.given_up or report.requeued or report.resent:
        logger.warning("jobs sweep: %s", report)
    return report


def _sweep(job_type: JobType, report: SweepReport) -> None:
    model, cap = job_type.model, job_type.model.max_attempts()
    task = import_string(job_type.task)
    for pk in model.objects.filter(model.stale_q(), attempts__gte=cap).values_list("pk", flat=True):
        report.given_up += job_give_up(model, pk)
    requeued = []
    for pk in model.objects.filter(model.stale_q(), attempts__lt=cap).values_list("pk", flat=True):
        if model.objects.filter(model.stale_q(), pk=pk, attempts__lt=cap).update(status=JobStatus.QUEUED):
            logger.warning("%s %s lost its worker; queued again", model.__name__, pk)
            requeued.append(pk)
            report.requeued += _send(task, pk)
    before = timezone.now() - model.stale_limit()
    queued = list(
        model.objects.filter(status=JobStatus.QUEUED, created_at__lt=before)
        .exclude(pk__in=requeued)
        .values_list("pk", flat=True)
    )
    if not queued:
        return
    waiting = _waiting_in_broker(task)
    if waiting is None:
        return
    for pk in queued:
        if pk not in waiting:
            logger.warning("%s %s is queued but its message is gone; sending it again", model.__name__, pk)
            report.resent += _send(task, pk)


def _send(task: Any, pk: int) -> int:
    """Send `task(pk)`; 1 if sent. A failure is logged: the row stays QUEUED, and the next sweep
    finds its message missing and sends it again."""
    try:
        task.delay(pk)
    except Exception:
        logger.exception("sending %s(%s) failed", task.name, pk)
        return 0
    return 1


def _waiting_in_broker(task: Any) -> set[int] | None:
    """The first arguments (row ids) of `task`'s messages waiting in its queue on the broker.

    Reads the Redis lists of kombu's Redis transport (one per priority step); the messages
    workers hold (kombu's `unacked` hash) are not counted. None when the queue cannot be read
    (eager execution, another transport, the broker down): the sweep then re-sends nothing.
    """
    app = task.app
    if app.conf.task_always_eager:
        return None
    queue = app.amqp.router.route({}, task.name)["queue"].name
    ids: set[int] = set()
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=2)
            channel = conn.default_channel
            if not hasattr(channel, "_q_for_pri"):
                return None
            names = {channel._q_for_pri(queue, pri) for pri in channel.priority_steps}
            with channel.conn_or_acquire() as client:
                raw = [entry for name in sorted(names) for entry in client.lrange(name, 0, -1)]
    except Exception:
        logger.warning("cannot list the %r queue on the broker; nothing re-sent", queue, exc_info=True)
        return None
    for entry in raw:
        try:
            message = json.loads(entry)
            if message.get("headers", {}).get("task") != task.name:
                continue
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            ids.add(int(args[0]))
        except (ValueError, KeyError, IndexError, TypeError):
            continue  # not a message of ours in a shape we know: ignore it
    return ids
