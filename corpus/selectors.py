"""Reads of the corpus that span relations, and per-user visibility."""

from __future__ import annotations

import numpy as np
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.http import Http404

from core import roles
from core.access import object_for_user, projects_for_user
from corpus import policies
from corpus.models import Clip, Recording, SegmentationRun, Source


def recordings_for_user(user) -> QuerySet[Recording]:
    qs = (
        Recording.objects.select_related("source", "source__project", "uploaded_by")
        .annotate(n_clips=Count("clips", distinct=True))
        .order_by("-created_at", "-id")
    )
    return qs.filter(source__project__in=projects_for_user(user))


def clips_for_user(user) -> QuerySet[Clip]:
    """Clips of the user's projects (curating roles; annotators reach clips through assignments)."""
    qs = Clip.objects.select_related("recording")
    return qs.filter(recording__source__project__in=projects_for_user(user))


def recording_for_user(user, pk) -> Recording:
    """Recording `pk` for a curating role of its project; Http404 for anyone else.

    Recordings are browsed by curators and ML staff only: annotators and validators hear the
    clip in hand and nothing else (blind labelling).
    """
    if not roles.user_has_role(user, *roles.INGEST_ROLES):
        raise Http404("No such recording.")
    return object_for_user(recordings_for_user(user), pk, what="recording")


def clip_for_user(user, pk) -> Clip:
    """Clip `pk` of one of the user's projects (curating roles); Http404 otherwise."""
    return object_for_user(clips_for_user(user), pk, what="clip")


def clip_audio_for_user(user, pk) -> Clip:
    """Clip `pk` whose audio the user may hear: a curating role of its project, or whoever holds
    it right now (a live assignment: blind labelling); Http404 for anyone else."""
    clip = None
    if roles.user_has_role(user, *roles.INGEST_ROLES):
        clip = clips_for_user(user).filter(pk=pk).first()
    if clip is None and policies.clip_access_granted(user, pk):
        clip = Clip.objects.filter(pk=pk).first()
    if clip is None:
        raise Http404("No such clip, or it is not yours to hear.")
    return clip


def segmentation_run_for_user(user, pk) -> SegmentationRun:
    """Segmentation run `pk` of a recording the user may browse; Http404 otherwise."""
    runs = SegmentationRun.objects.filter(recording__in=recordings_for_user(user).values("id"))
    return object_for_user(runs, pk, what="segmentation run")


def sources_for_user(user) -> QuerySet[Source]:
    qs = (
        Source.objects.select_related("project")
        .annotate(n_recordings=Count("recordings"))
        .order_by("title", "episode")
    )
    return qs.filter(project__in=projects_for_user(user))


def recording_clips(recording: Recording) -> QuerySet[Clip]:
    return recording.clips.order_by("start_s")


def recording_latest_run(recording: Recording) -> SegmentationRun | None:
    return recording.segmentation_runs.order_by("-created_at", "-id").first()


def clip_summary(clips: QuerySet[Clip], *, bins: int = 15, max_s: float = 15.0) -> dict:
    """Count, total speech, mean/median length and a duration histogram of `clips`."""
    durations = np.array(list(clips.values_list("duration_s", flat=True)), dtype=float)
    edges = np.linspace(0.0, max(max_s, float(durations.max()) if durations.size else 0.0), bins + 1)
    counts, _ = np.histogram(durations, bins=edges)
    return {
        "count": int(durations.size),
        "total_s": round(float(durations.sum()), 2),
        "mean_s": round(float(durations.mean()), 2) if durations.size else None,
        "median_s": round(float(np.median(durations)), 2) if durations.size else None,
        "min_s": round(float(durations.min()), 2) if durations.size else None,
        "max_s": round(float(durations.max()), 2) if durations.size else None,
        "histogram": {"edges": [round(float(e), 2) for e in edges], "counts": [int(c) for c in counts]},
    }


def corpus_overview(*, user) -> dict:
    recordings = recordings_for_user(user)
    clips = Clip.objects.filter(recording__in=recordings.values("id"))
    agg = recordings.aggregate(total_s=Sum("duration_s"), last=Max("created_at"))
    by_status = dict(clips.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "recordings": recordings.count(),
        "failed": recordings.filter(status=Recording.Status.FAILED).count(),
        "hours": round((agg["total_s"] or 0.0) / 3600, 2),
        "clips": sum(by_status.values()),
        "clips_by_status": by_status,
        "awaiting_validation": by_status.get(Clip.Status.AWAITING_VALIDATION, 0),
        "running_jobs": SegmentationRun.objects.filter(
            Q(status=SegmentationRun.Status.QUEUED) | Q(status=SegmentationRun.Status.RUNNING),
            recording__in=recordings.values("id"),
        ).count(),
    }
