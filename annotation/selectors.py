"""Reads of validation and labelling: counters, per-annotator progress, rejected clips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from annotation import crowd
from annotation.guideline import DEFAULT_GUIDELINE
from annotation.models import (
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    Assignment,
    CheckAnswer,
    ClipConsensus,
    Flag,
    GoldCheck,
    PoolEntry,
    QueuePick,
    QuotaTarget,
    ValidationVote,
)
from core.access import projects_for_user
from core.models import Project
from corpus import selectors as corpus_selectors
from corpus.models import Clip


def default_guideline() -> str:
    """The built-in labelling guideline text, shown when a project has written none."""
    return DEFAULT_GUIDELINE


def _today_start():
    now = timezone.localtime()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def handout_candidates(*, user, projects, kind: str) -> QuerySet[PoolEntry]:
    """The open pool entries of `projects` that `user` may be handed next: the queue's one rule,
    read by `services.assignment_next` (which orders and locks them) and by the home page's count.

    Excluded: clips the user answered or gave back (an assignment done or skipped, flags
    included), holds now (live), labelled or was ever handed as a hidden check, expired too
    (labelling), or holds an active vote on (validation).
    An expired assignment excludes nothing: the person never answered, so the clip returns to
    their queue as to anyone's (otherwise, with K annotators in all, it could never reach K).

    Args:
        user: the person asking for work.
        projects: a Project queryset or list.
        kind: "validation" or "labelling" (Assignment.Kind).
    Returns:
        A PoolEntry queryset, unordered.
    """
    answered = (
        Assignment.objects.filter(user=user, kind=kind)
        .exclude(state=Assignment.State.EXPIRED)
        .values("clip_id")
    )
    entries = PoolEntry.objects.filter(project__in=projects, kind=kind, open=True).exclude(
        clip_id__in=answered
    )
    if kind == Assignment.Kind.LABELLING:
        # A clip once handed to the user as a hidden check (even left to expire) never comes
        # back to them as an ordinary clip: they heard it, and it would be answered twice.
        checks = Assignment.objects.filter(user=user, kind=kind, gold_check__isnull=False).values("clip_id")
        return entries.exclude(
            clip_id__in=Annotation.objects.filter(annotator=user).values("clip_id")
        ).exclude(clip_id__in=checks)
    return entries.exclude(
        clip_id__in=ValidationVote.objects.filter(validator=user, active=True).values("clip_id")
    )


def check_candidates(*, user, project: Project) -> QuerySet[GoldCheck]:
    """The active hidden checks of `project` that `user` may be handed: never one they were
    handed before (in any state), nor one whose clip they labelled or were handed as an
    ordinary clip.

    Args:
        user: the annotator.
        project: the project.
    Returns:
        A GoldCheck queryset, unordered.
    """
    handed = Assignment.objects.filter(user=user, kind=Assignment.Kind.LABELLING).values("clip_id")
    return (
        GoldCheck.objects.filter(project=project, active=True)
        .exclude(clip_id__in=handed)
        .exclude(clip_id__in=Annotation.objects.filter(annotator=user).values("clip_id"))
        .exclude(pk__in=CheckAnswer.objects.filter(user=user).values("gold_check_id"))
    )


def standing_blocks(*, user, project: Project, paused: bool = True) -> bool:
    """Whether `user` may get no labelling work in `project`: excluded by a curator, or (with
    `paused`) paused by their check answers.

    Args:
        user: the annotator.
        project: the project.
        paused: count a pause too (False: only an exclusion).
    Returns:
        True when blocked.
    """
    blocked = Q(excluded=True) | Q(paused=True) if paused else Q(excluded=True)
    return AnnotatorStanding.objects.filter(blocked, project=project, user=user).exists()


def user_counts(*, user) -> dict:
    """How much `user` has labelled and validated, in all projects: today (since local midnight)
    and in total.

    Answers to hidden checks count as labels here: the annotator's own counters must move the
    same way whatever clip they were handed.

    Args:
        user: the person.
    Returns:
        {"labelled_today", "labelled_total", "validated_today", "validated_total"}: ints;
        validation counts include votes of earlier rounds (inactive ones).
    """
    today = _today_start()
    labelled = Annotation.objects.filter(annotator=user).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=today))
    )
    checks = CheckAnswer.objects.filter(user=user).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=today))
    )
    validated = ValidationVote.objects.filter(validator=user).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=today))
    )
    return {
        "labelled_today": labelled["today"] + checks["today"],
        "labelled_total": labelled["total"] + checks["total"],
        "validated_today": validated["today"],
        "validated_total": validated["total"],
    }


def _per_user(project: Project, kind: str, done_model, user_field: str) -> list[dict]:
    done = (
        done_model.objects.filter(clip__recording__source__project=project)
        .values(f"{user_field}__id", f"{user_field}__username")
        .annotate(n=Count("id"))
    )
    times: dict[int, list[int]] = {}
    for uid, ms in done_model.objects.filter(clip__recording__source__project=project).values_list(
        f"{user_field}__id", "time_spent_ms"
    ):
        times.setdefault(uid, []).append(ms)
    skipped_qs = Assignment.objects.filter(
        kind=kind, state=Assignment.State.SKIPPED, clip__recording__source__project=project
    )
    # A flag also closes the assignment as skipped; flags are reported apart, not as skips.
    flagged = dict(
        Flag.objects.filter(clip__recording__source__project=project)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    skips = dict(skipped_qs.values("user_id").annotate(n=Count("id")).values_list("user_id", "n"))
    names = {row[f"{user_field}__id"]: row[f"{user_field}__username"] for row in done}
    names.update(dict(skipped_qs.values_list("user_id", "user__username").distinct()))
    done_n = {row[f"{user_field}__id"]: row["n"] for row in done}
    rows = []
    for uid, username in names.items():
        n = done_n.get(uid, 0)
        n_flags = flagged.get(uid, 0) if kind == Assignment.Kind.LABELLING else 0
        skipped = max(skips.get(uid, 0) - n_flags, 0)
        ms = np.array(times.get(uid, [0]), dtype=float)
        rows.append(
            {
                "user": username,
                "user_id": uid,
                "done": n,
                "skipped": skipped,
                "flagged": n_flags,
                "skip_rate": round(skipped / (n + skipped), 3) if n + skipped else 0.0,
                "median_s_per_clip": round(float(np.median(ms)) / 1000, 2),
                "mean_s_per_clip": round(float(ms.mean()) / 1000, 2),
            }
        )
    return sorted(rows, key=lambda r: -r["done"])


def check_records(*, project: Project) -> dict[int, dict]:
    """Each annotator's hidden-check record and standing in `project`.

    Args:
        project: the project.
    Returns:
        {user id: {"user" (username), "checks" (answered), "checks_correct", "check_accuracy",
        "check_low", "check_high" (the 95 % Wilson interval, `crowd.check_record`; accuracy
        None with no checks; 3 places), "paused", "excluded" (AnnotatorStanding)}} for every
        annotator with an answer or a standing.
    """
    out: dict[int, dict] = {}

    def row(uid: int, username: str) -> dict:
        return out.setdefault(uid, {"user": username, **_no_record()})

    answers = (
        CheckAnswer.objects.filter(gold_check__project=project)
        .values("user_id", "user__username")
        .annotate(n=Count("id"), right=Count("id", filter=Q(correct=True)))
    )
    for a in answers:
        record = crowd.check_record(a["right"], a["n"])
        row(a["user_id"], a["user__username"]).update(
            checks=record.n_checks,
            checks_correct=record.n_correct,
            check_accuracy=round(record.accuracy, 3),
            check_low=round(record.low, 3),
            check_high=round(record.high, 3),
        )
    for uid, username, paused, excluded in AnnotatorStanding.objects.filter(project=project).values_list(
        "user_id", "user__username", "paused", "excluded"
    ):
        row(uid, username).update(paused=paused, excluded=excluded)
    return out


def check_summary(*, project: Project) -> dict:
    """The project's hidden checks in figures, names left out (a release's data card).

    Args:
        project: the project.
    Returns:
        {"checks" (active checks), "answers", "annotators" (who answered any), "mean_accuracy"
        (mean over annotators of their accuracy, None with no answers), "paused", "excluded"
        (annotators, counts)}.
    """
    records = [r for r in check_records(project=project).values() if r["checks"]]
    standings = AnnotatorStanding.objects.filter(project=project)
    return {
        "checks": GoldCheck.objects.filter(project=project, active=True).count(),
        "answers": sum(r["checks"] for r in records),
        "annotators": len(records),
        "mean_accuracy": float(np.mean([r["checks_correct"] / r["checks"] for r in records]))
        if records
        else None,
        "paused": standings.filter(paused=True).count(),
        "excluded": standings.filter(excluded=True).count(),
    }


def checks_for_project(*, project: Project) -> QuerySet[GoldCheck]:
    """The project's checks (active ones first, then newest), with clip, emotion and creator
    selected and the number of answers and right answers (`n_answers`, `n_correct`).

    Args:
        project: the project.
    Returns:
        A GoldCheck queryset.
    """
    return (
        GoldCheck.objects.filter(project=project)
        .select_related("clip", "emotion", "created_by")
        .annotate(n_answers=Count("answers"), n_correct=Count("answers", filter=Q(answers__correct=True)))
        .order_by("-active", "-created_at", "-id")
    )


def check_candidate_clips(*, project: Project, limit: int = 200) -> QuerySet[ClipConsensus]:
    """Clips a curator may mark as checks: a usable consensus (agreed, adjudicated, gold), not a
    check yet; most agreed first.

    Args:
        project: the project.
        limit: the most rows.
    Returns:
        A ClipConsensus queryset with `clip` and `emotion` selected.
    """
    return (
        ClipConsensus.objects.usable()
        .filter(clip__recording__source__project=project, emotion__isnull=False)
        .exclude(clip__gold_check__isnull=False)
        .select_related("clip", "emotion")
        .order_by("-status", "-n_agree", "clip_id")[:limit]
    )


def _no_record() -> dict:
    return {
        "checks": 0,
        "checks_correct": 0,
        "check_accuracy": None,
        "check_low": 0.0,
        "check_high": 1.0,
        "paused": False,
        "excluded": False,
    }


def project_progress(*, project: Project) -> dict:
    """Per-person progress and the state of the pools of `project` (the progress page).

    Args:
        project: the project.
    Returns:
        {"annotators": [...], "validators": [...], "pool": {"clips_by_status": {status: n},
        "validation_open", "labelling_open", "live_assignments", "labelled_last_24h",
        "labelled_by_annotators", "gold_imported", "escalated", "escalating", "labels_per_clip",
        "mean_labels_per_clip"}}. Imported gold clips have the status labelled but no annotator
        labelled them: `labelled_by_annotators` counts the labelled clips less those,
        `gold_imported` those alone. Dynamic overlap: `escalated` counts the clips whose first K
        labels disagreed and got more raters, `escalating` those of them still waiting for a
        label, `labels_per_clip` {labels: clips} over the clips with a label,
        `mean_labels_per_clip` its mean (2 places). Each
        person row is {"user" (username), "user_id", "done", "skipped" (skips, flags not
        counted), "flagged" (labelling only), "skip_rate" (skipped / (done + skipped), 3
        places), "median_s_per_clip", "mean_s_per_clip" (time spent, seconds, 2 places)}, most
        done first. Annotator rows add their hidden-check record and standing (`check_records`:
        "checks", "checks_correct", "check_accuracy", "check_low", "check_high", "paused",
        "excluded"); an annotator who answered only checks has a row too.
    """
    clips = Clip.objects.filter(recording__source__project=project)
    by_status = dict(clips.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    pool = PoolEntry.objects.filter(project=project)
    gold = clips.filter(status=Clip.Status.LABELLED, consensus__status=ClipConsensus.Status.GOLD).count()
    annotators = _per_user(project, Assignment.Kind.LABELLING, Annotation, "annotator")
    records = check_records(project=project)
    seen = set()
    for person in annotators:
        seen.add(person["user_id"])
        person |= {k: v for k, v in records.get(person["user_id"], _no_record()).items() if k != "user"}
    for uid, record in records.items():
        if uid not in seen:
            annotators.append(
                {
                    "user": record["user"],
                    "user_id": uid,
                    "done": 0,
                    "skipped": 0,
                    "flagged": 0,
                    "skip_rate": 0.0,
                    "median_s_per_clip": 0.0,
                    "mean_s_per_clip": 0.0,
                    **{k: v for k, v in record.items() if k != "user"},
                }
            )
    labelling = pool.filter(kind="labelling")
    per_clip = dict(
        labelling.filter(n_done__gt=0)
        .values_list("n_done")
        .annotate(n=Count("id"))
        .values_list("n_done", "n")
    )
    n_labels = sum(n * c for n, c in per_clip.items())
    n_clips = sum(per_clip.values())
    return {
        "annotators": annotators,
        "validators": _per_user(project, Assignment.Kind.VALIDATION, ValidationVote, "validator"),
        "pool": {
            "clips_by_status": by_status,
            "validation_open": pool.filter(kind="validation", open=True).count(),
            "labelling_open": pool.filter(kind="labelling", open=True).count(),
            "live_assignments": Assignment.objects.filter(
                state=Assignment.State.LIVE, clip__recording__source__project=project
            ).count(),
            "labelled_last_24h": Annotation.objects.filter(
                clip__recording__source__project=project, created_at__gte=timezone.now() - timedelta(days=1)
            ).count(),
            "labelled_by_annotators": by_status.get(Clip.Status.LABELLED, 0) - gold,
            "gold_imported": gold,
            "escalated": labelling.filter(escalated=True).count(),
            "escalating": labelling.filter(escalated=True, clip__status=Clip.Status.ACCEPTED).count(),
            "labels_per_clip": {str(n): per_clip[n] for n in sorted(per_clip)},
            "mean_labels_per_clip": round(n_labels / n_clips, 2) if n_clips else 0,
        },
    }


def rejected_clips(*, project: Project) -> QuerySet[Clip]:
    """The project's rejected clips, newest first, with their validation votes and reasons
    prefetched (curators review and may overturn them). The API pages it.

    Args:
        project: the project.
    Returns:
        A queryset of Clip ordered by -id, `recording` selected; each clip's active votes
        (`validator` selected, `reasons` prefetched) in the list attribute `active_votes`.
    """
    active_votes = Prefetch(
        "validation_votes",
        queryset=ValidationVote.objects.filter(active=True)
        .select_related("validator")
        .prefetch_related("reasons"),
        to_attr="active_votes",
    )
    return (
        Clip.objects.filter(recording__source__project=project, status=Clip.Status.REJECTED)
        .select_related("recording")
        .prefetch_related(active_votes)
        .order_by("-id")
    )


FLEISS_NOTE = (
    "Fleiss' kappa needs the same number of raters on every clip: it is computed on each clip's "
    "first {k} labels (K, in the order they were given), over the clips with at least {k}. Clips "
    "escalated for disagreement have more labels; Krippendorff's alpha uses every label."
)


def agreement_figures(*, project: Project, source_ids=None, date_from=None, date_to=None) -> dict:
    """The agreement dashboard: statistics of the raw labels, the corpus table, durations.

    Filters: sources, and the dates the labels were given (inclusive). A date filter selects the
    clips with a label given in the range; the statistics then use all labels of those clips.

    Args:
        project: the project.
        source_ids: Source ids to restrict to, or None/empty for all.
        date_from: a date; labels given on or after it.
        date_to: a date; labels given on or before it.
    Returns:
        `agreement.summary(votes)` (Fleiss 1971, Krippendorff 2011, Cohen 1960 figures; its
        consensus at the default min_votes 2, not the project's setting) with rater indices
        replaced by usernames, and Fleiss' kappa ("fleiss_kappa", "fleiss_k",
        "fleiss_n_items", "fleiss_kappa_per_category") computed on each clip's first K labels
        (`agreement.first_votes`, K = labels_per_clip; "fleiss_note" says so), Krippendorff's
        alpha on all labels; "escalated_clips" (clips that got more than K raters because
        their labels disagreed; "votes_per_item" is the labels-per-clip histogram); plus
        "categories" (active emotion codes), "raters" (usernames), "corpus_table"
        ({"genders", "rows": per emotion counts by gender and "total", "totals"}, over usable
        consensus: agreed, adjudicated, gold),
        "durations" ({"edges": 1 s bins from 0 to 15 s, "counts", "total_h"}, of the usable
        clips) and "consensus_status" ({status: clips}).
    Raises:
        ValueError: a label whose emotion is no longer active (`project_votes`).
    """
    from django.contrib.auth import get_user_model

    from annotation import agreement
    from annotation.consensus import project_votes
    from annotation.models import ClipConsensus, LabelOption

    clips = Clip.objects.filter(recording__source__project=project)
    if source_ids:
        clips = clips.filter(recording__source_id__in=source_ids)
    labelled = Annotation.objects.filter(clip__in=clips)
    if date_from:
        labelled = labelled.filter(created_at__date__gte=date_from)
    if date_to:
        labelled = labelled.filter(created_at__date__lte=date_to)
    if date_from or date_to:
        clips = clips.filter(pk__in=labelled.values("clip_id"))
    votes, clip_ids, user_ids, codes = project_votes(project, clips=clips)
    figures = agreement.summary(votes)
    # Fleiss needs a fixed number of raters: each clip's first K labels (escalated clips have
    # more); Krippendorff's alpha (in `summary`) uses them all.
    k = AnnotationConfig.objects.filter(project=project).values_list("labels_per_clip", flat=True).first()
    k = k or AnnotationConfig._meta.get_field("labels_per_clip").default
    figures.update(agreement.fleiss_first_k(votes, k))
    figures["fleiss_note"] = FLEISS_NOTE.format(k=k)
    figures["escalated_clips"] = PoolEntry.objects.filter(
        kind=Assignment.Kind.LABELLING, escalated=True, clip__in=clips
    ).count()
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    raters = [names.get(uid, str(uid)) for uid in user_ids]
    figures["categories"] = codes
    figures["raters"] = raters
    for row in figures["cohen_kappa_pairs"]:
        row["rater_a"], row["rater_b"] = raters[row["rater_a"]], raters[row["rater_b"]]
    for row in figures["rater_agreement_with_consensus"]:
        row["rater"] = raters[row["rater"]]

    usable = ClipConsensus.objects.usable().filter(clip__in=clips)
    emotions = list(
        LabelOption.objects.filter(kind="emotion", active=True)
        .order_by("order")
        .values_list("code", flat=True)
    )
    genders = list(
        LabelOption.objects.filter(kind="gender", active=True)
        .order_by("order")
        .values_list("code", flat=True)
    )
    cells = {
        (e, g or "unknown"): n
        for e, g, n in usable.values_list("emotion__code", "gender__code")
        .annotate(n=Count("id"))
        .values_list("emotion__code", "gender__code", "n")
    }
    gender_cols = genders + (["unknown"] if any(g == "unknown" for _, g in cells) else [])
    rows = [{"emotion": e, **{g: cells.get((e, g), 0) for g in gender_cols}} for e in emotions]
    for row in rows:
        row["total"] = sum(row[g] for g in gender_cols)
    totals = {g: sum(r[g] for r in rows) for g in gender_cols}
    totals["total"] = sum(totals.values())
    durations = np.array(list(usable.values_list("clip__duration_s", flat=True)), dtype=float)
    counts, edges = np.histogram(durations, bins=np.arange(0, 16, 1.0)) if durations.size else ([], [])
    figures["corpus_table"] = {"genders": gender_cols, "rows": rows, "totals": totals}
    figures["durations"] = {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "total_h": round(float(durations.sum()) / 3600, 3),
    }
    figures["consensus_status"] = dict(
        ClipConsensus.objects.filter(clip__in=clips)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return figures


# Dawid-Skene is estimated only over at least this many clips labelled by 2+ annotators. With
# fewer, EM has nothing to weigh one annotator against another with: a single label gives its
# author "88.8 % accurate" from its own vote. 5 is a floor against such echoes, not a claim that
# 5 clips estimate a C x C matrix well (the cards show the counts they rest on).
DAWID_SKENE_MIN_CLIPS = 5


def annotator_confusions(*, project: Project) -> dict:
    """Dawid-Skene's estimate of each annotator's confusion matrix (rows: true, columns: given).

    Source: Dawid & Skene (1979), via `agreement.dawid_skene` on all of the project's labels.

    Args:
        project: the project.
    Returns:
        {"categories": emotion codes, "class_priors": C floats, "annotators": [{"user",
        "accuracy" (estimated P(vote is right)), "confusion" (C x C lists, rows sum to 1)}]}
        with 4 decimals, plus "n_multi_label_clips" (clips with 2+ labels) and "min_clips"
        (DAWID_SKENE_MIN_CLIPS); "annotators" is [] below that minimum (nothing labelled, too).
    Raises:
        ValueError: a label whose emotion is no longer active (`project_votes`).
    """
    from django.contrib.auth import get_user_model

    from annotation import agreement
    from annotation.consensus import project_votes

    votes, _clips, user_ids, codes = project_votes(project)
    n_multi = int((votes.votes_per_item() >= 2).sum()) if votes.n_items else 0
    counts = {"n_multi_label_clips": n_multi, "min_clips": DAWID_SKENE_MIN_CLIPS}
    if n_multi < DAWID_SKENE_MIN_CLIPS:
        return {"categories": codes, "annotators": [], **counts}
    result = agreement.dawid_skene(votes)
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    accuracy = result.rater_accuracy()
    return {
        "categories": codes,
        **counts,
        "class_priors": [round(float(p), 4) for p in result.priors],
        "annotators": [
            {
                "user": names.get(uid, str(uid)),
                "accuracy": round(float(accuracy[r]), 4),
                "confusion": np.round(result.confusions[r], 4).tolist(),
            }
            for r, uid in enumerate(user_ids)
        ],
    }


@dataclass(frozen=True)
class AdjudicationItem:
    """A clip awaiting adjudication, with the labels it got (annotator, emotion, gender)."""

    clip_id: int
    duration_s: float
    labels: list[dict]
    distribution: dict


def adjudication_items(*, project: Project, curator, limit: int = 100) -> list[AdjudicationItem]:
    """Clips with no majority that `curator` did not label, with their labels (oldest first).

    Args:
        project: the project.
        curator: the curator who will adjudicate (their own labelled clips are left out).
        limit: the most clips returned.
    Returns:
        AdjudicationItems in clip id order; `duration_s` in seconds, `labels` as
        {"annotator" (username), "emotion", "gender"} (codes; the counted labels only,
        `consensus.counted_annotations`), `distribution` the consensus's
        soft label ({emotion code: vote share, or Dawid-Skene posterior}).
    """
    from annotation.consensus import adjudication_queue, counted_annotations

    queue = list(adjudication_queue(project=project, curator=curator)[:limit])
    labels: dict[int, list] = {}
    # The labels the consensus was computed on: an excluded annotator's are kept but not shown.
    for clip_id, user, emotion, gender in (
        counted_annotations(project=project)
        .filter(clip_id__in=[c.clip_id for c in queue])
        .values_list("clip_id", "annotator__username", "emotion__code", "gender__code")
    ):
        labels.setdefault(clip_id, []).append({"annotator": user, "emotion": emotion, "gender": gender})
    return [
        AdjudicationItem(
            clip_id=c.clip_id,
            duration_s=c.clip.duration_s,
            labels=labels.get(c.clip_id, []),
            distribution=c.distribution,
        )
        for c in queue
    ]


MULTIPLE_SPEAKERS = "multiple_speakers"  # the guideline's rejection reason (annotation.guideline)
MIN_CALIBRATION_CLIPS = 5


@dataclass(frozen=True)
class OneSpeakerCalibration:
    """How well the speaker step's one-voice confidence (Clip.one_speaker_conf, 0-1) foretells the
    validators' "more than one speaker" rejections, and the confidence below which a clip is
    better checked for a second voice.

    n_multi: clips with an active rejecting vote giving the reason "multiple_speakers";
    n_accepted: clips validated as good (accepted or labelled), none of them with that reason;
    auc: area under the ROC curve of 1 - confidence as a detector of the first kind (0.5 is
        chance), None with fewer than MIN_CALIBRATION_CLIPS of either kind;
    threshold: the confidence under which a clip is flagged, at Youden's J optimum of the ROC
        curve (Youden 1950; max of true-positive rate - false-positive rate), or None;
    caught, false_alarms: at that threshold, the share of the multi-speaker rejections flagged
        and the share of the good clips flagged.
    """

    n_multi: int
    n_accepted: int
    auc: float | None = None
    threshold: float | None = None
    caught: float | None = None
    false_alarms: float | None = None


def one_speaker_calibration(*, project: Project) -> OneSpeakerCalibration:
    """The one-voice confidence against the validators' verdicts in `project` (ROC analysis with
    scikit-learn's `roc_curve` and `roc_auc_score`). Clips without a confidence (speaker step off,
    imported corpora) are left out. Returns OneSpeakerCalibration."""
    from sklearn.metrics import roc_auc_score, roc_curve

    clips = Clip.objects.filter(recording__source__project=project, one_speaker_conf__isnull=False)
    multi_ids = set(
        ValidationVote.objects.filter(
            clip__in=clips, active=True, accept=False, reasons__code=MULTIPLE_SPEAKERS
        ).values_list("clip_id", flat=True)
    )
    multi = list(clips.filter(pk__in=multi_ids).values_list("one_speaker_conf", flat=True))
    good = list(
        clips.filter(status__in=[Clip.Status.ACCEPTED, Clip.Status.LABELLED])
        .exclude(pk__in=multi_ids)
        .values_list("one_speaker_conf", flat=True)
    )
    if min(len(multi), len(good)) < MIN_CALIBRATION_CLIPS:
        return OneSpeakerCalibration(len(multi), len(good))
    truth = np.r_[np.ones(len(multi)), np.zeros(len(good))]
    score = 1.0 - np.r_[multi, good]
    fpr, tpr, thresholds = roc_curve(truth, score)
    best = int(np.argmax(tpr - fpr))
    return OneSpeakerCalibration(
        n_multi=len(multi),
        n_accepted=len(good),
        auc=round(float(roc_auc_score(truth, score)), 3),
        threshold=round(float(1.0 - thresholds[best]), 3) if np.isfinite(thresholds[best]) else None,
        caught=round(float(tpr[best]), 3),
        false_alarms=round(float(fpr[best]), 3),
    )


@dataclass(frozen=True)
class WorkOverview:
    """What waits for one person across their projects (the home page's figures).

    Every count is scoped to `core.access.projects_for_user`; each role's section of the home
    page reads only the fields of its role.
    """

    awaiting_validation: int  # clips awaiting validation that this person has not voted on
    labelling_queue: int  # what /annotate/ would serve: the clip held now + `handout_candidates`
    adjudication: int  # ties this person may adjudicate (no majority, not labelled by them)
    labelled_clips: int  # clips with a consensus row (agreed, tie, adjudicated, discarded)
    agreed_clips: int  # of those, decided by a majority of the annotators
    counts: dict  # user_counts(user=...)

    @property
    def agreement_share(self) -> int | None:
        """Percent of the labelled clips whose annotators agreed (majority), None with none."""
        return round(100 * self.agreed_clips / self.labelled_clips) if self.labelled_clips else None


def work_overview(*, user) -> WorkOverview:
    """The queues and tallies the home page shows `user`, over the projects they belong to.

    Args:
        user: the signed-in person (a superuser sees all projects).
    Returns:
        A WorkOverview (see its fields); at most seven queries. Live assignments past their
        deadline count as held until the next hand-out sweeps them (the home view sweeps first).
    """
    projects = projects_for_user(user)
    consensus = ClipConsensus.objects.filter(clip__recording__source__project__in=projects).exclude(
        status__in=[ClipConsensus.Status.GOLD, ClipConsensus.Status.PENDING]
    )
    by_status = dict(consensus.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    labelling = Assignment.Kind.LABELLING
    return WorkOverview(
        awaiting_validation=Clip.objects.filter(
            recording__source__project__in=projects, status=Clip.Status.AWAITING_VALIDATION
        )
        .exclude(validation_votes__validator=user, validation_votes__active=True)
        .count(),
        labelling_queue=handout_candidates(user=user, projects=projects, kind=labelling).count()
        + Assignment.objects.filter(
            user=user,
            kind=labelling,
            state=Assignment.State.LIVE,
            clip__recording__source__project__in=projects,
        ).count(),
        adjudication=consensus.filter(status=ClipConsensus.Status.NEEDS_ADJUDICATION)
        .exclude(clip__annotations__annotator=user)
        .count(),
        labelled_clips=sum(by_status.values()),
        agreed_clips=by_status.get(ClipConsensus.Status.AGREED, 0),
        counts=user_counts(user=user),
    )


def clips_listed_for_user(user) -> QuerySet[Clip]:
    """Clips of the user's projects for the clip list (GET /api/clips/), newest first.

    Scopes by project membership (`corpus.selectors.clips_for_user`): the caller checks the role.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Clip ordered by -id, with `recording__source`, `speaker_cluster` and the
        consensus's emotion and gender selected (`consensus` may be absent).
    """
    return (
        corpus_selectors.clips_for_user(user)
        .select_related("recording__source", "speaker_cluster", "consensus__emotion", "consensus__gender")
        .order_by("-id")
    )


# --- quotas ------------------------------------------------------------------------------------


def quota_targets(*, project: Project) -> QuerySet[QuotaTarget]:
    """The project's quota cells, emotion and gender loaded, in label-schema order."""
    return QuotaTarget.objects.filter(project=project).select_related("emotion", "gender")


def quota_targets_for_user(user) -> QuerySet[QuotaTarget]:
    """Quota cells of the projects `user` belongs to (the one access rule of a QuotaTarget)."""
    return QuotaTarget.objects.filter(project__in=projects_for_user(user)).select_related(
        "emotion", "gender", "project"
    )


def quota_final_clips(*, project: Project) -> QuerySet[ClipConsensus]:
    """The consensus rows that count toward quotas: the project's clips whose consensus is final
    (`ClipConsensus.usable_q`: agreed, adjudicated or gold) and has an emotion."""
    return ClipConsensus.objects.filter(
        ClipConsensus.usable_q(), clip__recording__source__project=project, emotion__isnull=False
    )


def quota_counts(*, project: Project) -> dict[tuple[str, str | None], int]:
    """How many clips each possible quota cell holds so far.

    Args:
        project: the project.
    Returns:
        {(emotion code, gender code): n} for the consensus genders found, and
        {(emotion code, None): n} ("any gender": every final clip of the emotion, a clip
        without a consensus gender included). Feed it to `annotation.crowd.quota_deficits`.
    """
    counts: dict[tuple[str, str | None], int] = {}
    rows = (
        quota_final_clips(project=project)
        .values_list("emotion__code", "gender__code")
        .annotate(n=Count("id"))
        .order_by()
    )
    for emotion, gender, n in rows:
        counts[(emotion, None)] = counts.get((emotion, None), 0) + n
        if gender:
            counts[(emotion, gender)] = counts.get((emotion, gender), 0) + n
    return counts


def quota_first_picks(*, project: Project) -> dict[int, str]:
    """How each clip of the project was first handed out for labelling: the `queue_pick` of its
    earliest labelling assignment ("ranked" or "random"; clips first handed out before picks
    were recorded are left out). A clip's later hand-outs follow breadth-first completion, so
    its first one is when the queue chose it.

    Returns:
        {clip id: "ranked" | "random"}.
    """
    rows = (
        Assignment.objects.filter(kind=Assignment.Kind.LABELLING, clip__recording__source__project=project)
        .order_by("clip_id", "served_at", "id")
        .values_list("clip_id", "queue_pick")
    )
    first: dict[int, str] = {}
    for clip_id, pick in rows.iterator(chunk_size=5000):
        first.setdefault(clip_id, pick)
    return {c: p for c, p in first.items() if p in QueuePick.values}
