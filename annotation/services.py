"""Writes of validation and labelling.

Concurrency: every hand-out and every answer runs in one transaction that locks the clip's
PoolEntry row. On PostgreSQL the hand-out takes the first open entry with
`SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent annotators never wait on (or get) the same
row; on SQLite transactions are IMMEDIATE (settings), which serialises writers. The partial
unique constraint "one live assignment per user and kind" backs the rule up in the database.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from annotation import consensus, crowd, policies, selectors
from annotation.models import (
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    Assignment,
    CheckAnswer,
    ClipConsensus,
    ClipDecision,
    Flag,
    GoldCheck,
    LabelOption,
    PoolEntry,
    QueuePick,
    QuotaTarget,
    RejectionReason,
    ValidationVote,
)
from core import roles
from core.access import require_role
from core.errors import ApplicationError
from core.models import Project
from corpus.models import Clip

VALIDATION = Assignment.Kind.VALIDATION
LABELLING = Assignment.Kind.LABELLING
# A vote may arrive this much earlier than the clip's duration after it was served (network and
# player start-up jitter); anything sooner means the clip was not heard to its end.
LISTEN_TOLERANCE_S = 0.3
NOT_HELD_LABEL = "You do not hold this clip: ask for the next clip first."
PAUSED_MESSAGE = "Your recent answers are being reviewed by a curator; labelling is paused until then."
# The hidden-check draw and the quota queue's random share: the OS's entropy, so nobody can
# predict or replay which hand-out is a check or a random pick.
_rng = random.SystemRandom()
# Consensus that labels never overwrite: a curator's decision, or a gold label.
PROTECTED_CONSENSUS = (
    ClipConsensus.Status.ADJUDICATED,
    ClipConsensus.Status.DISCARDED,
    ClipConsensus.Status.GOLD,
)


def config_for(project: Project) -> AnnotationConfig:
    """The project's AnnotationConfig (K, votes needed, assignment minutes, queue policy, consensus
    rule), created with the model's defaults on first use."""
    config, _ = AnnotationConfig.objects.get_or_create(project=project)
    return config


# --- the pool --------------------------------------------------------------------------------


def pool_add_clips(*, clip_ids, kind: str = VALIDATION) -> int:
    """Put clips into a pool (new clips: the validation pool). Idempotent.

    Each entry takes the project of its clip's source; a clip that already has an entry of
    `kind` keeps it (the insert ignores the unique conflict), ids of missing clips are ignored.

    Args:
        clip_ids: an iterable of clip ids.
        kind: "validation" or "labelling" (Assignment.Kind).
    Returns:
        The number of entries sent to the insert, i.e. of the clips found: with
        `ignore_conflicts` the database does not say which were new.
    """
    clips = list(
        Clip.objects.filter(pk__in=list(clip_ids)).values_list("pk", "recording__source__project_id")
    )
    # A labelling entry wants K labels at first (`_wanted` keeps it in step with the settings).
    default_k = AnnotationConfig._meta.get_field("labels_per_clip").default
    ks = dict(
        AnnotationConfig.objects.filter(project_id__in={p for _, p in clips}).values_list(
            "project_id", "labels_per_clip"
        )
    )
    entries = [
        PoolEntry(
            kind=kind,
            clip_id=pk,
            project_id=project_id,
            wanted=ks.get(project_id, default_k) if kind == LABELLING else 0,
        )
        for pk, project_id in clips
    ]
    return len(PoolEntry.objects.bulk_create(entries, ignore_conflicts=True, batch_size=1000))


def pool_sync(*, project: Project) -> int:
    """Safety net: give every awaiting or accepted clip of `project` its pool entry.

    Clips awaiting validation without a validation entry get one; accepted clips without a
    labelling entry get one.

    Args:
        project: the project to repair.
    Returns:
        The number of entries added (counted as `pool_add_clips` counts).
    """
    base = Clip.objects.filter(recording__source__project=project)
    added = pool_add_clips(
        clip_ids=base.filter(status=Clip.Status.AWAITING_VALIDATION)
        .exclude(pool_entries__kind=VALIDATION)
        .values_list("pk", flat=True),
        kind=VALIDATION,
    )
    added += pool_add_clips(
        clip_ids=base.filter(status=Clip.Status.ACCEPTED)
        .exclude(pool_entries__kind=LABELLING)
        .values_list("pk", flat=True),
        kind=LABELLING,
    )
    return added


def _expire_stale(kind: str) -> None:
    now = timezone.now()
    stale = Assignment.objects.filter(state=Assignment.State.LIVE, kind=kind, expires_at__lt=now)
    if connection.features.has_select_for_update_skip_locked:
        stale = stale.select_for_update(skip_locked=True)
    for assignment in stale[:500]:
        Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.EXPIRED, finished_at=now)
        if assignment.gold_check_id:
            continue  # a hidden check never counted on its clip's entry
        entry = PoolEntry.objects.select_for_update().filter(kind=kind, clip_id=assignment.clip_id).first()
        if entry:
            entry.n_live = max(entry.n_live - 1, 0)
            _refresh_open(entry)
            entry.save(update_fields=["n_live", "open", "wanted"])


def assignments_expire_stale() -> None:
    """Return the clips of live assignments past their deadline to the pool (both kinds).

    `assignment_next` sweeps its own kind first; the home page calls this before counting the
    queues, so that its figures are those a hand-out would serve. Takes no write lock when there
    is nothing to sweep.
    """
    if not Assignment.objects.filter(state=Assignment.State.LIVE, expires_at__lt=timezone.now()).exists():
        return
    with transaction.atomic():
        for kind in (VALIDATION, LABELLING):
            _expire_stale(kind)


def _validation_tally(clip_id: int) -> tuple[int, int]:
    votes = ValidationVote.objects.filter(clip_id=clip_id, active=True)
    accepts = votes.filter(accept=True).count()
    return accepts, votes.count() - accepts


def _wanted(entry: PoolEntry, config: AnnotationConfig) -> int:
    """Labels a labelling entry needs now: K (`labels_per_clip`) unless it is escalated, then its
    `wanted` held between K and the maximum (`AnnotationConfig.max_raters`; K with escalation
    off). Read from the settings each time, so that a changed K applies at once to clips not
    escalated."""
    k = config.labels_per_clip
    if not entry.escalated:
        return k
    return min(max(entry.wanted, k), config.max_raters)


def _refresh_open(entry: PoolEntry, config: AnnotationConfig | None = None) -> None:
    """Recompute `open` from the counters (and, for validation, the tally); for labelling also
    `wanted` (`_wanted`). Callers save "open" and "wanted" with their counters."""
    config = config or config_for(entry.project)
    if entry.kind == LABELLING:
        entry.wanted = _wanted(entry, config)
        entry.open = entry.n_done + entry.n_live < entry.wanted
        return
    status = Clip.objects.filter(pk=entry.clip_id).values_list("status", flat=True).first()
    if status != Clip.Status.AWAITING_VALIDATION:
        entry.open = False
        return
    accepts, rejects = _validation_tally(entry.clip_id)
    entry.open = entry.n_live < max(1, config.validation_votes_needed - max(accepts, rejects))


@dataclass(frozen=True)
class Handout:
    """What `assignment_next` hands out: the live assignment (its `clip` loaded), and whether the
    user already held it."""

    assignment: Assignment
    resumed: bool  # the user already held this clip (second tab, page reload)


def assignment_next(*, user, project: Project, kind: str) -> Handout | None:
    """Hand `user` the next clip to validate or label, or None when the pool is empty for them.

    1. Expire live assignments past their deadline (their clips return to the pool).
    2. A user who holds a live assignment of this kind gets the same clip again.
    3. Otherwise take the first of `selectors.handout_candidates` (open entries the user has not
       answered, skipped, labelled or voted on) the queue policy ranks highest, locking it (SKIP
       LOCKED on PostgreSQL). Labelling under a policy registered with `random_share` (the
       quota queue): with probability `config.quota_random_share` the clip is drawn uniformly
       among the candidates instead (`_random_candidate`, started clips first).
    4. Record the assignment (labelling: `queue_pick` "ranked" or "random", never shown to the
       annotator) and count it on the entry, in the same transaction.

    An expired assignment (never answered) does not exclude its clip: it returns to the same
    person's queue; a skip does (never twice to who gave it back). The labelling queue
    is ordered by the project's `queue_policy` (`annotation.policies.order`); the validation
    queue always breadth-first.

    Hidden gold checks (labelling only): when step 3 finds a clip and `crowd.check_due` (the
    user's first `AnnotationConfig.check_warmup` checks in the project, then probability
    `check_rate`, drawn with `random.SystemRandom`; rate 0: none at all) the user is handed instead
    an active GoldCheck of the project they were never handed and never labelled
    (`selectors.check_candidates`), as an ordinary labelling Assignment whose server-side
    `gold_check` marks it; the pool entry is left as it was. A paused or excluded annotator
    (AnnotatorStanding) gets nothing.

    Args:
        user: the person asking for work.
        project: the project whose pool is served.
        kind: "validation" or "labelling" (Assignment.Kind).
    Returns:
        A Handout (resumed=True when the user already held a live assignment of this kind, in
        this or another project), or None when no clip is left for this user.
    Raises:
        ApplicationError 403 (`forbidden`): not a validator (validation) or annotator
            (labelling), nor a curator.
        ApplicationError 403 (`paused`): labelling, and the user is paused or excluded in
            `project` (PAUSED_MESSAGE).
        IntegrityError: the one-live-assignment constraint failed and no live assignment was
            found afterwards (not expected).
    """
    require_role(user, roles.VALIDATOR if kind == VALIDATION else roles.ANNOTATOR, roles.CURATOR)
    if kind == LABELLING:
        refuse_if_paused(user=user, project=project)
    config = config_for(project)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A hand-out is soft state: lost in a crash, the clip just returns to the pool.
                # Not waiting for the WAL flush on this commit removes the fsync stalls from the
                # queue's latency; labels and votes (annotation_submit, validation_vote) stay durable.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            _expire_stale(kind)
            live = (
                Assignment.objects.filter(user=user, kind=kind, state=Assignment.State.LIVE)
                .select_related("clip")
                .first()
            )
            if live:
                return Handout(assignment=live, resumed=True)
            candidates = selectors.handout_candidates(user=user, projects=[project], kind=kind)
            candidates = policies.order(candidates, project=project, kind=kind, config=config).select_related(
                "clip"
            )
            entry, pick = None, ""
            if kind == LABELLING:
                pick = QueuePick.RANKED
                if _draw_at_random(config):
                    entry = _random_candidate(candidates)
                    pick = QueuePick.RANDOM if entry is not None else pick
            if entry is None:
                if connection.features.has_select_for_update_skip_locked:
                    candidates = candidates.select_for_update(skip_locked=True, of=("self",))
                entry = candidates.first()
            if entry is None:
                return None
            now = timezone.now()
            check = _draw_check(user=user, project=project, config=config) if kind == LABELLING else None
            if check is not None:
                assignment = Assignment.objects.create(
                    kind=kind,
                    clip_id=check.clip_id,
                    user=user,
                    served_at=now,
                    expires_at=now + timedelta(minutes=config.assignment_minutes),
                    gold_check=check,
                )
                assignment.clip = check.clip
                return Handout(assignment=assignment, resumed=False)
            assignment = Assignment.objects.create(
                kind=kind,
                clip_id=entry.clip_id,
                user=user,
                served_at=now,
                expires_at=now + timedelta(minutes=config.assignment_minutes),
                queue_pick=pick,
            )
            entry.n_live += 1
            _refresh_open(entry, config)
            entry.save(update_fields=["n_live", "open", "wanted"])
    except IntegrityError:
        # A second tab of the same user won the race for the one live assignment: hand out that one.
        live = (
            Assignment.objects.filter(user=user, kind=kind, state=Assignment.State.LIVE)
            .select_related("clip")
            .first()
        )
        if live is None:
            raise
        return Handout(assignment=live, resumed=True)
    assignment.clip = entry.clip
    return Handout(assignment=assignment, resumed=False)


def _draw_check(*, user, project: Project, config: AnnotationConfig) -> GoldCheck | None:
    """A random active check `user` may be handed, when `crowd.check_due` says this hand-out is a
    check (the first `config.check_warmup` checks, then probability `config.check_rate`); else None."""
    # Answered, not handed: a check skipped (or let expire) does not count toward the warm-up, so
    # skipping the first clips does not get an annotator past the qualification phase.
    answered = CheckAnswer.objects.filter(user=user, gold_check__project=project).count()
    if not crowd.check_due(
        n_answered=answered, warmup=config.check_warmup, rate=config.check_rate, u=_rng.random()
    ):
        return None
    ids = list(selectors.check_candidates(user=user, project=project).values_list("pk", flat=True))
    if not ids:
        return None
    return GoldCheck.objects.select_related("clip").get(pk=_rng.choice(ids))


def refuse_if_paused(*, user, project: Project) -> None:
    """Refuse labelling work to an annotator paused (or excluded) in `project`.

    Args:
        user: the annotator.
        project: the project.
    Raises:
        ApplicationError 403 (`paused`): PAUSED_MESSAGE.
    """
    if selectors.standing_blocks(user=user, project=project):
        raise ApplicationError(PAUSED_MESSAGE, status=403, code="paused")


def _draw_at_random(config: AnnotationConfig) -> bool:
    """Whether this labelling hand-out is one of the random share: only under a policy registered
    with `random_share` (the quota queue), with probability `config.quota_random_share`."""
    share = config.quota_random_share or 0.0
    return policies.takes_random_share(config.queue_policy) and share > 0 and _rng.random() < share


def _random_candidate(candidates) -> PoolEntry | None:
    """One of the ordered `candidates` drawn uniformly at random (SystemRandom), locked.

    Escalated and started clips keep their precedence: the ordering begins with "-escalated"
    (`policies.order`) and, under breadth-first and the quota queue, "-n_done"; the draw is
    among the candidates of the first tier of each (escalated ones while there are any, then
    those with the most labels done; all of them while no clip is started). On PostgreSQL a
    row another hand-out holds is skipped (SKIP LOCKED), so the drawn offset may land past the
    end: None, and the caller falls back to the ranked pick.

    Args:
        candidates: a PoolEntry queryset, ordered by the queue policy.
    Returns:
        The drawn entry (its `clip` loaded), or None when there is no candidate.
    """
    tier = candidates
    # Leading "-escalated" (every labelling queue, `policies.order`) and "-n_done" (breadth-first,
    # the quota queue): the draw stays within the first tier of each.
    for key in candidates.query.order_by[:2]:
        if key not in ("-escalated", "-n_done"):
            break
        top = tier.order_by(key).values_list(key[1:], flat=True).first()
        if top is None:
            return None
        tier = tier.filter(**{key[1:]: top})
    n = tier.count()
    if n == 0:
        return None
    tier = tier.order_by("clip_id")
    if connection.features.has_select_for_update_skip_locked:
        tier = tier.select_for_update(skip_locked=True, of=("self",))
    offset = _rng.randrange(n)
    return tier[offset : offset + 1].first()


def _held_assignment(*, user, clip_id: int, kind: str) -> Assignment | None:
    return (
        Assignment.objects.select_for_update()
        .filter(user=user, clip_id=clip_id, kind=kind)
        .exclude(state__in=[Assignment.State.DONE, Assignment.State.SKIPPED])
        .order_by("-served_at")
        .first()
    )


def _lock_entry(clip_id: int, kind: str) -> PoolEntry:
    entry = (
        PoolEntry.objects.select_for_update()
        .select_related("project")
        .filter(clip_id=clip_id, kind=kind)
        .first()
    )
    if entry is None:
        raise ApplicationError(f"Clip #{clip_id} is not in the {kind} pool.", status=409, code="not_in_pool")
    return entry


def _require_held(held: Assignment | None, *, message: str = "You do not hold this clip.") -> None:
    """Refuse (409 `not_held`) a clip the user holds no live or expired assignment of, before
    its pool entry is looked up: a hidden check's clip may have no labelling entry (an imported
    gold clip), and "not in the pool" for it against "not held" for an ordinary clip would tell
    an annotator, after the fact, which clip was a check."""
    if held is None:
        raise ApplicationError(message, status=409, code="not_held")


def _finish(assignment: Assignment, entry: PoolEntry, state: str) -> None:
    was_live = assignment.state == Assignment.State.LIVE
    Assignment.objects.filter(pk=assignment.pk).update(state=state, finished_at=timezone.now())
    assignment.state = state
    if was_live:
        entry.n_live = max(entry.n_live - 1, 0)


def assignment_skip(*, user, clip_id: int, kind: str) -> None:
    """Give back a held clip unanswered: the assignment becomes skipped and the clip returns to
    the pool for others (never to this user: the assignment row remains).

    Checks no role: only the holder of the clip can skip it.

    Args:
        user: the holder.
        clip_id: the clip.
        kind: "validation" or "labelling".
    Raises:
        ApplicationError 409 (`not_in_pool`): the clip has no entry in that pool.
        ApplicationError 409 (`not_held`): the user holds no live or expired assignment of it.
    """
    with transaction.atomic():
        held = _held_assignment(user=user, clip_id=clip_id, kind=kind)
        if held is not None and held.gold_check_id:
            # A hidden check is given back like any clip; it touches no pool entry.
            Assignment.objects.filter(pk=held.pk).update(
                state=Assignment.State.SKIPPED, finished_at=timezone.now()
            )
            return
        _require_held(held)
        entry = _lock_entry(clip_id, kind)
        assignment = _held_assignment(user=user, clip_id=clip_id, kind=kind)
        _require_held(assignment)
        _finish(assignment, entry, Assignment.State.SKIPPED)
        _refresh_open(entry)
        entry.save(update_fields=["n_live", "open", "wanted"])


# --- validation ----------------------------------------------------------------------------


def validation_vote(
    *, user, clip_id: int, accept: bool, reasons: list[str] | None = None, time_spent_ms: int = 0
) -> ValidationVote:
    """Record one validator's vote, then decide the clip if the votes now say so.

    Refused: a clip the validator does not hold; an accept sooner than the clip's duration after
    it was served (it was not heard to the end); a rejection without a known reason; a second
    vote. A rejection may come at any moment: an obviously bad clip (music, silence, two voices
    at once) needs no hearing to its end.

    Decision rule (active votes of the current round only): accepted once accepts >=
    `validation_votes_needed` and accepts > rejects; rejected likewise. An accepted clip enters
    the labelling pool; either way a ClipDecision is recorded and the validation entry closes.

    Args:
        user: the validator (or curator).
        clip_id: the clip voted on.
        accept: True to accept, False to reject.
        reasons: RejectionReason codes (active ones); at least one to reject. Duplicates are
            allowed and counted once.
        time_spent_ms: time the validator spent, in milliseconds (negative values stored as 0).
    Returns:
        The new ValidationVote, its reasons set.
    Raises:
        ApplicationError 403 (`forbidden`): not a validator or curator.
        ApplicationError 409: `not_in_pool`, `duplicate` (an active vote of this user on the
            clip), `not_held`, `decided` (the clip no longer awaits validation).
        ApplicationError 400: `too_soon` (an accept served less than duration -
            LISTEN_TOLERANCE_S seconds ago), `unknown_reason`, `reason_required`.
    """
    require_role(user, roles.VALIDATOR, roles.CURATOR)
    reasons = reasons or []
    with transaction.atomic():
        entry = _lock_entry(clip_id, VALIDATION)
        assignment = _held_assignment(user=user, clip_id=clip_id, kind=VALIDATION)
        if ValidationVote.objects.filter(clip_id=clip_id, validator=user, active=True).exists():
            raise ApplicationError("You have already voted on this clip.", status=409, code="duplicate")
        if assignment is None:
            raise ApplicationError(
                "You do not hold this clip: ask for the next clip first.", status=409, code="not_held"
            )
        clip = Clip.objects.get(pk=clip_id)
        if clip.status != Clip.Status.AWAITING_VALIDATION:
            raise ApplicationError("This clip has already been decided.", status=409, code="decided")
        heard = (timezone.now() - assignment.served_at).total_seconds()
        if accept and heard < clip.duration_s - LISTEN_TOLERANCE_S:
            raise ApplicationError(
                f"Listen to the whole clip before voting: it lasts {clip.duration_s:.1f} s and was served "
                f"{heard:.1f} s ago.",
                code="too_soon",
            )
        reason_rows = list(RejectionReason.objects.filter(code__in=reasons, active=True))
        if len(reason_rows) != len(set(reasons)):
            unknown = sorted(set(reasons) - {r.code for r in reason_rows})
            raise ApplicationError(
                f"Unknown rejection reason(s): {', '.join(unknown)}.", code="unknown_reason"
            )
        if not accept and not reason_rows:
            raise ApplicationError("A rejection needs at least one reason.", code="reason_required")
        vote = ValidationVote.objects.create(
            clip_id=clip_id,
            validator=user,
            accept=accept,
            assignment=assignment,
            time_spent_ms=max(time_spent_ms, 0),
        )
        vote.reasons.set(reason_rows)
        _finish(assignment, entry, Assignment.State.DONE)
        entry.n_done += 1
        accepts, rejects = _validation_tally(clip_id)
        needed = config_for(entry.project).validation_votes_needed
        if accepts >= needed and accepts > rejects:
            _decide(clip, accepted=True)
        elif rejects >= needed and rejects > accepts:
            _decide(clip, accepted=False)
        _refresh_open(entry)
        entry.save(update_fields=["n_done", "n_live", "open"])
    return vote


def _decide(clip: Clip, *, accepted: bool, curator=None, note: str = "") -> None:
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.ACCEPTED if accepted else Clip.Status.REJECTED)
    clip.status = Clip.Status.ACCEPTED if accepted else Clip.Status.REJECTED
    ClipDecision.objects.create(clip=clip, accepted=accepted, by_curator=curator, note=note)
    PoolEntry.objects.filter(clip=clip, kind=VALIDATION).update(open=False)
    if accepted:
        pool_add_clips(clip_ids=[clip.pk], kind=LABELLING)
        labelling = (
            PoolEntry.objects.select_for_update().select_related("project").get(clip=clip, kind=LABELLING)
        )
        _refresh_open(labelling)
        labelling.save(update_fields=["open", "wanted"])
    else:
        PoolEntry.objects.filter(clip=clip, kind=LABELLING).update(open=False)


def clip_decision_overturn(*, curator, clip_id: int, accept: bool, note: str = "") -> ClipDecision:
    """A curator accepts a rejected clip or rejects an accepted one (labels already given stay).

    Any clip not yet fully labelled may be decided this way (one awaiting validation too).
    Accepting puts the clip into the labelling pool; rejecting closes its labelling entry.

    Args:
        curator: the deciding curator (a member of the clip's project, or a superuser).
        clip_id: the clip.
        accept: the new decision.
        note: why, recorded on the ClipDecision.
    Returns:
        The new ClipDecision (the clip's latest).
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
        Clip.DoesNotExist: no such clip.
        django.core.exceptions.PermissionDenied (403): the clip is not in one of the curator's
            projects.
        ApplicationError 409 (`invalid`): the clip is labelled (exclude it from releases
            instead).
    """
    require_role(curator, roles.CURATOR)
    with transaction.atomic():
        clip = Clip.objects.select_for_update().select_related("recording__source").get(pk=clip_id)
        if (
            not clip.recording.source.project.members.filter(pk=curator.pk).exists()
            and not curator.is_superuser
        ):
            raise PermissionDenied("This clip is not in one of your projects.")
        if clip.status == Clip.Status.LABELLED:
            raise ApplicationError(
                "This clip is fully labelled; exclude it from releases instead.", status=409
            )
        _decide(clip, accepted=accept, curator=curator, note=note)
    return clip.decisions.first()


# --- labelling -----------------------------------------------------------------------------


def annotation_submit(
    *,
    user,
    clip_id: int,
    emotion: str,
    gender: str,
    time_spent_ms: int = 0,
    comment: str = "",
    shown_prediction: dict | None = None,
) -> Annotation:
    """Store one annotator's label of a clip.

    Refused: an unknown emotion or gender, a clip the annotator was never handed, a second label
    of the same clip. A label submitted after its assignment expired is kept while the clip still
    has room (fewer labels and live assignments than it wants): a label is never lost for
    lateness alone.

    Dynamic overlap (`_label_arrived`): when the clip's labels reach what its entry wants (K,
    AnnotationConfig.labels_per_clip, at first), the project's escalation rule
    (`crowd.needs_more_raters`) decides. More raters wanted: the entry wants one label more, is
    marked escalated and reopens; the clip stays accepted and its consensus "pending". Otherwise
    the clip is labelled, its majority consensus final (`consensus.consensus_compute`: agreed,
    or needs adjudication when the maximum was reached without one) and the `clip_labelled`
    hooks run. All in the same transaction.

    A held hidden check (its Assignment carries `gold_check`) is routed before the pool logic:
    the answer becomes a CheckAnswer (never an Annotation), and `crowd.should_pause` may pause
    the annotator (`_check_answer_record`). Validation and refusals read as for any clip.

    Args:
        user: the annotator (or curator).
        clip_id: the clip labelled.
        emotion: an active LabelOption code of kind emotion.
        gender: an active LabelOption code of kind gender (required).
        time_spent_ms: labelling time in milliseconds (negative or None stored as 0).
        comment: free text.
        shown_prediction: what the client says it showed. Not trusted: the stored value is the
            suggestion the server itself hands out with this clip (`policies.handout_extras`),
            or None when the project shows none, whatever the client sends.
    Returns:
        The new Annotation, or the new CheckAnswer of a hidden check (both have `id`, `clip`).
    Raises:
        ApplicationError 403 (`forbidden`): not an annotator or curator.
        ApplicationError 403 (`paused`): the annotator is paused or excluded in the clip's
            project (`refuse_if_paused`), for an ordinary clip and a hidden check alike.
        ApplicationError 400: `gender_required`, `unknown_emotion`, `unknown_gender`.
        ApplicationError 409: `not_in_pool`, `duplicate` (already labelled by this user),
            `not_held`, `expired` (expired and the clip has since filled up).
    """
    require_role(user, roles.ANNOTATOR, roles.CURATOR)
    options = {
        (o.kind, o.code): o
        for o in LabelOption.objects.filter(active=True, code__in=[emotion or "", gender or ""])
    }
    emotion_opt = options.get((LabelOption.Kind.EMOTION, emotion))
    gender_opt = options.get((LabelOption.Kind.GENDER, gender))
    if not gender:
        raise ApplicationError("The speaker's gender is missing.", code="gender_required")
    if emotion_opt is None:
        raise ApplicationError(f"Unknown emotion '{emotion}'.", code="unknown_emotion")
    if gender_opt is None:
        raise ApplicationError(f"Unknown gender '{gender}'.", code="unknown_gender")
    with transaction.atomic():
        held = _held_assignment(user=user, clip_id=clip_id, kind=LABELLING)
        if held is not None and held.gold_check_id:
            # Refused exactly as an ordinary clip would be (same check, same answer): a paused
            # or excluded annotator answering a check must not learn that it was one.
            refuse_if_paused(user=user, project=held.gold_check.project)
            return _check_answer_record(
                assignment=held, emotion=emotion_opt, gender=gender_opt, time_spent_ms=time_spent_ms
            )
        if CheckAnswer.objects.filter(clip_id=clip_id, user=user).exists():
            raise ApplicationError("You have already labelled this clip.", status=409, code="duplicate")
        if held is None and not Annotation.objects.filter(clip_id=clip_id, annotator=user).exists():
            # Not held and not labelled: refused in the order an ordinary clip's checks below
            # give (paused, then not held), before the pool entry is looked up (`_require_held`).
            project = (
                Clip.objects.filter(pk=clip_id).values_list("recording__source__project", flat=True).first()
            )
            if project is not None:
                refuse_if_paused(user=user, project=project)
            _require_held(held, message=NOT_HELD_LABEL)
        entry = _lock_entry(clip_id, LABELLING)
        if Annotation.objects.filter(clip_id=clip_id, annotator=user).exists():
            raise ApplicationError("You have already labelled this clip.", status=409, code="duplicate")
        # Paused or excluded: no label either. The one-live-assignment rule means a paused
        # annotator holds no live labelling clip (the check that paused them was it), so this
        # refuses only hand-outs that expired before the pause.
        refuse_if_paused(user=user, project=entry.project)
        assignment = _held_assignment(user=user, clip_id=clip_id, kind=LABELLING)
        _require_held(assignment, message=NOT_HELD_LABEL)
        config = config_for(entry.project)
        if assignment.state == Assignment.State.EXPIRED and entry.n_done + entry.n_live >= _wanted(
            entry, config
        ):
            raise ApplicationError(
                "Your assignment expired and the clip has since been given to others; "
                "your label was not needed.",
                status=409,
                code="expired",
            )
        annotation = Annotation.objects.create(
            clip_id=clip_id,
            annotator=user,
            emotion=emotion_opt,
            gender=gender_opt,
            time_spent_ms=max(int(time_spent_ms or 0), 0),
            comment=comment or "",
            assignment=assignment,
            shown_prediction=policies.handout_extras(
                clip_id=clip_id, project=entry.project, kind=LABELLING
            ).get("suggestion"),
        )
        _finish(assignment, entry, Assignment.State.DONE)
        entry.n_done += 1  # the row is locked: plain arithmetic is safe
        _label_arrived(entry, config)
    return annotation


def _check_answer_record(*, assignment: Assignment, emotion, gender, time_spent_ms) -> CheckAnswer:
    """Store the answer to a held hidden check, close its assignment, and pause the annotator
    when their check record says so. Runs inside annotation_submit's transaction.

    1. A CheckAnswer (correct: the emotion equals the check's reference emotion).
    2. The assignment becomes done (live or expired alike: no pool counter to protect).
    3. `crowd.should_pause` over the answers given in the project since the last curator review
       (AnnotatorStanding.reviewed_at): a resumed annotator starts a fresh record.
    """
    check = GoldCheck.objects.get(pk=assignment.gold_check_id)
    answer = CheckAnswer.objects.create(
        assignment=assignment,
        user=assignment.user,
        gold_check=check,
        clip_id=assignment.clip_id,
        emotion=emotion,
        gender=gender,
        correct=emotion.pk == check.emotion_id,
        time_spent_ms=max(int(time_spent_ms or 0), 0),
    )
    Assignment.objects.filter(pk=assignment.pk).update(
        state=Assignment.State.DONE, finished_at=timezone.now()
    )
    config = config_for(check.project)
    standing, _ = AnnotatorStanding.objects.select_for_update().get_or_create(
        project=check.project, user=assignment.user
    )
    if not standing.paused:
        answers = CheckAnswer.objects.filter(user=assignment.user, gold_check__project=check.project)
        if standing.reviewed_at:
            answers = answers.filter(created_at__gt=standing.reviewed_at)
        n_checks = answers.count()
        n_correct = answers.filter(correct=True).count()
        if crowd.should_pause(
            n_correct, n_checks, min_checks=config.check_min_answers, threshold=config.check_threshold
        ):
            standing.paused, standing.paused_at = True, timezone.now()
            standing.save(update_fields=["paused", "paused_at"])
    return answer


def _emotion_counts(clip_id: int) -> list[int]:
    """Votes per emotion of a clip's counted labels (`consensus.counted_annotations`: an excluded
    annotator's labels do not count; only emotions given; order irrelevant)."""
    labels = consensus.counted_annotations().filter(clip_id=clip_id)
    return list(Counter(labels.values_list("emotion_id", flat=True)).values())


def _needs_more(entry: PoolEntry, config: AnnotationConfig, counts: list[int] | None = None) -> bool:
    """Whether the project's escalation rule wants one more label on a clip with n_done >= K
    (`counts`: its votes per emotion, read from its labels when None)."""
    if config.escalation == AnnotationConfig.Escalation.OFF:
        return False
    return crowd.needs_more_raters(
        _emotion_counts(entry.clip_id) if counts is None else counts,
        min_votes=config.consensus_min_votes,
        max_raters=config.max_raters,
        min_agreement=config.min_agreement,
    )


def _label_arrived(entry: PoolEntry, config: AnnotationConfig) -> None:
    """After a label was counted on the locked labelling `entry`: escalate, or finish the clip.

    1. Fewer labels than the clip wants: nothing to decide (an escalated clip's pending
       consensus follows the new label).
    2. As many as it wants and the rule wants more (`_needs_more`): wanted = n_done + 1,
       escalated, reopened; consensus pending; the clip stays (or goes back to) accepted.
    3. Otherwise: the clip is labelled and its consensus final; `clip_labelled` hooks run.
    A clip a curator already decided (or gold) keeps its consensus and status: a label that
    arrives after that (a hand-out still live when the settings closed the clip) is only counted.
    Saves the entry's counters. Runs in the caller's transaction.
    """
    finished = False
    if ClipConsensus.objects.filter(clip_id=entry.clip_id, status__in=PROTECTED_CONSENSUS).exists():
        _refresh_open(entry, config)
        entry.save(update_fields=["n_done", "n_live", "open", "wanted", "escalated"])
        return
    if entry.n_done < _wanted(entry, config):
        if entry.escalated:
            consensus.consensus_compute(clip_id=entry.clip_id, final=False)
    elif _needs_more(entry, config):
        entry.escalated = True
        entry.wanted = entry.n_done + 1
        Clip.objects.filter(pk=entry.clip_id, status=Clip.Status.LABELLED).update(status=Clip.Status.ACCEPTED)
        consensus.consensus_compute(clip_id=entry.clip_id, final=False)
    else:
        finished = True
    _refresh_open(entry, config)
    entry.save(update_fields=["n_done", "n_live", "open", "wanted", "escalated"])
    if finished:
        Clip.objects.filter(pk=entry.clip_id).update(status=Clip.Status.LABELLED)
        consensus.consensus_compute(clip_id=entry.clip_id)
        policies.clip_labelled(clip_id=entry.clip_id)
        policies.consensus_changed(clip_id=entry.clip_id)


def pool_reevaluate(*, project: Project) -> dict:
    """Apply the current K, maximum and escalation rule to every labelling entry of `project`
    (run after the settings change: the admin does on save, `consensus_recompute` first thing).

    For each labelling entry whose clip is accepted or labelled and whose consensus is not a
    curator's (adjudicated, discarded) or gold:
    1. Fewer labels than K: the clip wants K; a labelled clip goes back to accepted (pending).
    2. At least K and the rule wants more (`crowd.needs_more_raters` under the new maximum):
       escalated, wants n_done + 1; a labelled clip goes back to accepted, consensus pending.
    3. Otherwise: closed; an accepted clip with at least K labels becomes labelled with a final
       consensus (and the `clip_labelled` hooks run).
    `open` and `wanted` are recomputed from the counters (live hand-outs still count). So:
    raising K or the maximum, or turning escalation on, reopens clips; lowering them, or turning
    escalation off, closes clips that now have enough labels, and a closed tie goes to
    adjudication. Curator decisions are never undone.

    Args:
        project: the project.
    Returns:
        {"reopened": labelled clips sent back to labelling, "closed": accepted clips now
        labelled, "entries": entries examined}.
    """
    config = config_for(project)
    k = config.labels_per_clip
    reopened = closed = examined = 0
    with transaction.atomic():
        entries = (
            PoolEntry.objects.select_for_update(of=("self",))
            .filter(
                project=project,
                kind=LABELLING,
                clip__status__in=[Clip.Status.ACCEPTED, Clip.Status.LABELLED],
            )
            .exclude(clip__consensus__status__in=PROTECTED_CONSENSUS)
            .select_related("clip")
            .order_by("clip_id")
        )
        # Every counted label of the project in one read, not one query per clip.
        counts: dict[int, Counter] = {}
        for clip_id, emotion_id in (
            consensus.counted_annotations(project=project)
            .values_list("clip_id", "emotion_id")
            .iterator(chunk_size=20000)
        ):
            counts.setdefault(clip_id, Counter())[emotion_id] += 1
        for entry in entries:
            examined += 1
            labelled = entry.clip.status == Clip.Status.LABELLED
            before = (entry.open, entry.wanted, entry.escalated)
            if entry.n_done < k:
                more = True
                entry.wanted = k  # escalation is decided again once it has K labels
            elif _needs_more(entry, config, list(counts.get(entry.clip_id, Counter()).values())):
                more = True
                entry.escalated = True
                entry.wanted = entry.n_done + 1
            else:
                more = False
                # Enough labels (e.g. an escalated clip whose excluded rater caused the tie): it
                # wants no more; `escalated` stays, as the clip's history.
                entry.wanted = max(k, entry.n_done)
            _refresh_open(entry, config)
            if (entry.open, entry.wanted, entry.escalated) != before:
                entry.save(update_fields=["open", "wanted", "escalated"])
            if more and labelled:
                Clip.objects.filter(pk=entry.clip_id).update(status=Clip.Status.ACCEPTED)
                if entry.n_done:
                    consensus.consensus_compute(clip_id=entry.clip_id, final=False)
                reopened += 1
            elif more and entry.escalated and entry.n_done:
                consensus.consensus_compute(clip_id=entry.clip_id, final=False)
            elif not more and not labelled and entry.n_done >= k:
                Clip.objects.filter(pk=entry.clip_id).update(status=Clip.Status.LABELLED)
                consensus.consensus_compute(clip_id=entry.clip_id)
                policies.clip_labelled(clip_id=entry.clip_id)
                policies.consensus_changed(clip_id=entry.clip_id)
                closed += 1
    return {"reopened": reopened, "closed": closed, "entries": examined}


def clip_flag(*, user, clip_id: int, reason: str | None = None, comment: str = "") -> Flag:
    """An annotator sends the clip back to validation. Labels already given are kept.

    The held assignment becomes skipped and `clip_return_to_validation` starts a new round.

    Args:
        user: the annotator (or curator) holding the clip.
        clip_id: the clip.
        reason: an active RejectionReason code, or None.
        comment: free text; required when there is no reason.
    Returns:
        The new Flag.
    Raises:
        ApplicationError 403 (`forbidden`): not an annotator or curator.
        ApplicationError 403 (`paused`): paused or excluded in the clip's project.
        ApplicationError 400: `unknown_reason`, `reason_required` (neither reason nor comment).
        ApplicationError 409: `not_held` (also a clip with no labelling entry), `not_in_pool`.
    """
    require_role(user, roles.ANNOTATOR, roles.CURATOR)
    reason_row = None
    if reason:
        reason_row = RejectionReason.objects.filter(code=reason, active=True).first()
        if reason_row is None:
            raise ApplicationError(f"Unknown reason '{reason}'.", code="unknown_reason")
    elif not comment:
        raise ApplicationError(
            "Say why the clip goes back to validation (a reason or a comment).", code="reason_required"
        )
    with transaction.atomic():
        # Paused or excluded: no flag (it would send an accepted clip back to validation), for a
        # check and an ordinary clip alike.
        project = Clip.objects.filter(pk=clip_id).values_list("recording__source__project", flat=True).first()
        if project is not None:
            refuse_if_paused(user=user, project=project)
        held = _held_assignment(user=user, clip_id=clip_id, kind=LABELLING)
        if held is not None and held.gold_check_id:
            # A flagged check is recorded for the curators and given back; the reference clip
            # itself stays where it is (a curator may unmark it).
            flag = Flag.objects.create(clip_id=clip_id, user=user, reason=reason_row, comment=comment)
            Assignment.objects.filter(pk=held.pk).update(
                state=Assignment.State.SKIPPED, finished_at=timezone.now()
            )
            return flag
        _require_held(held)
        entry = _lock_entry(clip_id, LABELLING)
        assignment = _held_assignment(user=user, clip_id=clip_id, kind=LABELLING)
        _require_held(assignment)
        flag = Flag.objects.create(clip_id=clip_id, user=user, reason=reason_row, comment=comment)
        _finish(assignment, entry, Assignment.State.SKIPPED)
        entry.save(update_fields=["n_live"])
        clip_return_to_validation(clip_id=clip_id)
    return flag


def clip_return_to_validation(*, clip_id: int) -> None:
    """Start a new validation round for a clip (flagged, or sent back by a curator).

    Earlier votes stop counting, the clip leaves the labelling pool, and the labels it already
    has are kept. Runs inside the caller's transaction.

    The validation entry is reopened with n_done 0 (created if missing), and the clip's finished
    validation assignments are deleted so that earlier validators may be handed it again.

    Args:
        clip_id: the clip.
    """
    ValidationVote.objects.filter(clip_id=clip_id, active=True).update(active=False)
    Clip.objects.filter(pk=clip_id).update(status=Clip.Status.AWAITING_VALIDATION)
    PoolEntry.objects.filter(clip_id=clip_id, kind=LABELLING).update(open=False)
    PoolEntry.objects.filter(clip_id=clip_id, kind=VALIDATION).update(n_done=0, open=True)
    pool_add_clips(clip_ids=[clip_id], kind=VALIDATION)
    # Validators who heard it before may hear it again in the new round.
    Assignment.objects.filter(clip_id=clip_id, kind=VALIDATION).exclude(state=Assignment.State.LIVE).delete()


def work_check(clips):
    """Clips carrying somebody's work: the corpus never deletes or moves these.

    Registered as the corpus's clip work check (`corpus.policies.register_clip_work_check`).

    Args:
        clips: a Clip queryset.
    Returns:
        The distinct subset with any validation vote (inactive ones too), annotation, flag,
        curator decision or hidden gold check (active or not: its answers refer to the clip).
    """
    return clips.filter(
        Q(validation_votes__isnull=False)
        | Q(annotations__isnull=False)
        | Q(flags__isnull=False)
        | Q(decisions__isnull=False)
        | Q(gold_check__isnull=False)
    ).distinct()


def holds_clip(user, clip_id: int) -> bool:
    """Whoever holds a live assignment of a clip may hear it (and nobody else without a role).

    Registered as the corpus's clip access check (`corpus.policies.register_clip_access_check`).

    Args:
        user: the requesting user.
        clip_id: the clip.
    Returns:
        True if `user` has a live assignment (of either kind) of the clip that has not expired
        (an expired one is swept back to the pool at the next hand-out; its audio closes now).
    """
    if not user.is_authenticated:
        return False
    return Assignment.objects.filter(
        user=user, clip_id=clip_id, state=Assignment.State.LIVE, expires_at__gt=timezone.now()
    ).exists()


def pool_set_priorities(*, priorities: dict[int, float]) -> int:
    """Set the labelling-queue priority of clips (lower first); written by queue policies.

    Only labelling pool entries are touched; a clip without one is skipped.

    Args:
        priorities: {clip id: priority}; lower is handed out first (after n_done, in
            `policies.breadth_first`).
    Returns:
        The number of rows sent (`core.bulk.fast_update`), not the number matched.
    """
    from core.bulk import fast_update

    rows = [(float(p), cid) for cid, p in sorted(priorities.items())]
    with transaction.atomic():
        return fast_update(PoolEntry, "clip", ["priority"], rows, where={"kind": LABELLING})


# --- hidden gold checks and annotator standing (curators) ---------------------------------------


def _curated_clip(*, curator, clip_id: int) -> Clip:
    """The clip, locked, if it belongs to one of the curator's projects (404 otherwise)."""
    clip = (
        Clip.objects.select_for_update()
        .select_related("recording__source__project")
        .filter(pk=clip_id)
        .first()
    )
    project = clip.recording.source.project if clip else None
    if clip is None or not (curator.is_superuser or project.members.filter(pk=curator.pk).exists()):
        raise ApplicationError(f"No clip #{clip_id} in your projects.", status=404, code="not_found")
    return clip


def gold_check_mark(*, curator, clip_id: int, emotion: str | None = None) -> GoldCheck:
    """Mark a reference clip as a hidden gold check (or re-activate it, with a new reference).

    Candidates: clips whose consensus may serve as a label (`ClipConsensus.usable_q`: agreed,
    adjudicated, gold from an imported corpus). The reference emotion is the consensus's unless
    the curator names another.

    Args:
        curator: a curator of the clip's project (or a superuser).
        clip_id: the clip.
        emotion: an active emotion code, or None for the clip's consensus emotion.
    Returns:
        The active GoldCheck.
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
        ApplicationError 404 (`not_found`): no such clip in the curator's projects.
        ApplicationError 409 (`not_a_candidate`): no usable consensus.
        ApplicationError 400 (`unknown_emotion`): an unknown emotion code.
    """
    require_role(curator, roles.CURATOR)
    with transaction.atomic():
        clip = _curated_clip(curator=curator, clip_id=clip_id)
        agreed = ClipConsensus.objects.usable().filter(clip=clip).first()
        if agreed is None or agreed.emotion_id is None:
            raise ApplicationError(
                "Only agreed, adjudicated or gold clips can be checks.", status=409, code="not_a_candidate"
            )
        emotion_id = agreed.emotion_id
        if emotion:
            option = LabelOption.objects.filter(
                kind=LabelOption.Kind.EMOTION, code=emotion, active=True
            ).first()
            if option is None:
                raise ApplicationError(f"Unknown emotion '{emotion}'.", code="unknown_emotion")
            emotion_id = option.pk
        check, _ = GoldCheck.objects.update_or_create(
            clip=clip,
            defaults={
                "project": clip.recording.source.project,
                "emotion_id": emotion_id,
                "active": True,
                "created_by": curator,
            },
        )
    return check


def gold_check_unmark(*, curator, clip_id: int) -> GoldCheck:
    """Stop handing a clip out as a check. Its answers stay (they keep counting in the records).

    Args:
        curator: a curator of the clip's project (or a superuser).
        clip_id: the clip.
    Returns:
        The GoldCheck, now inactive.
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
        ApplicationError 404 (`not_found`): no such clip in the curator's projects, or not a check.
    """
    require_role(curator, roles.CURATOR)
    with transaction.atomic():
        clip = _curated_clip(curator=curator, clip_id=clip_id)
        check = GoldCheck.objects.filter(clip=clip).first()
        if check is None:
            raise ApplicationError(f"Clip #{clip_id} is not a check.", status=404, code="not_found")
        GoldCheck.objects.filter(pk=check.pk).update(active=False)
        check.active = False
    return check


STANDING_ACTIONS = ("resume", "exclude", "include")


def annotator_standing_set(*, curator, project: Project, user_id: int, action: str) -> AnnotatorStanding:
    """A curator resumes a paused annotator, or excludes / re-includes their labels.

    resume: `paused` False; their check record restarts from now (`_check_answer_record`).
    exclude: their Annotation rows stay but stop counting (`consensus.counted_annotations`);
        they get no more hand-outs (`refuse_if_paused`) and their live labelling assignments in
        the project expire (the clips return to the pool).
    include: reverses exclude.
    After exclude/include, in the same transaction: 1. each clip the annotator labelled gets its
    label counter back in line with the counted labels (`_clips_resync`); 2. the consensus of
    the project is recomputed (`consensus.consensus_recompute`, which first re-applies the pool
    rules, `pool_reevaluate`): a clip below K counted labels, or without consensus while under
    the escalation maximum, returns to the labelling pool; one with enough is labelled again.
    `reviewed_by`, `reviewed_at` and `action` record who did what, when.

    Args:
        curator: a curator of `project` (the API resolves the project with `project_for_user`).
        project: the project.
        user_id: the annotator, a member of `project`.
        action: "resume", "exclude" or "include".
    Returns:
        The AnnotatorStanding.
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
        ApplicationError 404 (`not_found`): the user is not a member of `project`.
        ApplicationError 400 (`invalid`): an unknown action.
    """
    require_role(curator, roles.CURATOR)
    if action not in STANDING_ACTIONS:
        raise ApplicationError(f"Unknown action '{action}': use resume, exclude or include.")
    member = project.members.filter(pk=user_id).first()
    if member is None:
        raise ApplicationError("No such annotator in this project.", status=404, code="not_found")
    now = timezone.now()
    with transaction.atomic():
        standing, _ = AnnotatorStanding.objects.select_for_update().get_or_create(
            project=project, user=member
        )
        if action == "resume":
            standing.paused = False
        else:
            standing.excluded = action == "exclude"
        standing.reviewed_by, standing.reviewed_at, standing.action = curator, now, action
        standing.save()
        if action == "resume":
            return standing
        if action == "exclude":
            live = Assignment.objects.filter(
                user=member,
                kind=LABELLING,
                state=Assignment.State.LIVE,
                clip__recording__source__project=project,
            )
            Assignment.objects.filter(pk__in=list(live.values_list("pk", flat=True))).update(
                expires_at=now - timedelta(seconds=1)
            )
            _expire_stale(LABELLING)
        _clips_resync(
            project=project,
            clip_ids=Annotation.objects.filter(
                annotator=member, clip__recording__source__project=project
            ).values_list("clip_id", flat=True),
        )
        # Re-applies the pool rules to the new counts (`pool_reevaluate`: a clip below K counted
        # labels, or still without consensus under the maximum, reopens; one with enough closes),
        # then recomputes every consensus on the counted labels.
        consensus.consensus_recompute(project=project)
    return standing


def _clips_resync(*, project: Project, clip_ids) -> None:
    """Set the labelling counter (`n_done`) of clips to their counted labels
    (`consensus.counted_annotations`), after an exclusion or re-inclusion; `open` and `wanted`
    recomputed. Status and consensus are left to `pool_reevaluate` (run by the caller through
    `consensus.consensus_recompute`). Curator decisions (adjudicated, discarded) and gold labels
    are left alone.
    """
    config = config_for(project)
    counted = dict(
        consensus.counted_annotations(project=project)
        .filter(clip_id__in=list(clip_ids))
        .values_list("clip_id")
        .annotate(n=Count("id"))
        .values_list("clip_id", "n")
    )
    # A subquery, not a join on the (optional) consensus: FOR UPDATE refuses the nullable side
    # of an outer join on PostgreSQL.
    entries = (
        PoolEntry.objects.select_for_update()
        .filter(kind=LABELLING, clip_id__in=list(clip_ids))
        .exclude(clip_id__in=ClipConsensus.objects.filter(status__in=PROTECTED_CONSENSUS).values("clip_id"))
    )
    for entry in entries:
        entry.n_done = counted.get(entry.clip_id, 0)
        _refresh_open(entry, config)
        entry.save(update_fields=["n_done", "open", "wanted"])


# --- quota targets (the quota-driven labelling queue) -----------------------------------------


def _quota_options(*, emotion: str, gender: str | None) -> tuple[LabelOption, LabelOption | None]:
    emotion_opt = LabelOption.objects.filter(kind=LabelOption.Kind.EMOTION, code=emotion, active=True).first()
    if emotion_opt is None:
        raise ApplicationError(f"Unknown emotion '{emotion[:40]}'.", code="unknown_emotion")
    gender_opt = None
    if gender:
        gender_opt = LabelOption.objects.filter(
            kind=LabelOption.Kind.GENDER, code=gender, active=True
        ).first()
        if gender_opt is None:
            raise ApplicationError(f"Unknown gender '{gender[:40]}'.", code="unknown_gender")
    return emotion_opt, gender_opt


def _check_target(target) -> int:
    if isinstance(target, bool) or not isinstance(target, int) or target < 0:
        raise ApplicationError("A quota target is a whole number of clips, 0 or more.", code="invalid_target")
    return target


def quota_target_set(
    *, user, project: Project, emotion: str, gender: str | None = None, target: int
) -> tuple[QuotaTarget, bool]:
    """Set how many clips of one cell (emotion, and gender or any) the project wants.

    Creates the cell's row or updates its target (one row per project, emotion and gender:
    the model's partial unique constraints). A target of 0 keeps the cell, counted as full.
    The `policies.targets_changed` hooks run in the same transaction (the quota queue re-ranks).

    Args:
        user: a curator of `project` (membership is the caller's check).
        project: the project.
        emotion: an active emotion LabelOption code.
        gender: an active gender LabelOption code, or None/"" for any gender.
        target: clips wanted (int >= 0).
    Returns:
        (the QuotaTarget, True if it was created).
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
        ApplicationError 400: `unknown_emotion`, `unknown_gender` (also an option of the other
            kind or an inactive one), `invalid_target` (negative or not an integer).
    """
    require_role(user, roles.CURATOR)
    target = _check_target(target)
    emotion_opt, gender_opt = _quota_options(emotion=emotion, gender=gender)
    with transaction.atomic():
        row, created = QuotaTarget.objects.select_for_update().get_or_create(
            project=project, emotion=emotion_opt, gender=gender_opt, defaults={"target": target}
        )
        if not created and row.target != target:
            row.target = target
            row.save(update_fields=["target", "updated_at"])
        policies.targets_changed(project_id=project.pk)
    return row, created


def quota_target_update(*, user, quota_target: QuotaTarget, target: int) -> QuotaTarget:
    """Change the target of an existing cell.

    Args:
        user: a curator of the cell's project (the caller resolves the row within the user's
            projects).
        quota_target: the row.
        target: clips wanted (int >= 0).
    Returns:
        The row, saved.
    Raises:
        ApplicationError 403 (`forbidden`): not a curator; 400 (`invalid_target`).
    """
    require_role(user, roles.CURATOR)
    quota_target.target = _check_target(target)
    with transaction.atomic():
        quota_target.save(update_fields=["target", "updated_at"])
        policies.targets_changed(project_id=quota_target.project_id)
    return quota_target


def quota_target_delete(*, user, quota_target: QuotaTarget) -> None:
    """Remove a cell from the project's quotas (its clips keep their labels).

    Args:
        user: a curator of the cell's project (the caller resolves the row).
        quota_target: the row.
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
    """
    require_role(user, roles.CURATOR)
    with transaction.atomic():
        project_id = quota_target.project_id
        quota_target.delete()
        policies.targets_changed(project_id=project_id)
