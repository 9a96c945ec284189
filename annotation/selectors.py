"""Reads of validation and labelling: counters, per-annotator progress, rejected clips."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.db.models import Count, Q
from django.utils import timezone

from annotation.guideline import DEFAULT_GUIDELINE
from annotation.models import Annotation, Assignment, PoolEntry, ValidationVote
from corpus.models import Clip, Project


def default_guideline() -> str:
    return DEFAULT_GUIDELINE


def _today_start():
    now = timezone.localtime()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def user_counts(*, user) -> dict:
    today = _today_start()
    labelled = Annotation.objects.filter(annotator=user).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=today))
    )
    validated = ValidationVote.objects.filter(validator=user).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=today))
    )
    return {
        "labelled_today": labelled["today"],
        "labelled_total": labelled["total"],
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
    skips = dict(
        Assignment.objects.filter(kind=kind, state=Assignment.State.SKIPPED, clip__recording__source__project=project)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    rows = []
    for row in done:
        uid = row[f"{user_field}__id"]
        n, skipped = row["n"], skips.get(uid, 0)
        ms = np.array(times.get(uid, [0]), dtype=float)
        rows.append(
            {
                "user": row[f"{user_field}__username"],
                "done": n,
                "skipped": skipped,
                "skip_rate": round(skipped / (n + skipped), 3) if n + skipped else 0.0,
                "median_s_per_clip": round(float(np.median(ms)) / 1000, 2),
                "mean_s_per_clip": round(float(ms.mean()) / 1000, 2),
            }
        )
    return sorted(rows, key=lambda r: -r["done"])


def project_progress(*, project: Project) -> dict:
    clips = Clip.objects.filter(recording__source__project=project)
    by_status = dict(clips.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    pool = PoolEntry.objects.filter(project=project)
    return {
        "annotators": _per_user(project, Assignment.Kind.LABELLING, Annotation, "annotator"),
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
        },
    }


def rejected_clips(*, project: Project, limit: int = 200) -> list[dict]:
    clips = (
        Clip.objects.filter(recording__source__project=project, status=Clip.Status.REJECTED)
        .select_related("recording")
        .prefetch_related("validation_votes__reasons", "validation_votes__validator")
        .order_by("-id")[:limit]
    )
    return [
        {
            "clip": clip.pk,
            "recording": clip.recording_id,
            "start_s": clip.start_s,
            "duration_s": clip.duration_s,
            "audio_url": clip.audio.url,
            "votes": [
                {"validator": v.validator.username, "accept": v.accept, "reasons": [r.text for r in v.reasons.all()]}
                for v in clip.validation_votes.all()
                if v.active
            ],
        }
        for clip in clips
    ]

