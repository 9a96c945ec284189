"""Reads of the corpus that span relations, and per-user visibility."""

from __future__ import annotations

import numpy as np
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.http import Http404

from core import roles
from core.access import object_for_user, projects_for_user
from corpus import policies
from corpus.models import Clip, Recording, SegmentationRun, SeriesSpeaker, Source, SpeakerCluster


def recordings_for_user(user) -> QuerySet[Recording]:
    """Recordings of the user's projects (`projects_for_user`), whatever the user's role.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Recording with `source`, `source__project` and `uploaded_by` selected,
        annotated `n_clips` (its clip count), newest first (`-created_at`, `-id`).
    """
    qs = (
        Recording.objects.select_related("source", "source__project", "uploaded_by")
        .annotate(n_clips=Count("clips", distinct=True))
        .order_by("-created_at", "-id")
    )
    return qs.filter(source__project__in=projects_for_user(user))


def clips_for_user(user) -> QuerySet[Clip]:
    """Clips of the user's projects (curating roles; annotators reach clips through assignments).

    Scopes by project membership only: the caller checks the role.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Clip with `recording` selected, in the model's default order.
    """
    qs = Clip.objects.select_related("recording")
    return qs.filter(recording__source__project__in=projects_for_user(user))


def recording_for_user(user, pk) -> Recording:
    """Recording `pk` for a curating role of its project; Http404 for anyone else.

    Recordings are browsed by curators and ML staff only: annotators and validators hear the
    clip in hand and nothing else (blind labelling).

    Args:
        user: the requesting user.
        pk: the requested id (any value; a malformed one is not found).
    Returns:
        The Recording, as `recordings_for_user` selects and annotates it.
    Raises:
        Http404: not a curator or ML staff (superusers pass), or no such recording in the user's
            projects.
    """
    if not roles.user_has_role(user, *roles.INGEST_ROLES):
        raise Http404("No such recording.")
    return object_for_user(recordings_for_user(user), pk, what="recording")


def clip_for_user(user, pk) -> Clip:
    """Clip `pk` of one of the user's projects (curating roles); Http404 otherwise.

    Checks project membership only (see `clips_for_user`): the caller checks the role.

    Args:
        user: the requesting user.
        pk: the requested id.
    Returns:
        The Clip with `recording` selected.
    Raises:
        Http404: no such clip in the user's projects.
    """
    return object_for_user(clips_for_user(user), pk, what="clip")


def clip_audio_for_user(user, pk) -> Clip:
    """Clip `pk` whose audio the user may hear: a curating role of its project, or whoever holds
    it right now (a live assignment: blind labelling); Http404 for anyone else.

    The second case is decided by the checks upper layers register in
    `corpus.policies.register_clip_access_check`.

    Args:
        user: the requesting user.
        pk: the clip's id.
    Returns:
        The Clip (with `recording` selected only when reached through a curating role).
    Raises:
        Http404: neither case holds, or no such clip.
    """
    clip = None
    if roles.user_has_role(user, *roles.INGEST_ROLES):
        clip = clips_for_user(user).filter(pk=pk).first()
    if clip is None:
        # The policies see only the id of a clip that exists (a lookup by pk copes with any
        # number; theirs, through a foreign key, would overflow on an id past 2**63).
        clip = Clip.objects.filter(pk=pk).first()
        if clip is not None and not policies.clip_access_granted(user, clip.pk):
            clip = None
    if clip is None:
        raise Http404("No such clip, or it is not yours to hear.")
    return clip


def segmentation_run_for_user(user, pk) -> SegmentationRun:
    """Segmentation run `pk` of a recording the user's projects hold; Http404 otherwise.

    Scopes through `recordings_for_user` (project membership, not role).

    Args:
        user: the requesting user.
        pk: the requested id.
    Returns:
        The SegmentationRun (nothing selected).
    Raises:
        Http404: no such run among the user's projects.
    """
    runs = SegmentationRun.objects.filter(recording__in=recordings_for_user(user).values("id"))
    return object_for_user(runs, pk, what="segmentation run")


def stored_file_access(user, name: str) -> bool | None:
    """The corpus's answer for a stored file (registered in core.files): None if `name` is not
    a clip's or recording's file; else whether `user` may fetch it (`clip_audio_for_user`,
    `recording_for_user`)."""
    clip_id = Clip.objects.filter(audio=name).values_list("pk", flat=True).first()
    if clip_id is not None:
        return _allowed(clip_audio_for_user, user, clip_id)
    recording_id = (
        Recording.objects.filter(Q(original=name) | Q(normalised=name)).values_list("pk", flat=True).first()
    )
    if recording_id is not None:
        return _allowed(recording_for_user, user, recording_id)
    return None


def _allowed(lookup, user, pk) -> bool:
    try:
        lookup(user, pk)
    except Http404:
        return False
    return True


def sources_for_user(user) -> QuerySet[Source]:
    """Sources (series/programme and episode) of the user's projects.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Source with `project` selected, annotated `n_recordings`, ordered by
        title then episode.
    """
    qs = (
        Source.objects.select_related("project")
        .annotate(n_recordings=Count("recordings"))
        .order_by("title", "episode")
    )
    return qs.filter(project__in=projects_for_user(user))


def source_for_user(user, pk) -> Source:
    """Source `pk` of one of the user's projects; Http404 otherwise.

    Args:
        user: the requesting user.
        pk: the requested id.
    Returns:
        The Source, as `sources_for_user` selects and annotates it.
    Raises:
        Http404: no such source in the user's projects.
    """
    return object_for_user(sources_for_user(user), pk, what="source")


def recording_clips(recording: Recording) -> QuerySet[Clip]:
    """The clips of `recording` in time order (`start_s`, seconds), nothing selected."""
    return recording.clips.order_by("start_s")


def recording_latest_run(recording: Recording) -> SegmentationRun | None:
    """The most recently created segmentation run of `recording`, or None if it has none."""
    return recording.segmentation_runs.order_by("-created_at", "-id").first()


def clip_summary(clips: QuerySet[Clip], *, bins: int = 15, max_s: float = 15.0) -> dict:
    """Count, total speech, mean/median length and a duration histogram of `clips`.

    Args:
        clips: the clips to summarise (only `duration_s` is read).
        bins: the number of histogram bins.
        max_s: the histogram's upper edge in seconds, raised to the longest clip if that is
            longer; bins are equal-width from 0.
    Returns:
        {"count", "total_s", "mean_s", "median_s", "min_s", "max_s", "histogram": {"edges"
        (bins + 1 floats), "counts" (bins ints)}}; durations in seconds rounded to 2 places;
        the mean, median, min and max are None when there are no clips.
    """
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
    """Headline figures of the corpus across the user's projects (the corpus dashboard).

    Args:
        user: the requesting user (scoped as `recordings_for_user`).
    Returns:
        {"recordings": int, "failed": recordings with status failed (undecodable, or never
        segmented successfully), "hours": decoded audio in hours (2 places), "clips": int,
        "clips_by_status": {Clip.Status value: count}, "awaiting_validation": int,
        "running_jobs": segmentation runs queued or running}.
    """
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


def recording_speaker_clusters(recording: Recording) -> QuerySet[SpeakerCluster]:
    """The speaker clusters of `recording` (index order) with their series speaker selected."""
    return recording.speaker_clusters.select_related("series_speaker").order_by("index")


def series_speakers_for_user(user, *, project=None) -> QuerySet[SeriesSpeaker]:
    """Series speakers of the user's projects (curating roles: the caller checks the role).

    Args:
        user: the requesting user.
        project: restrict to this Project (already checked for the user), or None for all.
    Returns:
        SeriesSpeaker rows with `project` selected and their clusters (with recording and
        source) prefetched, annotated `n_clips` and `speech_s` (seconds), ordered by series,
        then most speech first.
    """
    qs = SeriesSpeaker.objects.filter(project__in=projects_for_user(user))
    if project is not None:
        qs = qs.filter(project=project)
    return (
        qs.select_related("project")
        .prefetch_related("clusters__recording__source")
        .annotate(n_clips=Sum("clusters__clip_count"), speech_s=Sum("clusters__total_speech_s"))
        .order_by("series", "-speech_s", "id")
    )


def series_speaker_for_user(user, pk) -> SeriesSpeaker:
    """Series speaker `pk` for a curating role of its project; Http404 for anyone else."""
    if not roles.user_has_role(user, *roles.INGEST_ROLES):
        raise Http404("No such speaker.")
    return object_for_user(series_speakers_for_user(user), pk, what="speaker")


def speaker_cluster_for_user(user, pk) -> SpeakerCluster:
    """Speaker cluster `pk` for a curating role of its project; Http404 for anyone else."""
    if not roles.user_has_role(user, *roles.INGEST_ROLES):
        raise Http404("No such speaker cluster.")
    qs = SpeakerCluster.objects.select_related("recording__source", "series_speaker").filter(
        recording__source__project__in=projects_for_user(user)
    )
    return object_for_user(qs, pk, what="speaker cluster")
